"""The demo generator: published formats, determinism, and questions that need the video."""

import hashlib
import json
from collections import Counter
from pathlib import Path

import cv2
import pytest

from sparsevl.data.demo_data import COLORS, DIRECTIONS, SHAPES, DemoSpec, generate

SPEC = DemoSpec(num_videos=24, seed=7)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    generate(out, SPEC, progress=False)
    return out


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(folder).as_posix().encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def test_activitynet_qa_format(demo):
    ann = demo / "annotations"
    for split in ("train", "val", "test"):
        qs = json.loads((ann / f"{split}_q.json").read_text())
        ans = json.loads((ann / f"{split}_a.json").read_text())
        assert [q["question_id"] for q in qs] == [a["question_id"] for a in ans]
        for q in qs:
            assert set(q) == {"video_name", "question", "question_id"}
            assert q["question_id"].startswith(f"v_{q['video_name']}_")
            assert (demo / "videos" / f"v_{q['video_name']}.mp4").is_file()
        for a in ans:
            assert set(a) == {"answer", "type", "question_id"}
            assert isinstance(a["type"], int) and 0 <= a["type"] <= 8


def test_captions_format(demo):
    for split in ("train", "val_1", "val_2"):
        caps = json.loads((demo / "captions" / f"{split}.json").read_text())
        for video_id, rec in caps.items():
            assert video_id.startswith("v_demo")
            assert len(rec["timestamps"]) == len(rec["sentences"]) > 0
            assert all(0 <= s <= e <= rec["duration"] for s, e in rec["timestamps"])


def test_splits_partition_the_videos(demo):
    names = {}
    for split in ("train", "val", "test"):
        for q in json.loads((demo / "annotations" / f"{split}_q.json").read_text()):
            assert names.setdefault(q["video_name"], split) == split, "a video in two splits"
    assert len(names) == SPEC.num_videos
    assert Counter(names.values()) == {"train": 17, "val": 2, "test": 5}


def test_question_types_and_answers(tmp_path):
    generate(tmp_path, DemoSpec(num_videos=120, seed=1), progress=False)
    answers = [a for s in ("train", "val", "test") for a in json.loads((tmp_path / "annotations" / f"{s}_a.json").read_text())]
    by_type = Counter(a["type"] for a in answers)
    # motion, spatial, temporal, yes/no, colour, object, number
    assert {0, 1, 2, 3, 4, 5, 7} <= set(by_type)
    values = {t: {a["answer"] for a in answers if a["type"] == t} for t in by_type}
    assert values[0] == set(DIRECTIONS)
    assert values[1] <= {"left", "right", "above", "below"}
    assert values[2] <= set(COLORS) and values[4] <= set(COLORS)
    assert values[3] == {"yes", "no"}
    assert values[5] == set(SHAPES)
    assert values[7] <= {"1", "2", "3"}


def test_videos_are_real_files(demo):
    cap = cv2.VideoCapture(str(demo / "videos" / "v_demo00000.mp4"))
    frames = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames += 1
        assert frame.shape == (SPEC.size, SPEC.size, 3)
    assert frames == SPEC.num_frames


def test_deterministic_from_seed(demo, tmp_path):
    generate(tmp_path / "same", SPEC, progress=False)
    generate(tmp_path / "other", DemoSpec(num_videos=24, seed=8), progress=False)
    assert _digest(tmp_path / "same" / "annotations") == _digest(demo / "annotations")
    assert _digest(tmp_path / "other" / "annotations") != _digest(demo / "annotations")


def test_a_video_does_not_depend_on_the_dataset_size(demo, tmp_path):
    generate(tmp_path, DemoSpec(num_videos=3, seed=7), progress=False)
    small = (tmp_path / "captions").glob("*.json")
    small_caps = {k: v for p in small for k, v in json.loads(p.read_text()).items()}
    big_caps = {k: v for p in (demo / "captions").glob("*.json") for k, v in json.loads(p.read_text()).items()}
    for video_id, rec in small_caps.items():
        assert big_caps[video_id] == rec
