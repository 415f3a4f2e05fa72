"""`sparsevl demo --task zero_shot` end to end on a handful of videos and steps: every stage runs,
the small CLIP is written as a Hugging Face CLIP folder and evaluated zero-shot, and the table
compares frame-mean with frame-mean + BT branch with what each trains."""

from __future__ import annotations

from sparsevl.cli import main
from sparsevl.demos.zero_shot import motion_caption, static_caption
from tests.models.test_bt_adapter import branch_parameters


def test_captions_say_what_a_frame_shows_or_how_the_video_moves():
    assert static_caption("red_circle") == "a red circle"
    assert motion_caption("left_red_to_blue") == "a shape moves left and turns from red to blue"


def test_zero_shot_demo_runs_every_stage(tmp_path, capsys, one_torch_thread):
    out = tmp_path / "demo"
    args = ["demo", "--task", "zero_shot", "--out", str(out), "--num-videos", "16", "--max_steps", "2",
            "--train_batch_size", "4"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "[14/14] comparison" in printed
    assert (out / "pretrained" / "clip" / "config.json").is_file() and (out / "pretrained" / "clip" / "merges.txt").is_file()
    assert (out / "runs" / "frame_mean" / "results_motion" / "test_step0_evaluation.json").is_file()  # zero-shot
    table = (out / "results.md").read_text().splitlines()
    rows = [line for line in table[4:] if line.strip()]
    assert [r.split("  ")[0] for r in rows] == ["frozen CLIP, frame-mean", "frozen CLIP, frame-mean + BT branch"]
    trainable = [int(r.split()[-4].replace(",", "")) for r in rows]
    total = [int(r.split()[-3].replace(",", "")) for r in rows]
    # the branch: 2 blocks of the demo CLIP's width 128, a temporal embedding of 8 frames
    assert trainable == [0, branch_parameters(128, 2, 8)] and total[1] == total[0] + trainable[1]
