"""Sparse clip sampling, in ClipBERT's terms.

A clip is `num_frm` stored frames, `frm_stride` apart (1 = consecutive stored frames, as ClipBERT).
Training draws `train_n_clips` clips at random positions; inference takes `inference_n_clips`
clips spaced uniformly over the video. Each clip is one forward pass; clip scores are combined
afterwards (sparsevl.models.aggregation).
"""

from __future__ import annotations

import numpy as np


def _fit_stride(num_frames: int, num_frm: int, frm_stride: int) -> int:
    """The largest stride <= frm_stride whose clip fits in the video (1 if none does)."""
    if num_frm <= 1:
        return 1
    return max(1, min(frm_stride, (num_frames - 1) // (num_frm - 1)))


def _clip(start: int, num_frames: int, num_frm: int, stride: int) -> list[int]:
    # A video shorter than a clip repeats its last frame rather than failing.
    return [min(start + k * stride, num_frames - 1) for k in range(num_frm)]


def train_clip_indices(
    num_frames: int, num_frm: int, n_clips: int, rng: np.random.Generator, frm_stride: int = 1
) -> list[list[int]]:
    """`n_clips` clips at random start positions (independently drawn; they may coincide)."""
    if num_frames < 1:
        raise ValueError("a video needs at least one frame")
    stride = _fit_stride(num_frames, num_frm, frm_stride)
    last_start = max(0, num_frames - ((num_frm - 1) * stride + 1))
    starts = rng.integers(0, last_start + 1, size=n_clips)
    return [_clip(int(s), num_frames, num_frm, stride) for s in starts]


def inference_clip_indices(num_frames: int, num_frm: int, n_clips: int, frm_stride: int = 1) -> list[list[int]]:
    """`n_clips` clips whose starts are spread uniformly from the first to the last possible start."""
    if num_frames < 1:
        raise ValueError("a video needs at least one frame")
    stride = _fit_stride(num_frames, num_frm, frm_stride)
    last_start = max(0, num_frames - ((num_frm - 1) * stride + 1))
    if n_clips == 1:
        starts = [last_start // 2]
    else:
        starts = np.round(np.linspace(0, last_start, n_clips)).astype(int).tolist()
    return [_clip(s, num_frames, num_frm, stride) for s in starts]
