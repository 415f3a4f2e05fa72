"""The training loop: flat on purpose. The task supplies data, model and loss; this file trains.
It never names a task: everything it needs is declared in `sparsevl.tasks.protocol.Task`.

    run_dir/config.json    the resolved config
    run_dir/log.jsonl      one line per logged step / validation
    run_dir/tb/            TensorBoard events
    run_dir/ckpt/          step_NNNNNNN.pt checkpoints
    run_dir/results/       predictions and accuracy per evaluated split
"""

from __future__ import annotations

import math
import random
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler
from tqdm import tqdm

from sparsevl.config import save_config
from sparsevl.dist import Dist, init_distributed
from sparsevl.problems import ProblemLog
from sparsevl.runner.checkpoint import checkpoint_path, checkpoint_state, latest_checkpoint, load_checkpoint, save_checkpoint
from sparsevl.runner.logger import RunLogger
from sparsevl.runner.optim import build_optimizer, warmup_linear_schedule
from sparsevl.runner.runtime import autocast_factory, seed_everything
from sparsevl.tasks.common import to_device
from sparsevl.tasks.config import RunConfig
from sparsevl.tasks.registry import build_task


def problem_log(cfg: RunConfig, run_dir: Path, rank: int = 0) -> ProblemLog:
    """The run's log of skipped videos and records (one file per process)."""
    name = "problems.log" if rank == 0 else f"problems.rank{rank}.log"
    return ProblemLog(run_dir / name, on_error=cfg.on_error)


class EpochSampler(Sampler):
    """Every epoch one order of the whole dataset, drawn from (seed, epoch) and the same in every
    process; process r takes positions r, r + n, r + 2n, ... of it. So the global batch of a step
    is the same whatever the number of processes, and a resumed run can start mid-epoch.

    The last `len % world_size` items of each epoch's order are left out, so that every process
    takes the same number of steps (a process waiting for a step its peers never take would hang).
    """

    def __init__(self, num_items: int, seed: int, rank: int = 0, world_size: int = 1):
        self.num_items, self.seed, self.rank, self.world_size = num_items, seed, rank, world_size
        self.epoch, self.start = 0, 0

    def set_position(self, epoch: int, start: int = 0) -> None:
        """Iterate epoch `epoch` of this process's share, skipping its first `start` items."""
        self.epoch, self.start = epoch, start

    def __len__(self) -> int:
        return self.num_items // self.world_size - self.start

    def __iter__(self):
        order = np.random.default_rng([self.seed, self.epoch]).permutation(self.num_items)
        usable = self.num_items - self.num_items % self.world_size
        mine = order[:usable][self.rank :: self.world_size]
        return iter(mine[self.start :].tolist())


def _rng_states() -> dict:
    """The global generators (dropout draws from torch's), as plain values `weights_only` can load."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {"torch": torch.get_rng_state(), "numpy": [kind, keys.tolist(), pos, has_gauss, cached],
            "python": random.getstate()}


def _restore_rng(states: dict) -> None:
    torch.set_rng_state(states["torch"])
    kind, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))


def train(cfg: RunConfig, progress: bool = True, resume: bool = False) -> dict:
    """Train, validating and checkpointing every `valid_every_epochs` (and every `save_every_steps`).
    Returns the last validation. `resume`: continue from the run folder's latest checkpoint."""
    dist = init_distributed()
    try:
        return _train(cfg, dist, progress and dist.is_main, resume)
    except BaseException as e:
        if dist.world_size > 1 and not isinstance(e, KeyboardInterrupt):
            print(f"[rank {dist.rank}/{dist.world_size}] training failed: {type(e).__name__}: {e}", flush=True)
        raise
    finally:
        dist.close()


