"""Decode a video once, sequentially, and keep a sparse set of frames as JPEG bytes.

Why sequential and never seeking: seeking lands on the wrong frame in some containers (MPEG-PS,
AVI) and header frame counts can be wrong, while a front-to-back decode with PyAV sees every frame
with its real presentation timestamp. Only the previously decoded frame is kept in memory, so a
long video costs no more memory than a short one.

Two ways to choose frames:
- a rate `fps`: target times k/fps (k = 0, 1, ...) while the target is before the end of the
  video; the frame stored for target t is the frame on screen at t, i.e. the last frame whose
  timestamp is <= t (plus a tiny epsilon for float rounding).
- a count `num_frames`: a demux-only pass (no decoding) lists the real presentation timestamps of
  all frames; N of them are picked uniformly (the centre of N equal segments) and the decode pass
  keeps exactly those. Videos with fewer than N frames keep them all.

Timestamps are seconds relative to the first decoded frame (the first frame is t=0).

A video is rejected with `VideoError` (reason first, e.g. "truncated: ...") when it cannot be
opened, has no video stream, a packet is cut short (the demuxer's corrupt flag), the decoder
raises, nothing decodes, or the decoded frames end well before the duration the file declares.
"""

from __future__ import annotations

import dataclasses
import io
import itertools
from collections.abc import Iterator
from pathlib import Path

import av
import cv2
import numpy as np

from sparsevl.video_ids import VIDEO_EXTENSIONS

# Sampling when a command is not told otherwise: frames per second, longer side, JPEG quality.
DEFAULT_FPS = 1.0
DEFAULT_MAX_SIZE = 256
DEFAULT_QUALITY = 90

# A frame at exactly a target time must win over float rounding (e.g. 3 * 0.1 != 0.3).
EPS = 1e-6
# "Truncated" when the decoded frames stop this far short of the declared duration. Generous on
# purpose: some containers declare the longest stream (audio) or an estimate, and a false alarm
# throws away a good video.
SHORTFALL_MIN_SECONDS = 1.0
SHORTFALL_FRACTION = 0.05
_CUT_SHORT = "truncated: a packet is cut short or corrupt"


class VideoError(Exception):
    """A video that cannot be used; the message starts with the kind of problem."""


@dataclasses.dataclass
class SampledVideo:
    jpegs: list[bytes]
    timestamps: list[float]  # seconds from the first frame, one per stored frame
    width: int  # stored frame size
    height: int
    source_width: int
    source_height: int
    source_fps: float | None  # the stream's declared average rate
    duration: float  # decoded: last frame's timestamp + its display duration
    source_frames_decoded: int

    def meta(self, fps: float | None) -> dict:
        """The record stored under meta/{video_id} (see docs/data.md)."""
        return {
            "num_frames": len(self.jpegs),
            "timestamps": self.timestamps,
            "fps": fps,
            "source_fps": self.source_fps,
            "duration": self.duration,
            "width": self.width,
            "height": self.height,
            "source_width": self.source_width,
            "source_height": self.source_height,
            "source_frames_decoded": self.source_frames_decoded,
        }


def find_videos(video_dir: str | Path) -> list[Path]:
    """Video files directly inside `video_dir` (not in subfolders), sorted by name."""
    video_dir = Path(video_dir)
    return sorted(
        p for p in video_dir.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS
    )


def scaled_size(width: int, height: int, max_size: int | None) -> tuple[int, int]:
    """(width, height) with the longer side at most `max_size`, aspect kept, never upscaled."""
    if not max_size or max(width, height) <= max_size:
        return width, height
    scale = max_size / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def encode_jpeg(bgr: np.ndarray, size: tuple[int, int], quality: int) -> bytes:
    if (bgr.shape[1], bgr.shape[0]) != size:
        # INTER_AREA averages the source pixels a target pixel covers: no aliasing on downscale.
        bgr = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise VideoError("encode error: OpenCV could not JPEG-encode a frame")
    return buf.tobytes()


