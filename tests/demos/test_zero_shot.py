"""`sparsevl demo --task zero_shot` end to end on a handful of videos and steps: every stage runs,
the small CLIP is written as a Hugging Face CLIP folder and evaluated zero-shot, and the table
compares frame-mean with frame-mean + BT branch with what each trains."""

from __future__ import annotations

import functools

import cv2
import numpy as np
import pytest

from sparsevl.cli import main
from sparsevl.data.demo_data import BACKGROUND, COLORS
from sparsevl.data.vis_db import VisDB
from sparsevl.demos.zero_shot import motion_caption, static_caption, still_position
from sparsevl.problems import UserError
from sparsevl.txt_db import load_split
from tests.models.test_bt_adapter import branch_parameters


def test_captions_say_what_a_frame_shows_or_how_the_video_moves():
    assert static_caption("red_circle", "left") == "a red circle on the left"
    assert static_caption("blue_square", "down") == "a blue square at the bottom"
    # a shape moving left starts on the right: two still captions in time order
    assert motion_caption("left_red_to_blue") == "a red shape on the right then a blue shape on the left"
    assert motion_caption("up_blue_to_red") == "a blue shape at the bottom then a red shape at the top"


def write_still(path, centre):
    frame = np.full((32, 32, 3), BACKGROUND, np.uint8)
    cv2.circle(frame, centre, 4, COLORS["red"], -1)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 1, (32, 32))
    writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()


@pytest.mark.parametrize(("centre", "position"), [((6, 14), "left"), ((26, 18), "right"), ((14, 5), "up"),
                                                  ((18, 27), "down")])
def test_a_stills_position_is_the_side_its_shape_is_furthest_towards(tmp_path, centre, position):
    write_still(tmp_path / "still.mp4", centre)
    assert still_position(tmp_path / "still.mp4") == position


def test_a_still_without_a_shape_is_refused_naming_the_file(tmp_path):
    frame = np.full((32, 32, 3), BACKGROUND, np.uint8)
    writer = cv2.VideoWriter(str(tmp_path / "empty.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 1, (32, 32))
    writer.write(frame)
    writer.release()
    with pytest.raises(UserError, match="empty.mp4"):
        still_position(tmp_path / "empty.mp4")


def video_ids(out, txt_db: str, split: str) -> set[str]:
    return {r["video_id"] for r in load_split(out / txt_db, split)}


def test_zero_shot_demo_runs_every_stage(tmp_path, capsys, one_torch_thread):
    out = tmp_path / "demo"
    args = ["demo", "--task", "zero_shot", "--out", str(out), "--num-videos", "16", "--max_steps", "2",
            "--train_batch_size", "4"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "[15/15] comparison" in printed
    assert (out / "pretrained" / "clip" / "config.json").is_file() and (out / "pretrained" / "clip" / "merges.txt").is_file()
    assert (out / "runs" / "frame_mean" / "results_motion" / "test_step0_evaluation.json").is_file()  # zero-shot
    # the branch trains on the training split's videos and still clips together, never on held-out ones
    ids = functools.partial(video_ids, out)
    mixed = ids("txt_db_mixed", "train")
    motion, stills = mixed & ids("txt_db_motion", "train"), mixed & ids("txt_db_static", "train")
    assert motion == ids("txt_db_motion", "train") and stills and motion | stills == mixed
    assert not mixed & (ids("txt_db_motion", "test") | ids("txt_db_static", "val"))
    with VisDB(out / "vis_db_still_clips") as store:
        assert set(store.video_ids()) == stills
    table = (out / "results.md").read_text().splitlines()
    rows = [line for line in table[4:] if line.strip()]
    assert [r.split("  ")[0] for r in rows] == ["frozen CLIP, frame-mean", "frozen CLIP, frame-mean + BT branch"]
    trainable = [int(r.split()[-4].replace(",", "")) for r in rows]
    total = [int(r.split()[-3].replace(",", "")) for r in rows]
    # the branch: 2 blocks of the demo CLIP's width 128, a temporal embedding of 8 frames
    assert trainable == [0, branch_parameters(128, 2, 8)] and total[1] == total[0] + trainable[1]
