"""Text-video retrieval metrics: R@1/5/10, median rank (MdR) and mean rank (MnR), both directions.

Inputs: `scores[t, v]` (higher = better match) of shape (num_texts, num_videos), and
`text_to_video[t]`, the index of text t's ground-truth video. Torch tensors or numpy arrays.

Definitions (ranks are 1-based):
- Tie rule (pessimistic): rank = 1 + number of competitors scoring >= the target. Ties count
  against the target, so a model giving every pair the same score gets the worst rank, not 1.
- Text-to-video: the query is a text; the target is its one video; every other video competes.
- Video-to-text (multi-caption protocol): the query is a video; its targets are all its captions
  and its rank is the best (minimum) over them, i.e. that of its highest-scoring caption. Only
  texts that are not captions of this video compete. Videos without a caption are left out and
  counted as `videos_without_caption`.
- R@K: percent of queries with rank <= K. MdR / MnR: median / mean rank.
- Missing queries (`missing_texts`: captions whose video is not in the store or could not be
  read; `missing_videos`: such videos as video-to-text queries) count as misses: they stay in the
  denominators with a rank below every candidate (num_videos + 1, resp. num_texts + 1), so a failed
  extraction lowers recall instead of hiding from it.
- NaN scores are an error (ValueError).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sparsevl.tables import format_table

RECALL_AT = (1, 5, 10)
COLUMNS = tuple(f"R@{k}" for k in RECALL_AT) + ("MdR", "MnR")


def _to_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):  # torch tensor: may be on GPU, need grad, or be bfloat16
        x = x.detach().cpu()
        x = x.double() if x.is_floating_point() else x  # exact for every float dtype
    return np.asarray(x)


def _check_scores(scores: Any, name: str = "scores") -> np.ndarray:
    s = _to_numpy(scores)
    if s.ndim != 2:
        raise ValueError(f"{name} should be 2-D (num_texts, num_videos), got shape {s.shape}")
    if not (np.issubdtype(s.dtype, np.integer) or np.issubdtype(s.dtype, np.floating)):
        raise ValueError(f"{name} should be integer or float numbers, got dtype {s.dtype}")
    n_nan = int(np.isnan(s).sum()) if np.issubdtype(s.dtype, np.floating) else 0
    if n_nan:
        raise ValueError(f"{name} contains {n_nan} NaN value(s) (of {s.size})")
    return s


def _check_targets(text_to_video: Any, num_texts: int, num_videos: int) -> np.ndarray:
    t2v = _to_numpy(text_to_video)
    t2v = t2v.astype(np.int64) if t2v.size == 0 else t2v  # np.asarray([]) is float
    if t2v.ndim != 1 or len(t2v) != num_texts:
        raise ValueError(
            f"text_to_video should have shape ({num_texts},) (one video per text), got {t2v.shape}"
        )
    if not np.issubdtype(t2v.dtype, np.integer):
        raise ValueError(f"text_to_video should hold integer video indices, got dtype {t2v.dtype}")
    bad = np.flatnonzero((t2v < 0) | (t2v >= num_videos))
    if len(bad):
        n, first = len(bad), t2v[bad[0]]
        raise ValueError(f"{n} text_to_video index(es) outside [0, {num_videos}), e.g. {first}")
    return t2v


def rank_of_targets(scores: np.ndarray, is_target: np.ndarray) -> np.ndarray:
    """Per row: 1 + number of non-target columns scoring >= the row's best target.

    Every row must have at least one target (True in `is_target`, same shape as `scores`).
    """
    best = np.where(is_target, scores, -np.inf).max(axis=1, initial=-np.inf)
    return 1 + ((scores >= best[:, None]) & ~is_target).sum(axis=1)


def _caption_mask(text_to_video: np.ndarray, num_videos: int) -> np.ndarray:
    return text_to_video[:, None] == np.arange(num_videos)[None, :]  # [t, v]: t captions v


def text_to_video_ranks(scores: Any, text_to_video: Any) -> np.ndarray:
    """Rank of each text's ground-truth video among all videos, shape (num_texts,)."""
    s = _check_scores(scores)
    t2v = _check_targets(text_to_video, *s.shape)
    return rank_of_targets(s, _caption_mask(t2v, s.shape[1]))


def video_to_text_ranks(scores: Any, text_to_video: Any) -> tuple[np.ndarray, np.ndarray]:
    """(ranks, video indices) for the videos that have a caption: each video's rank is that of
    its best caption among the texts that are not its captions."""
    s = _check_scores(scores)
    t2v = _check_targets(text_to_video, *s.shape)
    is_caption = _caption_mask(t2v, s.shape[1]).T  # [v, t]
    videos = np.flatnonzero(is_caption.any(axis=1))
    return rank_of_targets(s.T[videos], is_caption[videos]), videos


