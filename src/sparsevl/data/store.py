"""Frame stores: where the datasets read a video's frames from.

Three kinds implement `FrameStore`: `VisDB` (frames sampled by `sparsevl extract-frames`),
`ClipBertVisDB` (ClipBERT's LMDB of whole video files, decoded at load time) and `InMemoryStore`
(frames already decoded, e.g. the one video `sparsevl predict` answers). `open_vis_db` opens the
right one of the first two for a path.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from sparsevl.data.clipbert_vis_db import ClipBertVisDB
from sparsevl.data.vis_db import VideoMeta, VideoNotFound, VisDB


class FrameStore(Protocol):
    path: Path  # named in messages about its videos

    def __contains__(self, video_id: object) -> bool:
        """Whether the store has frames of this video."""

    def meta(self, video_id: str) -> VideoMeta:
        """The video's stored frames: how many (`num_frames`), their times, their size."""

    def frames(self, video_id: str, indices: Sequence[int]) -> np.ndarray:
        """uint8 (K, H, W, 3) RGB frames at `indices` (0 .. num_frames - 1), in that order."""


def open_vis_db(
    path: str | os.PathLike,
    *,
    fps: float | None = None,
    num_frames: int | None = None,
    max_size: int | None = None,
) -> VisDB | ClipBertVisDB:
    """Our `VisDB` if the store has our `__settings__` record, else a `ClipBertVisDB` sampled with
    the given options (which a `VisDB` does not need: its frames were sampled at extraction)."""
    ours = VisDB(path)  # raises MissingInputError if there is no LMDB at `path`
    if ours.settings() is not None:
        return ours
    ours.close()
    return ClipBertVisDB(path, fps=fps, num_frames=num_frames, max_size=max_size)


class InMemoryStore:
    """Decoded frames held in memory: {video_id: (N, H, W, 3) uint8 RGB}."""

    def __init__(self, videos: dict[str, np.ndarray], path: str | os.PathLike = "memory"):
        self.videos = videos
        self.path = Path(path)

    def __contains__(self, video_id: object) -> bool:
        return video_id in self.videos

    def _video(self, video_id: str) -> np.ndarray:
        if video_id not in self.videos:
            raise VideoNotFound(f"video {video_id!r} is not in {self.path}")
        return self.videos[video_id]

    def meta(self, video_id: str) -> VideoMeta:
        frames = self._video(video_id)
        return VideoMeta(num_frames=len(frames), timestamps=[], fps=None, source_fps=None, duration=None,
                         width=frames.shape[2], height=frames.shape[1])

    def frames(self, video_id: str, indices: Sequence[int]) -> np.ndarray:
        return self._video(video_id)[list(indices)]