def _train(cfg: RunConfig, dist: Dist, progress: bool, resume: bool) -> dict:
    run_dir = Path(cfg.output_dir)
    resume_from = latest_checkpoint(run_dir) if resume else None
    if resume and resume_from is None:
        raise FileNotFoundError(f"--resume: no checkpoint in {run_dir / 'ckpt'} to resume from")
    if dist.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, run_dir / "config.json")
    seed_everything(cfg.seed)
    device = dist.device(cfg.device)
    autocast = autocast_factory(cfg.amp, device)

    state = load_checkpoint(resume_from) if resume_from is not None else None
    # every process derives the same tokenizer and labels from the same data (or the checkpoint's)
    task = build_task(cfg, problem_log(cfg, run_dir, dist.rank), state["task"] if state else None)
    train_set = task.dataset(cfg.train_split, train=True)
    sampler = EpochSampler(len(train_set), cfg.seed, dist.rank, dist.world_size)
    loader = DataLoader(
        train_set, batch_size=cfg.train_batch_size, sampler=sampler, collate_fn=task.collator,
        num_workers=cfg.num_workers,
        # its own generator: starting an epoch must not draw from the global one, whose state (for
        # dropout) a checkpoint restores
        generator=torch.Generator().manual_seed(cfg.seed),
    )
    model = task.build_model().to(device)
    optimizer = build_optimizer(model, cfg.lr, cfg.backbone_lr, cfg.weight_decay)
    batches_per_epoch = math.ceil(len(train_set) // dist.world_size / cfg.train_batch_size)
    steps_per_epoch = math.ceil(batches_per_epoch / cfg.grad_accum_steps)
    total_steps = cfg.max_steps or steps_per_epoch * cfg.num_epochs
    scheduler = warmup_linear_schedule(optimizer, int(cfg.warmup_ratio * total_steps), total_steps)
    # fp16 needs loss scaling against underflow; bf16 and full precision do not.
    scaler = torch.amp.GradScaler(device.type, enabled=cfg.amp == "fp16")
    step, epoch, batch_in_epoch, skipped_steps = 0, 0, 0, 0
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        _restore_rng(state["rng"])
        step, epoch, batch_in_epoch = state["step"], state["epoch"], state["batch_in_epoch"]
        skipped_steps = state.get("skipped_steps", 0)
    optimizer = dist.prepare(model, optimizer, cfg.grad_accum_steps)
    logger = RunLogger(run_dir, enabled=dist.is_main)
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    logger.log(step, "model", {"parameters": total, "trainable_parameters": trainable})
    if dist.is_main:
        print(
            f"train: {train_set.describe()}, {total / 1e6:.2f}M parameters ({trainable / 1e6:.2f}M trainable), "
            f"{total_steps} steps on {device}"
            + (f", {dist.world_size} processes ({dist.backend})" if dist.world_size > 1 else "")
            + (f", resuming at step {step} from {resume_from.name}" if resume_from else "")
        )

    def save(epoch: int, batch_in_epoch: int) -> None:
        if dist.is_main:
            save_checkpoint(checkpoint_path(run_dir, step), checkpoint_state(
                cfg, task, model, optimizer=optimizer.state_dict(), scheduler=scheduler.state_dict(),
                scaler=scaler.state_dict(), rng=_rng_states(), step=step, epoch=epoch,
                batch_in_epoch=batch_in_epoch, skipped_steps=skipped_steps,
            ))

    last_val, start = {}, time.time()
    epochs = math.ceil(total_steps / steps_per_epoch)
    model.train()
    while step < total_steps and epoch < epochs:
        train_set.set_epoch(epoch)
        sampler.set_position(epoch, batch_in_epoch * cfg.train_batch_size)
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{epochs}", unit="batch", disable=not progress, leave=False,
                   initial=batch_in_epoch, total=batches_per_epoch)
        for batch in bar:
            batch = to_device(batch, device)
            with autocast():
                losses = task.loss(model, batch)
            loss = losses["loss"]
            scaler.scale(loss / cfg.grad_accum_steps).backward()
            batch_in_epoch += 1
            if batch_in_epoch % cfg.grad_accum_steps and batch_in_epoch != batches_per_epoch:
                continue
            dist.average_gradients(model)
            scaler.unscale_(optimizer)
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            scale_before = scaler.get_scale()
            with dist.step_context():
                scaler.step(optimizer)
            scaler.update()
            skipped_steps += scaler.is_enabled() and scaler.get_scale() < scale_before  # fp16 overflow: skipped
            model.zero_grad(set_to_none=True)  # (Horovod's optimizer has no set_to_none)
            scheduler.step()
            step += 1
            bar.set_postfix(loss=f"{loss.item():.3f}")
            if step % cfg.log_every_steps == 0:
                metrics = {name: dist.all_reduce_mean(value.item()) for name, value in losses.items()}
                metrics.update(lr=scheduler.get_last_lr()[0], epoch=epoch)
                if scaler.is_enabled():
                    metrics.update(loss_scale=scaler.get_scale(), skipped_steps=skipped_steps)
                logger.log(step, "train", metrics)
            if cfg.save_every_steps and step % cfg.save_every_steps == 0 and batch_in_epoch < batches_per_epoch:
                save(epoch, batch_in_epoch)
            if step >= total_steps:
                break
        epoch_done = batch_in_epoch >= batches_per_epoch
        if epoch_done:
            epoch, batch_in_epoch = epoch + 1, 0
        if epoch % cfg.valid_every_epochs == 0 or step >= total_steps:
            save(epoch, batch_in_epoch)
            if cfg.val_split:
                result = task.evaluate(model, cfg.val_split, device, autocast, dist)
                last_val = result.metrics
                logger.log(step, "val", last_val)
                if dist.is_main:
                    tqdm.write(f"epoch {epoch} step {step} ({time.time() - start:.0f}s): val {result.headline}")
    logger.close()
    if skipped_steps and dist.is_main:
        print(f"fp16: {skipped_steps} step(s) skipped for overflowed gradients")
    if len(task.problems):
        print(task.problems.summary())
    return last_val
