"""What every driver sets up before running a model: seeds, the device's mixed precision."""

from __future__ import annotations

import contextlib
import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def autocast_factory(amp: str, device: torch.device):
    """A zero-argument context factory for the configured mixed precision ('none': full precision)."""
    if amp == "none":
        return contextlib.nullcontext
    dtype = torch.float16 if amp == "fp16" else torch.bfloat16
    return lambda: torch.autocast(device_type=device.type, dtype=dtype)
