import json
import subprocess
import sys

import pytest

from sparsevl.txt_db import load_ans2label, load_split
from sparsevl.problems import BadInputError
from txt_db_tools.tgif_qa import convert

# the published counts (shared data README, and the tgif-qa paper's Table 1)
REAL_TEST = {"frameqa": 13691, "action": 2274, "transition": 6232, "count": 3554}
REAL_TRAIN = {"action": 20471, "count": 26839}


# ---------------------------------------------------------------------------- real files


def test_real_action(real_ann, tmp_path):
    ann = real_ann("tgif_qa", "Train_action_question.csv", "Test_action_question.csv")
    meta = convert(ann, tmp_path / "db", task="action", quiet=True)
    train, test = load_split(tmp_path / "db", "train"), load_split(tmp_path / "db", "test")
    assert (len(train), len(test)) == (REAL_TRAIN["action"], REAL_TEST["action"])
    assert meta["task"] == "multiple_choice" and meta["missing_splits"] == {}
    assert meta["splits"]["test"]["rows_in"] == REAL_TEST["action"] and meta["splits"]["test"]["dropped"] == 0
    assert not (tmp_path / "db" / "ans2label.json").exists()
    # Test_action_question.csv line 2, by hand
    assert test[0] == {
        "qid": "ACTION4", "video_id": "tumblr_nk172bbdPI1u1lr18o1_250",
        "question": "What does the butterfly do 10 or more than 10 times ?",
        "options": ["stuff marshmallow", "holds a phone towards face", "fall over", "talk", "flap wings"],
        "answer": 4, "key": "26",
    }
    # the answer is 0-based: the count question on the same GIF names the action it points at
    # (Train line 2: answer 2 = a3 "chew food"; Train_count line 2: "... chew food ?")
    assert train[0]["video_id"] == "tumblr_nqc2mbmU2J1uxhtnwo1_400"
    assert train[0]["options"][train[0]["answer"]] == "chew food"
    assert test[1]["options"][test[1]["answer"]] == "adjust waistband"  # Test_count line 2 asks about it
    assert meta["splits"]["train"]["answers_by_index"] == {"0": 4134, "1": 4082, "2": 4101, "3": 4114, "4": 4040}


def test_real_transition_with_quoted_options(real_ann, tmp_path):
    ann = real_ann("tgif_qa", "Test_transition_question.csv")
    meta = convert(ann, tmp_path / "db", task="transition", quiet=True)
    test = load_split(tmp_path / "db", "test")
    assert len(test) == REAL_TEST["transition"]
    assert meta["missing_splits"] == {"train": "missing Train_transition_question.csv"}
    by_qid = {r["qid"]: r for r in test}
    assert len(by_qid) == REAL_TEST["transition"]
    # line 1678: the option is written "respond ""no""" in the file
    assert by_qid["TRANS15831"]["options"] == ["sky downhill", "lean back", "remove with hand", "write on it",
                                               'respond "no"']
    assert by_qid["TRANS21452"]["options"][3] == 'write "i love you"'
    assert test[1]["question"] == "What does the man do after sing passionately ?" and test[1]["answer"] == 0


def test_real_count(real_ann, tmp_path):
    ann = real_ann("tgif_qa", "Train_count_question.csv", "Test_count_question.csv")
    meta = convert(ann, tmp_path / "db", task="count", quiet=True)
    train, test = load_split(tmp_path / "db", "train"), load_split(tmp_path / "db", "test")
    assert (len(train), len(test)) == (REAL_TRAIN["count"], REAL_TEST["count"])
    assert test[0] == {
        "qid": "COUNT12", "video_id": "tumblr_nezfs4uELd1u1a7cmo1_250",
        "question": "How many times does the man adjust waistband ?", "answer": "3", "answer_type": "count",
        "count": 3, "key": "52",
    }
    assert train[1]["answer"] == "5" and train[1]["question"] == "How many times does the man wave his head ?"
    # the published counts are 0 and 2..10
    assert list(meta["splits"]["test"]["counts"]) == ["0", "2", "3", "4", "5", "6", "7", "8", "9", "10"]
    assert sum(meta["splits"]["test"]["counts"].values()) == REAL_TEST["count"]
    assert sorted(load_ans2label(tmp_path / "db"), key=int) == ["0", "2", "3", "4", "5", "6", "7", "8", "9", "10"]
    assert meta["splits"]["test"]["out_of_vocab"] == 0


