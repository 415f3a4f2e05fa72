"""The classification task through the unchanged command line: train (frozen CLIP-layout ViT with
ST-Adapters), evaluate with multi-view testing, predict one video; and the published Kinetics-400
and Something-Something v2 annotation files, converted and trained on with stand-in videos."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from sparsevl.cli import main
from sparsevl.config import load_config
from sparsevl.configs import config_file
from sparsevl.data.action_videos import ActionSpec, action_classes, class_folders, generate_actions
from sparsevl.data.extract_frames import extract_frames
from sparsevl.models.vit import ViTArch, VisionTransformer
from sparsevl.models.vit_weights import clip_openai_state_dict, read_vit_checkpoint
from sparsevl.problems import ProblemLog, UserError
from sparsevl.tasks.config import RunConfig
from sparsevl.tasks.registry import build_task
from sparsevl.txt_db import write_jsonl

ROOT = Path(__file__).resolve().parents[2]
SPEC = ActionSpec(num_videos=24, frames=8, seed=3)


@pytest.fixture(scope="module")
def action_data(tmp_path_factory) -> Path:
    """Synthetic action videos in class folders, their frames, their lists converted, and a small
    random ViT written in OpenAI CLIP's layout."""
    from txt_db_tools.video_list import convert

    root = tmp_path_factory.mktemp("actions")
    generate_actions(root / "data", SPEC, progress=False)
    for folder in class_folders(root / "data"):
        extract_frames(folder, root / "vis_db", fps=8, max_size=32, workers=0, progress=False)
    convert(root / "data" / "lists", root / "txt_db", quiet=True)
    torch.manual_seed(0)
    vit = VisionTransformer(ViTArch(width=64, layers=2, heads=1, patch_size=8, grid=4, mlp_dim=128))
    torch.save(clip_openai_state_dict(vit), root / "vit_clip.pt")
    return root


def write_config(root: Path, run: str, **changes) -> Path:
    config = {
        "task": "classification", "txt_db": str(root / "txt_db"), "vis_db": str(root / "vis_db"),
        "output_dir": str(root / run), "val_split": "val",
        "model": {"architecture": "video_classifier", "backbone": "clip_vit", "backbone_dir": str(root / "vit_clip.pt"),
                  "num_frm": 4, "dropout": 0.0, "freeze_backbone": True,
                  "adapter": {"type": "st", "layers": 2, "width": 16, "kernel_t": 3}},
        "classification": {"sampling": "segment", "hflip": False, "resize": "short_side_jitter",
                           "scale_range": [1.0, 1.2], "test_spatial_views": 3},
        "img_size": 32, "train_n_clips": 1, "inference_n_clips": 2, "train_batch_size": 8, "val_batch_size": 8,
        "num_epochs": 2, "valid_every_epochs": 2, "lr": 0.01, "warmup_ratio": 0.0, "log_every_steps": 1,
        "device": "cpu", **changes,
    }
    path = root / f"{run}.json"
    path.write_text(json.dumps(config))
    return path


@pytest.fixture(scope="module")
def trained(action_data):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: one thread is fastest, and immune to a busy machine
    try:
        assert main(["train", "--config", str(write_config(action_data, "run"))]) == 0
    finally:
        torch.set_num_threads(threads)
    return action_data / "run"


def test_frozen_weights_stay_bit_identical_and_only_adapters_and_head_train(action_data, trained):
    log = [json.loads(line) for line in (trained / "log.jsonl").read_text().splitlines()]
    [counts] = [r for r in log if "model/parameters" in r]
    adapters = 2 * (64 * 16 + 16 + 16 * 3 + 16 + 16 * 64 + 64)
    head = 64 * len(action_classes()) + len(action_classes())
    assert counts["model/trainable_parameters"] == adapters + head
    assert len([r for r in log if "train/loss" in r]) == 6  # 2 epochs of 3 steps (17 training videos)

    checkpoint = torch.load(trained / "ckpt" / "step_0000006.pt", weights_only=True)["model"]
    _, pretrained = read_vit_checkpoint("clip_vit", action_data / "vit_clip.pt")
    for key, value in pretrained.items():
        assert torch.equal(checkpoint[f"vit.{key}"], value), key
    convs = [v for k, v in checkpoint.items() if k.endswith("adapter_attn.conv.weight")]
    assert len(convs) == 2 and all(c.abs().sum() > 0 for c in convs)  # they started at zero and trained
    assert checkpoint["head.weight"].shape == (8, 64)


