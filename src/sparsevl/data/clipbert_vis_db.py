"""ClipBERT's vis_db as a read-only frame source (`sparsevl.data.store.open_vis_db` tells it from ours).

ClipBERT's vis_db (jayleicn/ClipBERT, src/preprocessing/file2lmdb.py) is an LMDB whose keys are
video ids (`str(id).encode("utf-8")`, the file stem) and whose values are the whole video files
(mp4, gif, ...), decoded at load time. `ClipBertVisDB` reads such a store through the interface
`sparsevl.data.store.FrameStore`, so a ClipBERT store works in place of an extracted one.

Which frames a video "has" is fixed when the store is opened, with the rules of
`sparsevl extract-frames` (video_io): a rate `fps` (the frame on screen at 0, 1/fps, 2/fps, ...
until the end) or a count `num_frames` (the centre frames of N equal segments). Neither: the
extract-frames default rate. The choice is made from a demux-only pass over the bytes (packet
timestamps, no decoding), so `meta` is cheap; `frames` then decodes the video once, front to back
and never seeking (video_io explains why), keeping only the frames asked for and stopping after the
last one. The plan of the last video is cached, so `meta` + `frames` demux once and decode once.

A video that cannot be used raises `BrokenVideo` (a ValueError, as a bad JPEG in a `VisDB` does),
naming the video, the store and the problem ("truncated: ...", "cannot open: ...").
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
import os
from collections.abc import Iterator, Sequence

import cv2
import numpy as np

from sparsevl.data.video_io import (
    DEFAULT_FPS,
    EPS,
    VideoError,
    _check_not_truncated,
    _decode,
    _nominal_rate,
    _open,
    _video_stream,
    demux_frame_packets,
    scaled_size,
    uniform_indices,
)
from sparsevl.data.vis_db import VideoMeta, VideoNotFound, VisDB
from sparsevl.problems import BadSampleError


class BrokenVideo(BadSampleError, ValueError):
    """A video in a ClipBERT vis_db whose bytes cannot be decoded."""


@dataclasses.dataclass(frozen=True)
class _Plan:
    """Which source frames a video's stored frames are, found without decoding."""

    positions: list[float]  # one per stored frame: its time (s) or, by_ordinal, its frame number
    by_ordinal: bool  # the packets carry no timestamps: frames are matched by decode order
    meta: VideoMeta


