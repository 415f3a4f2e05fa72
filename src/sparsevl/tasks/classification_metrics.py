"""Video classification scores: multi-view averaging, top-k predictions, top-1 / top-5 / mean-class
accuracy. The task and `scripts/eval_res.py` compute them with the same functions.

A predictions file (`results/{split}_step{N}_predictions.json`) is a JSON list, one record per
video: {"video_id", "top5": [class, ...], "scores": [probability, ...], "label": the true class or
null}, best first.
"""

from __future__ import annotations

import os
from collections import Counter

import torch

from sparsevl.problems import BadInputError
from sparsevl.tables import format_table
from sparsevl.txt_db import read_json, read_jsonl

TOP_K = 5


def view_average(logits: torch.Tensor) -> torch.Tensor:
    """(videos, views, classes) logits -> (videos, classes): the views' softmax probabilities
    averaged (the multi-view testing of the published numbers)."""
    return logits.float().softmax(-1).mean(1)


def top_predictions(video_ids: list[str], probs: torch.Tensor, labels: list[int | None], k: int = TOP_K) -> list[dict]:
    """One predictions-file record per video: its `k` best classes and their probabilities."""
    top = probs.topk(min(k, probs.shape[-1]), dim=-1)
    return [{"video_id": v, "top5": i, "scores": [round(s, 6) for s in p], "label": lab}
            for v, i, p, lab in zip(video_ids, top.indices.tolist(), top.values.tolist(), labels)]


def accuracy(predictions: list[dict], truth: dict[str, int]) -> dict:
    """Top-1, top-5 and mean-class (the mean of the classes' top-1 accuracies) in percent, over the
    videos of `truth` (video_id -> class); a video without a prediction counts as wrong."""
    by_video = {p["video_id"]: p["top5"] for p in predictions}
    hits1, hits5 = Counter(), 0
    per_class = Counter(truth.values())
    for video_id, label in truth.items():
        top = by_video.get(video_id, [])
        hits1[label] += bool(top) and top[0] == label
        hits5 += label in top[:TOP_K]
    total = len(truth)
    return {
        "top1": 100.0 * sum(hits1.values()) / total if total else 0.0,
        "top5": 100.0 * hits5 / total if total else 0.0,
        "mean_class": 100.0 * sum(hits1[c] / n for c, n in per_class.items()) / len(per_class) if per_class else 0.0,
        "videos": total,
        "classes": len(per_class),
        "missing": sorted(set(truth) - set(by_video)),
    }


def format_accuracy(result: dict) -> str:
    return format_table(
        ("Top-1", "Top-5", "Mean class", "Videos", "Classes"),
        [(f"{result['top1']:.2f}", f"{result['top5']:.2f}", f"{result['mean_class']:.2f}",
          str(result["videos"]), str(result["classes"]))],
    )


def is_classification_predictions(data: object) -> bool:
    return isinstance(data, list) and bool(data) and isinstance(data[0], dict) and "top5" in data[0]


def check_predictions(data: object, path: str | os.PathLike) -> list[dict]:
    if not isinstance(data, list):
        raise BadInputError(f"{path}: expected a list of prediction records, got {type(data).__name__}")
    for i, p in enumerate(data):
        if not (isinstance(p, dict) and isinstance(p.get("video_id"), str) and isinstance(p.get("top5"), list)):
            raise BadInputError(f"{path}: record {i} is not {{video_id, top5: [class, ...], ...}}")
    return data


def load_truth(path: str | os.PathLike) -> dict[str, int]:
    """video_id -> class of a txt_db split (`{video_id, label}` records; unlabelled ones skipped)."""
    truth = {}
    for i, r in enumerate(read_jsonl(path)):
        if "label" not in r:
            continue
        if not isinstance(r.get("video_id"), str) or not isinstance(r["label"], int):
            raise BadInputError(f"{path}:{i + 1}: expected {{video_id: str, label: int}}")
        truth[r["video_id"]] = r["label"]
    return truth


def evaluate_files(predictions_path: str | os.PathLike, truth_path: str | os.PathLike) -> dict:
    """`accuracy` of a predictions file against a txt_db split; a prediction for a video the split
    does not have is an error."""
    predictions = check_predictions(read_json(predictions_path), predictions_path)
    truth = load_truth(truth_path)
    unknown = [p["video_id"] for p in predictions if p["video_id"] not in truth]
    if unknown:
        shown = ", ".join(repr(v) for v in unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        raise BadInputError(f"{len(unknown)} prediction(s) for videos not in the ground truth: {shown}")
    return accuracy(predictions, truth)
