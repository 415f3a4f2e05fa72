"""Which frames and which crops an action-recognition model sees, as ST-Adapter samples them.

Temporal (indices into a video's stored frames):
- `dense`: a clip of `num_frm` frames `frm_stride` apart (Kinetics); training draws its start at
  random, testing spreads `temporal_views` clips uniformly over the video (the ClipBERT sampler of
  `sampling.py`: a video too short for the stride gets a smaller one).
- `segment` (TSN, Something-Something): the video is cut into `num_frm` equal segments; training
  takes one random frame of each, testing the middle one (with several temporal views, frames
  spread evenly inside each segment).

Spatial (the same box for every frame of a clip):
- training: `random_resized_crop` (a box of `scale_range` of the area and aspect 3/4 to 4/3,
  resized to `size`) or `short_side_jitter` (short side scaled to a random `scale_range` x `size`,
  then a random `size` square), then a horizontal flip with probability 1/2 if `hflip`;
- testing: the short side scaled to `size`, then `spatial_views` squares: the centre (1), or both
  ends and the centre of the longer side (3).

Training draws everything from (seed, epoch, item): reproducible, and different every epoch.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

import cv2
import numpy as np

from sparsevl.data.sampling import inference_clip_indices, train_clip_indices

Box = tuple[int, int, int, int]  # top, left, height, width


@dataclasses.dataclass(frozen=True)
class ActionSampling:
    num_frm: int
    size: int  # output frames are size x size
    train: bool
    mode: Literal["dense", "segment"] = "dense"
    frm_stride: int = 1  # dense clips: stored frames between a clip's frames
    train_clips: int = 1  # clips per video in training, each with its own crop and flip
    temporal_views: int = 1  # clips per video at test
    spatial_views: int = 1  # crops per clip at test: 1 or 3
    resize: Literal["random_resized_crop", "short_side_jitter"] = "random_resized_crop"
    scale_range: tuple[float, float] = (0.08, 1.0)
    hflip: bool = True
    seed: int = 0


# --- temporal ---------------------------------------------------------------------------------


def _segments(num_frames: int, num_segments: int) -> list[tuple[int, int]]:
    """(first, last) stored frame of each of `num_segments` equal segments of the video."""
    size = (num_frames - 1) / num_segments
    return [(round(size * i), round(size * (i + 1))) for i in range(num_segments)]


def segment_train_indices(num_frames: int, num_segments: int, rng: np.random.Generator) -> list[int]:
    """One random frame of each segment (TSN)."""
    return [int(rng.integers(first, last + 1)) for first, last in _segments(num_frames, num_segments)]


def segment_test_indices(num_frames: int, num_segments: int, views: int = 1) -> list[list[int]]:
    """`views` clips; clip k takes the frame at (2k + 1) / (2 views) of each segment (one view:
    the middle frame)."""
    return [[first + (last - first) * (2 * k + 1) // (2 * views) for first, last in _segments(num_frames, num_segments)]
            for k in range(views)]


def temporal_clips(s: ActionSampling, num_frames: int, rng: np.random.Generator | None) -> list[list[int]]:
    """The clips of a video with `num_frames` stored frames: `train_clips` random ones in
    training (with `rng`), `temporal_views` fixed ones at test."""
    if num_frames < 1:
        raise ValueError("a video needs at least one frame")
    if s.train:
        if s.mode == "segment":
            return [segment_train_indices(num_frames, s.num_frm, rng) for _ in range(s.train_clips)]
        return train_clip_indices(num_frames, s.num_frm, s.train_clips, rng, s.frm_stride)
    if s.mode == "segment":
        return segment_test_indices(num_frames, s.num_frm, s.temporal_views)
    return inference_clip_indices(num_frames, s.num_frm, s.temporal_views, s.frm_stride)


# --- spatial ----------------------------------------------------------------------------------


def random_resized_box(h: int, w: int, scale: tuple[float, float], rng: np.random.Generator,
                       ratio: tuple[float, float] = (3 / 4, 4 / 3)) -> Box:
    """A box of `scale` of the frame's area and log-uniform aspect in `ratio` (up to ten tries,
    then the largest centred box within `ratio`): torchvision's RandomResizedCrop."""
    area = h * w
    for _ in range(10):
        target = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(math.log(ratio[0]), math.log(ratio[1])))
        bw, bh = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
        if 0 < bw <= w and 0 < bh <= h:
            return int(rng.integers(0, h - bh + 1)), int(rng.integers(0, w - bw + 1)), bh, bw
    aspect = w / h
    if aspect < ratio[0]:
        bw, bh = w, round(w / ratio[0])
    elif aspect > ratio[1]:
        bh, bw = h, round(h * ratio[1])
    else:
        bw, bh = w, h
    return (h - bh) // 2, (w - bw) // 2, bh, bw


