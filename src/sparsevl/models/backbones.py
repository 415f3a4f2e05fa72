"""Visual backbones: a frame in, a grid of feature vectors out.

Every backbone takes normalised frames (N, 3, H, W) and returns (N, C, h, w), and says how it
wants frames normalised (`pixel_mean`, `pixel_std`, on the 0-1 scale) and how many channels it
gives (`out_channels`). TinyCNN is trained from scratch; the others wrap pretrained networks that
`sparsevl.models.pretrained` loads from local checkpoint files (docs/backbones.md).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from transformers import CLIPVisionModel, ResNetModel

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


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


# --- EfficientNet-Lite0 -------------------------------------------------------------------------

# EfficientNet-B0's stages without squeeze-excitation: (repeats, kernel, stride of the first
# block, expansion ratio, output channels). Lite models also fix the stem (32) and head (1280).
LITE0_STAGES = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)
LITE0_STRIDE16_BLOCKS = 11  # blocks up to the end of the 112-channel stage, the last at stride 16


class SameConv2d(nn.Conv2d):
    """A bias-free convolution with TensorFlow's "SAME" padding, as the ported weights were trained.

    TF pads k - s (for even sizes) in all, the smaller half before: (0, 1) for a 3x3 and (1, 2) for
    a 5x5 at stride 2, where PyTorch's `padding=k // 2` pads (1, 1) and (2, 2), which puts every
    stride-2 output one input pixel off. At stride 1 both are the symmetric k // 2.
    """

    def __init__(self, c_in: int, c_out: int, kernel_size: int, stride: int = 1, groups: int = 1):
        # At stride 1 the convolution pads by itself (no padded copy of the input per layer).
        padding = kernel_size // 2 if stride == 1 else 0
        super().__init__(c_in, c_out, kernel_size, stride, padding=padding, groups=groups, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, s = self.kernel_size[0], self.stride[0]
        if s == 1:
            return super().forward(x)
        pad = []
        for size in (x.shape[-1], x.shape[-2]):  # F.pad takes the last dimension first
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pad += [total // 2, total - total // 2]
        return super().forward(F.pad(x, pad))


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=1e-3)  # TF's epsilon; the running variances assume it


class MBConvBlock(nn.Module):
    """Inverted residual: 1x1 expand, k x k depthwise, 1x1 linear projection; ReLU6, no SE."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int, stride: int, expand: int):
        super().__init__()
        mid = c_in * expand
        self.expand = expand != 1  # the first block has no expansion, nor its weights
        if self.expand:
            self._expand_conv = SameConv2d(c_in, mid, 1)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv2d(mid, mid, kernel_size, stride, groups=mid)
        self._bn1 = _bn(mid)
        self._project_conv = SameConv2d(mid, c_out, 1)
        self._bn2 = _bn(c_out)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        h = F.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return x + h if self.residual else h


class EfficientNetLite0(nn.Module):
    """The ImageNet classifier, with EfficientNet-PyTorch's module names so its checkpoints load as
    they are. `EfficientNetLite0Grid` turns a loaded one into a grid backbone."""

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self._conv_stem = SameConv2d(3, 32, 3, stride=2)
        self._bn0 = _bn(32)
        blocks, c_in = [], 32
        for repeats, kernel_size, stride, expand, c_out in LITE0_STAGES:
            for i in range(repeats):
                blocks.append(MBConvBlock(c_in, c_out, kernel_size, stride if i == 0 else 1, expand))
                c_in = c_out
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(c_in, 1280, 1)
        self._bn1 = _bn(1280)
        self._fc = nn.Linear(1280, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N, classes); the training-time dropout before `_fc` is left out."""
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        return self._fc(x.mean(dim=(2, 3)))


class EfficientNetLite0Grid(nn.Module):
    """The feature map of an EfficientNetLite0 at stride 32 (after the head conv, 1280 channels,
    like ClipBERT's ResNet-50 last stage) or at stride 16 (the 112-channel stage: a usable grid
    from the small frames a CPU can afford, 8 x 8 at 128 px).

    It shares the given network's layers up to that point and leaves out the rest, so every
    parameter it has gets a gradient.
    """

    # The TF Lite models were trained on inputs scaled as (pixel - 127) / 128, not ImageNet mean/std.
    pixel_mean = (127 / 255,) * 3
    pixel_std = (128 / 255,) * 3

    def __init__(self, net: EfficientNetLite0, stride: int = 32):
        super().__init__()
        if stride not in (16, 32):
            raise ValueError(f"EfficientNet-Lite0 grids are at stride 16 or 32, not {stride}")
        self.stem = nn.Sequential(net._conv_stem, net._bn0, nn.ReLU6())
        if stride == 16:
            self.blocks = nn.Sequential(*net._blocks[:LITE0_STRIDE16_BLOCKS])
            self.head = nn.Identity()
            self.out_channels = net._blocks[LITE0_STRIDE16_BLOCKS - 1]._bn2.num_features
        else:
            self.blocks = nn.Sequential(*net._blocks)
            self.head = nn.Sequential(net._conv_head, net._bn1, nn.ReLU6())
            self.out_channels = net._bn1.num_features

    def freeze(self, num_blocks: int) -> None:
        """Keep the stem and the first `num_blocks` blocks as loaded: no gradient, so autograd
        records nothing for them. The early layers at full resolution are most of a training
        step's backbone cost, and what they compute (edges, colours) transfers as it is."""
        if not 0 <= num_blocks <= len(self.blocks):
            raise ValueError(f"frozen_backbone_blocks must be in 0..{len(self.blocks)}, not {num_blocks}")
        for module in (self.stem, *self.blocks[:num_blocks]):
            module.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)))


# --- Hugging Face vision models -----------------------------------------------------------------


class ResNetGrid(nn.Module):
    """ResNet-50's last stage as the grid (stride 32, 2048 channels), as in ClipBERT."""

    pixel_mean = IMAGENET_MEAN
    pixel_std = IMAGENET_STD

    def __init__(self, model: ResNetModel):
        super().__init__()
        self.model = model
        self.out_channels = model.config.hidden_sizes[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x).last_hidden_state


class ClipViTGrid(nn.Module):
    """CLIP's vision transformer: the patch tokens of its last layer, laid out as a grid (stride =
    patch size, 16 for ViT-B/16). Frames of any size work: the position embeddings are
    interpolated to the frame's patch grid."""

    pixel_mean = (0.48145466, 0.4578275, 0.40821073)
    pixel_std = (0.26862954, 0.26130258, 0.27577711)

    def __init__(self, model: CLIPVisionModel):
        super().__init__()
        # The final LayerNorm only feeds CLIP's pooled class token, which the grid does not use;
        # dropped so that every parameter gets a gradient. (Older transformers nest the layers
        # in `vision_model`.)
        getattr(model, "vision_model", model).post_layernorm = nn.Identity()
        self.model = model
        self.patch_size = model.config.patch_size
        self.out_channels = model.config.hidden_size

    def enable_grad_checkpointing(self) -> None:
        """Each layer recomputed in the backward pass (long clips: 32 or 96 frames a video)."""
        # later transformers 5 releases renamed it and warn at the old name
        enable = getattr(self.model, "activation_checkpointing_enable", None) or self.model.gradient_checkpointing_enable
        enable({"use_reentrant": False})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2] // self.patch_size, x.shape[-1] // self.patch_size
        tokens = self.model(pixel_values=x, interpolate_pos_encoding=True).last_hidden_state[:, 1:]  # drop [CLS]
        return tokens.transpose(1, 2).reshape(x.shape[0], -1, h, w)
