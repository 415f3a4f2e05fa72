"""The synthetic action videos: Kinetics-style lists the real converter reads, balanced classes,
determinism, and classes that only the order of the frames tells apart."""

from __future__ import annotations

import dataclasses
import hashlib
import random
from pathlib import Path

import cv2
import numpy as np
import pytest

from sparsevl.data.action_videos import (
    ActionSpec,
    StillSpec,
    _start,
    action_classes,
    action_scene,
    generate_actions,
    generate_stills,
    still_classes,
)
from sparsevl.data.demo_data import render_frame

SPEC = ActionSpec(num_videos=32, frames=8, seed=5)


@pytest.fixture(scope="module")
def actions(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("actions")
    generate_actions(out, SPEC, progress=False)
    return out


def test_lists_in_mmaction2_format_and_converted_with_class_names(actions, tmp_path):
    from txt_db_tools.video_list import convert

    lines = {s: (actions / "lists" / f"actions_{s}_list_videos.txt").read_text().splitlines() for s in ("train", "val", "test")}
    assert sum(map(len, lines.values())) == 32
    for line in sum(lines.values(), []):
        path, label = line.split(" ")
        assert path.split("/")[0] == action_classes()[int(label)]
        assert (actions / "videos" / path).is_file()
    convert(actions / "lists", tmp_path / "txt_db", quiet=True)
    import json

    assert json.loads((tmp_path / "txt_db" / "label2name.json").read_text()) == {
        str(i): name for i, name in enumerate(action_classes())}
    assert len(action_classes()) == 8 and action_classes()[:2] == ["left_red_to_blue", "left_blue_to_red"]


def test_videos_are_real_files_with_the_frames_asked(actions):
    path = next((actions / "videos").rglob("*.mp4"))
    cap = cv2.VideoCapture(str(path))
    count = 0
    while cap.read()[0]:
        count += 1
    assert count == SPEC.frames


def test_generation_is_deterministic(actions, tmp_path):
    generate_actions(tmp_path, SPEC, progress=False)

    def digest(folder: Path) -> str:
        h = hashlib.sha256()
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                h.update(p.relative_to(folder).as_posix().encode() + p.read_bytes())
        return h.hexdigest()

    assert digest(tmp_path) == digest(actions)


def test_stills_have_one_frame_and_fifteen_classes(tmp_path):
    counts = generate_stills(tmp_path, StillSpec(num_images=30, seed=1), progress=False)
    assert counts == {"train": 27, "val": 3, "test": 0}
    assert sorted(p.name for p in (tmp_path / "videos").iterdir()) == sorted(still_classes())
    assert len(still_classes()) == 15


def test_a_video_reversed_is_a_video_of_the_opposite_class():
    """"left, red to blue" played backwards is "right, blue to red": the same frames, so no
    average of frames can tell them apart."""
    spec = dataclasses.replace(SPEC, frames=9)
    scene, render = action_scene(random.Random(0), spec, "a", label=0)  # left_red_to_blue
    track = scene.objects[0]
    mirrored = dataclasses.replace(track, direction="right", color="blue", new_color="red",
                                   start=track.center(spec.frames - 1), velocity=(-track.velocity[0], 0.0),
                                   change_frame=spec.frames - track.change_frame)
    forward = [render_frame(scene, f, render) for f in range(spec.frames)]
    backward = [render_frame(dataclasses.replace(scene, objects=[mirrored]), f, render) for f in range(spec.frames)]
    assert all(np.array_equal(a, b) for a, b in zip(forward, backward[::-1]))
    assert action_classes()[3] == "right_blue_to_red"


def test_start_positions_cover_the_same_paths_in_both_directions():
    rng, span = random.Random(0), 14.0
    left = [_start(rng, "left", 32, 6, span)[0] - span for _ in range(4000)]  # where left paths end
    right = [_start(rng, "right", 32, 6, span)[0] for _ in range(4000)]  # where right paths start
    assert abs(np.mean(left) - np.mean(right)) < 0.3 and abs(np.std(left) - np.std(right)) < 0.3
    assert min(left) >= 6 and max(right) + span <= 32 - 6
