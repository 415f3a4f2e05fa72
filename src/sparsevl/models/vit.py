"""A vision transformer for clips: CLIP's image tower, made a video model by ST-Adapters or by
divided space-time attention (TimeSformer).

Tokens are kept per frame, (clips x frames, 1 + patches, width), as the image model has them: a
space-only model is the image model run on every frame. Two ways to add time:

- **ST-Adapter** (`STAdapter`): patch tokens -> Linear(C -> r) -> depth-wise Conv3d over
  (T, H, W) with kernel (kernel_t, 1, 1) -> Linear(r -> C), added back. The convolution and both
  biases start at zero, so at step 0 the model is the image model. Placed before a block's
  attention and/or before its MLP (`adapter_blocks`).
- **Divided space-time attention** (`TemporalAttention`): in every block, first attention over
  the T tokens of each patch position (its own LayerNorm and attention, initialised from the
  spatial ones, then a zero-initialised output layer), then the block's spatial attention per
  frame; plus a zero-initialised temporal position embedding on the patch tokens. With
  `shared_cls` (TimeSformer) a clip has one class token: its spatial-attention update is averaged
  over the frames. Without it (the default for CLIP) each frame keeps its own class token, so at
  initialisation the model is exactly the space-only one.

`ViTArch` describes the image transformer (CLIP's or TimeSformer's variant); `vit_weights` maps
their checkpoints onto these module names.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Iterator, Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

AttentionType = Literal["space_only", "divided_space_time"]
# parameters that are not part of the image transformer: they never come from an image checkpoint
VIDEO_PARTS = ("adapter_attn", "adapter_mlp", "temporal", "time_embed")


@dataclasses.dataclass(frozen=True)
class ViTArch:
    """The image transformer. Saved in checkpoints as plain data (`to_dict`)."""

    width: int
    layers: int
    heads: int
    patch_size: int
    grid: int  # the position embeddings' patch grid (grid x grid), interpolated for other frame sizes
    mlp_dim: int
    act: Literal["quick_gelu", "gelu"] = "quick_gelu"  # CLIP: QuickGELU; TimeSformer: GELU
    eps: float = 1e-5  # LayerNorm epsilon (CLIP 1e-5, TimeSformer 1e-6)
    ln_pre: bool = True  # CLIP normalises the embeddings before the blocks; TimeSformer does not
    patch_bias: bool = False  # TimeSformer's patch projection has a bias; CLIP's has none
    shared_cls: bool = False  # divided attention: one class token per clip (TimeSformer)
    time_frames: int = 0  # length of a pretrained temporal position embedding (0: none in the checkpoint)
    pixel_mean: tuple[float, float, float] = CLIP_MEAN
    pixel_std: tuple[float, float, float] = CLIP_STD

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ViTArch:
        data = dict(data)
        data["pixel_mean"], data["pixel_std"] = tuple(data["pixel_mean"]), tuple(data["pixel_std"])
        return cls(**data)


@dataclasses.dataclass(frozen=True)
class AdapterSpec:
    """`count` ST-Adapters of bottleneck `width` and temporal kernel `kernel_t`."""

    count: int
    width: int
    kernel_t: int = 3
    position: Literal["attn", "mlp"] = "attn"  # where single adapters go (two per block: both)


class AdapterPlacementError(ValueError):
    """More adapters than the ViT's blocks can take."""


def adapter_blocks(spec: AdapterSpec, num_blocks: int) -> list[tuple[bool, bool]]:
    """(before attention, before MLP) per block. Up to one adapter per block: the last `count`
    blocks get one, at `spec.position`; more: two each (before attention and before the MLP) in
    the last `count / 2` blocks. 12 on a 12-block ViT: one per block; 24: two per block."""
    n = spec.count
    if n <= num_blocks:
        first = num_blocks - n
        return [(i >= first and spec.position == "attn", i >= first and spec.position == "mlp")
                for i in range(num_blocks)]
    if n % 2 or n > 2 * num_blocks:
        raise AdapterPlacementError(f"{n} adapters do not fit a {num_blocks}-block ViT: at most one per block, "
                         f"or an even number up to {2 * num_blocks} (two per block)")
    first = num_blocks - n // 2
    return [(i >= first, i >= first) for i in range(num_blocks)]


