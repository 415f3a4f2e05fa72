"""Checkpoints: the hand-off (`init_checkpoint`) from one run to a run of another task."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from sparsevl.config import from_dict
from sparsevl.data.demo_data import DemoSpec, generate
from sparsevl.data.extract_frames import extract_frames
from sparsevl.problems import BadInputError, ProblemLog
from sparsevl.runner.checkpoint import InitCheckpoint, load_checkpoint
from sparsevl.runner.train import train
from sparsevl.tasks.config import RunConfig
from sparsevl.tasks.registry import build_task
from sparsevl.txt_db import write_json_atomic


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    from txt_db_tools.activitynet_captions import convert as convert_captions
    from txt_db_tools.activitynet_qa import convert as convert_qa

    root = tmp_path_factory.mktemp("handoff")
    generate(root / "demo", DemoSpec(num_videos=10, seed=3), progress=False)
    extract_frames(root / "demo" / "videos", root / "vis_db", num_frames=4, max_size=32, workers=0, progress=False)
    convert_qa(root / "demo" / "annotations", root / "qa_db", quiet=True)
    convert_captions(root / "demo" / "captions", root / "ret_db", quiet=True)
    return {"vis_db": root / "vis_db", "qa_db": root / "qa_db", "ret_db": root / "ret_db"}


def config(data: dict, run: Path, task: str, **top) -> RunConfig:
    return from_dict(RunConfig, {
        "task": task, "txt_db": str(data["qa_db" if task == "video_qa" else "ret_db"]), "vis_db": str(data["vis_db"]),
        "output_dir": str(run), "val_split": None, "max_steps": 1, "train_batch_size": 4, "img_size": 32,
        "train_n_clips": 1, "inference_n_clips": 1, "device": "cpu", "log_every_steps": 1,
        "model": {"backbone_channels": 8, "backbone_blocks": 3, "hidden_size": 16, "num_layers": 1, "num_heads": 2,
                  "intermediate_size": 32, "embed_dim": 8, "num_frm": 2, "max_text_len": 40},
        **top,
    })


@pytest.fixture(scope="module")
def retrieval_checkpoint(data, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("retrieval_run")
    train(config(data, run, "retrieval"), progress=False)
    return run / "ckpt" / "step_0000001.pt"


def test_a_run_of_another_task_starts_from_the_checkpoints_towers_and_vocabulary(data, retrieval_checkpoint, tmp_path):
    saved = load_checkpoint(retrieval_checkpoint)
    cfg = config(data, tmp_path / "qa", "video_qa", init_checkpoint=str(retrieval_checkpoint))
    init = InitCheckpoint.read(retrieval_checkpoint)
    task = build_task(cfg, ProblemLog(), init.shared_state)
    assert task.state()["tokenizer"] == saved["task"]["tokenizer"]  # the captions' vocabulary, not the questions'
    model = task.build_model()
    report = init.load_into(model)
    assert report.missing and all(k.startswith("head.") for k in report.missing)  # the new answer head
    assert {k.split(".")[0] for k in report.unexpected} == {"itm_head", "text_proj", "video_proj", "logit_scale"}
    weights = model.state_dict()
    shared = [k for k in weights if k.startswith(("visual.", "cross."))]
    assert shared and all(torch.equal(weights[k], saved["model"][k]) for k in shared)


def test_the_hand_off_is_printed_and_logged_by_train(data, retrieval_checkpoint, tmp_path, capsys):
    run = tmp_path / "qa"
    train(config(data, run, "video_qa", init_checkpoint=str(retrieval_checkpoint)), progress=False)
    out = capsys.readouterr().out
    assert f"init from {retrieval_checkpoint}:" in out and "not in the file (kept as initialised)" in out
    logged = next(e for e in map(json.loads, (run / "log.jsonl").read_text().splitlines()) if "init/missing" in e)
    assert logged["init/checkpoint"] == str(retrieval_checkpoint)
    assert all(k.startswith("head.") for k in logged["init/missing"])


def test_a_tensor_of_another_shape_is_refused_unless_skipped(data, tmp_path):
    first = tmp_path / "first"
    train(config(data, first, "video_qa"), progress=False)
    fewer = tmp_path / "qa_db_fewer_answers"
    fewer.mkdir()
    for split in ("train", "val", "test"):
        (fewer / f"{split}.jsonl").write_text((data["qa_db"] / f"{split}.jsonl").read_text())
    answers = json.loads((data["qa_db"] / "ans2label.json").read_text())
    write_json_atomic(fewer / "ans2label.json", {a: i for i, a in enumerate(list(answers)[:5])})
    checkpoint = str(first / "ckpt" / "step_0000001.pt")
    with pytest.raises(BadInputError, match=r"shape mismatches: head\.net\.3\.weight \(\d+, 32\) \(expected \(5, 32\)\)"):
        train(config(data, tmp_path / "second", "video_qa", txt_db=str(fewer), init_checkpoint=checkpoint), progress=False)
    train(config(data, tmp_path / "third", "video_qa", txt_db=str(fewer), init_checkpoint=checkpoint,
                 init_skip=["head.net.3."]), progress=False)