def _summary(ranks: np.ndarray, max_k: float = np.inf, ranks_known: bool = True) -> dict:
    """R@K (None for K > max_k), and MdR / MnR (None unless every rank is known)."""
    empty = len(ranks) == 0
    out: dict = {f"R@{k}": None if empty or k > max_k else 100 * float(np.mean(ranks <= k)) for k in RECALL_AT}
    exact = ranks_known and not empty
    out["MdR"] = float(np.median(ranks)) if exact else None
    out["MnR"] = float(np.mean(ranks)) if exact else None
    out["queries"] = len(ranks)
    return out


def retrieval_metrics(scores: Any, text_to_video: Any, missing_texts: int = 0, missing_videos: int = 0) -> dict:
    """R@1/5/10 (percent), MdR and MnR for `t2v` and `v2t`, plus counts. Metrics are None when
    a direction has no query."""
    s = _check_scores(scores)
    v2t_ranks, videos = video_to_text_ranks(s, text_to_video)
    t2v_ranks = np.concatenate([text_to_video_ranks(s, text_to_video), np.full(missing_texts, s.shape[1] + 1)])
    v2t_ranks = np.concatenate([v2t_ranks, np.full(missing_videos, s.shape[0] + 1)])
    return {
        "t2v": _summary(t2v_ranks),
        "v2t": _summary(v2t_ranks),
        "num_texts": s.shape[0],
        "num_videos": s.shape[1],
        "videos_without_caption": s.shape[1] - len(videos),
        "missing_texts": missing_texts,
        "missing_videos": missing_videos,
    }


def topk_ranks(
    topk_indices: Any, topk_scores: Any, text_to_video: Any, num_videos: int
) -> tuple[np.ndarray, np.ndarray]:
    """(ranks, found) for text-to-video over each text's scored top-k list: the rank of the
    target inside its list (same tie rule) where `found`; 0 elsewhere (the rank is only > k)."""
    idx, s = _to_numpy(topk_indices), _check_scores(topk_scores, "topk_scores")
    if idx.shape != s.shape or not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(
            f"topk_indices ({idx.shape}, {idx.dtype}) should be integers shaped like topk_scores {s.shape}"
        )
    t2v = _check_targets(text_to_video, s.shape[0], num_videos)
    if ((idx < 0) | (idx >= num_videos)).any():
        raise ValueError(f"topk_indices has video indices outside [0, {num_videos})")
    ordered = np.sort(idx, axis=1)
    if (ordered[:, 1:] == ordered[:, :-1]).any():  # a repeated video would compete with itself
        raise ValueError("topk_indices lists the same video twice for some text")
    is_target = idx == t2v[:, None]
    found = is_target.any(axis=1)
    return np.where(found, rank_of_targets(s, is_target), 0), found


def topk_metrics(
    topk_indices: Any, topk_scores: Any, text_to_video: Any, num_videos: int, missing_texts: int = 0
) -> dict:
    """Text-to-video metrics when only each text's top-k videos were scored (e.g. a dual
    encoder's top-k re-ranked by a cross-encoder). Videos outside the list rank below it.

    R@K is exact for K <= k and None for K > k. MdR and MnR are None as soon as one target is
    not in its list (its rank is unknown); `not_in_topk` counts those texts.
    """
    ranks, found = topk_ranks(topk_indices, topk_scores, text_to_video, num_videos)
    ranks = np.concatenate([ranks, np.zeros(missing_texts, dtype=ranks.dtype)])
    found = np.concatenate([found, np.zeros(missing_texts, dtype=bool)])  # a missing text is a miss
    k = _to_numpy(topk_indices).shape[1]
    # k + 1 stands for "> k": it only makes misses fail R@K (K <= k); MdR / MnR are withheld
    t2v = _summary(np.where(found, ranks, k + 1), max_k=k, ranks_known=bool(found.all()))
    t2v["not_in_topk"] = int((~found).sum())
    return {"t2v": t2v, "k": k, "num_texts": len(ranks) - missing_texts, "num_videos": num_videos,
            "missing_texts": missing_texts}


def format_retrieval_table(metrics: dict) -> str:
    """Plain aligned text, one row per direction present: R@1 R@5 R@10 MdR MnR, one decimal."""
    body = [
        (d,) + tuple("-" if metrics[d][c] is None else f"{metrics[d][c]:.1f}" for c in COLUMNS)
        for d in ("t2v", "v2t")
        if d in metrics
    ]
    return format_table(("Direction",) + COLUMNS, body)
