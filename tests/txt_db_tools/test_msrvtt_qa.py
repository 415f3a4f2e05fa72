import json
import subprocess
import sys

import pytest

from sparsevl.txt_db import load_ans2label, load_split
from sparsevl.problems import BadInputError
from txt_db_tools.msrvtt_qa import convert, question_type

# ---------------------------------------------------------------------------- fixture, published schema
# (train_qa.json etc. are not in the shared data: lists of {answer, category_id, id, question, video_id})


def _qa(i, video, question, answer, category=3):
    return {"answer": answer, "category_id": category, "id": i, "question": question, "video_id": video}


def _good(first_id=0, first_video=0):
    return [
        _qa(first_id, first_video, "what is a man doing?", "sing"),
        _qa(first_id + 1, first_video, "who is singing?", "man"),
        _qa(first_id + 2, first_video + 1, "how many people dance?", "two", category=9),
        _qa(first_id + 3, first_video + 1, "where are people dancing?", "stage", category=9),
        _qa(first_id + 4, first_video + 2, "when does the man sing?", "night"),
        _qa(first_id + 5, first_video + 2, "what is a man doing?", "sing"),
    ]


def _make(tmp_path, splits, raw=None):
    ann = tmp_path / "ann"
    ann.mkdir(exist_ok=True)
    for split, records in splits.items():
        (ann / f"{split}_qa.json").write_text(json.dumps(records))
    for name, text in (raw or {}).items():
        (ann / name).write_text(text)
    return ann


def test_question_type_first_word():
    assert [question_type(q) for q in ["what is it?", "Who is it?", " how many", "where", "when did it"]] == [
        "what", "who", "how", "where", "when"]
    assert question_type("whose hat is red?") == "other" and question_type("is it red?") == "other"


def test_small_conversion(tmp_path, capsys):
    ann = _make(tmp_path, {"train": _good(), "test": _good(100, 7010)})
    meta = convert(ann, tmp_path / "db", top_k=2)
    train = load_split(tmp_path / "db", "train")
    assert train[0] == {"qid": 0, "video_id": "video0", "question": "what is a man doing?", "answer": "sing",
                        "answer_type": "what", "category_id": 3}
    assert [r["answer_type"] for r in train] == ["what", "who", "how", "where", "when", "what"]
    assert [r["video_id"] for r in load_split(tmp_path / "db", "test")][::2] == ["video7010", "video7011", "video7012"]
    assert load_ans2label(tmp_path / "db") == {"sing": 0, "man": 1}  # sing x2; then ties by answer
    s = meta["splits"]["train"]
    assert s["answer_types"] == {"what": 2, "who": 1, "how": 1, "where": 1, "when": 1, "other": 0}
    assert (s["questions_in"], s["written"], s["videos"], s["out_of_vocab"]) == (6, 6, 3, 3)
    assert meta["missing_splits"] == {"val": "missing val_qa.json"}
    assert meta["task"] == "video_qa"
    assert "val: not converted (missing val_qa.json)" in capsys.readouterr().out


CASES = {
    # name: (mutate(records), where, message start)
    "missing field": (lambda r: r[1].pop("answer"), "record 1 (id 1)", "missing field: 'answer'"),
    "video_id as string": (lambda r: r[2].update(video_id="video1"), "record 2 (id 2)",
                           "wrong field type: 'video_id' should be a integer, got 'video1'"),
    "negative video_id": (lambda r: r[2].update(video_id=-1), "record 2 (id 2)", "bad video_id: -1 is negative"),
    "empty question": (lambda r: r[3].update(question=""), "record 3 (id 3)", "empty field: 'question'"),
    "not a record": (lambda r: r.insert(1, ["what", "sing"]), "record 1", "not a record"),
    "duplicate id": (lambda r: r[5].update(id=4), "record 4 (id 4)", "duplicate id: id 4 also at record(s) 5"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_record_stop(tmp_path, case):
    mutate, where, message = CASES[case]
    records = _good()
    mutate(records)
    ann = _make(tmp_path, {"train": records})
    with pytest.raises(BadInputError) as info:
        convert(ann, tmp_path / "db", on_error="stop", quiet=True)
    assert str(info.value).startswith(f"{ann / 'train_qa.json'}:{where}: {message}"), str(info.value)
    assert not (tmp_path / "db" / "train.jsonl").exists()


@pytest.mark.parametrize("case", list(CASES))
def test_bad_record_skip(tmp_path, case):
    mutate, where, message = CASES[case]
    records = _good()
    mutate(records)
    ann = _make(tmp_path, {"train": records})
    meta = convert(ann, tmp_path / "db", on_error="skip", quiet=True)
    kind = message.split(":")[0]
    n_dropped = 2 if kind == "duplicate id" else 1
    s = meta["splits"]["train"]
    assert (s["dropped"], s["dropped_by_kind"]) == (n_dropped, {kind: n_dropped})
    assert len(load_split(tmp_path / "db", "train")) == s["written"] == s["questions_in"] - n_dropped
    assert f"{ann / 'train_qa.json'}:{where}: {message}" in (tmp_path / "db" / "problems.log").read_text()


@pytest.mark.parametrize("mode", ["stop", "skip"])
def test_wrong_json_type_always_stops(tmp_path, mode):
    ann = _make(tmp_path, {}, raw={"train_qa.json": json.dumps({"0": _good()[0]})})
    with pytest.raises(BadInputError, match=r"train_qa\.json: expected a JSON list of records, got dict"):
        convert(ann, tmp_path / "db", on_error=mode, quiet=True)


def test_no_split_is_an_error(tmp_path):
    ann = _make(tmp_path, {}, raw={"train_q.json": "[]"})
    with pytest.raises(BadInputError, match="no MSRVTT-QA split .*train_qa.json, val_qa.json, test_qa.json"):
        convert(ann, tmp_path / "db", quiet=True)


def test_cli(tmp_path):
    ann = _make(tmp_path, {"train": _good()})
    cmd = [sys.executable, "-m", "txt_db_tools.msrvtt_qa", "--ann-dir", str(ann), "--out", str(tmp_path / "db")]
    r = subprocess.run(cmd + ["--top-k", "3"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "train: 6 written (questions 6 in)" in r.stdout and len(load_ans2label(tmp_path / "db")) == 3
    (ann / "train_qa.json").write_text("[{")
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 1 and r.stderr.startswith("error: ") and "train_qa.json: malformed JSON" in r.stderr