def short_side_size(h: int, w: int, short: int) -> tuple[int, int]:
    """(height, width) with the shorter side `short` and the aspect kept."""
    if h <= w:
        return short, max(short, math.floor(w * short / h))
    return max(short, math.floor(h * short / w)), short


def resize(frame: np.ndarray, height: int, width: int) -> np.ndarray:
    if frame.shape[:2] == (height, width):
        return frame
    shrink = height * width < frame.shape[0] * frame.shape[1]
    return cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)


def view_offsets(length: int, size: int, views: int) -> list[int]:
    """Where `views` squares of `size` start along a side of `length`: the centre, or both ends and the centre."""
    margin = length - size
    return [margin // 2] if views == 1 else [0, margin // 2, margin]


def train_crop(frames: np.ndarray, s: ActionSampling, rng: np.random.Generator) -> np.ndarray:
    """(T, H, W, 3) -> (T, size, size, 3): one random box for the whole clip, then maybe a flip."""
    h, w = frames.shape[1:3]
    if s.resize == "random_resized_crop":
        top, left, bh, bw = random_resized_box(h, w, s.scale_range, rng)
        out = np.stack([resize(f[top:top + bh, left:left + bw], s.size, s.size) for f in frames])
    else:
        lo, hi = round(s.size * s.scale_range[0]), round(s.size * s.scale_range[1])
        nh, nw = short_side_size(h, w, int(round(rng.uniform(lo, hi))))
        top, left = int(rng.integers(0, nh - s.size + 1)), int(rng.integers(0, nw - s.size + 1))
        out = np.stack([resize(f, nh, nw)[top:top + s.size, left:left + s.size] for f in frames])
    if s.hflip and rng.random() < 0.5:
        out = out[:, :, ::-1]
    return np.ascontiguousarray(out)


def eval_crops(frames: np.ndarray, s: ActionSampling) -> list[np.ndarray]:
    """(T, H, W, 3) -> `spatial_views` arrays (T, size, size, 3), never flipped."""
    h, w = frames.shape[1:3]
    nh, nw = short_side_size(h, w, s.size)
    resized = np.stack([resize(f, nh, nw) for f in frames])
    if nh <= nw:  # views along the longer side
        boxes = [((nh - s.size) // 2, x) for x in view_offsets(nw, s.size, s.spatial_views)]
    else:
        boxes = [(y, (nw - s.size) // 2) for y in view_offsets(nh, s.size, s.spatial_views)]
    return [np.ascontiguousarray(resized[:, y:y + s.size, x:x + s.size]) for y, x in boxes]


class ActionClipReader:
    """A video's views from a frame store: (V, num_frm, size, size, 3) uint8, V = `train_clips`
    in training, `temporal_views` x `spatial_views` at test (temporal-major)."""

    def __init__(self, store, sampling: ActionSampling):
        self.store = store
        self.sampling = sampling

    def rng(self, item: int, epoch: int) -> np.random.Generator | None:
        return np.random.default_rng([self.sampling.seed, epoch, item]) if self.sampling.train else None

    def read(self, video_id: str, item: int = 0, epoch: int = 0) -> tuple[np.ndarray, list[list[int]]]:
        """(views, the stored frames of each temporal clip); each stored frame is decoded once."""
        rng = self.rng(item, epoch)
        clips = temporal_clips(self.sampling, self.store.meta(video_id).num_frames, rng)
        wanted = sorted({i for clip in clips for i in clip})
        decoded = dict(zip(wanted, self.store.frames(video_id, wanted)))
        views = []
        for clip in clips:
            frames = np.stack([decoded[i] for i in clip])
            views += [train_crop(frames, self.sampling, rng)] if self.sampling.train else eval_crops(frames, self.sampling)
        return np.stack(views), clips
