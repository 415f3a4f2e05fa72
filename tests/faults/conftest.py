"""A tiny real dataset (demo videos through the real tools) and a tiny-model config, for the fault suite."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from sparsevl.config import from_dict
from sparsevl.data.demo_data import DemoSpec, generate
from sparsevl.data.extract_frames import extract_frames
from sparsevl.tasks.config import RunConfig


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory) -> dict[str, Path]:
    from txt_db_tools.activitynet_captions import convert as convert_captions
    from txt_db_tools.activitynet_qa import convert as convert_qa

    root = tmp_path_factory.mktemp("fault_data")
    generate(root / "demo", DemoSpec(num_videos=12, seed=1), progress=False)
    extract_frames(root / "demo" / "videos", root / "vis_db", num_frames=6, max_size=32, workers=0, progress=False)
    convert_qa(root / "demo" / "annotations", root / "qa_db", quiet=True)
    convert_captions(root / "demo" / "captions", root / "ret_db", quiet=True)
    return {"root": root, "videos": root / "demo" / "videos", "vis_db": root / "vis_db",
            "qa_db": root / "qa_db", "ret_db": root / "ret_db"}


@pytest.fixture
def own_copy(demo_data, tmp_path) -> dict[str, Path]:
    """A copy of the demo data that a test may damage."""
    copy = {}
    for key in ("vis_db", "qa_db", "ret_db"):
        copy[key] = tmp_path / key
        shutil.copytree(demo_data[key], copy[key])
    return {**demo_data, **copy}


def tiny(data: dict, output_dir: Path, task: str = "video_qa", **top) -> dict:
    """A config (plain data) for a tiny model on the demo data; `top` overrides top-level keys,
    `model` / `retrieval` dicts are merged."""
    cfg = {
        "task": task, "txt_db": str(data["qa_db" if task == "video_qa" else "ret_db"]),
        "vis_db": str(data["vis_db"]), "output_dir": str(output_dir),
        "val_split": "val" if task == "video_qa" else "val_1",
        "model": {"backbone_channels": 8, "backbone_blocks": 3, "hidden_size": 16, "num_layers": 1,
                  "num_heads": 2, "intermediate_size": 32, "max_text_len": 40, "embed_dim": 8, "num_frm": 2},
        "train_n_clips": 1, "inference_n_clips": 1, "img_size": 32, "train_batch_size": 4, "val_batch_size": 4,
        "num_epochs": 2, "warmup_ratio": 0.0, "log_every_steps": 1, "seed": 7, "device": "cpu",
    }
    for key, value in top.items():
        cfg[key] = {**cfg[key], **value} if isinstance(value, dict) and isinstance(cfg.get(key), dict) else value
    return cfg


@pytest.fixture
def config():
    """config(data, output_dir, task="video_qa", **top) -> RunConfig, or with as_file=PATH the
    JSON file written there."""

    def make(data: dict, output_dir: Path, task: str = "video_qa", as_file: Path | None = None, **top):
        cfg = tiny(data, output_dir, task, **top)
        if as_file is not None:
            as_file.write_text(json.dumps(cfg))
            return as_file
        return from_dict(RunConfig, cfg)

    return make
