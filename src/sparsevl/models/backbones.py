"""Visual backbones: a frame in, a grid of feature vectors out.

Every backbone takes normalised frames (N, 3, H, W) and returns (N, C, h, w), and says how it
wants frames normalised (`pixel_mean`, `pixel_std`, on the 0-1 scale) and how many channels it
gives (`out_channels`). The real backbones (ResNet-50, CLIP ViT) are built behind the same
interface from local checkpoint folders.
"""

from __future__ import annotations

from torch import nn


class TinyCNN(nn.Module):
    """Stride-2 conv blocks: an (H, W) frame becomes an (H / 2^blocks, W / 2^blocks) grid.

    Small enough to train from scratch on a CPU in minutes; used by the demo and the tests.
    """

    pixel_mean = (0.5, 0.5, 0.5)
    pixel_std = (0.25, 0.25, 0.25)

    def __init__(self, out_channels: int = 128, width: int = 32, num_blocks: int = 4):
        super().__init__()
        layers, c_in = [], 3
        for i in range(num_blocks):
            c_out = out_channels if i == num_blocks - 1 else min(width * 2**i, out_channels)
            layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
            c_in = c_out
        self.body = nn.Sequential(*layers)
        self.out_channels = out_channels

    def forward(self, x):
        return self.body(x)
