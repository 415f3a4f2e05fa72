import json
import subprocess
import sys

import pytest

from sparsevl.txt_db import load_ans2label, load_split
from sparsevl.problems import BadInputError
from txt_db_tools.generic import convert


def _ann(tmp_path, files):
    ann = tmp_path / "ann"
    ann.mkdir(exist_ok=True)
    for name, text in files.items():
        (ann / name).write_text(text)
    return ann


CSV = (
    "video,question,answer,answer_type,source\n"
    "clips/abc.mp4,what is the man doing?,sing,what,yt\n"
    'xyz,"who is singing, loudly?",man,,yt\n'
    "v_a.b,how many people are there?,2,how,\n"
)


def _jsonl(*records):
    return "".join(json.dumps(r) + "\n" for r in records)


def test_csv_and_jsonl_splits(tmp_path):
    val = _jsonl({"video": "clips/abc.webm", "question": "what is it?", "answer": "cat", "qid": 7, "meta": [1]},
                 {"video": "def", "question": "where is it?", "answer": "home", "qid": "q8"})
    meta = convert(_ann(tmp_path, {"train.csv": CSV, "val.jsonl": val}), tmp_path / "db", top_k=2, quiet=True)
    train = load_split(tmp_path / "db", "train")
    assert train[0] == {"qid": "train_2", "video_id": "abc", "question": "what is the man doing?", "answer": "sing",
                        "answer_type": "what", "source": "yt"}
    # an empty optional cell is absent; quoting; a name without a video extension stays whole
    assert train[1] == {"qid": "train_3", "video_id": "xyz", "question": "who is singing, loudly?", "answer": "man",
                        "source": "yt"}
    assert train[2]["video_id"] == "v_a.b" and train[2]["source"] == ""
    assert load_split(tmp_path / "db", "val") == [
        {"qid": 7, "video_id": "abc", "question": "what is it?", "answer": "cat", "meta": [1]},
        {"qid": "q8", "video_id": "def", "question": "where is it?", "answer": "home"},
    ]
    assert load_ans2label(tmp_path / "db") == {"2": 0, "man": 1}  # all once: by answer string
    assert meta["missing_splits"] == {"test": "missing test.csv or test.jsonl"}
    assert meta["splits"]["val"]["out_of_vocab"] == 2 and meta["splits"]["train"]["videos"] == 3


def test_both_formats_for_a_split_is_an_error(tmp_path):
    ann = _ann(tmp_path, {"train.csv": CSV, "train.jsonl": ""})
    with pytest.raises(BadInputError, match="both train.csv and train.jsonl for split 'train'; keep one"):
        convert(ann, tmp_path / "db", quiet=True)


def test_no_split_is_an_error(tmp_path):
    with pytest.raises(BadInputError, match=r"no generic split in .*: need \{split\}\.csv or \{split\}\.jsonl"):
        convert(_ann(tmp_path, {"train.tsv": CSV}), tmp_path / "db", quiet=True)


GOOD = [{"video": "a.mp4", "question": "what is it?", "answer": "cat"},
        {"video": "b.mp4", "question": "who is it?", "answer": "man"},
        {"video": "c.mp4", "question": "how many?", "answer": "2"}]

JSONL_CASES = {
    # name: (line 2 of train.jsonl, message start)
    "malformed line": ('{"video": "b.mp4", "question": ', "malformed JSON line: "),
    "not an object": ('["b.mp4", "who is it?", "man"]', "not a record: expected a JSON object, got list"),
    "missing field": ('{"video": "b.mp4", "question": "who is it?"}', "missing field: 'answer'"),
    "answer not a string": ('{"video": "b.mp4", "question": "who?", "answer": 2}',
                            "wrong field type: 'answer' should be a string, got 2"),
    "bad qid": ('{"video": "b.mp4", "question": "who?", "answer": "man", "qid": true}',
                "wrong field type: 'qid' should be a string or an integer, got True"),
    "bad answer_type": ('{"video": "b.mp4", "question": "who?", "answer": "man", "answer_type": 1}',
                        "wrong field type: 'answer_type' should be a string"),
    "qid given twice": ('{"video": "b.mp4", "question": "who?", "answer": "man", "qid": "train_3"}',
                        "duplicate id: qid 'train_3' also at record(s) 3"),
}


