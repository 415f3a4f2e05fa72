"""Shared fixtures: tiny synthetic videos with identifiable frames, and the real test data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# Frame i is one solid colour; its three channels are base-8 digits of (i * 37) mod 512 on a
# grid with steps of 36, so any two frames of a video (up to 512 frames) differ by >= 36 in some
# channel, far above what mp4v + JPEG round trips change on a flat colour (a few levels).
_LEVEL = 36


def frame_rgb(i: int) -> tuple[int, int, int]:
    """The RGB colour of synthetic frame i."""
    code = (i * 37) % 512
    return (code // 64 * _LEVEL + 2, code // 8 % 8 * _LEVEL + 2, code % 8 * _LEVEL + 2)


def identify_frame(rgb: np.ndarray) -> int:
    """Index (mod 512) of the synthetic frame an (H, W, 3) RGB image shows, from its mean colour."""
    digits = [int(round((c - 2) / _LEVEL)) for c in rgb.reshape(-1, 3).mean(axis=0)]
    code = digits[0] * 64 + digits[1] * 8 + digits[2]
    return (code * pow(37, -1, 512)) % 512


def write_video(
    path: str | Path,
    num_frames: int,
    fps: float = 10.0,
    size: tuple[int, int] = (64, 48),
    fourcc: str = "mp4v",
) -> Path:
    """Write a synthetic mp4 (or other) with OpenCV: frame i is solid frame_rgb(i); size=(w, h)."""
    import cv2

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {path} with fourcc {fourcc}")
    w, h = size
    for i in range(num_frames):
        frame = np.empty((h, w, 3), np.uint8)
        frame[:] = frame_rgb(i)[::-1]  # OpenCV writes BGR
        writer.write(frame)
    writer.release()
    return path


class SyntheticVideos:
    """Helpers handed to tests by the `synth` fixture."""

    frame_rgb = staticmethod(frame_rgb)
    identify = staticmethod(identify_frame)
    write = staticmethod(write_video)


@pytest.fixture
def synth() -> SyntheticVideos:
    return SyntheticVideos()


@pytest.fixture
def shared_data() -> Path:
    """The real files in ../shared/data next to the repository; skipped when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real test data not found at {SHARED_DATA} (optional; see its README)")
    return SHARED_DATA


@pytest.fixture
def one_torch_thread():
    """Tiny tensors: one intra-op thread is fastest, and immune to a busy machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
