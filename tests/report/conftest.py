"""Tiny real runs to report on: demo videos -> extract-frames -> txt_db -> train -> evaluate, for
VideoQA (two runs that differ in their fusion, to compare) and retrieval (ranked candidates)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sparsevl.config import from_dict
from sparsevl.data.demo_data import DemoSpec, generate
from sparsevl.data.extract_frames import extract_frames
from sparsevl.runner.checkpoint import latest_checkpoint
from sparsevl.runner.evaluate import evaluate
from sparsevl.runner.train import train
from sparsevl.tasks.config import RunConfig
from txt_db_tools.activitynet_captions import convert as convert_captions
from txt_db_tools.activitynet_qa import convert as convert_qa

TINY_MODEL = {"backbone_channels": 16, "backbone_blocks": 3, "hidden_size": 32, "num_layers": 1, "num_heads": 2,
              "intermediate_size": 64, "dropout": 0.0, "max_text_len": 40, "embed_dim": 16, "num_frm": 2}


def run_config(data: dict, task: str, output_dir: Path, **changes) -> RunConfig:
    cfg = {
        "task": task, "txt_db": str(data["qa_db" if task == "video_qa" else "ret_db"]), "vis_db": str(data["vis_db"]),
        "output_dir": str(output_dir), "train_split": "train", "val_split": "val" if task == "video_qa" else "val_1",
        "model": dict(TINY_MODEL), "retrieval": {}, "train_n_clips": 1, "inference_n_clips": 2, "img_size": 32,
        "train_batch_size": 4, "val_batch_size": 8, "num_epochs": 2, "max_steps": 4, "warmup_ratio": 0.0,
        "log_every_steps": 1, "seed": 5, "device": "cpu",
    }
    for key, value in changes.items():
        section, _, name = key.rpartition("__")
        (cfg[section] if section else cfg)[name] = value
    return from_dict(RunConfig, cfg)


@pytest.fixture(scope="session")
def report_data(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("report")
    generate(root / "demo", DemoSpec(num_videos=20, seed=4), progress=False)
    extract_frames(root / "demo" / "videos", root / "vis_db", num_frames=8, max_size=32, workers=0, progress=False)
    convert_qa(root / "demo" / "annotations", root / "qa_db", quiet=True)
    convert_captions(root / "demo" / "captions", root / "ret_db", quiet=True)
    data = {"root": root, "vis_db": root / "vis_db", "qa_db": root / "qa_db", "ret_db": root / "ret_db"}
    for name, task, split, changes in (
        ("concat", "video_qa", "test", {}),
        ("mean", "video_qa", "test", {"model__fusion": "mean"}),
        ("retrieval", "retrieval", "val_2", {"retrieval__eval_mode": "rerank", "retrieval__rerank_k": 3}),
    ):
        cfg = run_config(data, task, root / "runs" / name, **changes)
        train(cfg, progress=False)
        evaluate(latest_checkpoint(cfg.output_dir), split)
        data[name] = Path(cfg.output_dir)
    return data