def test_real_frameqa(real_ann, tmp_path):
    ann = real_ann("tgif_qa", "Test_frameqa_question.csv")
    with pytest.raises(BadInputError, match="no train split .* --ans2label"):
        convert(ann, tmp_path / "db", task="frameqa", quiet=True)
    vocab = tmp_path / "vocab.json"
    vocab.write_text('{"cookie": 0, "two": 1}')
    meta = convert(ann, tmp_path / "db", task="frameqa", ans2label=vocab, quiet=True)
    test = load_split(tmp_path / "db", "test")
    assert len(test) == REAL_TEST["frameqa"]
    assert test[0] == {
        "qid": "FRAMEQA1159", "video_id": "tumblr_no73q2fm0I1uuf348o1_250",
        "question": "what is being placed in the white ice cream cone ?", "answer": "cookie",
        "answer_type": "object", "type": 0, "key": "27138",
        "description": "a chocolate cookie is being placed in a white ice cream cone .",
    }
    assert (test[1]["answer"], test[1]["answer_type"], test[1]["type"]) == ("machine", "location", 3)
    assert meta["splits"]["test"]["answer_types"] == {"object": 5586, "number": 3148, "color": 3904, "location": 1053}
    assert meta["ans2label"]["size"] == 2


# ---------------------------------------------------------------------------- fixtures


HEADERS = {
    "frameqa": ["gif_name", "question", "answer", "type", "vid_id", "key", "description"],
    "action": ["gif_name", "question", "a1", "a2", "a3", "a4", "a5", "answer", "vid_id", "key"],
    "count": ["gif_name", "question", "answer", "vid_id", "key"],
}


def _rows(task):
    if task == "frameqa":
        return [["tumblr_a", "what is the cat eating ?", "fish", "0", "FRAMEQA1", "7", "a cat eating fish ."],
                ["tumblr_b", "how many dogs run ?", "two", "1", "FRAMEQA2", "8", "two dogs run ."],
                ["tumblr_c", "what color is the car ?", "red", "2", "FRAMEQA3", "9", "a red car ."]]
    if task == "action":
        return [
            ["tumblr_a", "What does the man do 3 times ?", "nod", "jump", "clap", "wave", "spin", "1", "ACTION1", "7"],
            ["tumblr_b", "What does the kid do 2 times ?", "blink", "kick", "hop", "wink", "roll", "0", "ACTION2", "8"],
            ["tumblr_c", "What does the dog do 4 times ?", "bark", "sit", "wag", "lick", "dig", "4", "ACTION3", "9"],
        ]
    return [["tumblr_a", "How many times does the man jump ?", "3", "COUNT1", "7"],
            ["tumblr_b", "How many times does the girl kick ?", "2", "COUNT2", "8"],
            ["tumblr_c", "How many times does the dog wag ?", "3", "COUNT3", "9"]]


def _make(tmp_path, task, rows=None, header=None, split="Train"):
    ann = tmp_path / "ann"
    ann.mkdir(exist_ok=True)
    lines = ["\t".join(header or HEADERS[task])] + ["\t".join(r) for r in (_rows(task) if rows is None else rows)]
    (ann / f"{split}_{task}_question.csv").write_text("\r\n".join(lines) + "\r\n")
    return ann


def test_small_frameqa_and_vocab(tmp_path):
    ann = _make(tmp_path, "frameqa")
    meta = convert(ann, tmp_path / "db", task="frameqa", top_k=2, quiet=True)
    train = load_split(tmp_path / "db", "train")
    assert [(r["answer"], r["answer_type"]) for r in train] == [("fish", "object"), ("two", "number"), ("red", "color")]
    assert load_ans2label(tmp_path / "db") == {"fish": 0, "red": 1}
    assert meta["task"] == "video_qa" and meta["tgif_task"] == "frameqa"
    assert meta["missing_splits"] == {"test": "missing Test_frameqa_question.csv"}


def _set(task, row, column, value):
    return lambda rows: rows[row].__setitem__(HEADERS[task].index(column), value)


