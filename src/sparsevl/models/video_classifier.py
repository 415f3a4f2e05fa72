"""Action recognition: views of a video -> class logits, as ST-Adapter's classifier.

Each view (a clip of T frames) goes through the ViT; the class tokens of its frames are averaged,
normalised by the ViT's final LayerNorm (`ln_post`), and a dropout and a linear layer give the
logits. Without adapters or temporal attention the average is over independent frames: the
temporal-agnostic baseline.
"""

from __future__ import annotations

import torch
from torch import nn

from sparsevl.models.vit import VisionTransformer


class VideoClassifier(nn.Module):
    def __init__(self, vit: VisionTransformer, num_classes: int, dropout: float = 0.5):
        super().__init__()
        self.vit = vit
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(vit.arch.width, num_classes)
        nn.init.normal_(self.head.weight, std=0.02)
        nn.init.zeros_(self.head.bias)
        self.register_buffer("mean", torch.tensor(vit.arch.pixel_mean).view(1, 1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(vit.arch.pixel_std).view(1, 1, 3, 1, 1), persistent=False)

    def freeze_backbone(self) -> None:
        """Keep the image transformer's weights fixed (ST-Adapter): only the adapters, temporal
        attention and the head train. The optimizer skips parameters without gradients."""
        for param in self.vit.image_parameters():
            param.requires_grad_(False)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """frames (B, V, T, H, W, 3) uint8: V views of T frames per video -> logits (B, V, classes)."""
        b, v, t = frames.shape[:3]
        x = frames.flatten(0, 1).permute(0, 1, 4, 2, 3).float().div_(255)
        x = (x - self.mean) / self.std
        tokens = self.vit(x)  # (B V T, 1 + patches, width)
        cls = tokens[:, 0].view(b * v, t, -1).mean(1)
        return self.head(self.dropout(self.vit.ln_post(cls))).view(b, v, -1)
