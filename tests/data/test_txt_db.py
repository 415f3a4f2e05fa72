import os

import orjson
import pytest

from sparsevl.txt_db import (
    available_splits,
    load_ans2label,
    load_split,
    read_jsonl,
    write_json_atomic,
    write_jsonl,
)
from sparsevl.problems import BadInputError, ProblemLog


def test_jsonl_round_trip_is_atomic(tmp_path):
    records = [{"qid": "a", "answer": "yes", "n": 1}, {"qid": "b", "answer": "é ü", "extra": [1, 2]}]
    path = write_jsonl(tmp_path / "sub" / "train.jsonl", records)
    assert read_jsonl(path) == records
    assert sorted(os.listdir(tmp_path / "sub")) == ["train.jsonl"]  # no temp file left
    write_jsonl(path, records[:1])  # replaces
    assert read_jsonl(path) == records[:1]


def test_read_jsonl_ignores_blank_lines(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"a": 1}\n\n  \n{"a": 2}\n')
    assert read_jsonl(path) == [{"a": 1}, {"a": 2}]


def test_read_jsonl_malformed_line_names_file_and_line(tmp_path):
    path = tmp_path / "val.jsonl"
    path.write_text('{"a": 1}\n{"a": 2}\n{"a": \n{"a": 4}\n')
    with pytest.raises(BadInputError, match=rf"{path}:3: malformed JSON line"):
        read_jsonl(path)


def test_read_jsonl_non_object_line(tmp_path):
    path = tmp_path / "val.jsonl"
    path.write_text('{"a": 1}\n[1, 2]\n')
    with pytest.raises(BadInputError, match=rf"{path}:2: expected a JSON object per line, got list"):
        read_jsonl(path)


def test_read_jsonl_skip_mode_with_problem_log(tmp_path):
    path = tmp_path / "val.jsonl"
    path.write_text('{"a": 1}\nnot json\n{"a": 3}\n')
    log = ProblemLog(on_error="skip")
    assert read_jsonl(path, problems=log) == [{"a": 1}, {"a": 3}]
    assert len(log) == 1 and str(log.problems[0]).startswith(f"{path}:2: malformed JSON line")


def test_splits_and_missing_split_message(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", [{"qid": 1}])
    write_jsonl(tmp_path / "val.jsonl", [{"qid": 2}])
    assert available_splits(tmp_path) == ["train", "val"]
    assert load_split(tmp_path, "val") == [{"qid": 2}]
    with pytest.raises(FileNotFoundError, match="split 'test' not found .* available splits: train, val"):
        load_split(tmp_path, "test")
    with pytest.raises(FileNotFoundError, match="txt_db folder not found"):
        load_split(tmp_path / "nope", "train")
    assert available_splits(tmp_path / "nope") == []


def test_write_json_atomic_keeps_key_order(tmp_path):
    obj = {"zebra": 0, "apple": 1, "mango": 2}
    path = write_json_atomic(tmp_path / "ans2label.json", obj)
    assert list(orjson.loads(path.read_bytes())) == ["zebra", "apple", "mango"]
    assert load_ans2label(tmp_path) == obj
    assert load_ans2label(path) == obj


def test_load_ans2label_clipbert_name_and_errors(tmp_path):
    (tmp_path / "train_ans2label.json").write_text('{"yes": 1, "no": 0}')
    assert load_ans2label(tmp_path) == {"yes": 1, "no": 0}
    bad = tmp_path / "bad.json"
    bad.write_text('{"yes": 0, "no": 2}')
    with pytest.raises(BadInputError, match="labels must be 0..1"):
        load_ans2label(bad)
    bad.write_text('{"yes": 0, "no": "1"}')
    with pytest.raises(BadInputError, match="not an integer"):
        load_ans2label(bad)
    bad.write_text('{"yes": 0,')
    with pytest.raises(BadInputError, match=rf"{bad}: malformed JSON"):
        load_ans2label(bad)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no answer vocabulary"):
        load_ans2label(tmp_path / "empty")


def test_load_split_reads_clipbert_records(tmp_path):
    # ClipBERT's txt_db layouts (jayleicn/ClipBERT src/tasks/run_video_qa.py, run_video_retrieval.py,
    # run_msrvtt_mc.py): no question ids in QA files, gif_name / clip_name / video_id for the video
    action = {"gif_name": "tumblr_nk172bbdPI1u1lr18o1_250",
              "question": "What does the butterfly do 10 or more than 10 times ?",
              "options": ["stuff marshmallow", "holds a phone towards face", "fall over", "talk", "flap wings"],
              "answer": 4}
    frameqa = {"gif_name": "tumblr_no73q2fm0I1uuf348o1_250",
               "question": "what is being placed in the white ice cream cone ?",
               "answer": "cookie", "answer_type": "object"}
    msrvtt_qa = {"answer": "couch", "question": "what are three people sitting on?", "video_id": "video6513",
                 "answer_type": "what"}
    write_jsonl(tmp_path / "qa.jsonl", [action, frameqa, msrvtt_qa])
    assert load_split(tmp_path, "qa") == [
        {**action, "qid": 0, "video_id": "tumblr_nk172bbdPI1u1lr18o1_250"},
        {**frameqa, "qid": 1, "video_id": "tumblr_no73q2fm0I1uuf348o1_250"},
        {**msrvtt_qa, "qid": 2},  # video_id is ClipBERT's name too
    ]
    ret = {"caption": "a man is singing", "clip_name": "video9770"}
    mc = {"qid": "mc0", "clip_name": "video7010", "answer": 2, "options": ["a", "b", "c", "d", "e"]}
    write_jsonl(tmp_path / "ret.jsonl", [ret, mc])
    assert load_split(tmp_path, "ret") == [
        {**ret, "cid": 0, "video_id": "video9770"},
        {**mc, "video_id": "video7010"},
    ]
    # question_id becomes qid; a field present is never replaced
    both = [{"question_id": 17, "question": "q", "answer": "a", "gif_name": "g"},
            {"qid": "x", "question_id": 3, "video_id": "v", "clip_name": "c", "caption": "t", "cid": "c9"},
            {"video_id": "k", "label": 3}]
    write_jsonl(tmp_path / "mixed.jsonl", both)
    assert load_split(tmp_path, "mixed") == [
        {**both[0], "qid": 17, "video_id": "g"},
        both[1],
        both[2],  # a classification record: nothing to add
    ]
