"""Fault suite, 1: broken and unusual videos at extraction.

Each bad file is reported with its name and the reason, the run goes on, and the videos stored
before and beside it are all there; unusual but valid files (variable frame rate, a rotated phone
video, a one-frame GIF, a 1 x 2000 strip) are stored correctly.
"""

from __future__ import annotations

import shutil
from fractions import Fraction
import subprocess
from pathlib import Path

import av
import numpy as np
import pytest

from sparsevl.data.extract_frames import extract_frames
from sparsevl.data.vis_db import VisDB

FFMPEG = shutil.which("ffmpeg")
needs_ffmpeg = pytest.mark.skipif(FFMPEG is None, reason="ffmpeg is not installed (apt-get install ffmpeg)")


def ffmpeg(*args) -> None:
    subprocess.run([FFMPEG, "-loglevel", "error", "-y", *map(str, args)], check=True, timeout=120)


def extract(folder: Path, store: Path, **options):
    options = {"fps": 2, "max_size": 64, "workers": 2, "progress": False, **options}
    return extract_frames(folder, store, **options)


def reported(summary) -> dict[str, str]:
    return {Path(p.source).name: p.reason for p in summary.problems.problems}


@pytest.fixture
def good(synth, tmp_path) -> Path:
    """A folder with two good videos already in it."""
    folder = tmp_path / "videos"
    synth.write(folder / "good_a.mp4", 20, fps=10)
    synth.write(folder / "good_b.mp4", 20, fps=10)
    return folder


def test_broken_files_are_reported_by_name_and_reason_and_nothing_stored_is_lost(good, synth, tmp_path):
    store = tmp_path / "db"
    assert extract(good, store).stored == 2
    before = {v: VisDB(store).frames(v, [0, 1]).copy() for v in ("good_a", "good_b")}

    synth.write(tmp_path / "whole.mp4", 40, fps=10)
    data = (tmp_path / "whole.mp4").read_bytes()
    (good / "empty.mp4").write_bytes(b"")
    for fraction in (0.1, 0.5, 0.9):  # cut at several points of a real mp4
        (good / f"cut_{int(fraction * 100)}.mp4").write_bytes(data[: int(len(data) * fraction)])
    (good / "text.mp4").write_text("this is not a video\n" * 100)
    (good / "noise.mkv").write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    summary = extract(good, store)

    problems = reported(summary)
    assert set(problems) == {"empty.mp4", "cut_10.mp4", "cut_50.mp4", "cut_90.mp4", "text.mp4", "noise.mkv"}
    assert all(reason.split(":")[0] in {"empty file", "cannot open", "truncated", "decode error", "no frames", "no video stream"}
               for reason in problems.values()), problems
    assert (summary.stored, summary.skipped_existing) == (0, 2)
    reader = VisDB(store)
    assert reader.video_ids() == ["good_a", "good_b"]
    for video, frames in before.items():
        assert np.array_equal(reader.frames(video, [0, 1]), frames)
    log = (store / "extract_errors.log").read_text()
    assert all(name in log for name in problems)


def write_audio_only(path: Path) -> None:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        samples = np.zeros((1, 16000), np.float32)
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        frame.sample_rate = 16000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def test_audio_only_file_is_reported_as_having_no_video(good, tmp_path):
    write_audio_only(good / "speech.mp4")
    summary = extract(good, tmp_path / "db")
    assert summary.stored == 2
    assert reported(summary)["speech.mp4"].startswith("no video stream")


def test_variable_frame_rate_is_sampled_at_the_real_timestamps(synth, tmp_path):
    # frames at 0.0, 0.1, 0.2, then a 1 s gap, then 1.3, 1.4: a 2 fps sample must see the gap
    path = tmp_path / "videos" / "vfr.mkv"
    path.parent.mkdir()
    times = [0.0, 0.1, 0.2, 1.2, 1.3, 1.4]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        stream.time_base = Fraction(1, 1000)  # timestamps in milliseconds
        for i, t in enumerate(times):
            rgb = np.full((32, 32, 3), synth.frame_rgb(i), np.uint8)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
            frame.pts, frame.time_base = int(t * 1000), Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    summary = extract(path.parent, tmp_path / "db", workers=0)
    assert summary.failed == 0
    reader = VisDB(tmp_path / "db")
    meta = reader.meta("vfr")
    shown = [synth.identify(f) for f in reader.frames("vfr", range(meta.num_frames))]
    # at 0.0, 0.5 and 1.0 s the frames on screen are 0, 2 (shown until 1.2 s) and 2; at 1.5 s: none left
    assert meta.timestamps == [0.0, 0.2, 0.2]
    assert shown == [0, 2, 2]