def test_evaluate_writes_top5_predictions_examples_and_eval_res_reads_them(action_data, trained, capsys):
    checkpoint = trained / "ckpt" / "step_0000006.pt"
    assert main(["evaluate", "--checkpoint", str(checkpoint), "--split", "test"]) == 0
    out = capsys.readouterr().out
    assert "test: 2 temporal x 3 spatial view(s) of 4 frames (segment), softmax averaged" in out
    results = trained / "results"
    predictions = json.loads((results / "test_step6_predictions.json").read_text())
    accuracy = json.loads((results / "test_step6_accuracy.json").read_text())
    test_records = [json.loads(line) for line in (action_data / "txt_db" / "test.jsonl").read_text().splitlines()]
    assert [p["video_id"] for p in predictions] == [r["video_id"] for r in test_records]
    for p, r in zip(predictions, test_records):
        assert p["label"] == r["label"] and len(p["top5"]) == len(set(p["top5"])) == 5
        assert p["scores"] == sorted(p["scores"], reverse=True) and 0 < sum(p["scores"]) <= 1.0001
    top1 = 100 * np.mean([p["top5"][0] == p["label"] for p in predictions])
    assert accuracy["top1"] == pytest.approx(top1) and accuracy["videos"] == len(test_records)

    examples = json.loads((results / "test_step6_examples.json").read_text())
    names = action_classes()
    assert [e["video_id"] for e in examples] == [p["video_id"] for p in predictions]
    for e, p in zip(examples, predictions):
        assert e["truth"] == e["group"] == names[p["label"]] and e["prediction"] == names[p["top5"][0]]
        assert e["correct"] == (p["top5"][0] == p["label"]) and e["score"] == p["scores"][0]
        assert len(e["frames"]) == 2 * 4 and all(0 <= f < SPEC.frames for f in e["frames"])  # 2 clips of 4

    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "eval_res.py"), str(results / "test_step6_predictions.json"),
                          str(action_data / "txt_db" / "test.jsonl"), "--json"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    by_script = json.loads(run.stdout)
    for key in ("top1", "top5", "mean_class", "videos", "classes"):
        assert by_script[key] == pytest.approx(accuracy[key])


def test_a_checkpoint_needs_neither_the_pretrained_file_nor_the_data_to_predict(action_data, trained, capsys, tmp_path):
    moved = tmp_path / "vit_clip.pt"
    (action_data / "vit_clip.pt").rename(moved)
    try:
        video = next((action_data / "data" / "videos" / "up_red_to_blue").glob("*.mp4"))
        assert main(["predict", "--checkpoint", str(trained / "ckpt" / "step_0000006.pt"), "--video", str(video)]) == 0
    finally:
        moved.rename(action_data / "vit_clip.pt")
    out = capsys.readouterr().out
    assert "2 clip(s) of 4" in out
    lines = out.splitlines()
    table = lines[lines.index(next(line for line in lines if line.startswith("Class"))) + 2:]
    assert len(table) == 5 and all(line.split()[0] in action_classes() for line in table)


def test_task_needs_the_video_classifier_and_usable_labels(action_data, tmp_path):
    with pytest.raises(UserError, match="adapter, freeze_backbone would have no effect with the cross_encoder"):
        load_config(RunConfig, write_config(action_data, "x"), ["--model.architecture", "cross_encoder",
                                                                 "--model.backbone", "tiny_cnn"])
    plain = load_config(RunConfig, None, ["--task", "classification", "--txt_db", str(action_data / "txt_db"),
                                          "--vis_db", str(action_data / "vis_db"), "--output_dir", str(tmp_path)])
    with pytest.raises(UserError, match="set model.architecture to video_classifier"):
        build_task(plain, ProblemLog())
    txt_db = tmp_path / "txt_db"
    records = [json.loads(line) for line in (action_data / "txt_db" / "train.jsonl").read_text().splitlines()]
    write_jsonl(txt_db / "train.jsonl", records[:3] + [{"video_id": records[3]["video_id"], "label": 8},
                                                       {"video_id": records[4]["video_id"], "label": "up"}])
    (txt_db / "label2name.json").write_text((action_data / "txt_db" / "label2name.json").read_text())
    cfg = load_config(RunConfig, write_config(action_data, "x"), ["--txt_db", str(txt_db)])
    problems = ProblemLog()
    assert len(build_task(cfg, problems).dataset("train", train=True)) == 3
    assert [p.reason for p in problems.problems] == ["bad label: 8 is not a class number 0..7",
                                                     "bad label: 'up' is not a class number 0..7"]


def test_ssv2_config_never_flips(action_data):
    """Something-Something's labels say left and right: its training frames are never mirrored."""
    cfg = load_config(RunConfig, config_file("ssv2/st_adapter_vit_b16.json"), [
        "--txt_db", str(action_data / "txt_db"), "--vis_db", str(action_data / "vis_db"), "--img_size", "16"])
    task = build_task(cfg, ProblemLog())
    sampling = task.sampling(train=True)
    assert sampling.hflip is False and sampling.mode == "segment"
    left_to_right = np.zeros((8, 24, 32, 3), np.uint8)
    left_to_right[..., 1] = np.arange(32, dtype=np.uint8) * 8  # green grows to the right
    from sparsevl.data.action_sampling import ActionClipReader
    from sparsevl.data.store import InMemoryStore

    reader = ActionClipReader(InMemoryStore({"v": left_to_right}), sampling)
    for item in range(100):
        views, _ = reader.read("v", item=item)
        row = views[0, 0, 8, :, 1].astype(int)
        assert row[0] < row[-1]


