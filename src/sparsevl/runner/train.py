"""The training loop: flat on purpose. The task supplies data, model and loss; this file trains.
It never names a task: everything it needs is declared in `sparsevl.tasks.protocol.Task`.

    run_dir/config.json    the resolved config
    run_dir/log.jsonl      one line per logged step / validation
    run_dir/tb/            TensorBoard events
    run_dir/ckpt/          step_NNNNNNN.pt checkpoints
    run_dir/problems.log   skipped records and samples
    run_dir/results/       predictions and accuracy per evaluated split (`sparsevl evaluate`)

Inputs are checked before anything is written: a missing store, an empty training split or a
config that does not fit the run folder (`run_folder`) stops the run with one line. A broken
sample met during training is skipped and counted (`on_error: skip`), or stops the run naming it.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler
from tqdm import tqdm

from sparsevl.config import save_config
from sparsevl.data.skipping import SkipBadSamples, report_skipped, skipping_collate
from sparsevl.dist import Dist, init_distributed
from sparsevl.problems import ProblemLog, UserError
from sparsevl.runner import run_folder
from sparsevl.runner.checkpoint import (
    checkpoint_path,
    checkpoint_state,
    InitCheckpoint,
    load_model_weights,
    save_checkpoint,
)
from sparsevl.runner.logger import RunLogger
from sparsevl.runner.optim import build_optimizer, warmup_linear_schedule
from sparsevl.runner.runtime import (
    autocast_factory,
    generator_states,
    restore_generators,
    seed_everything,
    set_deterministic,
)
from sparsevl.tasks.common import to_device
from sparsevl.tasks.config import RunConfig
from sparsevl.tasks.registry import build_task


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


class EpochBatches:
    """`EpochSampler`'s items in batches of `batch_size`: the batch sampler of a training set that
    has no `batch_sampler` of its own (`TaskDataset`); positioned by batch, as a mix's is."""

    def __init__(self, sampler: EpochSampler, batch_size: int):
        self.sampler, self.batch_size = sampler, batch_size
        self.batches_per_epoch = math.ceil(sampler.num_items // sampler.world_size / batch_size)

    def set_position(self, epoch: int, batch: int = 0) -> None:
        self.sampler.set_position(epoch, batch * self.batch_size)

    def __len__(self) -> int:
        return math.ceil(len(self.sampler) / self.batch_size)

    def __iter__(self):
        items = list(self.sampler)
        for i in range(0, len(items), self.batch_size):
            yield items[i:i + self.batch_size]


def train(cfg: RunConfig, progress: bool = True, resume: bool = False, overwrite: bool = False) -> dict:
    """Train, validating and checkpointing every `valid_every_epochs` (and every `save_every_steps`).
    Returns the last validation. `resume`: continue the run in `output_dir` from its latest
    checkpoint; `overwrite`: replace the run that is there."""
    dist = init_distributed(cfg.device)
    try:
        return _train(cfg, dist, progress and dist.is_main, resume, overwrite)
    except BaseException as e:
        if dist.world_size > 1 and not isinstance(e, KeyboardInterrupt):
            print(f"[rank {dist.rank}/{dist.world_size}] training failed: {type(e).__name__}: {e}", flush=True)
        raise
    finally:
        dist.close()


def zero_loss(model: torch.nn.Module) -> torch.Tensor:
    """A loss of 0 with a (zero) gradient for every trainable parameter: what a process whose
    whole batch was skipped contributes, so that the gradient exchange still matches its peers'."""
    return sum(p.sum() * 0.0 for p in model.parameters() if p.requires_grad)


def _train(cfg: RunConfig, dist: Dist, progress: bool, resume: bool, overwrite: bool) -> dict:
    plan = run_folder.prepare(cfg, resume, overwrite)  # only looks: nothing is written yet
    set_deterministic(cfg.deterministic)
    seed_everything(cfg.seed)
    device = dist.device(cfg.device)
    autocast = autocast_factory(cfg.amp, device)

    # the inputs, checked before the run folder is touched; problems are kept until it exists
    problems = ProblemLog(on_error=cfg.on_error)
    state = plan.state
    init = InitCheckpoint.read(cfg.init_checkpoint) if cfg.init_checkpoint and state is None else None
    # every process derives the same tokenizer and labels from the same data (or the checkpoint's)
    task = build_task(cfg, problems, state["task"] if state else init.shared_state if init else None)
    train_set = task.dataset(cfg.train_split, train=True)
    if len(train_set) < dist.world_size:
        raise UserError(f"training split {cfg.train_split!r} has {len(train_set)} usable item(s) "
                        f"({train_set.describe()}) for {dist.world_size} process(es); "
                        + (f"{len(problems)} problem(s) reported, e.g. {problems.problems[0]}" if len(problems)
                           else f"is {cfg.txt_db} the txt_db of {cfg.vis_db}?"))
    model = task.build_model()
    init_report = init.load_into(model, tuple(cfg.init_skip)) if init else None
    model.to(device)

    dist.barrier()  # every process has checked the folder before the first one writes to it
    if dist.is_main:
        run_folder.start(plan)
        if state is None:
            save_config(cfg, plan.run_dir / "config.json")
    dist.barrier()
    problems.write_to(plan.run_dir / ("problems.log" if dist.rank == 0 else f"problems.rank{dist.rank}.log"))

    # a training set may schedule its own batches (several datasets mixed: `TaskDataset.batch_sampler`)
    if hasattr(train_set, "batch_sampler"):
        batches = train_set.batch_sampler(cfg.seed, dist.rank, dist.world_size)
    else:
        batches = EpochBatches(EpochSampler(len(train_set), cfg.seed, dist.rank, dist.world_size), cfg.train_batch_size)
    # its own generator: starting an epoch must not draw from the global one, whose state (for
    # dropout) a checkpoint restores
    loader_generator = torch.Generator().manual_seed(cfg.seed)
    loader = DataLoader(
        SkipBadSamples(train_set), batch_sampler=batches,
        collate_fn=skipping_collate(task.collator), num_workers=cfg.num_workers, generator=loader_generator,
    )
    optimizer = build_optimizer(model, cfg.lr, cfg.backbone_lr, cfg.weight_decay)
    batches_per_epoch = batches.batches_per_epoch
    steps_per_epoch = math.ceil(batches_per_epoch / cfg.grad_accum_steps)
    total_steps = cfg.max_steps or steps_per_epoch * cfg.num_epochs
    scheduler = warmup_linear_schedule(optimizer, int(cfg.warmup_ratio * total_steps), total_steps)
    # fp16 needs loss scaling against underflow; bf16 and full precision do not.
    scaler = torch.amp.GradScaler(device.type, enabled=cfg.amp == "fp16")
    step, epoch, batch_in_epoch, skipped_steps, skipped_samples = 0, 0, 0, 0, 0
    epoch_loader_state = loader_generator.get_state()
    if state is not None:
        load_model_weights(model, state["model"], plan.resume_from)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        restore_generators(state["rng"])
        epoch_loader_state = state["loader_rng"]
        step, epoch, batch_in_epoch = state["step"], state["epoch"], state["batch_in_epoch"]
        skipped_steps, skipped_samples = state["skipped_steps"], state["skipped_samples"]
    optimizer = dist.prepare(model, optimizer, cfg.grad_accum_steps)
    logger = RunLogger(plan.run_dir, enabled=dist.is_main)
    if plan.resume_from is not None:
        logger.log(step, "resume", {"checkpoint": plan.resume_from.name, "changed": plan.changed})
    if init_report is not None:
        logger.log(step, "init", {"checkpoint": cfg.init_checkpoint, **dataclasses.asdict(init_report)})
        if dist.is_main:
            print(f"init from {cfg.init_checkpoint}:" + "".join(f"\n  {line}" for line in init_report.lines()))
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    logger.log(step, "model", {"parameters": total, "trainable_parameters": trainable})
    if dist.is_main:
        print(
            f"train: {train_set.describe()}, {total / 1e6:.2f}M parameters ({trainable / 1e6:.2f}M trainable), "
            f"{total_steps} steps on {device}"
            + (f", {dist.world_size} processes ({dist.backend})" if dist.world_size > 1 else "")
            + (f", resuming at step {step} from {plan.resume_from.name}" if plan.resume_from else "")
        )

    def save(epoch: int, batch_in_epoch: int) -> None:
        if dist.is_main:
            save_checkpoint(checkpoint_path(plan.run_dir, step), checkpoint_state(
                cfg, task, model, optimizer=optimizer.state_dict(), scheduler=scheduler.state_dict(),
                scaler=scaler.state_dict(), rng=generator_states(), loader_rng=epoch_loader_state, step=step,
                epoch=epoch, batch_in_epoch=batch_in_epoch, skipped_steps=skipped_steps,
                skipped_samples=skipped_samples,
            ))

    last_val, start = {}, time.time()
    epochs = math.ceil(total_steps / steps_per_epoch)
    model.train()
    while step < total_steps and epoch < epochs:
        train_set.set_epoch(epoch)
        batches.set_position(epoch, batch_in_epoch)
        # the loader draws its workers' seeds from its generator when an epoch starts: a resumed
        # epoch starts from the state its first start had
        loader_generator.set_state(epoch_loader_state)
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{epochs}", unit="batch", disable=not progress, leave=False,
                   initial=batch_in_epoch, total=batches_per_epoch)
        for batch in bar:
            skipped_samples += len(report_skipped(batch, problems, cfg.train_split))
            batch = to_device(batch, device)
            with autocast():
                losses = task.loss(model, batch) if batch else {"loss": zero_loss(model)}
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
                metrics.update(lr=scheduler.get_last_lr()[0], epoch=epoch, skipped_samples=skipped_samples)
                if scaler.is_enabled():
                    metrics.update(loss_scale=scaler.get_scale(), skipped_steps=skipped_steps)
                logger.log(step, "train", metrics)
            if cfg.save_every_steps and step % cfg.save_every_steps == 0 and batch_in_epoch < batches_per_epoch:
                save(epoch, batch_in_epoch)
            if step >= total_steps:
                break
        if batch_in_epoch >= batches_per_epoch:
            epoch, batch_in_epoch = epoch + 1, 0
            epoch_loader_state = loader_generator.get_state()
        validate = epoch % cfg.valid_every_epochs == 0 or step >= total_steps
        if validate or (cfg.save_every_steps and step % cfg.save_every_steps == 0):
            save(epoch, batch_in_epoch)
        if validate and cfg.val_split:
            result = task.evaluate(model, cfg.val_split, device, autocast, dist)
            last_val = result.metrics
            logger.log(step, "val", last_val)
            if dist.is_main:
                tqdm.write(f"epoch {epoch} step {step} ({time.time() - start:.0f}s): val {result.headline}")
    logger.close()
    if skipped_steps and dist.is_main:
        print(f"fp16: {skipped_steps} step(s) skipped for overflowed gradients")
    if len(problems):
        print(problems.summary())
    return last_val
