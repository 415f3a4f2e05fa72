"""What every driver sets up before running a model: seeds, determinism, mixed precision, and the
state of every random generator a run draws from (saved in checkpoints, restored on resume)."""

from __future__ import annotations

import contextlib
import os
import random

import numpy as np
import torch

from sparsevl.problems import UserError


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # the CPU generator and every CUDA device's


def set_deterministic(enabled: bool) -> None:
    """Deterministic kernels where torch offers them (an op without one raises), no cuDNN
    autotuning, and a fixed cuBLAS workspace: the same seed on the same machine then gives the
    same weights. Costs some speed on GPUs."""
    if enabled:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # read when cuBLAS starts
    torch.use_deterministic_algorithms(enabled)
    torch.backends.cudnn.benchmark = not enabled
    torch.backends.cudnn.deterministic = enabled


def autocast_factory(amp: str, device: torch.device):
    """A zero-argument context factory for the configured mixed precision ('none': full precision)."""
    if amp == "none":
        return contextlib.nullcontext
    dtype = torch.float16 if amp == "fp16" else torch.bfloat16
    return lambda: torch.autocast(device_type=device.type, dtype=dtype)


def generator_states() -> dict:
    """The global generators (dropout and on-device sampling draw from torch's: the CPU one and
    each CUDA device's), as plain values `weights_only` can load."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    states = {"torch": torch.get_rng_state(), "numpy": [kind, keys.tolist(), pos, has_gauss, cached],
              "python": random.getstate()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_generators(states: dict) -> None:
    torch.set_rng_state(states["torch"])
    if "cuda" in states:
        if not torch.cuda.is_available() or torch.cuda.device_count() != len(states["cuda"]):
            raise UserError(f"the checkpoint holds the generators of {len(states['cuda'])} CUDA device(s); "
                             f"this process sees {torch.cuda.device_count()}: resume on the same devices")
        torch.cuda.set_rng_state_all(states["cuda"])
    kind, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
