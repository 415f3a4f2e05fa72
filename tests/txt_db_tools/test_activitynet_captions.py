import json
import subprocess
import sys

import pytest

from sparsevl.txt_db import load_split
from sparsevl.problems import BadInputError
from txt_db_tools.activitynet_captions import convert

# ---------------------------------------------------------------------------- real data


def test_real_val_1_and_val_2(real_ann, tmp_path):
    ann = real_ann("activitynet_captions", "val_1.json", "val_2.json")
    meta = convert(ann, tmp_path / "db", quiet=True)
    for split, n_videos in (("val_1", 4917), ("val_2", 4885)):
        records = load_split(tmp_path / "db", split)
        source = json.loads((ann / f"{split}.json").read_text())
        assert len(records) == n_videos
        assert [r["video_id"] for r in records] == list(source)  # file order
        assert all(r["cid"] == r["video_id"] and r["video_id"].startswith("v_") for r in records)
        for r in records:
            assert r["caption"] == " ".join(s.strip() for s in source[r["video_id"]]["sentences"])
            assert r["timestamps"] == source[r["video_id"]]["timestamps"]
        n_sentences = sum(len(v["sentences"]) for v in source.values())
        assert meta["splits"][split] == {
            "videos_in": n_videos, "written": n_videos, "dropped": 0, "dropped_by_kind": {}, "sentences": n_sentences,
        }
    val_1 = {r["video_id"]: r for r in load_split(tmp_path / "db", "val_1")}
    # the first video, by hand from val_1.json: its second sentence starts with two spaces
    assert val_1["v_uqiMw7tQ1Cc"]["caption"] == (
        "A weight lifting tutorial is given. The coach helps the guy in red with the proper body placement "
        "and lifting technique."
    )
    assert val_1["v_uqiMw7tQ1Cc"]["duration"] == 55.15
    assert meta["task"] == "retrieval" and list(meta["splits"]) == ["val_1", "val_2"]
    assert meta["missing_splits"] == {"train": "missing train.json"}


# ---------------------------------------------------------------------------- fixtures, published schema


def _train():
    return {
        "v_QOlSCBRmfWY": {"duration": 82.73, "timestamps": [[0.83, 19.86], [17.37, 60.81], [56.26, 79.42]],
                          "sentences": ["A young woman is seen standing in a room.", " She begins dancing around.",
                                        " She ends by jumping.\n"]},
        "v_ehGHCYKzyZ8": {"duration": 61, "timestamps": [[0, 61]], "sentences": ["A man plays a drum."]},
        "v_nwznKOuZM7w": {"duration": 12.3, "timestamps": [[0.2, 5], [5, 12.3]],
                          "sentences": ["Two kids ride bikes.", "They  stop."]},
    }


def _make(tmp_path, splits):
    ann = tmp_path / "ann"
    ann.mkdir(exist_ok=True)
    for split, data in splits.items():
        (ann / f"{split}.json").write_text(data if isinstance(data, str) else json.dumps(data))
    return ann


def test_small_train(tmp_path):
    ann = _make(tmp_path, {"train": _train(), "val_2": dict(list(_train().items())[1:])})
    meta = convert(ann, tmp_path / "db", quiet=True)
    train = load_split(tmp_path / "db", "train")
    assert train[0] == {
        "cid": "v_QOlSCBRmfWY", "video_id": "v_QOlSCBRmfWY",
        "caption": "A young woman is seen standing in a room. She begins dancing around. She ends by jumping.",
        **_train()["v_QOlSCBRmfWY"],
    }
    assert train[2]["caption"] == "Two kids ride bikes. They  stop."  # inner spacing is the annotator's
    assert [r["video_id"] for r in load_split(tmp_path / "db", "val_2")] == ["v_ehGHCYKzyZ8", "v_nwznKOuZM7w"]
    assert meta["missing_splits"] == {"val_1": "missing val_1.json"}
    assert meta["splits"]["train"]["sentences"] == 6