class QuickGELU(nn.Module):
    """CLIP's activation: x * sigmoid(1.702 x)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class Attention(nn.Module):
    """Multi-head self-attention; `qkv` rows are [q; k; v], as CLIP's `in_proj_weight` and
    TimeSformer's `qkv` store them."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, length, width = x.shape
        q, k, v = self.qkv(x).view(n, length, 3, self.heads, width // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v)
        return self.out(y.transpose(1, 2).reshape(n, length, width))


class STAdapter(nn.Module):
    """Linear down, depth-wise temporal convolution, linear up, on the patch tokens (the class
    token passes through). Zero convolution and biases: the identity at initialisation."""

    def __init__(self, width: int, adapter_width: int, kernel_t: int):
        super().__init__()
        self.down = nn.Linear(width, adapter_width)
        self.conv = nn.Conv3d(adapter_width, adapter_width, (kernel_t, 1, 1), padding=(kernel_t // 2, 0, 0),
                              groups=adapter_width)
        self.up = nn.Linear(adapter_width, width)
        for p in (self.conv.weight, self.conv.bias, self.down.bias, self.up.bias):
            nn.init.zeros_(p)

    def forward(self, x: torch.Tensor, frames: int, grid: tuple[int, int]) -> torch.Tensor:
        nt, length, _ = x.shape
        h, w = grid
        patches = self.down(x[:, 1:])  # (N T, h w, r)
        r = patches.shape[-1]
        patches = patches.view(nt // frames, frames, h, w, r).permute(0, 4, 1, 2, 3)  # (N, r, T, h, w)
        patches = self.conv(patches).permute(0, 2, 3, 4, 1).reshape(nt, length - 1, r)
        return torch.cat([x[:, :1], x[:, 1:] + self.up(patches)], dim=1)


class TemporalAttention(nn.Module):
    """Attention over the frames of each patch position; its output layer starts at zero."""

    def __init__(self, width: int, heads: int, eps: float):
        super().__init__()
        self.ln = nn.LayerNorm(width, eps=eps)
        self.attn = Attention(width, heads)
        self.fc = nn.Linear(width, width)
        nn.init.zeros_(self.fc.weight)
        nn.init.zeros_(self.fc.bias)

    def forward(self, x: torch.Tensor, frames: int) -> torch.Tensor:
        nt, length, width = x.shape
        n, p = nt // frames, length - 1
        patches = x[:, 1:].reshape(n, frames, p, width).transpose(1, 2).reshape(n * p, frames, width)
        update = self.fc(self.attn(self.ln(patches)))
        update = update.view(n, p, frames, width).transpose(1, 2).reshape(nt, p, width)
        return torch.cat([x[:, :1], x[:, 1:] + update], dim=1)


class Block(nn.Module):
    def __init__(self, arch: ViTArch, adapters: tuple[bool, bool], adapter: AdapterSpec | None, divided: bool):
        super().__init__()
        c = arch.width
        self.ln_1 = nn.LayerNorm(c, eps=arch.eps)
        self.attn = Attention(c, arch.heads)
        self.ln_2 = nn.LayerNorm(c, eps=arch.eps)
        self.mlp = nn.Sequential(nn.Linear(c, arch.mlp_dim), QuickGELU() if arch.act == "quick_gelu" else nn.GELU(),
                                 nn.Linear(arch.mlp_dim, c))
        self.adapter_attn = STAdapter(c, adapter.width, adapter.kernel_t) if adapters[0] else None
        self.adapter_mlp = STAdapter(c, adapter.width, adapter.kernel_t) if adapters[1] else None
        self.temporal = TemporalAttention(c, arch.heads, arch.eps) if divided else None
        self.shared_cls = divided and arch.shared_cls

    def forward(self, x: torch.Tensor, frames: int, grid: tuple[int, int]) -> torch.Tensor:
        if self.adapter_attn is not None:
            x = self.adapter_attn(x, frames, grid)
        if self.temporal is not None:
            x = self.temporal(x, frames)
        update = self.attn(self.ln_1(x))
        if self.shared_cls:  # TimeSformer: the clip's class token takes the mean of its frames' updates
            cls = update[:, :1].unflatten(0, (-1, frames)).mean(1, keepdim=True).expand(-1, frames, -1, -1)
            update = torch.cat([cls.flatten(0, 1), update[:, 1:]], dim=1)
        x = x + update
        if self.adapter_mlp is not None:
            x = self.adapter_mlp(x, frames, grid)
        return x + self.mlp(self.ln_2(x))


class VisionTransformer(nn.Module):
    """Normalised frames (N, T, 3, H, W) -> tokens (N T, 1 + patches, width) of the last block,
    before the final LayerNorm `ln_post` (the classifier applies it to the pooled class token).

    With `grad_checkpointing`, training keeps only each block's input and recomputes the block in
    the backward pass: activation memory of one block instead of all of them (32- and 96-frame
    clips), for one more forward pass of compute; the loss and gradients are the same."""

    def __init__(
        self,
        arch: ViTArch,
        attention_type: AttentionType = "space_only",
        adapter: AdapterSpec | None = None,
        num_frames: int = 1,
        grad_checkpointing: bool = False,
    ):
        super().__init__()
        self.arch = arch
        self.grad_checkpointing = grad_checkpointing
        c = arch.width
        self.patch_embed = nn.Conv2d(3, c, arch.patch_size, stride=arch.patch_size, bias=arch.patch_bias)
        scale = c**-0.5  # CLIP's initialisation (random weights: tests and the demo's pre-training)
        self.cls_token = nn.Parameter(scale * torch.randn(c))
        self.pos_embed = nn.Parameter(scale * torch.randn(arch.grid**2 + 1, c))
        self.ln_pre = nn.LayerNorm(c, eps=arch.eps) if arch.ln_pre else nn.Identity()
        placement = adapter_blocks(adapter, arch.layers) if adapter else [(False, False)] * arch.layers
        divided = attention_type == "divided_space_time"
        self.blocks = nn.ModuleList(Block(arch, placement[i], adapter, divided) for i in range(arch.layers))
        self.ln_post = nn.LayerNorm(c, eps=arch.eps)
        self.time_embed = nn.Parameter(torch.zeros(arch.time_frames or num_frames, c)) if divided else None

    def image_parameters(self) -> Iterator[nn.Parameter]:
        """The image transformer's parameters: everything but the adapters and temporal parts."""
        for name, param in self.named_parameters():
            if not any(part in name.split(".") for part in VIDEO_PARTS):
                yield param

    def init_temporal_from_spatial(self) -> None:
        """Each temporal attention (and its LayerNorm) starts as a copy of its block's spatial one,
        as TimeSformer initialises from an image model; the output layer stays at zero."""
        with torch.no_grad():
            for block in self.blocks:
                if block.temporal is not None:
                    block.temporal.ln.load_state_dict(block.ln_1.state_dict())
                    block.temporal.attn.load_state_dict(block.attn.state_dict())

    def position_embedding(self, h: int, w: int) -> torch.Tensor:
        """(1 + h w, width): the pretrained grid, resized (bicubic) for frames of another size."""
        g = self.arch.grid
        if (h, w) == (g, g):
            return self.pos_embed
        grid = self.pos_embed[1:].reshape(1, g, g, -1).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, size=(h, w), mode="bicubic", align_corners=False)
        return torch.cat([self.pos_embed[:1], grid.permute(0, 2, 3, 1).reshape(h * w, -1)])

    def time_embedding(self, frames: int) -> torch.Tensor:
        """(frames, width) for any number of frames: one of another length (a pretrained one, or
        the run's own at another `num_frm`) is resized (nearest, as TimeSformer)."""
        return resize_time_embedding(self.time_embed, frames, "nearest")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_blocks(x)[-1]

    def forward_blocks(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Every block's output tokens (N T, 1 + patches, width), first to last (a branch beside
        the ViT, as BT-Adapter's, reads the last ones)."""
        n, frames = x.shape[:2]
        x = self.patch_embed(x.flatten(0, 1))
        h, w = x.shape[-2:]
        x = x.flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(len(x), 1, -1), x], dim=1) + self.position_embedding(h, w)
        if self.time_embed is not None:  # on the patch tokens only, as TimeSformer
            time = self.time_embedding(frames).repeat(n, 1)[:, None]
            x = torch.cat([x[:, :1], x[:, 1:] + time], dim=1)
        x = self.ln_pre(x)
        outputs = []
        recompute = self.grad_checkpointing and self.training and torch.is_grad_enabled()
        for block in self.blocks:
            if recompute:
                x = checkpoint(block, x, frames, (h, w), use_reentrant=False)
            else:
                x = block(x, frames, (h, w))
            outputs.append(x)
        return outputs


def resize_time_embedding(table: torch.Tensor, frames: int, mode: Literal["nearest", "linear"]) -> torch.Tensor:
    """A (length, width) table of temporal embeddings resized to (frames, width)."""
    if frames == len(table):
        return table
    kwargs = {"align_corners": False} if mode == "linear" else {}
    return F.interpolate(table.T[None], size=frames, mode=mode, **kwargs)[0].T


def random_arch(width: int, layers: int, heads: int, mlp_dim: int, patch_size: int, image_size: int) -> ViTArch:
    """CLIP's architecture at any size, for a randomly initialised ViT."""
    if width % heads:
        raise ValueError(f"ViT width {width} is not a multiple of its {heads} heads")
    return ViTArch(width=width, layers=layers, heads=heads, patch_size=patch_size,
                   grid=max(1, math.ceil(image_size / patch_size)), mlp_dim=mlp_dim)
