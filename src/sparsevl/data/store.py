"""Frame stores: where the datasets read a video's frames from.

Four kinds implement `FrameStore`: `VisDB` (frames sampled by `sparsevl extract-frames`),
`ClipBertVisDB` (ClipBERT's LMDB of whole video files, decoded at load time), `ShardedStore`
(several `VisDB`s read as one: the shards of an extraction) and `InMemoryStore` (frames already
decoded, e.g. the one video `sparsevl predict` answers). `open_vis_db` opens the right one of the
first three for a run config's `vis_db`: a store, a list of stores, or a folder of shards.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from sparsevl.data.clipbert_vis_db import ClipBertVisDB
from sparsevl.data.shard_plan import read_shard
from sparsevl.data.sharded_store import MissingShardError, ShardedStore, is_shard_folder, open_shards
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
    path: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    fps: float | None = None,
    num_frames: int | None = None,
    max_size: int | None = None,
) -> VisDB | ClipBertVisDB | ShardedStore:
    """A list of stores, or a folder with the manifest of `sparsevl vis-db index`: one
    `ShardedStore` (checked for videos in two shards, different settings, missing shards; one
    shard of several alone is an error too). One store: our `VisDB` if it has our `__settings__` record, else a `ClipBertVisDB` sampled with the
    given options (which a `VisDB` does not need: its frames were sampled at extraction)."""
    if isinstance(path, (list, tuple)) or is_shard_folder(path):
        return open_shards(path)
    shard = read_shard(path)
    if shard is not None and shard.count > 1:
        raise MissingShardError(f"the vis_db at {path} is shard {shard} alone: give the folder of all {shard.count} "
                                "shards (indexed by `sparsevl vis-db index`) or the list of them")
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
