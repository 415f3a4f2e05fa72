import json
import subprocess
import sys
from collections import Counter

import pytest

from sparsevl.txt_db import load_split
from sparsevl.problems import BadInputError
from txt_db_tools.video_list import convert, parse_lists

K400_VAL = "kinetics400_val_list_videos.txt"


def test_real_kinetics400_val(real_ann, tmp_path):
    ann = real_ann("kinetics400", K400_VAL)
    meta = convert(ann, tmp_path / "db", quiet=True)
    val = load_split(tmp_path / "db", "val")
    assert len(val) == meta["splits"]["val"]["lines_in"] == 13733 and meta["splits"]["val"]["dropped"] == 0
    assert meta["missing_splits"] == {"train": "missing *_train_list_videos.txt",
                                      "test": "missing *_test_list_videos.txt"}
    # the first and the last line, by hand
    assert val[0] == {"video_id": "DxUeF-WIdWA", "label": 375}  # using_segway/DxUeF-WIdWA.mp4 375
    assert val[-1] == {"video_id": "wvsuK9HBif0", "label": 163}  # ice_fishing/wvsuK9HBif0.mp4 163
    assert len(Counter(r["label"] for r in val)) == meta["splits"]["val"]["labels"] == 400
    label2name = json.loads((tmp_path / "db" / "label2name.json").read_text())
    assert list(label2name) == [str(i) for i in range(400)]
    assert (label2name["0"], label2name["163"], label2name["375"]) == ("abseiling", "ice_fishing", "using_segway")
    assert meta["labels"] == {"count": 400, "names_from": "the videos' folders", "file": "label2name.json"}
    assert meta["files"] == ["val.jsonl", "label2name.json"]


def _make(tmp_path, files):
    ann = tmp_path / "ann"
    ann.mkdir(exist_ok=True)
    for name, text in files.items():
        (ann / name).write_text(text)
    return ann


LIST = "jump/a1.mp4 0\nrun/b2.mp4 1\n\nrun/c3.mp4 1\n"


def test_explicit_lists_and_flat_names(tmp_path):
    ann = _make(tmp_path, {"mine.txt": "x.mp4 3\ny.avi 0\n", "other.txt": LIST})
    meta = convert(ann, tmp_path / "db", lists={"holdout": "mine.txt", "val": str(ann / "other.txt")}, quiet=True)
    assert load_split(tmp_path / "db", "holdout") == [{"video_id": "x", "label": 3}, {"video_id": "y", "label": 0}]
    assert len(load_split(tmp_path / "db", "val")) == 3
    # the paths of mine.txt have no folder: no class names
    assert json.loads((tmp_path / "db" / "label2name.json").read_text()) == {}
    assert meta["labels"]["names_from"] == "none: 'x.mp4' has no folder to name its class"
    assert meta["missing_splits"] == {}


def test_folders_that_do_not_name_classes(tmp_path):
    ann = _make(tmp_path, {"k_train_list_videos.txt": "part1/a.mp4 0\npart1/b.mp4 1\n"})
    meta = convert(ann, tmp_path / "db", quiet=True)
    assert meta["labels"]["names_from"] == "none: folder 'part1' holds labels 0, 1"
    assert json.loads((tmp_path / "db" / "label2name.json").read_text()) == {}


def test_parse_lists():
    assert parse_lists(["val=a.txt", "train = b.txt"]) == {"val": "a.txt", "train": "b.txt"}
    assert parse_lists(None) is None
    for bad in (["val"], ["=a.txt"], ["val="], ["a/b=x.txt"], ["val=a", "val=b"]):
        with pytest.raises(ValueError, match="--list"):
            parse_lists(bad)


CASES = {
    # name: (line 2, message start)
    "one field": ("run/b2.mp4", "bad line: expected '<video> <label>', got 1 fields"),
    "three fields": ("run/b2.mp4 1 2", "bad line: expected '<video> <label>', got 3 fields"),
    "label not a number": ("run/b2.mp4 run", "bad label: 'run' is not a class number"),
    "negative label": ("run/b2.mp4 -1", "bad label: '-1'"),
    "video twice": ("run/c3.mp4 1", "duplicate id: video_id 'c3' also at record(s) 4"),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("mode", ["stop", "skip"])
def test_bad_line(tmp_path, case, mode):
    line, message = CASES[case]
    name = "k_val_list_videos.txt"
    ann = _make(tmp_path, {name: LIST.replace("run/b2.mp4 1", line)})
    where = f"{ann / name}:2: {message}"
    if mode == "stop":
        with pytest.raises(BadInputError) as info:
            convert(ann, tmp_path / "db", on_error="stop", quiet=True)
        assert str(info.value).startswith(where), str(info.value)
        assert not (tmp_path / "db" / "val.jsonl").exists()
        return
    meta = convert(ann, tmp_path / "db", on_error="skip", quiet=True)
    kind = message.split(":")[0]
    n_dropped = 2 if kind == "duplicate id" else 1
    s = meta["splits"]["val"]
    assert (s["lines_in"], s["dropped"], s["dropped_by_kind"]) == (3, n_dropped, {kind: n_dropped})
    assert len(load_split(tmp_path / "db", "val")) == 3 - n_dropped
    assert where in (tmp_path / "db" / "problems.log").read_text()


def test_ambiguous_and_missing_lists(tmp_path):
    ann = _make(tmp_path, {"a_val_list_videos.txt": LIST, "b_val_list_videos.txt": LIST})
    with pytest.raises(BadInputError, match="several lists for split 'val' .* --list val=FILE"):
        convert(ann, tmp_path / "db", quiet=True)
    with pytest.raises(BadInputError, match="no video list .*: need nope.txt"):
        convert(ann, tmp_path / "db", lists={"val": "nope.txt"}, quiet=True)
    (ann / "a_val_list_videos.txt").unlink()
    (ann / "b_val_list_videos.txt").write_bytes(b"run/caf\xe9.mp4 1\n")
    with pytest.raises(BadInputError, match=r"b_val_list_videos\.txt:1: not UTF-8 text"):
        convert(ann, tmp_path / "db", on_error="skip", quiet=True)


def test_cli(tmp_path):
    ann = _make(tmp_path, {"x.txt": LIST})
    cmd = [sys.executable, "-m", "txt_db_tools.video_list", "--ann-dir", str(ann), "--out", str(tmp_path / "db")]
    r = subprocess.run(cmd + ["--list", "train=x.txt"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "train: 3 written (lines 3 in)" in r.stdout
    assert json.loads((tmp_path / "db" / "label2name.json").read_text()) == {"0": "jump", "1": "run"}
    r = subprocess.run(cmd + ["--list", "train"], capture_output=True, text=True)
    assert r.returncode == 1 and r.stderr.startswith("error: --list takes SPLIT=FILE")
