"""A run folder belongs to one run.

A new run needs an empty (or new) `output_dir`; `--overwrite` clears a used one, `--resume`
continues the run that is there, from its latest checkpoint, with the config it was started with:
only the keys of `RESUMABLE_CHANGES` may differ (they change when or how much is done, not what a
step computes). Nothing is written until the inputs have been checked (`prepare` only looks).
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from sparsevl.config import to_dict
from sparsevl.problems import UserError
from sparsevl.runner.checkpoint import latest_checkpoint, load_checkpoint
from sparsevl.tasks.config import RunConfig

# Keys a resumed run may change. max_steps and num_epochs change the learning-rate schedule from
# where the run stands, the others nothing that a training step computes.
RESUMABLE_CHANGES = frozenset({
    "max_steps", "num_epochs", "num_workers", "device", "log_every_steps", "save_every_steps",
    "valid_every_epochs", "val_batch_size", "val_split", "on_error",
})


@dataclasses.dataclass
class RunPlan:
    run_dir: Path
    resume_from: Path | None  # the checkpoint to continue from
    state: dict | None  # its contents
    changed: list[str]  # allowed config changes of a resumed run
    clear: bool  # --overwrite of a used folder: cleared once the run starts


def changed_keys(saved: dict, current: dict, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two configs as plain data."""
    keys = []
    for key in sorted(saved.keys() | current.keys()):
        a, b = saved.get(key), current.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            keys += changed_keys(a, b, f"{prefix}{key}.")
        elif a != b:
            keys.append(prefix + key)
    return keys


def prepare(cfg: RunConfig, resume: bool, overwrite: bool) -> RunPlan:
    """Check that the run may use `cfg.output_dir`; raises a UserError saying what to do if not."""
    run_dir = Path(cfg.output_dir)
    if resume and overwrite:
        raise UserError("--resume continues the run in output_dir, --overwrite replaces it: give one of them")
    if resume:
        checkpoint = latest_checkpoint(run_dir)
        if checkpoint is None:
            raise UserError(f"--resume: no checkpoint in {run_dir / 'ckpt'} to resume from "
                            "(train without --resume to start a run there)")
        state = load_checkpoint(checkpoint)
        changed = changed_keys(state["config"], to_dict(cfg))
        refused = [k for k in changed if k not in RESUMABLE_CHANGES]
        if refused:
            raise UserError(
                f"--resume: the config differs from the one {run_dir} was started with in {', '.join(refused)}; "
                f"a resumed run may change only {', '.join(sorted(RESUMABLE_CHANGES))} "
                "(use the run's config.json, or start a new run in another output_dir)")
        return RunPlan(run_dir, checkpoint, state, changed, clear=False)
    used = run_dir.is_dir() and any(run_dir.iterdir())
    if used and not overwrite:
        raise UserError(f"output_dir {run_dir} is not empty (another run is there): --resume continues it, "
                        "--overwrite replaces it, or choose another output_dir")
    if run_dir.exists() and not run_dir.is_dir():
        raise UserError(f"output_dir {run_dir} is a file, not a folder")
    return RunPlan(run_dir, None, None, [], clear=used)


def start(plan: RunPlan) -> None:
    """Make the folder the run's: clear it for --overwrite, drop half-written files of a killed run."""
    if plan.clear:
        for entry in plan.run_dir.iterdir():
            shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
    plan.run_dir.mkdir(parents=True, exist_ok=True)
    for leftover in (plan.run_dir / "ckpt").glob("*.tmp"):  # a save interrupted before its rename
        leftover.unlink()
