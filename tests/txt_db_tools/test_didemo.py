import json
import subprocess
import sys

import pytest

from sparsevl.txt_db import load_split
from sparsevl.problems import BadInputError
from txt_db_tools.didemo import convert, video_stem

# ---------------------------------------------------------------------------- real data


def test_real_val_and_test(real_ann, tmp_path):
    ann = real_ann("didemo", "val_data.json", "test_data.json")
    meta = convert(ann, tmp_path / "db", quiet=True)
    val, test = load_split(tmp_path / "db", "val"), load_split(tmp_path / "db", "test")
    # ClipBERT's DiDeMo numbers: 1,065 val and 1,004 test videos
    assert (len(val), len(test)) == (1065, 1004)
    assert len({r["video_id"] for r in val}) == 1065 and all(r["cid"] == r["video_id"] for r in val)
    for split, records in (("val", val), ("test", test)):
        source = json.loads((ann / f"{split}_data.json").read_text())
        assert sum(r["num_descriptions"] for r in records) == len(source)
        s = meta["splits"][split]
        assert (s["descriptions_in"], s["descriptions_joined"], s["dropped"]) == (len(source), len(source), 0)
        assert s["written"] == len({video_stem(d["video"]) for d in source})

    # the first video of val_data.json: its five descriptions, in file order (records 0, 458, 566, 1015, 1305)
    assert val[0] == {
        "cid": "35034348999@N01_6060447507_dc1a90b8ef",
        "video_id": "35034348999@N01_6060447507_dc1a90b8ef",
        "caption": "the man in the hat briefly bends over the machine the man is waving his arm around "
        "man is holding his hat. man with hat waves right hand up and down a man with a hat looking at a wavy object.",
        "num_descriptions": 5,
        "annotation_ids": [49152, 50067, 36044, 18360, 51687],
        "source_videos": ["35034348999@N01_6060447507_dc1a90b8ef.mov"],
    }
    by_video = {r["video_id"]: r for r in val}
    # one Flickr video published under two names (.mov and .mp4): one video here
    merged = by_video["33234611@N00_3567949618_0bee41c6f7"]
    stem = "33234611@N00_3567949618_0bee41c6f7"
    assert merged["source_videos"] == [f"{stem}.mov", f"{stem}.mp4"]
    assert merged["caption"].startswith("eyeglasses resting on a table disappear from view behind the camera. the")
    assert merged["annotation_ids"] == [45057, 61519, 38850, 61829, 24195]
    # a name ending in a bare dot has the same stem as its .mp4
    assert by_video["79785633@N03_7901361222_8bb0dfc88f"]["num_descriptions"] == 6
    assert meta["splits"]["val"]["videos_under_several_names"] == 29
    assert test[0]["caption"] == (
        "someone kicks the bug towards some rocks. a man in a red shirt stomps on a centipede. "
        "man in white shirt is seen close up of a millipede on the rocks first time foot swipes at wiggly thing"
    )
    assert meta["task"] == "retrieval" and meta["missing_splits"] == {"train": "missing train_data.json"}


def test_video_stem():
    assert video_stem("a_b@N01_c.mov") == "a_b@N01_c"
    assert video_stem("a_b@N01_c.") == "a_b@N01_c"
    assert video_stem("a_b@N01_c") == "a_b@N01_c"


# ---------------------------------------------------------------------------- fixtures, published schema


def _desc(video, description, annotation_id, times=((1, 1), (1, 2), (1, 1), (0, 1))):
    return {"num_segments": 6, "description": description, "dl_link": "https://www.flickr.com/video_download.gne?id=1",
            "times": [list(t) for t in times], "video": video, "annotation_id": annotation_id}


def _train():
    return [
        _desc("1@N01_11_aa.mp4", "a dog runs in. ", 10),
        _desc("2@N01_22_bb.avi", "a cat sleeps", 11),
        _desc("1@N01_11_aa.mp4", " the dog jumps", 12),
        _desc("1@N01_11_aa.mov", "the dog leaves.", 13),
        _desc("3@N01_33_cc.3gp", "rain falls", 14),
    ]


def _make(tmp_path, splits):
    ann = tmp_path / "ann"
    ann.mkdir(exist_ok=True)
    for split, data in splits.items():
        (ann / f"{split}_data.json").write_text(data if isinstance(data, str) else json.dumps(data))
    return ann


