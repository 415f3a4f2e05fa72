"""Combining the scores of a video's clips into one (ClipBERT's `score_agg_func`)."""

from __future__ import annotations

import torch

SCORE_AGG_FUNCS = ("mean", "max", "lse")


def aggregate_clip_scores(scores: torch.Tensor, func: str) -> torch.Tensor:
    """(batch, n_clips, ...) -> (batch, ...).

    mean: average of clip logits; max: element-wise maximum; lse: log-sum-exp, a smooth maximum
    that still sends gradient to every clip.
    """
    if func == "mean":
        return scores.mean(dim=1)
    if func == "max":
        return scores.max(dim=1).values
    if func == "lse":
        return torch.logsumexp(scores, dim=1)
    raise ValueError(f"score_agg_func must be one of {SCORE_AGG_FUNCS}, not {func!r}")
