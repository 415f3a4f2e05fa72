"""demo-data -> extract-frames -> ActivityNet-QA converter: every question's video has its frames."""

import subprocess
import sys

from sparsevl.txt_db import available_splits, load_ans2label, load_split
from sparsevl.data.vis_db import VisDB


def _run(*args):
    result = subprocess.run([sys.executable, *args], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_commands_build_consistent_stores(tmp_path):
    data, vis, txt = tmp_path / "data", tmp_path / "vis_db", tmp_path / "txt_db"
    _run("-m", "sparsevl", "demo-data", str(data), "--num-videos", "20", "--seed", "3")
    _run("-m", "sparsevl", "extract-frames", str(data / "videos"), str(vis), "--fps", "4", "--max-size", "48", "--workers", "2")
    _run("-m", "txt_db_tools.activitynet_qa", "--ann-dir", str(data / "annotations"), "--out", str(txt))

    assert available_splits(txt) == ["test", "train", "val"]
    assert load_ans2label(txt)
    db = VisDB(vis)
    assert len(db.video_ids()) == 20
    n_questions = 0
    for split in ("train", "val", "test"):
        for rec in load_split(txt, split):
            n_questions += 1
            meta = db.meta(rec["video_id"])
            assert meta.num_frames == 12  # 3 s at 4 fps
            frames = db.frames(rec["video_id"], [0, meta.num_frames - 1])
            assert frames.shape == (2, 48, 48, 3)
    assert n_questions > 20
    db.close()
