"""Checkpoints: written atomically, read with `weights_only=True` (never arbitrary pickle)."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import torch


def save_checkpoint(path: str | Path, state: dict) -> Path:
    """Write to a temporary file in the same folder, then rename: a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    return torch.load(path, map_location=map_location, weights_only=True)


def checkpoint_path(run_dir: str | Path, step: int) -> Path:
    return Path(run_dir) / "ckpt" / f"step_{step:07d}.pt"


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    found = sorted((Path(run_dir) / "ckpt").glob("step_*.pt"), key=lambda p: int(re.findall(r"\d+", p.stem)[0]))
    return found[-1] if found else None
