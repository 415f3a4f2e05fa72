"""The training loop: flat on purpose. The task supplies data, model and loss; this file trains.

    run_dir/config.json    the resolved config
    run_dir/log.jsonl      one line per logged step / validation
    run_dir/tb/            TensorBoard events
    run_dir/ckpt/          step_NNNNNNN.pt checkpoints
    run_dir/results/       predictions and accuracy per evaluated split
"""

from __future__ import annotations

import contextlib
import math
import random
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from sparsevl.config import save_config
from sparsevl.data.txt_db import write_json_atomic
from sparsevl.problems import ProblemLog
from sparsevl.tasks.common import Evaluation, to_device
from sparsevl.tasks.matching import MultipleChoiceTask, RetrievalTask
from sparsevl.tasks.video_qa import VideoQATask
from sparsevl.train.checkpoint import checkpoint_path, load_checkpoint, save_checkpoint
from sparsevl.train.config import TrainConfig
from sparsevl.train.logger import RunLogger
from sparsevl.train.optim import build_optimizer, warmup_linear_schedule

TASKS = {"video_qa": VideoQATask, "retrieval": RetrievalTask, "multiple_choice": MultipleChoiceTask}


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def autocast_factory(amp: str, device: torch.device):
    """A zero-argument context factory for the configured mixed precision ('none': full precision)."""
    if amp == "none":
        return contextlib.nullcontext
    dtype = torch.float16 if amp == "fp16" else torch.bfloat16
    return lambda: torch.autocast(device_type=device.type, dtype=dtype)


def build_task(cfg: TrainConfig, run_dir: Path):
    problems = ProblemLog(run_dir / "problems.log", on_error=cfg.on_error)
    return TASKS[cfg.task](cfg, run_dir, problems)


def train(cfg: TrainConfig, progress: bool = True) -> dict:
    """Train, validating and checkpointing every `valid_every_epochs`. Returns the last validation."""
    run_dir = Path(cfg.output_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(cfg, run_dir / "config.json")
    seed_everything(cfg.seed)
    device = resolve_device(cfg.device)
    autocast = autocast_factory(cfg.amp, device)

    task = build_task(cfg, run_dir)
    train_set = task.dataset(cfg.train_split, train=True)
    loader = DataLoader(
        train_set,
        batch_size=cfg.train_batch_size,
        shuffle=True,
        drop_last=False,
        collate_fn=task.collator,
        num_workers=cfg.num_workers,
        generator=torch.Generator().manual_seed(cfg.seed),
    )
    model = task.build_model().to(device)
    optimizer = build_optimizer(model, cfg.lr, cfg.backbone_lr, cfg.weight_decay)
    steps_per_epoch = math.ceil(len(loader) / cfg.grad_accum_steps)
    total_steps = cfg.max_steps or steps_per_epoch * cfg.num_epochs
    scheduler = warmup_linear_schedule(optimizer, int(cfg.warmup_ratio * total_steps), total_steps)
    # fp16 needs loss scaling against underflow; bf16 and full precision do not.
    scaler = torch.amp.GradScaler(device.type, enabled=cfg.amp == "fp16")
    logger = RunLogger(run_dir)
    print(
        f"train: {train_set.describe()}, "
        f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters, {total_steps} steps on {device}"
    )

    step, last_val, start = 0, {}, time.time()
    epochs = math.ceil(total_steps / steps_per_epoch)
    model.train()
    for epoch in range(epochs):
        train_set.set_epoch(epoch)
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{epochs}", unit="batch", disable=not progress, leave=False)
        for i, batch in enumerate(bar):
            batch = to_device(batch, device)
            with autocast():
                loss = task.loss(model, batch)
            scaler.scale(loss / cfg.grad_accum_steps).backward()
            if (i + 1) % cfg.grad_accum_steps and i + 1 != len(loader):
                continue
            scaler.unscale_(optimizer)
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            scheduler.step()
            step += 1
            bar.set_postfix(loss=f"{loss.item():.3f}")
            if step % cfg.log_every_steps == 0:
                logger.log(step, "train", {"loss": loss.item(), "lr": scheduler.get_last_lr()[0], "epoch": epoch})
            if step >= total_steps:
                break
        last_epoch = step >= total_steps or epoch == epochs - 1
        if (epoch + 1) % cfg.valid_every_epochs == 0 or last_epoch:
            save_checkpoint(
                checkpoint_path(run_dir, step),
                {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                 "scheduler": scheduler.state_dict(), "step": step, "epoch": epoch + 1},
            )
            if cfg.val_split:
                result = task.evaluate(model, cfg.val_split, device, autocast)
                last_val = result.metrics
                logger.log(step, "val", last_val)
                tqdm.write(f"epoch {epoch + 1} step {step} ({time.time() - start:.0f}s): val {result.headline}")
        if step >= total_steps:
            break
    logger.close()
    if len(task.problems):
        print(task.problems.summary())
    return last_val


def evaluate(cfg: TrainConfig, checkpoint: str | Path, split: str) -> tuple[Evaluation, dict[str, Path]]:
    """Evaluate `split` with a checkpoint; write the task's result files to results/."""
    run_dir = Path(cfg.output_dir)
    device = resolve_device(cfg.device)
    task = build_task(cfg, run_dir)
    model = task.build_model()
    state = load_checkpoint(checkpoint)
    model.load_state_dict(state["model"])
    model.to(device)
    result = task.evaluate(model, split, device, autocast_factory(cfg.amp, device))
    out = run_dir / "results"
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, content in result.files.items():
        if isinstance(content, dict):
            content = {"checkpoint": str(checkpoint), **content}
        paths[name] = out / f"{split}_step{state.get('step', 0)}_{name}.json"
        write_json_atomic(paths[name], content)
    return result, paths
