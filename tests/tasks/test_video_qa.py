"""Training end to end on tiny real data: demo videos -> extract-frames -> txt_db -> train -> evaluate."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from sparsevl.cli import main
from sparsevl.config import from_dict, to_dict
from sparsevl.data.demo_data import DemoSpec, generate
from sparsevl.data.extract_frames import extract_frames
from sparsevl.txt_db import load_ans2label, load_split
from sparsevl.runner.checkpoint import load_checkpoint
from sparsevl.tasks.config import RunConfig
from sparsevl.models.factory import ModelConfig
from sparsevl.problems import ProblemLog
from sparsevl.runner.predict import predict
from sparsevl.runner.train import train
from sparsevl.tasks.registry import build_task
from sparsevl.runner.optim import build_optimizer
from txt_db_tools.activitynet_qa import convert

ROOT = Path(__file__).resolve().parents[2]
EVAL_RES = ROOT / "scripts" / "eval_res.py"
NUM_VIDEOS = 16


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    """Demo videos through the real tools: frames into a vis_db, annotations into a txt_db."""
    root = tmp_path_factory.mktemp("e2e")
    counts = generate(root / "demo", DemoSpec(num_videos=NUM_VIDEOS, seed=0), progress=False)
    summary = extract_frames(
        root / "demo" / "videos", root / "vis_db", num_frames=8, max_size=32, workers=0, progress=False
    )
    assert (summary.stored, summary.failed) == (NUM_VIDEOS, 0)
    convert(root / "demo" / "annotations", root / "txt_db", quiet=True)
    for split in ("train", "val", "test"):
        assert len(load_split(root / "txt_db", split)) == counts[split]["questions"] > 0
    return {"root": root, "txt_db": root / "txt_db", "vis_db": root / "vis_db"}


def config_dict(data: dict, output_dir: Path, **changes) -> dict:
    """Every field that matters set explicitly: a tiny model on 32 x 32 frames, 2 frames per clip."""
    cfg = {
        "task": "video_qa",
        "txt_db": str(data["txt_db"]),
        "vis_db": str(data["vis_db"]),
        "output_dir": str(output_dir),
        "train_split": "train",
        "val_split": "val",
        "model": {
            "architecture": "cross_encoder",
            "backbone": "tiny_cnn",
            "backbone_channels": 16,
            "backbone_blocks": 3,  # 32 x 32 frames -> 4 x 4 grids
            "backbone_dir": None,  # tiny_cnn: trained from scratch
            "backbone_stride": 32,  # (efficientnet_lite0 only)
            "fusion": "concat",
            "num_frm": 2,
            "text_model_dir": None,
            "text_tower": "bert",
            "bt_adapter": {"depth": 0, "mask_ratio": 0.7},
            "hidden_size": 32,
            "num_layers": 1,
            "num_heads": 2,
            "intermediate_size": 64,
            "dropout": 0.1,
            "max_text_len": 16,
            "pool": "cls",
            "embed_dim": 16,
            "frozen_bn": False,
            "allow_missing_pretrained": False,
            "patch_size": 16,  # (the video classifier's `vit` only, as are the next four)
            "attention_type": "space_only",
            "adapter": {"type": "none", "layers": 12, "width": 384, "kernel_t": 3, "position": "attn"},
            "freeze_backbone": False,
            "grad_checkpointing": False,
            "frozen_backbone_blocks": 0,
            "channels_last": False,
        },
        "init_checkpoint": None,
        "init_skip": [],
        "retrieval": {
            "objective": "itm",
            "itm_neg_size": 1,
            "itm_negatives": "random",
            "loss_type": "ce",
            "margin": 0.2,
            "eval_mode": "cross",
            "rerank_k": 16,
            "rerank_score": "itm",
            "rerank_dual_weight": 1.0,
            "eval_pairs_per_batch": 512,
            "low_resource_eval": False,
        },
        "classification": {
            "sampling": "dense",
            "resize": "random_resized_crop",
            "scale_range": [0.08, 1.0],
            "hflip": True,
            "test_spatial_views": 1,
            "label_smoothing": 0.0,
        },
        "frm_stride": 1,
        "train_n_clips": 2,
        "inference_n_clips": 2,
        "score_agg_func": "mean",
        "img_size": 32,
        "train_batch_size": 4,
        "val_batch_size": 8,
        "num_epochs": 1,
        "max_steps": 5,
        "lr": 1e-3,
        "backbone_lr": 1e-3,
        "weight_decay": 0.01,
        "warmup_ratio": 0.0,
        "grad_clip": 1.0,
        "grad_accum_steps": 1,
        "amp": "none",
        "valid_every_epochs": 1,
        "save_every_steps": 0,
        "log_every_steps": 1,
        "seed": 11,
        "deterministic": False,
        "num_workers": 0,
        "device": "cpu",
        "on_error": "skip",
    }
    for key, value in changes.items():
        if key.startswith("model_"):
            cfg["model"][key[len("model_"):]] = value
        else:
            cfg[key] = value
    return cfg


def test_config_dict_sets_every_field(data, tmp_path):
    # guards the helper: a new RunConfig field must be chosen here, not taken by default
    cfg = config_dict(data, tmp_path)
    assert to_dict(from_dict(RunConfig, cfg)) == cfg


def test_two_steps_on_one_batch_change_weights_and_lower_loss(data, tmp_path):
    cfg = from_dict(RunConfig, config_dict(data, tmp_path, model_dropout=0.0))
    task = build_task(cfg, ProblemLog())
    train_set = task.dataset("train", train=True)
    assert len(train_set) == 11  # videos of the train split, all in the vis_db
    batch = next(iter(DataLoader(train_set, batch_size=4, shuffle=False, collate_fn=task.collator)))
    n_questions = sum(len(recs) for _, recs in train_set.videos[:4])
    assert batch["frames"].shape == (4, 2, 2, 32, 32, 3)
    assert batch["frames"].dtype == torch.uint8
    assert batch["input_ids"].shape[0] == batch["labels"].shape[0] == n_questions
    assert batch["video_index"].tolist() == sorted(batch["video_index"].tolist())
    assert set(batch["video_index"].tolist()) == {0, 1, 2, 3}

    torch.manual_seed(0)
    model = task.build_model()
    model.train()
    optimizer = build_optimizer(model, cfg.lr, cfg.backbone_lr, cfg.weight_decay)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    with torch.no_grad():
        loss_before = task.loss(model, batch)["loss"].item()
    for _ in range(2):
        optimizer.zero_grad()
        loss = task.loss(model, batch)["loss"]
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        loss_after = task.loss(model, batch)["loss"].item()

    unchanged = [n for n, p in model.named_parameters() if torch.equal(p.detach(), before[n])]
    assert unchanged == []
    assert any(n.startswith("visual.backbone.") for n in before)  # the backbone is among them
    assert loss_after < loss_before
    assert loss_before == pytest.approx(float(torch.log(torch.tensor(len(task.ans2label)))), rel=0.5)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_cli_train_then_evaluate(data, tmp_path, capsys):
    run = tmp_path / "run"
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config_dict(data, run)))

    code = main(["train", "--config", str(config_file), "--max_steps", "2", "--model.fusion=mean"])
    assert code == 0
    assert f"run folder: {run}" in capsys.readouterr().out

    # the resolved config: the file's values with the overrides applied
    saved = json.loads((run / "config.json").read_text())
    assert saved == config_dict(data, run, max_steps=2, model_fusion="mean")

    log = read_jsonl(run / "log.jsonl")
    train_lines = [r for r in log if "train/loss" in r]
    val_lines = [r for r in log if any(k.startswith("val/") for k in r)]
    assert [r["step"] for r in train_lines] == [1, 2]
    assert all(r["train/loss"] > 0 for r in train_lines)
    assert [r["step"] for r in val_lines] == [2]
    assert 0.0 <= val_lines[0]["val/All"] <= 100.0

    ckpts = sorted((run / "ckpt").glob("*.pt"))
    assert [p.name for p in ckpts] == ["step_0000002.pt"]
    state = load_checkpoint(ckpts[0])
    assert state["step"] == 2
    assert not any(k.startswith("visual.fusion.") for k in state["model"])  # mean fusion: no weights
    assert list((run / "tb").glob("events.out.tfevents.*"))

    # the checkpoint alone rebuilds the run: its config, vocabulary and answer labels are inside it
    (run / "config.json").unlink()
    assert not (run / "vocab.txt").exists()
    code = main(["evaluate", "--checkpoint", str(ckpts[0]), "--split", "test"])
    assert code == 0
    out = capsys.readouterr().out

    test_records = load_split(data["txt_db"], "test")
    answers = set(load_ans2label(data["txt_db"]))
    predictions_file = run / "results" / "test_step2_predictions.json"
    assert f"predictions: {predictions_file}" in out
    predictions = json.loads(predictions_file.read_text())
    assert isinstance(predictions, list)
    assert all(set(p) == {"question_id", "answer"} for p in predictions)
    assert sorted(p["question_id"] for p in predictions) == sorted(r["qid"] for r in test_records)
    assert all(p["answer"] in answers for p in predictions)

    accuracy = json.loads((run / "results" / "test_step2_accuracy.json").read_text())
    assert accuracy["split"] == "test"
    assert accuracy["checkpoint"] == str(ckpts[0])
    assert accuracy["layout"] == "activitynet-qa"
    assert accuracy["missing"]["count"] == 0
    rows = {r["name"]: r for r in accuracy["rows"]}
    assert rows["All"]["total"] == len(test_records)
    correct = sum(p["answer"] == r["answer"] for p, r in zip(
        sorted(predictions, key=lambda p: p["question_id"]), sorted(test_records, key=lambda r: r["qid"])))
    assert rows["All"]["correct"] == correct

    # the printed table has the same numbers
    all_line = next(line for line in out.splitlines() if line.split()[:1] == ["All"])
    assert all_line.split()[1:] == [f"{rows['All']['accuracy']:.2f}", str(correct), str(len(test_records))]

    # scripts/eval_res.py on the predictions against the txt_db split agrees
    res = subprocess.run(
        [sys.executable, str(EVAL_RES), str(predictions_file), str(data["txt_db"] / "test.jsonl"), "--json"],
        capture_output=True, text=True,
    )
    assert res.returncode == 0, res.stderr
    script_rows = {r["name"]: r for r in json.loads(res.stdout)["rows"]}
    assert script_rows["All"]["accuracy"] == pytest.approx(rows["All"]["accuracy"])
    assert script_rows == rows

    # `sparsevl predict` on the video file itself answers as evaluation did from the vis_db
    video_id = test_records[0]["video_id"]
    mine = [r for r in test_records if r["video_id"] == video_id]
    args = ["predict", "--checkpoint", str(ckpts[0]), "--video", str(data["root"] / "demo" / "videos" / f"{video_id}.mp4")]
    for r in mine:
        args += ["--question", r["question"]]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "as the run's vis_db (8 frames)" in out
    assert out.splitlines()[1].split() == ["Question", "Answer", "Alternatives"]
    video = data["root"] / "demo" / "videos" / f"{video_id}.mp4"
    rows = predict(ckpts[0], video, [r["question"] for r in mine]).prediction.rows
    by_qid = {p["question_id"]: p["answer"] for p in predictions}
    assert [row["answer"] for row in rows] == [by_qid[r["qid"]] for r in mine]
    assert all(f"{r['question']}  " in out and f"  {r['answer']}  " in out for r in rows)


@pytest.mark.parametrize(
    "override,key,says",
    [
        (["--model.hiden_size", "3"], "model.hiden_size", "did you mean 'model.hidden_size'"),
        (["--max_step", "3"], "max_step", "did you mean 'max_steps'"),
        (["--max_steps", "two"], "max_steps", "expected int"),
        (["--model.num_layers", "1.5"], "model.num_layers", "expected int"),
        (["--model.fusion", "lstm"], "model.fusion", "expected one of 'mean', 'concat', 'time_embed'"),
        (["--img_size", "0"], "", "img_size must be at least 1"),
    ],
)
def test_cli_config_errors_name_the_key(data, tmp_path, capsys, override, key, says):
    run = tmp_path / "run"
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config_dict(data, run)))
    assert main(["train", "--config", str(config_file), *override]) == 2
    message = capsys.readouterr().err
    assert message.count("\n") == 1  # printed as one line, exit status 2, no traceback
    assert message.startswith("sparsevl train: ")
    if key:
        assert f": {key}: " in message
    assert says in message
    assert not run.exists()  # nothing was started


def test_config_file_error_names_file_and_key(data, tmp_path, capsys):
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config_dict(data, tmp_path / "run", model_hidden_size="32")))
    assert main(["evaluate", "--config", str(config_file), "--checkpoint", str(tmp_path / "none.pt")]) == 2
    assert capsys.readouterr().err == (
        f"sparsevl evaluate: {config_file}: model.hidden_size: expected int, got '32' (str)\n")


def test_config_error_from_the_command_line_is_one_line_without_traceback(data, tmp_path):
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config_dict(data, tmp_path / "run")))
    res = subprocess.run(
        [sys.executable, "-m", "sparsevl", "train", "--config", str(config_file), "--model.hiden_size", "3"],
        capture_output=True, text=True,
    )
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    assert res.stderr.strip().splitlines() == [
        "sparsevl train: command line: model.hiden_size: unknown key (did you mean 'model.hidden_size'?)"
    ]


def test_same_seed_same_weights(data, tmp_path):
    def run(name: str, seed: int) -> dict:
        cfg = from_dict(RunConfig, config_dict(data, tmp_path / name, max_steps=2, val_split=None, seed=seed))
        train(cfg, progress=False)
        ckpts = list((tmp_path / name / "ckpt").glob("step_*.pt"))
        assert [p.name for p in ckpts] == ["step_0000002.pt"]
        return load_checkpoint(ckpts[0])["model"]

    a, b, other = run("a", 3), run("b", 3), run("c", 4)
    assert a.keys() == b.keys() == other.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    # not trivially so: another seed gives other weights
    assert not all(torch.equal(a[k], other[k]) for k in a)


def _tiny_pretrained_folder(kind: str, folder: Path) -> Path:
    """A randomly initialised model of the real classes, saved in the layout of its hub folder."""
    from transformers import CLIPVisionConfig, CLIPVisionModel, ResNetConfig, ResNetForImageClassification

    torch.manual_seed(0)
    if kind == "resnet50":  # microsoft/resnet-50 layout
        config = ResNetConfig(embedding_size=8, hidden_sizes=[8, 16, 16, 32], depths=[1, 1, 1, 1], num_labels=3)
        ResNetForImageClassification(config).save_pretrained(folder)
    else:  # openai/clip-vit-base-patch16 layout (vision tower)
        config = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                                  image_size=32, patch_size=8)
        CLIPVisionModel(config).save_pretrained(folder)
    return folder


@pytest.mark.parametrize("backbone,img_size", [("resnet50", 64), ("clip_vit", 32)])
def test_pretrained_layout_backbones_train_on_the_demo_data(data, tmp_path, backbone, img_size):
    folder = _tiny_pretrained_folder(backbone, tmp_path / backbone)
    cfg = from_dict(RunConfig, config_dict(
        data, tmp_path / "run", model_backbone=backbone, model_backbone_dir=str(folder),
        model_frozen_bn=backbone == "resnet50",  # a ViT has no BatchNorm to freeze
        model_backbone_channels=ModelConfig.backbone_channels, model_backbone_blocks=ModelConfig.backbone_blocks,
        img_size=img_size, max_steps=3, val_split=None, model_dropout=0.0,
    ))
    task = build_task(cfg, ProblemLog())
    initial = {k: v.clone() for k, v in task.build_model().state_dict().items() if k.startswith("visual.backbone.")}
    train(cfg, progress=False)
    state = load_checkpoint(tmp_path / "run" / "ckpt" / "step_0000003.pt")
    losses = [r["train/loss"] for r in read_jsonl(tmp_path / "run" / "log.jsonl") if "train/loss" in r]
    assert len(losses) == 3 and all(np.isfinite(losses))
    trained = {k: v for k, v in state["model"].items() if k.startswith("visual.backbone.")}
    assert trained.keys() == initial.keys() and trained
    assert any(not torch.equal(initial[k], trained[k]) for k in trained)  # the backbone is fine-tuned


def test_evaluation_writes_every_answered_question_with_the_frames_the_model_saw(data, tmp_path):
    from sparsevl.data.frame_fit import fit_into
    from sparsevl.runner.evaluate import evaluate
    from sparsevl.tasks.qa_report import normalize

    cfg = from_dict(RunConfig, config_dict(data, tmp_path, max_steps=1, val_split=None))
    train(cfg, progress=False)
    result, files = evaluate(next((tmp_path / "ckpt").glob("*.pt")), "test")
    examples = json.loads(files["examples"].read_text())
    records = load_split(data["txt_db"], "test")
    assert [(e["video_id"], e["text"], e["truth"]) for e in examples] == [
        (r["video_id"], r["question"], r["answer"]) for r in records]
    answers = {p["question_id"]: p["answer"] for p in json.loads(files["predictions"].read_text())}
    assert [e["prediction"] for e in examples] == [answers[r["qid"]] for r in records]
    assert all(e["correct"] == (normalize(e["prediction"]) == normalize(e["truth"])) for e in examples)
    assert all(e["group"] == r["answer_type"] for e, r in zip(examples, records))
    assert all(0 < e["score"] <= 1 and e["candidates"] == [] for e in examples)
    rows = {r.name: r for r in task_report(cfg, "test", answers)}
    assert sum(e["correct"] for e in examples) == rows["All"].correct

    # the listed frames are those of the clips the model read, in order
    task = build_task(cfg, ProblemLog())
    dataset = task.dataset("test", train=False)
    for index, (video_id, _) in enumerate(dataset.videos[:3]):
        seen = dataset[index]["frames"].reshape(-1, cfg.img_size, cfg.img_size, 3)
        listed = next(e["frames"] for e in examples if e["video_id"] == video_id)
        assert len(listed) == cfg.inference_n_clips * cfg.model.num_frm
        stored = task.data.vis_db.frames(video_id, listed)
        expected = np.zeros((len(stored), cfg.img_size, cfg.img_size, 3), np.uint8)
        for frame, slot in zip(stored, expected):
            fit_into(frame, slot)
        assert np.array_equal(seen, expected)

    summary = json.loads(files["evaluation"].read_text())
    assert summary["metrics"] == result.metrics and summary["table"] == result.table
    assert (summary["split"], summary["step"], summary["headline"]) == ("test", 1, result.headline)


def task_report(cfg: RunConfig, split: str, answers: dict):
    from sparsevl.tasks.qa_report import accuracy_by_type

    truth = [{"qid": r["qid"], "answer": r["answer"], "answer_type": r.get("answer_type")}
             for r in load_split(cfg.txt_db, split)]
    return accuracy_by_type(answers, truth).rows
