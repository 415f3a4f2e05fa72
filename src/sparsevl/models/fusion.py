"""Temporal fusion: the grids of a clip's frames become one sequence of visual tokens.

Input (N, T, C, h, w), the backbone grids of N clips of T frames. Output tokens (N, L, C') and
their positions (L, 3) as (row, column, time) indices; time 0 means "no particular frame".

- `mean` (ClipBERT): frames averaged cell by cell. Cheap; the order of frames is lost, so a clip
  played backwards gives the same tokens.
- `concat`: each cell's T feature vectors concatenated in time order and projected; same number of
  tokens as `mean`, but what happened in a cell, and in which order, is kept.
- `time_embed`: every frame's tokens kept apart (T x h x w tokens), each tagged with its frame's
  temporal position; the cross-encoder attends over time itself.
"""

from __future__ import annotations

import torch
from torch import nn


def _grid_positions(h: int, w: int, times: list[int]) -> torch.Tensor:
    rows = torch.arange(h).repeat_interleave(w)
    cols = torch.arange(w).repeat(h)
    return torch.cat([torch.stack([rows, cols, torch.full_like(rows, t)], dim=1) for t in times])


class MeanFusion(nn.Module):
    def __init__(self, channels: int, num_frm: int):
        super().__init__()
        self.out_channels = channels

    def forward(self, grids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n, t, c, h, w = grids.shape
        tokens = grids.mean(dim=1).flatten(2).transpose(1, 2)  # (N, h*w, C)
        return tokens, _grid_positions(h, w, [0]).to(grids.device)


class ConcatFusion(nn.Module):
    def __init__(self, channels: int, num_frm: int):
        super().__init__()
        self.num_frm = num_frm
        self.proj = nn.Sequential(nn.Linear(channels * num_frm, channels), nn.GELU())
        self.out_channels = channels

    def forward(self, grids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n, t, c, h, w = grids.shape
        if t != self.num_frm:
            raise ValueError(f"concat fusion was built for {self.num_frm} frames per clip, got {t}")
        cells = grids.permute(0, 3, 4, 1, 2).reshape(n, h * w, t * c)  # time-major within a cell
        return self.proj(cells), _grid_positions(h, w, [0]).to(grids.device)


class TimeEmbedFusion(nn.Module):
    def __init__(self, channels: int, num_frm: int):
        super().__init__()
        self.out_channels = channels

    def forward(self, grids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n, t, c, h, w = grids.shape
        tokens = grids.permute(0, 1, 3, 4, 2).reshape(n, t * h * w, c)
        return tokens, _grid_positions(h, w, list(range(1, t + 1))).to(grids.device)
