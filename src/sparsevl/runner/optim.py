"""AdamW with separate learning rates for the visual backbone and the rest; warmup then linear decay."""

from __future__ import annotations

import torch
from torch import nn


def build_optimizer(model: nn.Module, lr: float, backbone_lr: float, weight_decay: float) -> torch.optim.AdamW:
    """Four groups: backbone / rest x with / without weight decay.

    Biases and normalisation weights get no decay (as in BERT); the backbone is the module under
    `visual.backbone`, which pretrained backbones want trained more gently than the new layers.
    """
    groups: dict[tuple[bool, bool], list[nn.Parameter]] = {(b, d): [] for b in (True, False) for d in (True, False)}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        in_backbone = name.startswith("visual.backbone.")
        decay = param.ndim > 1  # biases and norm weights are the 1-D parameters
        groups[(in_backbone, decay)].append(param)
    param_groups = [
        {"params": params, "lr": backbone_lr if in_backbone else lr, "weight_decay": weight_decay if decay else 0.0}
        for (in_backbone, decay), params in groups.items()
        if params
    ]
    return torch.optim.AdamW(param_groups)


def warmup_linear_schedule(optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int):
    """Learning rate factor: 0 -> 1 over `warmup_steps`, then linearly to 0 at `total_steps`."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
