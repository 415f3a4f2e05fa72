"""Frames and crops for action recognition: TSN segments, dense clips, training crops and flips,
and the test's spatial views."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sparsevl.data.action_sampling import (
    ActionClipReader,
    ActionSampling,
    random_resized_box,
    segment_test_indices,
    segment_train_indices,
    short_side_size,
    temporal_clips,
    eval_crops,
    train_crop,
)
from sparsevl.data.store import InMemoryStore


def test_segment_sampling_takes_one_frame_per_segment():
    # 33 frames in 8 segments of 4: [0, 4], [4, 8], ... (ends rounded, shared between neighbours)
    rng = np.random.default_rng(0)
    draws = np.array([segment_train_indices(33, 8, rng) for _ in range(400)])
    for i in range(8):
        assert draws[:, i].min() == 4 * i and draws[:, i].max() == 4 * i + 4  # the whole segment, ends included
    assert segment_test_indices(33, 8) == [[2, 6, 10, 14, 18, 22, 26, 30]]  # the middles
    assert segment_test_indices(33, 8, views=2) == [[1, 5, 9, 13, 17, 21, 25, 29], [3, 7, 11, 15, 19, 23, 27, 31]]
    assert segment_test_indices(3, 4) == [[0, 0, 1, 2]]  # a short video repeats frames
    assert segment_test_indices(1, 4) == [[0, 0, 0, 0]]


def test_dense_clips_are_strided_and_test_views_spread():
    s = ActionSampling(num_frm=4, size=8, train=True, frm_stride=3, train_clips=2)
    clips = temporal_clips(s, 100, np.random.default_rng(1))
    assert len(clips) == 2 and all(np.diff(c).tolist() == [3, 3, 3] for c in clips)
    test = dataclasses.replace(s, train=False, temporal_views=3)
    assert temporal_clips(test, 100, None) == [[0, 3, 6, 9], [45, 48, 51, 54], [90, 93, 96, 99]]
    one = dataclasses.replace(test, temporal_views=1)
    assert temporal_clips(one, 100, None) == [[45, 48, 51, 54]]


def test_random_resized_box_stays_in_the_frame_with_the_area_asked():
    rng = np.random.default_rng(2)
    for _ in range(300):
        top, left, h, w = random_resized_box(60, 80, (0.2, 0.5), rng)
        assert 0 <= top and top + h <= 60 and 0 <= left and left + w <= 80
        assert 0.2 * 4800 * 0.9 <= h * w <= 0.5 * 4800 * 1.1  # rounding of the sides
        assert 3 / 4 * 0.9 <= w / h <= 4 / 3 * 1.1


def test_short_side_size():
    assert short_side_size(240, 320, 224) == (224, 298)
    assert short_side_size(320, 240, 224) == (298, 224)
    assert short_side_size(50, 50, 64) == (64, 64)


def halves(t: int = 2, h: int = 40, w: int = 60) -> np.ndarray:
    """Frames whose left half is red and right half blue, and whose columns count up in green."""
    frames = np.zeros((t, h, w, 3), np.uint8)
    frames[:, :, : w // 2, 0] = 255
    frames[:, :, w // 2:, 2] = 255
    frames[:, :, :, 1] = np.arange(w, dtype=np.uint8)[None, None, :]
    return frames


def is_flipped(crop: np.ndarray) -> bool:
    """Green counts up left to right in the source; a flipped crop counts down."""
    green = crop[0, crop.shape[1] // 2, :, 1].astype(int)
    return green[0] > green[-1]


@pytest.mark.parametrize("resize,scale", [("random_resized_crop", (0.3, 1.0)), ("short_side_jitter", (1.0, 1.3))])
def test_training_flips_half_the_time_and_never_without_hflip(resize, scale):
    s = ActionSampling(num_frm=2, size=32, train=True, resize=resize, scale_range=scale)
    flips = [is_flipped(train_crop(halves(), s, np.random.default_rng(i))) for i in range(200)]
    assert 70 < sum(flips) < 130
    no_flip = dataclasses.replace(s, hflip=False)  # Something-Something: "left" must stay left
    crops = [train_crop(halves(), no_flip, np.random.default_rng(i)) for i in range(200)]
    assert not any(is_flipped(c) for c in crops)
    assert all(c.shape == (2, 32, 32, 3) for c in crops)
    assert all(np.array_equal(c[0], c[1]) for c in crops)  # one box for the whole clip


def test_the_three_spatial_views_are_left_centre_right():
    s = ActionSampling(num_frm=2, size=20, train=False, spatial_views=3)
    crops = eval_crops(halves(h=40, w=60), s)  # short side 40 -> 20: the frame becomes 20 x 30
    assert [c.shape for c in crops] == [(2, 20, 20, 3)] * 3
    greens = [int(c[0, 10, 0, 1]) for c in crops]  # the source column at each crop's left edge
    assert greens[0] < greens[1] < greens[2]
    assert greens[0] <= 1 and greens[2] >= 18  # the ends of the 60 source columns (scaled by 2)
    assert crops[0][0, 10, 0, 0] > 200 and crops[2][0, 10, -1, 2] > 200  # red at the left, blue at the right
    assert not any(is_flipped(c) for c in crops)
    centre = eval_crops(halves(h=40, w=60), dataclasses.replace(s, spatial_views=1))
    assert len(centre) == 1 and np.array_equal(centre[0], crops[1])


def test_reader_gives_views_and_the_frames_it_used():
    video = np.stack([np.full((24, 32, 3), i * 10, np.uint8) for i in range(16)])
    store = InMemoryStore({"v": video})
    test = ActionSampling(num_frm=4, size=16, train=False, mode="segment", temporal_views=2, spatial_views=3)
    views, clips = ActionClipReader(store, test).read("v")
    assert views.shape == (6, 4, 16, 16, 3)  # 2 temporal x 3 spatial, temporal-major
    assert clips == segment_test_indices(16, 4, 2)
    assert [int(views[v, 0, 0, 0, 0]) // 10 for v in range(6)] == [clips[0][0]] * 3 + [clips[1][0]] * 3
    train = dataclasses.replace(test, train=True, train_clips=1, seed=3)
    reader = ActionClipReader(store, train)
    a, b = reader.read("v", item=5, epoch=0), reader.read("v", item=5, epoch=0)
    assert np.array_equal(a[0], b[0]) and a[1] == b[1]  # reproducible from (seed, epoch, item)
    assert any(reader.read("v", item=5, epoch=e)[1] != a[1] for e in range(1, 6))  # and new each epoch
