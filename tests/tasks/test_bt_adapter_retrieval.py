"""BT-Adapter trained for retrieval through the unchanged `sparsevl train`: only the branch moves
(CLIP stays as its folder has it), the log says how many parameters train, and the checkpoint
evaluates and predicts by the dual encoder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from sparsevl.cli import main
from sparsevl.config import load_config
from sparsevl.models.factory import ModelConfig, build_dual_encoder
from sparsevl.runner.checkpoint import latest_checkpoint
from sparsevl.runner.predict import predict
from sparsevl.runner.train import train
from sparsevl.tasks.config import RunConfig
from sparsevl.txt_db import load_split
from tests.runner.test_evaluate_pretrained import data  # noqa: F401  (the fixture: demo data and a tiny CLIP)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):  # noqa: F811
    out = tmp_path_factory.mktemp("bt_run")
    cfg = load_config(RunConfig, None, [
        "--task", "retrieval", "--txt_db", str(data["txt_db"]), "--vis_db", str(data["vis_db"]),
        "--output_dir", str(out), "--val_split", "val_1",
        "--model.architecture", "dual_encoder", "--model.backbone", "clip_vit", "--model.text_tower", "clip",
        "--model.backbone_dir", str(data["clip"]), "--model.num_frm", "2", "--model.max_text_len", "77",
        "--model.bt_adapter.depth", "1", "--model.bt_adapter.mask_ratio", "0.5",
        "--retrieval.objective", "contrastive", "--retrieval.eval_mode", "dual",
        "--train_n_clips", "1", "--inference_n_clips", "1", "--img_size", "32", "--train_batch_size", "3",
        "--max_steps", "3", "--num_epochs", "1", "--lr", "1e-2", "--warmup_ratio", "0", "--device", "cpu",
    ])
    train(cfg, progress=False)
    return cfg, latest_checkpoint(out)


def test_only_the_branch_trained(trained, data):  # noqa: F811
    cfg, ckpt = trained
    weights = torch.load(ckpt, weights_only=True)["model"]
    clip = build_dual_encoder(ModelConfig(architecture="dual_encoder", backbone="clip_vit", text_tower="clip",
                                          backbone_dir=str(data["clip"]), max_text_len=77)).state_dict()
    assert set(weights) - set(clip) == {k for k in weights if k.startswith("visual.branch.")}
    assert all(torch.equal(weights[k], v) for k, v in clip.items())
    assert weights["visual.branch.out_proj.weight"].abs().sum() > 0  # zero at step 0, trained since
    branch = sum(v.numel() for k, v in weights.items() if k.startswith("visual.branch."))
    logged = [json.loads(line) for line in (Path(cfg.output_dir) / "log.jsonl").read_text().splitlines()]
    model = next(r for r in logged if "model/trainable_parameters" in r)
    assert model["model/trainable_parameters"] == branch < model["model/parameters"]


def test_the_checkpoint_evaluates_and_predicts_by_the_dual_encoder(trained, data, tmp_path, capsys):  # noqa: F811
    cfg, ckpt = trained
    assert main(["evaluate", "--checkpoint", str(ckpt), "--split", "train", "--out", str(tmp_path)]) == 0
    assert "dual: 6 captions x 6 videos" in capsys.readouterr().out
    saved = json.loads(next(tmp_path.glob("train_step*_retrieval_dual.json")).read_text())
    records = load_split(data["txt_db"], "train")
    video_id = saved["video_ids"][0]
    video = data["txt_db"].parent / "demo" / "videos" / f"{video_id}.mp4"
    args = ["predict", "--checkpoint", str(ckpt), "--video", str(video)]
    for r in records:
        args += ["--caption", r["caption"]]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "Dual" in printed and all(r["caption"] in printed for r in records)
    # the scores are the evaluation's (frames decoded from the file at the stored size: no resizing)
    rows = predict(ckpt, video, [r["caption"] for r in records]).prediction.rows
    column = saved["video_ids"].index(video_id)
    caption = {r["cid"]: r["caption"] for r in records}
    expected = {caption[cid]: row[column] for cid, row in zip(saved["cids"], saved["scores"])}
    assert {row["text"]: row["dual"] for row in rows} == pytest.approx(expected, abs=2e-3)


def test_a_branch_trained_on_2_frames_evaluates_on_3(trained, tmp_path, capsys):
    _, ckpt = trained
    assert main(["evaluate", "--checkpoint", str(ckpt), "--split", "train", "--out", str(tmp_path),
                 "--model.num_frm", "3"]) == 0
    assert "dual: 6 captions x 6 videos" in capsys.readouterr().out