@needs_ffmpeg
@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_a_rotated_phone_video_is_stored_upright(tmp_path, rotation):
    import cv2

    source = tmp_path / "landscape.mp4"
    writer = cv2.VideoWriter(str(source), cv2.VideoWriter_fourcc(*"mp4v"), 8, (64, 32))
    for _ in range(8):
        frame = np.zeros((32, 64, 3), np.uint8)
        frame[:, :16] = (0, 0, 255)  # a red strip on the left (BGR)
        writer.write(frame)
    writer.release()
    folder = tmp_path / "videos"
    folder.mkdir()
    # the display matrix a phone writes; players and FFmpeg's command line turn the picture by it
    ffmpeg("-i", source, "-c", "copy", "-metadata:s:v:0", f"rotate={rotation}", folder / "phone.mp4")
    ffmpeg("-i", folder / "phone.mp4", "-frames:v", "1", tmp_path / "as_displayed.png")
    displayed = cv2.cvtColor(cv2.imread(str(tmp_path / "as_displayed.png")), cv2.COLOR_BGR2RGB)

    assert extract(folder, tmp_path / "db", max_size=0, workers=0).stored == 1
    reader = VisDB(tmp_path / "db")
    stored = reader.frames("phone", [0])[0]
    assert (reader.meta("phone").width, reader.meta("phone").height) == (displayed.shape[1], displayed.shape[0])
    assert stored.shape == displayed.shape
    assert np.abs(stored.astype(int) - displayed.astype(int)).mean() < 10


def test_one_frame_gif_and_extreme_aspect_ratios(tmp_path):
    import cv2

    folder = tmp_path / "videos"
    folder.mkdir()
    with av.open(str(folder / "still.gif"), "w") as container:
        stream = container.add_stream("gif", rate=10)
        stream.width, stream.height, stream.pix_fmt = 40, 30, "rgb8"
        frame = av.VideoFrame.from_ndarray(np.full((30, 40, 3), 200, np.uint8), format="rgb24")
        for packet in stream.encode(frame.reformat(format="rgb8")):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    for name, size in (("strip_1x2000", (2, 2000)), ("strip_2000x1", (2000, 2))):  # (w, h); even for yuv420p
        writer = cv2.VideoWriter(str(folder / f"{name}.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 5, size)
        for i in range(5):
            writer.write(np.full((size[1], size[0], 3), 40 * i, np.uint8))
        writer.release()
    summary = extract(folder, tmp_path / "db", max_size=256)
    assert (summary.stored, summary.failed) == (3, 0), summary.problems.summary()
    reader = VisDB(tmp_path / "db")
    assert reader.meta("still").num_frames == 1
    tall, wide = reader.meta("strip_1x2000"), reader.meta("strip_2000x1")
    assert (tall.width, tall.height) == (1, 256) and (wide.width, wide.height) == (256, 1)
    assert reader.frames("strip_1x2000", [0]).shape == (1, 256, 1, 3)


def test_a_video_whose_decoding_hangs_is_stopped_by_the_timeout(synth, tmp_path):
    """A decode that does not finish in time is killed and reported; the videos queued behind it
    (one worker) and beside it are stored as usual."""
    folder = tmp_path / "videos"
    synth.write(folder / "a_slow.mp4", 600, fps=25, size=(640, 480))  # 24 s of frames: seconds to decode
    for name in ("b_quick", "c_quick", "d_quick"):
        synth.write(folder / f"{name}.mp4", 10, fps=10)
    summary = extract(folder, tmp_path / "db", workers=1, video_timeout=0.3, fps=25)
    assert summary.stored == 3
    assert reported(summary) == {"a_slow.mp4": "timeout: decoding took longer than 0.3 s (a hanging decoder?)"}
    assert VisDB(tmp_path / "db").video_ids() == ["b_quick", "c_quick", "d_quick"]
