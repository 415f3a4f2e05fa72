"""Sparse clip sampling: where training and inference clips fall in a video."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from sparsevl.data.sampling import inference_clip_indices, train_clip_indices

NUM_FRAMES = (1, 2, 3, 5, 8, 16, 37)
NUM_FRM = (1, 2, 4, 8)
N_CLIPS = (1, 2, 3, 7)
STRIDES = (1, 2, 3)
COMBOS = list(itertools.product(NUM_FRAMES, NUM_FRM, N_CLIPS, STRIDES))


def expected_stride(num_frames: int, num_frm: int, frm_stride: int) -> int:
    """The largest stride <= frm_stride whose clip fits, or 1 when no stride does (by search)."""
    fitting = [s for s in range(1, frm_stride + 1) if (num_frm - 1) * s <= num_frames - 1]
    return max(fitting) if fitting else 1


def last_start(num_frames: int, num_frm: int, frm_stride: int) -> int:
    stride = expected_stride(num_frames, num_frm, frm_stride)
    return max(0, num_frames - ((num_frm - 1) * stride + 1))


def check_clips(clips, num_frames, num_frm, n_clips, frm_stride):
    """Properties every clip list must have, training or inference."""
    assert len(clips) == n_clips
    stride = expected_stride(num_frames, num_frm, frm_stride)
    fits = (num_frm - 1) * stride <= num_frames - 1
    for clip in clips:
        assert len(clip) == num_frm
        assert all(isinstance(i, int) for i in clip)
        assert all(0 <= i < num_frames for i in clip), clip
        assert all(b >= a for a, b in zip(clip, clip[1:])), clip
        if fits:
            assert all(b - a == stride for a, b in zip(clip, clip[1:])), (clip, stride)
            assert 0 <= clip[0] <= last_start(num_frames, num_frm, frm_stride)
        else:  # shorter than a clip: from the first frame, the last frame repeated
            assert clip == [min(k, num_frames - 1) for k in range(num_frm)]


@pytest.mark.parametrize("num_frames,num_frm,n_clips,frm_stride", COMBOS)
def test_inference_clips_are_valid(num_frames, num_frm, n_clips, frm_stride):
    clips = inference_clip_indices(num_frames, num_frm, n_clips, frm_stride)
    check_clips(clips, num_frames, num_frm, n_clips, frm_stride)


@pytest.mark.parametrize("num_frames,num_frm,n_clips,frm_stride", COMBOS)
def test_train_clips_are_valid(num_frames, num_frm, n_clips, frm_stride):
    rng = np.random.default_rng(num_frames * 1000 + num_frm * 100 + n_clips * 10 + frm_stride)
    for _ in range(5):
        clips = train_clip_indices(num_frames, num_frm, n_clips, rng, frm_stride)
        check_clips(clips, num_frames, num_frm, n_clips, frm_stride)


@pytest.mark.parametrize("num_frames,num_frm,n_clips,frm_stride", COMBOS)
def test_inference_starts_uniform_from_first_to_last(num_frames, num_frm, n_clips, frm_stride):
    starts = [c[0] for c in inference_clip_indices(num_frames, num_frm, n_clips, frm_stride)]
    last = last_start(num_frames, num_frm, frm_stride)
    if n_clips == 1:
        assert starts == [last // 2]  # the middle of the video
        return
    assert starts[0] == 0
    assert starts[-1] == last
    assert starts == sorted(starts)
    ideal = np.linspace(0, last, n_clips)
    assert np.all(np.abs(np.array(starts) - ideal) <= 0.5)


@pytest.mark.parametrize(
    "args,expected",
    [
        # 10 frames, clips of 2 consecutive frames: starts 0..8, three clips at 0, 4, 8
        ((10, 2, 3, 1), [[0, 1], [4, 5], [8, 9]]),
        # one clip: in the middle of the possible starts
        ((10, 2, 1, 1), [[4, 5]]),
        # stride 2 fits (span 7 of 16 frames): starts 0..9, four clips 3 apart
        ((16, 4, 4, 2), [[0, 2, 4, 6], [3, 5, 7, 9], [6, 8, 10, 12], [9, 11, 13, 15]]),
        # stride 3 does not fit 4 frames in 8 (needs 10): fitted down to 2
        ((8, 4, 2, 3), [[0, 2, 4, 6], [1, 3, 5, 7]]),
        # a stride that exactly fills the video: one possible start
        ((10, 4, 3, 5), [[0, 3, 6, 9]] * 3),
        # single-frame clips: starts 0, 4.75, 9.5, 14.25, 19 rounded
        ((20, 1, 5, 1), [[0], [5], [10], [14], [19]]),
        # more clips than possible starts (0 and 1): starts repeat
        ((5, 4, 4, 1), [[0, 1, 2, 3], [0, 1, 2, 3], [1, 2, 3, 4], [1, 2, 3, 4]]),
        # a video shorter than a clip repeats its last frame
        ((3, 5, 2, 1), [[0, 1, 2, 2, 2], [0, 1, 2, 2, 2]]),
        # a single-frame video
        ((1, 4, 3, 2), [[0, 0, 0, 0]] * 3),
    ],
)
def test_inference_clips_hand_computed(args, expected):
    assert inference_clip_indices(*args) == expected


def test_train_clips_same_seed_same_clips():
    for seed in range(10):
        a = train_clip_indices(100, 4, 3, np.random.default_rng(seed), frm_stride=2)
        b = train_clip_indices(100, 4, 3, np.random.default_rng(seed), frm_stride=2)
        assert a == b


def test_train_clips_differ_between_seeds_and_draws():
    by_seed = [tuple(map(tuple, train_clip_indices(100, 4, 3, np.random.default_rng(s)))) for s in range(30)]
    assert len(set(by_seed)) >= 25  # 97 possible starts per clip: collisions are rare
    rng = np.random.default_rng(0)
    draws = [tuple(map(tuple, train_clip_indices(100, 4, 3, rng))) for _ in range(30)]
    assert len(set(draws)) >= 25  # successive draws from one generator differ too


def test_train_starts_cover_every_position():
    # 12 frames, 4-frame clips with stride 2 (span 7): possible starts 0..5
    rng = np.random.default_rng(123)
    starts = set()
    for _ in range(200):
        clips = train_clip_indices(12, 4, 3, rng, frm_stride=2)
        starts.update(c[0] for c in clips)
    assert starts == set(range(6))


def test_train_starts_roughly_uniform():
    rng = np.random.default_rng(5)
    counts = np.zeros(5, int)  # 8 frames, 4 consecutive frames: starts 0..4
    for _ in range(1000):
        for clip in train_clip_indices(8, 4, 2, rng):
            counts[clip[0]] += 1
    assert counts.sum() == 2000
    assert counts.min() > 300 and counts.max() < 500  # expected 400 each


def test_train_clip_with_one_possible_start_is_fixed():
    rng = np.random.default_rng(0)
    for _ in range(20):
        assert train_clip_indices(10, 4, 2, rng, frm_stride=5) == [[0, 3, 6, 9], [0, 3, 6, 9]]
        assert train_clip_indices(2, 3, 1, rng) == [[0, 1, 1]]


@pytest.mark.parametrize("num_frames", [0, -3])
def test_empty_video_raises(num_frames):
    with pytest.raises(ValueError, match="at least one frame"):
        inference_clip_indices(num_frames, 4, 2)
    with pytest.raises(ValueError, match="at least one frame"):
        train_clip_indices(num_frames, 4, 2, np.random.default_rng(0))