def sample_video(
    path: str | Path,
    *,
    fps: float | None = None,
    num_frames: int | None = None,
    max_size: int | None = 256,
    quality: int = 90,
    threads: int = 0,
) -> SampledVideo:
    """Frames of one video as JPEG bytes (BGR->JPEG, so any JPEG reader sees the right colours).

    Exactly one of `fps` and `num_frames`. `threads` is the decoder's thread count (0 = FFmpeg's
    choice); pass 1 when several videos are decoded in parallel processes.
    """
    if (fps is None) == (num_frames is None):
        raise ValueError("give exactly one of fps and num_frames")
    if fps is not None and not fps > 0:
        raise ValueError(f"fps must be > 0, not {fps}")
    if num_frames is not None and num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, not {num_frames}")

    wanted_times: list[float] | None = None  # absolute seconds, num_frames mode with pts
    wanted_ordinals: set[int] | None = None  # num_frames mode when packets lack pts
    if num_frames is not None:
        frame_pts, time_base, packet_count = list_frame_pts(path)
        if packet_count == 0:
            raise VideoError("no frames: the video stream holds no packets")
        n_all = len(frame_pts) if frame_pts is not None else packet_count
        picks = uniform_indices(n_all, num_frames)
        if frame_pts is not None:
            wanted_times = [float(frame_pts[i] * time_base) for i in picks]
        else:
            wanted_ordinals = set(picks)

    with _open(path) as container:
        stream = _video_stream(container)
        stream.thread_type = "AUTO"
        stream.thread_count = threads
        out = _Collector(max_size, quality)
        targets: Iterator[float] = iter(())  # absolute seconds, ascending; set at the first frame
        target = None
        t0 = None
        prev = None  # (frame, absolute seconds) of the frame on screen before the current one
        frame_dur = 0.0
        count = 0
        for frame, t in _decode(container, stream):
            if t0 is None:
                t0 = t
                out.source_size = display_size(frame)
                if fps is not None:  # computed from k, so float errors do not accumulate
                    targets = (t0 + k / fps for k in itertools.count())
                elif wanted_times is not None:
                    targets = iter(wanted_times)
                target = next(targets, None)
            if wanted_ordinals is not None:
                if count in wanted_ordinals:
                    out.add(frame, t - t0)
            else:
                # Targets strictly before this frame show the previous frame (or this one when
                # a target precedes the first frame, which only happens with odd timestamps).
                while target is not None and target < t - EPS:
                    shown, shown_t = prev if prev is not None else (frame, t)
                    out.add(shown, shown_t - t0)
                    target = next(targets, None)
            if prev is not None and t > prev[1]:
                frame_dur = t - prev[1]
            if frame.duration:  # the container's own display duration, when it has one
                frame_dur = float(frame.duration * stream.time_base)
            prev = (frame, t)
            count += 1

        if prev is None:
            raise VideoError("no frames: nothing could be decoded")
        last, last_t = prev
        end = last_t + frame_dur
        # Remaining targets up to the end of the video show the last frame; a video always
        # yields at least one frame, even a one-frame GIF whose duration is 0.
        while target is not None and (fps is None or target < end - EPS or not out.jpegs):
            out.add(last, last_t - t0)
            target = next(targets, None)

        _check_not_truncated(container, stream, end - t0)
        width, height = out.size or scaled_size(*out.source_size, max_size)
        return SampledVideo(
            jpegs=out.jpegs,
            timestamps=out.timestamps,
            width=width,
            height=height,
            source_width=out.source_size[0],
            source_height=out.source_size[1],
            source_fps=_nominal_rate(stream),
            duration=round(end - t0, 6),
            source_frames_decoded=count,
        )


def uniform_indices(total: int, n: int) -> list[int]:
    """n indices spread over range(total): the centre of n equal segments; all if total <= n."""
    if total <= n:
        return list(range(total))
    return [int((j + 0.5) * total / n) for j in range(n)]


def list_frame_pts(source: str | Path | bytes) -> tuple[list[int] | None, object, int]:
    """Demux only (cheap, no decoding): (sorted frame pts or None if any lacks one, time_base,
    number of frame packets). `source`: a file path, or a whole video file's bytes."""
    with _open(source) as container:
        stream = _video_stream(container)
        pts, durations = demux_frame_packets(container, stream)
        return pts, stream.time_base, len(durations)


def demux_frame_packets(container, stream) -> tuple[list[int] | None, list[int]]:
    """Demux only: (sorted frame pts, or None if any packet lacks one; each frame packet's duration
    in the stream's time base, in decode order, 0 when unknown). Packets arrive in decode order;
    sorting the pts gives display order."""
    packets: list[tuple[int | None, int]] = []
    try:
        for packet in container.demux(stream):
            if packet.size == 0 or packet.is_discard:  # flush packet / hidden by an edit list
                continue
            if packet.is_corrupt:
                raise VideoError(_CUT_SHORT + _at(packet, stream))
            packets.append((packet.pts, packet.duration or 0))
    except av.FFmpegError as e:
        raise VideoError(f"demux error: {_msg(e)}") from None
    durations = [d for _, d in packets]
    if any(p is None for p, _ in packets):
        return None, durations
    return sorted(p for p, _ in packets), durations


