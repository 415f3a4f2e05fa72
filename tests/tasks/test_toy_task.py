"""A task written outside the package trains, evaluates and predicts through the unchanged drivers.

The toy task below lives in a module this test writes; the config names it as `module:Class`. It
classifies a video as mostly red or mostly blue from the mean colour of its clip's frames: small
enough to read in one screen, and learnable in a few steps, so the test can check that the
drivers really trained it.
"""

from __future__ import annotations

import json
import sys
import textwrap

import numpy as np
import pytest

from sparsevl.cli import main
from sparsevl.data.extract_frames import extract_frames
from sparsevl.txt_db import write_jsonl

TOY_TASK = '''
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from sparsevl.tasks.common import RunData, evaluating, to_device
from sparsevl.tasks.protocol import Evaluation, Prediction

COLOURS = ("red", "blue")


class MeanColour(nn.Module):
    def __init__(self):
        super().__init__()
        self.head = nn.Linear(3, len(COLOURS))

    def forward(self, frames):  # (B, n_clips, T, H, W, 3) uint8
        return self.head(frames.float().div(255).mean(dim=(1, 2, 3, 4)))


class Items(torch.utils.data.Dataset):
    def __init__(self, records, clips):
        self.records, self.clips = records, clips

    def __len__(self):
        return len(self.records)

    def __getitem__(self, i):
        r = self.records[i]
        return {"frames": torch.from_numpy(self.clips.read(r["video_id"], i)), "label": r.get("label", -1)}

    def set_epoch(self, epoch):
        pass

    def describe(self):
        return f"{len(self.records)} videos"


def collate(items):
    return {"frames": torch.stack([it["frames"] for it in items]), "labels": torch.tensor([it["label"] for it in items])}


class ToyTask:
    collator = staticmethod(collate)

    def __init__(self, cfg, problems, state=None):
        self.cfg, self.problems = cfg, problems
        self.data = RunData(cfg, problems, state)

    def state(self):
        return {"colours": list(COLOURS)}

    def dataset(self, split, train):
        return Items(self.data.records(split), self.data.clip_reader(train))

    def build_model(self):
        return MeanColour()

    def loss(self, model, batch):
        logits = model(batch["frames"])
        accuracy = (logits.argmax(-1) == batch["labels"]).float().mean()
        return {"loss": F.cross_entropy(logits, batch["labels"]), "accuracy": accuracy}

    def evaluate(self, model, split, device, autocast, dist):
        loader = DataLoader(self.dataset(split, False), batch_size=4, collate_fn=collate)
        correct = total = 0
        with evaluating(model):
            for batch in loader:
                batch = to_device(batch, device)
                correct += int((model(batch["frames"]).argmax(-1) == batch["labels"]).sum())
                total += len(batch["labels"])
        accuracy = 100.0 * correct / total
        return Evaluation(metrics={"accuracy": accuracy}, headline=f"accuracy {accuracy:.1f}",
                          table=f"toy accuracy {accuracy:.1f} ({correct}/{total})",
                          files={"accuracy": {"accuracy": accuracy, "correct": correct, "total": total}})

    def predict(self, model, store, video_id, texts, device):
        frames = torch.from_numpy(self.data.clip_reader(False, store).read(video_id))[None]
        with evaluating(model):
            p = model(frames.to(device)).softmax(-1)[0].tolist()
        rows = [{"colour": c, "probability": round(v, 4)} for c, v in zip(COLOURS, p)]
        best = max(rows, key=lambda r: r["probability"])
        return Prediction(rows=rows, table=f"toy says: {best['colour']}")
'''


def write_colour_video(path, bgr, frames=6):
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 6, (32, 32))
    rng = np.random.default_rng(len(str(path)))
    for _ in range(frames):
        frame = np.clip(np.array(bgr) + rng.integers(-20, 20, (32, 32, 3)), 0, 255).astype(np.uint8)
        writer.write(frame)
    writer.release()


@pytest.fixture
def toy_run(tmp_path, monkeypatch):
    (tmp_path / "toy_colour_task.py").write_text(textwrap.dedent(TOY_TASK))
    monkeypatch.syspath_prepend(str(tmp_path))
    videos = tmp_path / "videos"
    videos.mkdir()
    records = []
    for i in range(12):
        label = i % 2  # 0: red, 1: blue
        write_colour_video(videos / f"v{i}.mp4", (40, 30, 200) if label == 0 else (200, 40, 30))
        records.append({"video_id": f"v{i}", "label": label})
    extract_frames(videos, tmp_path / "vis_db", num_frames=4, max_size=32, workers=0, progress=False)
    write_jsonl(tmp_path / "txt_db" / "train.jsonl", records[:8])
    write_jsonl(tmp_path / "txt_db" / "val.jsonl", records[8:])
    config = {
        "task": "toy_colour_task:ToyTask", "txt_db": str(tmp_path / "txt_db"), "vis_db": str(tmp_path / "vis_db"),
        "output_dir": str(tmp_path / "run"), "model": {"num_frm": 2}, "train_n_clips": 1, "inference_n_clips": 1,
        "img_size": 32, "train_batch_size": 4, "num_epochs": 30, "lr": 0.1, "warmup_ratio": 0.0,
        "valid_every_epochs": 30, "log_every_steps": 1, "device": "cpu",
    }
    (tmp_path / "toy.json").write_text(json.dumps(config))
    yield tmp_path
    sys.modules.pop("toy_colour_task", None)


def test_a_task_of_ones_own_trains_evaluates_and_predicts_through_the_drivers(toy_run, capsys):
    run = toy_run / "run"
    assert main(["train", "--config", str(toy_run / "toy.json")]) == 0
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    train_lines = [e for e in log if "train/loss" in e]
    assert len(train_lines) == 60  # 30 epochs of 2 steps; every step logged, with the task's extra metric
    assert all("train/accuracy" in e for e in train_lines)
    assert np.mean([e["train/loss"] for e in train_lines[-4:]]) < np.mean([e["train/loss"] for e in train_lines[:4]])
    assert [e["val/accuracy"] for e in log if "val/accuracy" in e] == [100.0]

    checkpoint = run / "ckpt" / "step_0000060.pt"
    assert main(["evaluate", "--checkpoint", str(checkpoint), "--split", "val"]) == 0
    assert "toy accuracy 100.0 (4/4)" in capsys.readouterr().out
    saved = json.loads((run / "results" / "val_step60_accuracy.json").read_text())
    assert saved["accuracy"] == 100.0 and saved["checkpoint"] == str(checkpoint)

    assert main(["predict", "--checkpoint", str(checkpoint), "--video", str(toy_run / "videos" / "v9.mp4")]) == 0
    assert "toy says: blue" in capsys.readouterr().out