# --- the published annotation files ------------------------------------------------------------


def stand_in_videos(folder: Path, video_ids: list[str], synth) -> None:
    for i, video_id in enumerate(video_ids):
        synth.write(folder / f"{video_id}.mp4", num_frames=12 + i, size=(40, 30))


def real_run(tmp_path, txt_db: Path, vis_db: Path, sampling: str, split: str) -> dict:
    config = {
        "task": "classification", "txt_db": str(txt_db), "vis_db": str(vis_db), "output_dir": str(tmp_path / "run"),
        "train_split": split, "val_split": None, "max_steps": 2, "train_batch_size": 2, "img_size": 32,
        "model": {"architecture": "video_classifier", "backbone": "vit", "hidden_size": 32, "num_layers": 1,
                  "num_heads": 2, "intermediate_size": 64, "patch_size": 8, "num_frm": 4,
                  "adapter": {"type": "st", "layers": 1, "width": 8}},
        "classification": {"sampling": sampling}, "device": "cpu", "log_every_steps": 1,
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    assert main(["train", "--config", str(path)]) == 0
    return config


def test_published_kinetics400_val_list_trains(shared_data, tmp_path, synth, capsys, one_torch_thread):
    from txt_db_tools.video_list import convert

    convert(shared_data / "kinetics400", tmp_path / "txt_db", quiet=True)
    names = json.loads((tmp_path / "txt_db" / "label2name.json").read_text())
    assert len(names) == 400 and names["0"] == "abseiling"
    records = [json.loads(line) for line in (tmp_path / "txt_db" / "val.jsonl").read_text().splitlines()]
    assert len(records) == 13_733
    chosen = records[::2500]  # a few videos of different classes, named as in the list
    stand_in_videos(tmp_path / "videos", [r["video_id"] for r in chosen], synth)
    extract_frames(tmp_path / "videos", tmp_path / "vis_db", fps=10, max_size=40, workers=0, progress=False)
    real_run(tmp_path, tmp_path / "txt_db", tmp_path / "vis_db", "dense", "val")
    out = capsys.readouterr().out
    assert f"train: {len(chosen)} videos of {len({r['label'] for r in chosen})} classes" in out
    assert f"{13_733 - len(chosen)} problem(s), skipped" in out  # the videos that are not there
    state = torch.load(tmp_path / "run" / "ckpt" / "step_0000002.pt", weights_only=True)
    assert state["model"]["head.weight"].shape[0] == 400  # the classes of the label map
    assert state["task"]["class_names"][399] == names["399"]


def test_published_ssv2_validation_trains_and_its_test_split_is_predicted(shared_data, tmp_path, synth, capsys,
                                                                           one_torch_thread):
    from txt_db_tools.ssv2 import convert

    convert(shared_data / "ssv2", tmp_path / "txt_db", quiet=True)
    val = [json.loads(line) for line in (tmp_path / "txt_db" / "val.jsonl").read_text().splitlines()]
    test = [json.loads(line) for line in (tmp_path / "txt_db" / "test.jsonl").read_text().splitlines()]
    assert len(val) == 24_777 and "label" not in test[0]
    chosen = val[:4] + test[:3]
    stand_in_videos(tmp_path / "videos", [r["video_id"] for r in chosen], synth)
    extract_frames(tmp_path / "videos", tmp_path / "vis_db", fps=10, max_size=40, workers=0, progress=False)
    real_run(tmp_path, tmp_path / "txt_db", tmp_path / "vis_db", "segment", "val")
    assert "train: 4 videos of" in capsys.readouterr().out
    checkpoint = tmp_path / "run" / "ckpt" / "step_0000002.pt"
    assert torch.load(checkpoint, weights_only=True)["model"]["head.weight"].shape[0] == 174
    assert main(["evaluate", "--checkpoint", str(checkpoint), "--split", "test"]) == 0
    assert "3 videos predicted; the split has no labels" in capsys.readouterr().out
    predictions = json.loads((tmp_path / "run" / "results" / "test_step2_predictions.json").read_text())
    assert [p["video_id"] for p in predictions] == [r["video_id"] for r in test[:3]]
    assert all(p["label"] is None and len(p["top5"]) == 5 for p in predictions)
    assert not (tmp_path / "run" / "results" / "test_step2_accuracy.json").exists()