def test_small_train(tmp_path, capsys):
    ann = _make(tmp_path, {"train": _train(), "test": _train()[1:2]})
    meta = convert(ann, tmp_path / "db")
    train = load_split(tmp_path / "db", "train")
    assert train[0] == {
        "cid": "1@N01_11_aa", "video_id": "1@N01_11_aa", "caption": "a dog runs in. the dog jumps the dog leaves.",
        "num_descriptions": 3, "annotation_ids": [10, 12, 13], "source_videos": ["1@N01_11_aa.mp4", "1@N01_11_aa.mov"],
    }
    rest = [(r["video_id"], r["caption"]) for r in train[1:]]
    assert rest == [("2@N01_22_bb", "a cat sleeps"), ("3@N01_33_cc", "rain falls")]
    assert meta["splits"]["train"] == {
        "descriptions_in": 5, "written": 3, "dropped": 0, "dropped_by_kind": {},
        "descriptions_joined": 5, "videos_under_several_names": 1,
    }
    assert meta["missing_splits"] == {"val": "missing val_data.json"}
    assert "val: not converted (missing val_data.json)" in capsys.readouterr().out


CASES = {
    # name: (mutate(records), where, message start, dropped_by_kind in skip mode, videos written in skip mode)
    "missing field": (lambda d: d[1].pop("description"), "record 1 (annotation_id 11)",
                      "missing field: 'description'", {"missing field": 1}, 2),
    "wrong type": (lambda d: d[4].update(annotation_id="14"), "record 4 (annotation_id '14')",
                   "wrong field type: 'annotation_id'", {"wrong field type": 1}, 2),
    "empty description": (lambda d: d[2].update(description="  "), "record 2 (annotation_id 12)",
                          "empty field: 'description'", {"empty field": 1}, 3),
    "duplicate id": (lambda d: d[3].update(annotation_id=10), "record 0 (annotation_id 10)",
                     "duplicate id: annotation_id 10 also at record(s) 3", {"duplicate id": 2}, 3),
    "not a record": (lambda d: d.insert(0, "a dog runs"), "record 0", "not a record", {"not a record": 1}, 3),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_record_stop(tmp_path, case):
    mutate, where, message, _, _ = CASES[case]
    train = _train()
    mutate(train)
    ann = _make(tmp_path, {"train": train})
    with pytest.raises(BadInputError) as info:
        convert(ann, tmp_path / "db", on_error="stop", quiet=True)
    assert str(info.value).startswith(f"{ann / 'train_data.json'}:{where}: {message}"), str(info.value)
    assert not (tmp_path / "db" / "train.jsonl").exists()


@pytest.mark.parametrize("case", list(CASES))
def test_bad_record_skip(tmp_path, case):
    mutate, where, message, kinds, n_videos = CASES[case]
    train = _train()
    mutate(train)
    ann = _make(tmp_path, {"train": train})
    meta = convert(ann, tmp_path / "db", on_error="skip", quiet=True)
    records = load_split(tmp_path / "db", "train")
    assert len(records) == meta["splits"]["train"]["written"] == n_videos
    assert meta["splits"]["train"]["dropped_by_kind"] == kinds
    assert sum(r["num_descriptions"] for r in records) == len(train) - sum(kinds.values())
    assert f"{ann / 'train_data.json'}:{where}: {message}" in (tmp_path / "db" / "problems.log").read_text()


@pytest.mark.parametrize(
    "data, message",
    [('{"1@N01_11_aa.mp4": []}', "expected a JSON list of records, got dict"), ('[{"video": ', "malformed JSON")],
)
def test_wrong_json_stops_in_both_modes(tmp_path, data, message):
    ann = _make(tmp_path, {"train": data, "val": _train()})
    for mode in ("stop", "skip"):
        with pytest.raises(BadInputError, match=f"train_data.json: {message}"):
            convert(ann, tmp_path / "db", on_error=mode, quiet=True)


def test_no_split_is_an_error(tmp_path):
    with pytest.raises(BadInputError, match="no DiDeMo split .*train_data.json, val_data.json, test_data.json"):
        convert(_make(tmp_path, {}), tmp_path / "db", quiet=True)


def test_cli(tmp_path):
    ann = _make(tmp_path, {"val": _train()})
    cmd = [sys.executable, "-m", "txt_db_tools.didemo", "--ann-dir", str(ann), "--out", str(tmp_path / "db")]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "val: 3 written (descriptions 5 in)" in r.stdout
    (ann / "val_data.json").write_text(json.dumps(_train()[:1] + [{"video": "x.mp4"}]))
    r = subprocess.run(cmd + ["--on-error", "stop"], capture_output=True, text=True)
    assert r.returncode == 1
    assert r.stderr == f"error: {ann / 'val_data.json'}:record 1: missing field: 'description'\n"
    assert len(load_split(tmp_path / "db", "val")) == 3  # the previous txt_db is kept
    r = subprocess.run(cmd, capture_output=True, text=True)  # skip is the default
    assert r.returncode == 0 and "val: 1 written (descriptions 2 in), 1 source records dropped" in r.stdout