V = "v_QOlSCBRmfWY"
CASES = {
    # name: (mutate(videos), message start)
    "not a record": (lambda d: d.update({V: ["A young woman"]}), "not a record"),
    "missing sentences": (lambda d: d[V].pop("sentences"), "missing field: 'sentences'"),
    "sentences not a list": (lambda d: d[V].update(sentences="A woman dances."), "wrong field type: 'sentences'"),
    "sentence not a string": (lambda d: d[V]["sentences"].__setitem__(1, 7), "wrong field type: sentence 1"),
    "empty sentence": (lambda d: d[V]["sentences"].__setitem__(2, " \n"), "empty field: sentence 2"),
    "no sentences": (lambda d: d[V].update(sentences=[], timestamps=[]), "no sentences"),
    "length mismatch": (lambda d: d[V]["timestamps"].pop(), "length mismatch: 2 timestamps for 3 sentences"),
    "bad timestamp": (lambda d: d[V]["timestamps"].__setitem__(0, [0.83]), "bad timestamp: timestamp 0"),
    "text timestamp": (lambda d: d[V]["timestamps"].__setitem__(0, ["0.8", "19"]), "bad timestamp: timestamp 0"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_record_stop(tmp_path, case):
    mutate, message = CASES[case]
    videos = _train()
    mutate(videos)
    ann = _make(tmp_path, {"train": videos})
    with pytest.raises(BadInputError) as info:
        convert(ann, tmp_path / "db", on_error="stop", quiet=True)
    assert str(info.value).startswith(f"{ann / 'train.json'}:video {V!r}: {message}"), str(info.value)
    assert not (tmp_path / "db" / "train.jsonl").exists()


@pytest.mark.parametrize("case", list(CASES))
def test_bad_record_skip(tmp_path, case):
    mutate, message = CASES[case]
    videos = _train()
    mutate(videos)
    ann = _make(tmp_path, {"train": videos})
    meta = convert(ann, tmp_path / "db", on_error="skip", quiet=True)
    assert [r["video_id"] for r in load_split(tmp_path / "db", "train")] == ["v_ehGHCYKzyZ8", "v_nwznKOuZM7w"]
    s = meta["splits"]["train"]
    assert (s["videos_in"], s["written"], s["dropped"]) == (3, 2, 1)
    assert s["dropped_by_kind"] == {message.split(":")[0]: 1}
    assert f"{ann / 'train.json'}:video {V!r}: {message}" in (tmp_path / "db" / "problems.log").read_text()


@pytest.mark.parametrize(
    "data, message", [("[]", "expected a JSON object, got list"), ('{"v_a": {', "malformed JSON")]
)
def test_wrong_json_stops_in_both_modes(tmp_path, data, message):
    ann = _make(tmp_path, {"val_1": data, "val_2": _train()})
    for mode in ("stop", "skip"):
        with pytest.raises(BadInputError, match=f"val_1.json: {message}"):
            convert(ann, tmp_path / "db", on_error=mode, quiet=True)


def test_no_split_is_an_error(tmp_path):
    ann = _make(tmp_path, {"val": _train()})  # not a published name
    with pytest.raises(BadInputError, match="no ActivityNet Captions split .*train.json, val_1.json, val_2.json"):
        convert(ann, tmp_path / "db", quiet=True)


def test_cli(tmp_path):
    ann = _make(tmp_path, {"train": _train()})
    cmd = [sys.executable, "-m", "txt_db_tools.activitynet_captions"]
    cmd += ["--ann-dir", str(ann), "--out", str(tmp_path / "db")]
    r = subprocess.run(cmd + ["--on-error", "skip"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "train: 3 written (videos 3 in)" in r.stdout and "val_1: not converted" in r.stdout
    videos = _train()
    videos[V]["timestamps"].pop()
    (ann / "train.json").write_text(json.dumps(videos))
    r = subprocess.run(cmd + ["--on-error", "stop"], capture_output=True, text=True)
    assert r.returncode == 1
    assert r.stderr == f"error: {ann / 'train.json'}:video {V!r}: length mismatch: 2 timestamps for 3 sentences\n"
    assert len(load_split(tmp_path / "db", "train")) == 3  # the previous txt_db is kept
    r = subprocess.run(cmd, capture_output=True, text=True)  # skip is the default
    assert r.returncode == 0 and "train: 2 written (videos 3 in), 1 source records dropped" in r.stdout
    assert f"{ann / 'train.json'}:video {V!r}: length mismatch" in r.stdout
