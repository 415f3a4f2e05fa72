"""BT-Adapter's branching temporal adapter: a small video transformer beside a frozen CLIP image tower.

BT-Adapter (Liu et al. 2023, farewellthree/BT-Adapter) leaves CLIP's image tower as it is and
runs a branch of K blocks beside its last K layers. Branch block k (0-based) reads the output of
CLIP's layer L - K + k and the branch's previous block:

- block 0 starts from CLIP's tokens of layer L - K: the patch tokens get CLIP's position embedding
  and a learned temporal embedding, and the branch's class token is the mean of the frames' CLIP
  class tokens averaged with a learned one;
- block k > 0 adds CLIP's tokens of its layer (the frames' mean class token, the patch tokens) to
  the branch's tokens;
- a block is a temporal attention over each patch position's frames (zero-initialised output
  layer), then a spatial block (attention per frame, the branch's one class token sharing the
  frames' updates as their mean; then the MLP), initialised from CLIP's layer L - K + k.

The branch's class token goes through a zero-initialised projection and is added to every
frame's class token of CLIP's last layer, before the final LayerNorm and the image-text
projection: at step 0 the model is exactly the frozen CLIP (BT-Adapter adds it without a
projection). In training, a tube mask keeps the same `1 - mask_ratio` of the patch positions in
every frame of a video for the branch (BT-Adapter: 70% masked); CLIP sees every token.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from sparsevl.models.vit import Block, ViTArch, VisionTransformer, resize_time_embedding


class BTAdapterBranch(nn.Module):
    def __init__(self, arch: ViTArch, depth: int, num_frames: int, mask_ratio: float = 0.0):
        super().__init__()
        if not 1 <= depth <= arch.layers:
            raise ValueError(f"a BT-Adapter branch of {depth} blocks does not fit a {arch.layers}-block ViT")
        # one class token per video, its spatial updates averaged over the frames (TimeSformer's)
        branch_arch = dataclasses.replace(arch, shared_cls=True)
        self.depth = depth
        self.mask_ratio = mask_ratio
        self.blocks = nn.ModuleList(Block(branch_arch, (False, False), None, divided=True) for _ in range(depth))
        width = arch.width
        self.cls_token = nn.Parameter(torch.zeros(width))
        self.time_embed = nn.Parameter(0.02 * torch.randn(num_frames, width))
        self.out_proj = nn.Linear(width, width)
        nn.init.zeros_(self.out_proj.weight)
        nn.init.zeros_(self.out_proj.bias)

    def init_from(self, vit: VisionTransformer) -> None:
        """Each spatial block starts as a copy of the CLIP layer it reads."""
        first = len(vit.blocks) - self.depth
        with torch.no_grad():
            for k, block in enumerate(self.blocks):
                source = vit.blocks[first + k]
                for name in ("ln_1", "attn", "ln_2", "mlp"):
                    getattr(block, name).load_state_dict(getattr(source, name).state_dict())

    def keep_mask(self, videos: int, patches: int, device: torch.device) -> torch.Tensor | None:
        """(videos, kept) indices of the patch positions the branch sees (the same in every frame:
        a tube mask), or None when nothing is masked (evaluation, or mask_ratio 0)."""
        if not self.training or self.mask_ratio <= 0:
            return None
        kept = max(1, round(patches * (1 - self.mask_ratio)))
        return torch.rand(videos, patches, device=device).argsort(dim=1)[:, :kept].sort(dim=1).values

    def forward(self, hidden: list[torch.Tensor], frames: int, pos_embed: torch.Tensor) -> torch.Tensor:
        """`hidden`: CLIP's outputs of its last `depth` layers, each (N T, 1 + P, width);
        `pos_embed`: CLIP's position embedding at this frame size (1 + P, width).
        Returns what is added to each video's CLIP class tokens: (N, width)."""
        nt, length, width = hidden[0].shape
        n, patches = nt // frames, length - 1
        keep = self.keep_mask(n, patches, hidden[0].device)
        x = None
        for k, (clip_tokens, block) in enumerate(zip(hidden, self.blocks)):
            tokens = clip_tokens.view(n, frames, length, width)
            cls = tokens[:, :, 0].mean(dim=1)  # (N, width): the frames' mean class token
            grid = tokens[:, :, 1:]
            if k == 0:
                time = resize_time_embedding(self.time_embed, frames, "linear")
                grid = grid + pos_embed[1:] + time[:, None]
                cls = (cls + self.cls_token + pos_embed[0]) / 2
            if keep is not None:
                grid = grid.gather(2, keep[:, None, :, None].expand(-1, frames, -1, width))
            step = torch.cat([cls[:, None, None].expand(-1, frames, -1, -1), grid], dim=2).flatten(0, 1)
            x = step if x is None else x + step
            x = block(x, frames, (0, 0))
        return self.out_proj(x[::frames, 0])
