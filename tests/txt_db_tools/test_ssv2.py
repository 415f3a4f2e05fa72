import json
import subprocess
import sys
from collections import Counter

import pytest

from sparsevl.txt_db import load_split
from sparsevl.problems import BadInputError
from txt_db_tools.ssv2 import LABELS_FILE, class_name, convert

VAL, TEST = "something-something-v2-validation.json", "something-something-v2-test.json"


def test_real_files(real_ann, tmp_path):
    ann = real_ann("ssv2", LABELS_FILE, VAL, TEST)
    meta = convert(ann, tmp_path / "db", quiet=True)
    val, test = load_split(tmp_path / "db", "val"), load_split(tmp_path / "db", "test")
    assert (len(val), len(test)) == (24777, 27157)
    assert meta["splits"]["val"]["dropped"] == meta["splits"]["test"]["dropped"] == 0
    assert meta["missing_splits"] == {"train": "missing something-something-v2-train.json"}
    label2name = json.loads((tmp_path / "db" / "label2name.json").read_text())
    assert len(label2name) == meta["labels"]["count"] == 174
    assert label2name["0"] == "Approaching something with your camera"
    # the first validation record, by hand: "Spinning [something] that quickly stops spinning"
    assert val[0] == {
        "video_id": "74225", "label": 140, "label_text": "spinning cube that quickly stops spinning",
        "template": "Spinning [something] that quickly stops spinning", "placeholders": ["cube"],
    }
    assert label2name["140"] == "Spinning something that quickly stops spinning"
    assert val[1]["label"] == 127 and label2name["127"] == "Showing something on top of something"
    assert all(label2name[str(r["label"])] == class_name(r["template"]) for r in val)
    assert meta["splits"]["val"]["labels"] == len(Counter(r["label"] for r in val))
    assert test[0] == {"video_id": "1420"} and all(set(r) == {"video_id"} for r in test)
    assert meta["splits"]["test"]["unlabelled"] is True
    assert meta["files"] == ["val.jsonl", "test.jsonl", "label2name.json"]


LABELS = {"Holding something": "0", "Putting something on something": "1", "Tearing something": "2"}


def _rec(vid, template, text="x", placeholders=("a",)):
    return {"id": vid, "label": text, "template": template, "placeholders": list(placeholders)}


def _good():
    return [_rec("10", "Holding [something]", "holding a cup", ["a cup"]),
            _rec("11", "Putting [something] on [something]", "putting a pen on a book", ["a pen", "a book"]),
            _rec("12", "Tearing [something]", "tearing paper", ["paper"])]


def _make(tmp_path, train=None, labels=LABELS, raw=None):
    ann = tmp_path / "ann"
    ann.mkdir(exist_ok=True)
    if labels is not None:
        (ann / LABELS_FILE).write_text(json.dumps(labels))
    (ann / "something-something-v2-train.json").write_text(json.dumps(_good() if train is None else train))
    for name, text in (raw or {}).items():
        (ann / name).write_text(text)
    return ann


def test_small_train(tmp_path):
    meta = convert(_make(tmp_path), tmp_path / "db", quiet=True)
    train = load_split(tmp_path / "db", "train")
    assert [(r["video_id"], r["label"]) for r in train] == [("10", 0), ("11", 1), ("12", 2)]
    assert train[1]["label_text"] == "putting a pen on a book" and train[1]["placeholders"] == ["a pen", "a book"]
    assert set(meta["missing_splits"]) == {"val", "test"}


CASES = {
    # name: (mutate(records), where, message start)
    "unknown template": (lambda r: r[1].update(template="Pushing [something]"), "record 1 (id '11')",
                         "unknown template: 'Pushing [something]' is no class"),
    "missing template": (lambda r: r[2].pop("template"), "record 2 (id '12')", "missing field: 'template'"),
    "id as integer": (lambda r: r[0].update(id=10), "record 0 (id 10)",
                      "wrong field type: 'id' should be a string, got 10"),
    "duplicate id": (lambda r: r[2].update(id="10"), "record 0 (id '10')", "duplicate id: id '10' also at record(s) 2"),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("mode", ["stop", "skip"])
def test_bad_record(tmp_path, case, mode):
    mutate, where, message = CASES[case]
    records = _good()
    mutate(records)
    ann = _make(tmp_path, records)
    full = f"{ann / 'something-something-v2-train.json'}:{where}: {message}"
    if mode == "stop":
        with pytest.raises(BadInputError) as info:
            convert(ann, tmp_path / "db", on_error="stop", quiet=True)
        assert str(info.value).startswith(full), str(info.value)
        return
    meta = convert(ann, tmp_path / "db", on_error="skip", quiet=True)
    kind = message.split(":")[0]
    n_dropped = 2 if kind == "duplicate id" else 1
    s = meta["splits"]["train"]
    assert (s["videos_in"], s["dropped"], s["dropped_by_kind"]) == (3, n_dropped, {kind: n_dropped})
    assert len(load_split(tmp_path / "db", "train")) == 3 - n_dropped
    assert full in (tmp_path / "db" / "problems.log").read_text()


@pytest.mark.parametrize("labels, message", [
    (None, "labels.json: not found"),
    ({"Holding something": 0}, "class 'Holding something' has id 0, not a number in a string"),
    ({"Holding something": "0", "Tearing something": "2"}, "class ids must be 0..1, each used once"),
])
def test_bad_labels_file_always_stops(tmp_path, labels, message):
    ann = _make(tmp_path, labels=labels)
    with pytest.raises(BadInputError, match=message):
        convert(ann, tmp_path / "db", on_error="skip", quiet=True)


def test_test_split_is_not_a_list(tmp_path):
    ann = _make(tmp_path, raw={TEST: '{"id": "1"}'})
    with pytest.raises(BadInputError, match=r"test\.json: expected a JSON list of records, got dict"):
        convert(ann, tmp_path / "db", on_error="skip", quiet=True)


def test_cli(tmp_path):
    ann = _make(tmp_path, raw={TEST: '[{"id": "5"}]'})
    cmd = [sys.executable, "-m", "txt_db_tools.ssv2", "--ann-dir", str(ann), "--out", str(tmp_path / "db")]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "train: 3 written (videos 3 in)" in r.stdout and "test: 1 written" in r.stdout
    (ann / "something-something-v2-train.json").unlink()
    (ann / TEST).unlink()
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 1 and r.stderr.startswith("error: no Something-Something v2 split")