CASES = {
    # name: (task, mutate(rows), line, message start)
    "bad row": ("action", lambda rows: rows[1].pop(), 3, "bad row: 9 fields, the header has 10"),
    "answer out of range": ("action", _set("action", 0, "answer", "5"), 2,
                            "bad answer: '5' is not an option index 0-4 (0 is a1)"),
    "empty option": ("action", _set("action", 2, "a2", " "), 4, "empty field: 'a2'"),
    "duplicate vid_id": ("action", _set("action", 2, "vid_id", "ACTION1"), 2,
                         "duplicate id: vid_id 'ACTION1' also at record(s) 4"),
    "unknown type code": ("frameqa", _set("frameqa", 1, "type", "4"), 3,
                          "unknown type code: '4' (FrameQA uses 0-3)"),
    "count not a number": ("count", _set("count", 0, "answer", "three"), 2,
                           "bad answer: 'three' is not a count (a whole number)"),
    "negative count": ("count", _set("count", 2, "answer", "-1"), 4, "bad answer: '-1' is not a count"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_row_stop(tmp_path, case):
    task, mutate, line, message = CASES[case]
    rows = _rows(task)
    mutate(rows)
    ann = _make(tmp_path, task, rows)
    with pytest.raises(BadInputError) as info:
        convert(ann, tmp_path / "db", task=task, on_error="stop", quiet=True)
    assert str(info.value).startswith(f"{ann / f'Train_{task}_question.csv'}:{line}: {message}"), str(info.value)
    assert not (tmp_path / "db" / "train.jsonl").exists()


@pytest.mark.parametrize("case", list(CASES))
def test_bad_row_skip(tmp_path, case):
    task, mutate, line, message = CASES[case]
    rows = _rows(task)
    mutate(rows)
    ann = _make(tmp_path, task, rows)
    meta = convert(ann, tmp_path / "db", task=task, on_error="skip", quiet=True)
    kind = message.split(":")[0]
    n_dropped = 2 if kind == "duplicate id" else 1
    s = meta["splits"]["train"]
    assert (s["rows_in"], s["dropped"], s["dropped_by_kind"]) == (3, n_dropped, {kind: n_dropped})
    assert len(load_split(tmp_path / "db", "train")) == s["written"] == 3 - n_dropped
    path = ann / f"Train_{task}_question.csv"
    assert f"{path}:{line}: {message}" in (tmp_path / "db" / "problems.log").read_text()


@pytest.mark.parametrize("mode", ["stop", "skip"])
def test_missing_column(tmp_path, mode):
    header = [h for h in HEADERS["count"] if h != "vid_id"]
    rows = [r[:3] + r[4:] for r in _rows("count")]
    ann = _make(tmp_path, "count", rows, header)
    with pytest.raises(BadInputError, match=r"Train_count_question\.csv:1: missing column\(s\) 'vid_id'"):
        convert(ann, tmp_path / "db", task="count", on_error=mode, quiet=True)


def test_no_file_of_the_task_is_an_error(tmp_path):
    ann = _make(tmp_path, "count")
    needs = "need at least one of Train_action_question.csv, Test_action_question.csv"
    with pytest.raises(BadInputError, match=f"no TGIF-QA split .*: {needs}"):
        convert(ann, tmp_path / "db", task="action", quiet=True)


def test_cli(tmp_path):
    ann = _make(tmp_path, "action")
    _make(tmp_path, "action", split="Test")
    cmd = [sys.executable, "-m", "txt_db_tools.tgif_qa", "--ann-dir", str(ann), "--out", str(tmp_path / "db")]
    r = subprocess.run(cmd + ["--task", "action"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "train: 3 written" in r.stdout and "test: 3 written" in r.stdout
    assert json.loads((tmp_path / "db" / "meta.json").read_text())["files"] == ["train.jsonl", "test.jsonl"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 2 and "--task" in r.stderr
    r = subprocess.run(cmd + ["--task", "count"], capture_output=True, text=True)
    assert r.returncode == 1 and r.stderr.startswith("error: no TGIF-QA split in ")
    assert "need at least one of Train_count_question.csv, Test_count_question.csv" in r.stderr
