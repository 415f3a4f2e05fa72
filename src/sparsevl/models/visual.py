"""The visual tower: uint8 frames of clips -> visual tokens, shared by every model of the cross-encoder family."""

from __future__ import annotations

import torch
from torch import nn


class VisualEncoder(nn.Module):
    """uint8 frames of clips -> visual tokens of clips: normalise, backbone per frame, fuse per clip."""

    def __init__(self, backbone: nn.Module, fusion: nn.Module, frozen_bn: bool = False, channels_last: bool = False):
        super().__init__()
        self.backbone = backbone
        self.fusion = fusion
        self.frozen_bn = frozen_bn
        self.channels_last = channels_last
        if channels_last:
            backbone.to(memory_format=torch.channels_last)
        self.register_buffer("mean", torch.tensor(backbone.pixel_mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(backbone.pixel_std).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True):
        """With `frozen_bn` the backbone's BatchNorm layers always use their stored statistics (as
        ClipBERT's ResNet does): a frame's features then do not depend on the rest of its batch, so
        N processes with batches of B give the same gradients as one process with N x B."""
        super().train(mode)
        if self.frozen_bn:
            for m in self.backbone.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()
        return self

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """frames (N, T, H, W, 3) uint8 -> tokens (N, L, C), positions (L, 3)."""
        n, t = frames.shape[:2]
        x = frames.flatten(0, 1).permute(0, 3, 1, 2).float().div_(255)
        x = (x - self.mean) / self.std
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        grids = self.backbone(x)
        return self.fusion(grids.view(n, t, *grids.shape[1:]))