class _Collector:
    """Encodes chosen frames; a frame chosen for several targets is encoded once."""

    def __init__(self, max_size: int | None, quality: int):
        self.max_size = max_size
        self.quality = quality
        self.jpegs: list[bytes] = []
        self.timestamps: list[float] = []
        self.source_size: tuple[int, int] = (0, 0)
        self.size: tuple[int, int] | None = None
        self._last_frame = None
        self._last_jpeg = b""

    def add(self, frame, t: float) -> None:
        if frame is not self._last_frame:
            if self.size is None:
                # Every frame gets the size computed from the first, so a video's frames stack
                # into one array even if the stream changes resolution midway.
                self.size = scaled_size(*self.source_size, self.max_size)
            bgr = upright(frame, "bgr24")
            self._last_jpeg = encode_jpeg(bgr, self.size, self.quality)
            self._last_frame = frame
        self.jpegs.append(self._last_jpeg)
        self.timestamps.append(round(t, 6))


def _quarter_turns(frame) -> int:
    """Counter-clockwise quarter turns that show the frame upright: phone videos store the
    camera's orientation as a display matrix, which players (and FFmpeg's CLI) apply."""
    return (frame.rotation // 90) % 4


def display_size(frame) -> tuple[int, int]:
    """(width, height) of the frame as displayed."""
    return (frame.height, frame.width) if _quarter_turns(frame) % 2 else (frame.width, frame.height)


def upright(frame, format: str) -> np.ndarray:
    """The decoded frame as an array in `format` ("bgr24", "rgb24"), turned as it is displayed."""
    array = frame.to_ndarray(format=format)
    turns = _quarter_turns(frame)
    return np.ascontiguousarray(np.rot90(array, turns)) if turns else array


def _decode(container, stream) -> Iterator[tuple[object, float]]:
    """(frame, absolute seconds) in display order; raises VideoError on damaged input."""
    rate = _nominal_rate(stream) or 25.0
    last_t = None
    try:
        for packet in container.demux(stream):
            if packet.is_corrupt:  # the demuxer read less than the packet's size: file cut off
                raise VideoError(_CUT_SHORT + _at(packet, stream))
            for frame in packet.decode():
                if frame.pts is not None:
                    t = float(frame.pts * stream.time_base)
                else:  # no timestamp: assume the nominal rate
                    t = 0.0 if last_t is None else last_t + 1.0 / rate
                last_t = t
                yield frame, t
    except av.FFmpegError as e:
        where = f" after t={last_t:.3f}s" if last_t is not None else " before the first frame"
        raise VideoError(f"decode error{where}: {_msg(e)}") from None


def _check_not_truncated(container, stream, decoded: float) -> None:
    declared = None
    if stream.duration:  # the stream's own duration (per-stream index, e.g. mp4, avi)
        declared = float(stream.duration * stream.time_base)
    elif container.duration:  # e.g. mkv/webm: the segment duration, in microseconds
        declared = container.duration / 1_000_000
    if declared and declared - decoded > max(SHORTFALL_MIN_SECONDS, SHORTFALL_FRACTION * declared):
        raise VideoError(
            f"truncated: frames end at {decoded:.2f}s but the file declares {declared:.2f}s"
        )


def _nominal_rate(stream) -> float | None:
    rate = stream.average_rate or stream.guessed_rate
    return float(rate) if rate else None


class _open:
    """av.open as a context manager that turns open failures into VideoError. `source`: a file
    path, or a whole video file's bytes (ClipBERT's stores keep videos that way)."""

    def __init__(self, source):
        self.source = source

    def __enter__(self):
        in_memory = isinstance(self.source, (bytes, bytearray))
        try:
            size = len(self.source) if in_memory else Path(self.source).stat().st_size
        except OSError as e:
            raise VideoError(f"cannot open: {e.strerror or e}") from None
        if size == 0:
            raise VideoError("empty file: 0 bytes")
        try:
            self.container = av.open(io.BytesIO(self.source) if in_memory else str(self.source),
                                     metadata_errors="ignore")
        except av.FFmpegError as e:
            raise VideoError(f"cannot open: {_msg(e)} (not a video, or truncated)") from None
        return self.container

    def __exit__(self, *exc):
        self.container.close()


def _video_stream(container):
    if not container.streams.video:
        raise VideoError("no video stream")
    return container.streams.video[0]


def _at(packet, stream) -> str:
    if packet.pts is None:
        return ""
    return f" at t={float(packet.pts * stream.time_base):.3f}s"


def _msg(e: Exception) -> str:
    # PyAV messages end with the file name or the C call ("avcodec_send_packet()"); keep the
    # human part, the caller already names the file.
    return getattr(e, "strerror", None) or str(e)


__all__ = [
    "SampledVideo",
    "VideoError",
    "encode_jpeg",
    "find_videos",
    "list_frame_pts",
    "sample_video",
    "scaled_size",
    "uniform_indices",
]