class ClipBertVisDB:
    """Read-only. Safe to pickle into DataLoader workers (the LMDB handle is a `VisDB`'s, opened
    lazily per process, read-only and without a lock file, so opening never writes)."""

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        fps: float | None = None,
        num_frames: int | None = None,
        max_size: int | None = None,
    ):
        if fps is not None and num_frames is not None:
            raise ValueError("give fps or num_frames, not both")
        if fps is None and num_frames is None:
            fps = DEFAULT_FPS
        if fps is not None and not fps > 0:
            raise ValueError(f"fps must be > 0, not {fps}")
        if num_frames is not None and num_frames < 1:
            raise ValueError(f"num_frames must be >= 1, not {num_frames}")
        self.fps = float(fps) if fps is not None else None
        self.num_frames = num_frames
        self.max_size = max_size or None  # longer side of the returned frames; None: source size
        self._store = VisDB(path)  # only its LMDB handling is used: our keys are not read
        self.path = self._store.path
        self._cache: tuple[str, _Plan] | None = None

    def __getstate__(self):
        return {**self.__dict__, "_cache": None}

    def _video_bytes(self, video_id: str) -> bytes:
        with self._store._begin() as txn:
            data = txn.get(str(video_id).encode("utf-8"))
        if data is None:
            raise VideoNotFound(f"video {video_id!r} is not in the ClipBERT vis_db at {self.path}")
        return data

    def __contains__(self, video_id) -> bool:
        with self._store._begin() as txn:
            return txn.cursor().set_key(str(video_id).encode("utf-8"))  # no copy of the video

    def video_ids(self) -> list[str]:
        with self._store._begin() as txn:
            return [k.decode("utf-8") for k in txn.cursor().iternext(keys=True, values=False)]

    def __len__(self) -> int:
        with self._store._begin() as txn:
            return txn.stat()["entries"]

    def close(self) -> None:
        self._store.close()
        self._cache = None

    def __enter__(self) -> ClipBertVisDB:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def meta(self, video_id: str) -> VideoMeta:
        return self._plan(video_id).meta

    def frames(self, video_id: str, indices: Sequence[int]) -> np.ndarray:
        """uint8 (K, H, W, 3) RGB, in the order of `indices`; one sequential decode."""
        indices = [int(i) for i in indices]
        plan = self._plan(video_id)
        n = plan.meta.num_frames
        bad = [i for i in indices if not 0 <= i < n]
        if bad:
            raise IndexError(
                f"frame index {bad[0]} out of range for video {video_id!r} "
                f"({n} frames at this sampling) in the ClipBERT vis_db at {self.path}"
            )
        size = (plan.meta.width, plan.meta.height)
        out = np.empty((len(indices), size[1], size[0], 3), np.uint8)
        if not indices:
            return out
        wanted = sorted({plan.positions[i] for i in indices})
        try:
            picked = self._decode_at(self._video_bytes(video_id), wanted, plan.by_ordinal, size)
        except VideoError as e:
            raise self._broken(video_id, str(e)) from None
        for k, i in enumerate(indices):
            out[k] = picked[plan.positions[i]]
        return out

    def _broken(self, video_id: str, reason: str) -> BrokenVideo:
        return BrokenVideo(f"video {video_id!r} in the ClipBERT vis_db at {self.path} cannot be used: {reason}")

    def _plan(self, video_id: str) -> _Plan:
        if self._cache is not None and self._cache[0] == video_id:
            return self._cache[1]
        data = self._video_bytes(video_id)
        try:
            plan = self._make_plan(data)
        except VideoError as e:
            raise self._broken(video_id, str(e)) from None
        self._cache = (video_id, plan)
        return plan

    def _make_plan(self, data: bytes) -> _Plan:
        with _open(data) as container:
            stream = _video_stream(container)
            pts, durations = demux_frame_packets(container, stream)
            if not durations:
                raise VideoError("no frames: the video stream holds no packets")
            rate = _nominal_rate(stream) or 25.0
            if pts is None:  # as video_io's decoder does for frames without a timestamp
                by_ordinal, times = True, [k / rate for k in range(len(durations))]
            else:
                by_ordinal, times = False, [float(p * stream.time_base) for p in pts]
            if durations[-1]:  # the container's own display duration of the last frame
                frame_dur = float(durations[-1] * stream.time_base)
            else:
                frame_dur = times[-1] - times[-2] if len(times) > 1 else 0.0
            t0, end = times[0], times[-1] + frame_dur
            _check_not_truncated(container, stream, end - t0)
            chosen = self._choose(times, t0, end)
            source = (stream.codec_context.width, stream.codec_context.height)
            width, height = scaled_size(*source, self.max_size)
            meta = VideoMeta(
                num_frames=len(chosen),
                timestamps=[round(times[i] - t0, 6) for i in chosen],
                fps=self.fps,
                source_fps=_nominal_rate(stream),
                duration=round(end - t0, 6),
                width=width,
                height=height,
                source_width=source[0],
                source_height=source[1],
            )
        positions = [float(i) if by_ordinal else times[i] for i in chosen]
        return _Plan(positions=positions, by_ordinal=by_ordinal, meta=meta)

    def _choose(self, times: list[float], t0: float, end: float) -> list[int]:
        """Source frame (display order) of each stored frame, by extract-frames' rules."""
        if self.num_frames is not None:
            return uniform_indices(len(times), self.num_frames)
        chosen = []
        for k in itertools.count():  # target k/fps shows the last frame at or before it
            target = t0 + k / self.fps
            if chosen and target >= end - EPS:
                break
            chosen.append(max(0, bisect.bisect_right(times, target + EPS) - 1))
        return chosen

    def _decode_at(
        self, data: bytes, wanted: list[float], by_ordinal: bool, size: tuple[int, int]
    ) -> dict[float, np.ndarray]:
        """The frame at each wanted position (ascending), RGB at `size`; stops after the last one.
        A position no decoded frame has exactly gets the frame on screen then (the previous one)."""
        picked: dict[float, np.ndarray] = {}
        targets: Iterator[float] = iter(wanted)
        target = next(targets)
        prev = None
        with _open(data) as container:
            decoded = _decode(container, _video_stream(container))
            try:
                for ordinal, (frame, t) in enumerate(decoded):
                    at = float(ordinal) if by_ordinal else t
                    while target is not None and target <= at + EPS:
                        shown = prev if target < at - EPS and prev is not None else frame
                        picked[target] = _rgb(shown, size)
                        target = next(targets, None)
                    if target is None:
                        break  # the rest of the video is not needed
                    prev = frame
            finally:
                decoded.close()  # before the container closes, when stopping early
            if prev is None and not picked:
                raise VideoError("no frames: nothing could be decoded")
            while target is not None:  # the decode ended early: the last frame stays on screen
                picked[target] = _rgb(prev, size)
                target = next(targets, None)
        return picked


def _rgb(frame, size: tuple[int, int]) -> np.ndarray:
    # as ClipBERT's own loader reads these stores: without applying a display rotation
    rgb = frame.to_ndarray(format="rgb24")
    if (rgb.shape[1], rgb.shape[0]) != size:
        # INTER_AREA averages the source pixels a target pixel covers, as extract-frames does.
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    return rgb