@pytest.mark.parametrize("case", list(JSONL_CASES))
@pytest.mark.parametrize("mode", ["stop", "skip"])
def test_bad_jsonl_line(tmp_path, case, mode):
    line, message = JSONL_CASES[case]
    text = json.dumps(GOOD[0]) + "\n" + line + "\n" + json.dumps(GOOD[2]) + "\n"
    ann = _ann(tmp_path, {"train.jsonl": text})
    where = f"{ann / 'train.jsonl'}:2: {message}"
    if mode == "stop":
        with pytest.raises(BadInputError) as info:
            convert(ann, tmp_path / "db", on_error="stop", quiet=True)
        assert str(info.value).startswith(where), str(info.value)
        return
    meta = convert(ann, tmp_path / "db", on_error=mode, quiet=True)
    kind = message.split(":")[0]
    n_dropped = 2 if kind == "duplicate id" else 1
    s = meta["splits"]["train"]
    assert (s["rows_in"], s["dropped"], s["dropped_by_kind"]) == (3, n_dropped, {kind: n_dropped})
    assert [r["answer"] for r in load_split(tmp_path / "db", "train")] == ["cat", "2"][: 3 - n_dropped]
    assert where in (tmp_path / "db" / "problems.log").read_text()


@pytest.mark.parametrize("mode", ["stop", "skip"])
def test_csv_missing_column_and_bad_row(tmp_path, mode):
    ann = _ann(tmp_path, {"train.csv": "video,question\na.mp4,what?\n"})
    with pytest.raises(BadInputError, match=r"train\.csv:1: missing column\(s\) 'answer'"):
        convert(ann, tmp_path / "db", on_error=mode, quiet=True)
    (ann / "train.csv").write_text(CSV.replace("xyz,", "xyz,extra,"))
    if mode == "stop":
        with pytest.raises(BadInputError, match=r"train\.csv:3: bad row: 6 fields, the header has 5"):
            convert(ann, tmp_path / "db", on_error="stop", quiet=True)
    else:
        meta = convert(ann, tmp_path / "db", on_error="skip", quiet=True)
        assert meta["splits"]["train"]["dropped_by_kind"] == {"bad row": 1}
        assert [r["qid"] for r in load_split(tmp_path / "db", "train")] == ["train_2", "train_4"]


def test_cli(tmp_path):
    ann = _ann(tmp_path, {"train.csv": CSV})
    cmd = [sys.executable, "-m", "txt_db_tools.generic", "--ann-dir", str(ann), "--out", str(tmp_path / "db")]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "train: 3 written (rows 3 in)" in r.stdout
    (ann / "train.csv").write_text(CSV.replace(",sing,", ",,"))
    r = subprocess.run(cmd + ["--on-error", "stop"], capture_output=True, text=True)
    assert r.returncode == 1 and r.stderr == f"error: {ann / 'train.csv'}:2: empty field: 'answer'\n"
    r = subprocess.run(cmd, capture_output=True, text=True)  # skip is the default
    assert r.returncode == 0 and "train: 2 written (rows 3 in), 1 source records dropped" in r.stdout


def test_null_optional_fields_count_as_absent(tmp_path):
    line = {"video": "c.mp4", "question": "how many?", "answer": "2", "qid": None, "answer_type": None}
    ann = _ann(tmp_path, {"train.jsonl": json.dumps(line) + "\n"})
    convert(ann, tmp_path / "db", on_error="stop", quiet=True)
    assert load_split(tmp_path / "db", "train") == [
        {"qid": "train_1", "video_id": "c", "question": "how many?", "answer": "2"}]
