"""Combining clip scores: mean, max and log-sum-exp over the clip dimension."""

from __future__ import annotations

import math

import pytest
import torch

from sparsevl.models.aggregation import SCORE_AGG_FUNCS, aggregate_clip_scores

# (batch=2, n_clips=3, labels=2)
SCORES = torch.tensor(
    [
        [[0.0, 1.0], [2.0, -1.0], [4.0, 3.0]],
        [[-1.0, 0.0], [-1.0, 6.0], [-1.0, 0.0]],
    ]
)


def test_mean_hand_computed():
    out = aggregate_clip_scores(SCORES, "mean")
    assert torch.allclose(out, torch.tensor([[2.0, 1.0], [-1.0, 2.0]]))


def test_max_hand_computed():
    out = aggregate_clip_scores(SCORES, "max")
    assert torch.equal(out, torch.tensor([[4.0, 3.0], [-1.0, 6.0]]))


def test_lse_hand_computed():
    two = torch.tensor([[[0.0], [math.log(3.0)]]])  # (1, 2, 1)
    assert aggregate_clip_scores(two, "lse").item() == pytest.approx(math.log(4.0))
    out = aggregate_clip_scores(SCORES, "lse")
    expected = torch.tensor(
        [
            [math.log(1 + math.exp(2) + math.exp(4)), math.log(math.exp(1) + math.exp(-1) + math.exp(3))],
            [-1.0 + math.log(3.0), math.log(2 + math.exp(6))],
        ]
    )
    assert torch.allclose(out, expected, atol=1e-6)


def test_lse_is_stable_for_large_scores():
    big = torch.tensor([[[1000.0], [1000.0]]])
    assert aggregate_clip_scores(big, "lse").item() == pytest.approx(1000.0 + math.log(2.0))


@pytest.mark.parametrize("func", SCORE_AGG_FUNCS)
@pytest.mark.parametrize("shape", [(2, 3, 5), (1, 1, 4), (4, 7, 1)])
def test_shapes(func, shape):
    scores = torch.randn(*shape)
    out = aggregate_clip_scores(scores, func)
    assert out.shape == (shape[0], shape[2])


@pytest.mark.parametrize("func", SCORE_AGG_FUNCS)
def test_one_clip_is_the_identity(func):
    scores = torch.randn(3, 1, 4)
    assert torch.allclose(aggregate_clip_scores(scores, func), scores[:, 0])


def test_gradient_reaches_all_clips_for_mean_and_lse_one_for_max():
    for func, nonzero in (("mean", 3), ("lse", 3), ("max", 1)):
        scores = torch.tensor([[[0.0], [1.0], [2.0]]], requires_grad=True)
        aggregate_clip_scores(scores, func).sum().backward()
        assert int((scores.grad != 0).sum()) == nonzero, func


@pytest.mark.parametrize("func", ["sum", "MEAN", "", "logsumexp"])
def test_unknown_func_raises(func):
    with pytest.raises(ValueError, match="score_agg_func"):
        aggregate_clip_scores(SCORES, func)
