"""Multi-view averaging, top-5 and mean-class accuracy on scores made by hand."""

from __future__ import annotations

import math

import pytest
import torch

from sparsevl.tasks.classification_metrics import accuracy, top_predictions, view_average


def test_views_are_averaged_as_probabilities_not_logits():
    # view 1 is sure of class 0; view 2 is split between classes 1 and 2 but has larger logits
    logits = torch.tensor([[[8.0, 0.0, 0.0], [0.0, 9.0, 8.9]]])
    probs = view_average(logits)
    p1 = torch.tensor([8.0, 0, 0]).softmax(0)
    p2 = torch.tensor([0.0, 9, 8.9]).softmax(0)
    torch.testing.assert_close(probs[0], (p1 + p2) / 2)
    assert probs.argmax().item() == 0  # softmax averaging: class 0 (0.50 vs 0.26)
    assert logits.mean(1).argmax().item() == 1  # averaging logits would say class 1 (4.5 vs 4.0)
    torch.testing.assert_close(probs.sum(-1), torch.ones(1))


def test_top5_records():
    probs = torch.tensor([[0.01, 0.3, 0.05, 0.2, 0.04, 0.1, 0.3]])
    [record] = top_predictions(["v1"], probs, [3])
    assert record["video_id"] == "v1" and record["label"] == 3
    assert record["top5"][:2] in ([1, 6], [6, 1]) and record["top5"][2:] == [3, 5, 2]
    assert record["scores"] == pytest.approx([0.3, 0.3, 0.2, 0.1, 0.05])
    few = top_predictions(["v"], torch.tensor([[0.7, 0.3]]), [None])  # fewer classes than 5
    assert few == [{"video_id": "v", "top5": [0, 1], "scores": [0.7, 0.3], "label": None}]


def test_top1_top5_and_mean_class():
    truth = {"a": 0, "b": 0, "c": 0, "d": 1, "e": 2, "f": 2}
    predictions = [
        {"video_id": "a", "top5": [0, 1, 2, 3, 4]},  # right
        {"video_id": "b", "top5": [1, 0, 2, 3, 4]},  # top-5 only
        {"video_id": "c", "top5": [1, 2, 3, 4, 5]},  # wrong
        {"video_id": "d", "top5": [1, 0, 2, 3, 4]},  # right
        {"video_id": "e", "top5": [3, 4, 5, 6, 2]},  # top-5 only (fifth)
        # f: no prediction -> wrong
    ]
    result = accuracy(predictions, truth)
    assert result["top1"] == pytest.approx(100 * 2 / 6)
    assert result["top5"] == pytest.approx(100 * 4 / 6)
    # per class top-1: class 0 1/3, class 1 1/1, class 2 0/2
    assert result["mean_class"] == pytest.approx(100 * (1 / 3 + 1 + 0) / 3)
    assert (result["videos"], result["classes"], result["missing"]) == (6, 3, ["f"])
    assert not math.isclose(result["mean_class"], result["top1"])  # unbalanced classes tell them apart
