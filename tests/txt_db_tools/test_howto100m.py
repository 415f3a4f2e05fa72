import json
import re

import pytest

from sparsevl.txt_db import load_split
from sparsevl.problems import BadInputError
from txt_db_tools.howto100m import convert

CAPTIONS = {  # caption.json as published: video id -> {start, end, text}
    "nVbIUDjzWY4": {"start": [0.0, 4.5, 9.1], "end": [4.5, 9.1, 13.0],
                    "text": ["sure yummy", "going make pancakes", "first take bowl"]},
    "5UQBoBmPWgQ": {"start": [12, 20], "end": [20, 25], "text": ["cut wood", "sand edges"]},
}


def _make(tmp_path, captions=CAPTIONS, name="caption.json"):
    ann = tmp_path / "ann"
    ann.mkdir(exist_ok=True)
    (ann / name).write_text(json.dumps(captions))
    return ann


def test_one_record_per_caption_with_its_window(tmp_path):
    meta = convert(_make(tmp_path), tmp_path / "db", on_error="stop", quiet=True)
    train = load_split(tmp_path / "db", "train")
    assert train[1] == {"cid": "nVbIUDjzWY4_1", "video_id": "nVbIUDjzWY4", "caption": "going make pancakes",
                        "start": 4.5, "end": 9.1}
    assert [r["cid"] for r in train[3:]] == ["5UQBoBmPWgQ_0", "5UQBoBmPWgQ_1"]
    assert meta["task"] == "pretrain" and meta["splits"]["train"]["videos"] == 2


def test_raw_captions_file(tmp_path):
    ann = _make(tmp_path, name="raw_caption.json")
    with pytest.raises(BadInputError, match="need caption.json"):
        convert(ann, tmp_path / "db", quiet=True)
    assert convert(ann, tmp_path / "db", captions="raw_caption", quiet=True)["splits"]["train"]["written"] == 5


@pytest.mark.parametrize("change, where, message", [
    (lambda c: c["5UQBoBmPWgQ"]["end"].pop(), "video '5UQBoBmPWgQ'", "length mismatch"),
    (lambda c: c["5UQBoBmPWgQ"]["text"].__setitem__(1, ""), "video '5UQBoBmPWgQ' caption 1", "bad caption"),
    (lambda c: c["5UQBoBmPWgQ"]["start"].__setitem__(1, 30), "video '5UQBoBmPWgQ' caption 1", "bad window"),
    (lambda c: c["5UQBoBmPWgQ"].pop("text"), "video '5UQBoBmPWgQ'", "missing field: 'text'"),
])
def test_bad_videos_and_captions(tmp_path, change, where, message):
    captions = json.loads(json.dumps(CAPTIONS))
    change(captions)
    ann = _make(tmp_path, captions)
    with pytest.raises(BadInputError, match=re.escape(f"caption.json:{where}: {message}")):
        convert(ann, tmp_path / "db", on_error="stop", quiet=True)
    meta = convert(ann, tmp_path / "db", quiet=True)
    assert meta["splits"]["train"]["dropped_by_kind"] == {message.split(":")[0]: 1}
    assert meta["splits"]["train"]["written"] >= 3
