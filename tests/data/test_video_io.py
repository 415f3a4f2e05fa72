"""Frame choice, timestamps, resizing and damage detection of sparsevl.data.video_io."""

from __future__ import annotations

import fractions
import shutil

import av
import cv2
import numpy as np
import pytest

from sparsevl.data import video_io
from sparsevl.data.video_io import VideoError, sample_video, scaled_size, uniform_indices


def decode_rgb(jpeg: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)[..., ::-1]


def shown(synth, video) -> list[int]:
    return [synth.identify(decode_rgb(j)) for j in video.jpegs]


def test_fps_picks_the_frame_on_screen_at_each_target(synth, tmp_path):
    path = synth.write(tmp_path / "v.mp4", 25, fps=10)  # 2.5 s, frame i at i/10 s
    video = sample_video(path, fps=4)
    # targets 0, 0.25, ..., 2.25 (2.5 is the end); on screen at t: frame floor(10 t)
    assert shown(synth, video) == [0, 2, 5, 7, 10, 12, 15, 17, 20, 22]
    assert video.timestamps == pytest.approx([i / 10 for i in [0, 2, 5, 7, 10, 12, 15, 17, 20, 22]])
    assert video.source_frames_decoded == 25
    assert video.duration == pytest.approx(2.5)
    assert video.source_fps == pytest.approx(10)


def test_fps_exactly_on_frame_times_and_fractional_rates(synth, tmp_path):
    path = synth.write(tmp_path / "v.mp4", 40, fps=10)  # 4 s
    # 0.1 * k is not exact in floats; the epsilon must still land on frame k
    assert shown(synth, sample_video(path, fps=10)) == list(range(40))
    video = sample_video(path, fps=0.3)  # targets 0, 3.33 s
    assert shown(synth, video) == [0, 33]
    assert video.timestamps == pytest.approx([0.0, 3.3])


def test_fps_above_source_rate_repeats_frames_encoded_once(synth, tmp_path):
    path = synth.write(tmp_path / "v.mp4", 5, fps=10)
    video = sample_video(path, fps=20)
    assert shown(synth, video) == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert video.jpegs[0] is video.jpegs[1]  # the same frame is not JPEG-encoded twice
    assert video.timestamps == pytest.approx([0, 0, 0.1, 0.1, 0.2, 0.2, 0.3, 0.3, 0.4, 0.4])


def test_one_frame_video_yields_one_frame(synth, tmp_path):
    path = synth.write(tmp_path / "v.mp4", 1, fps=10)
    assert shown(synth, sample_video(path, fps=0.5)) == [0]
    assert shown(synth, sample_video(path, num_frames=4)) == [0]


@pytest.mark.parametrize(
    "n, expected",
    [(5, [2, 7, 12, 17, 22]), (1, [12]), (25, list(range(25))), (40, list(range(25)))],
)
def test_num_frames_uniform_and_frame_exact(synth, tmp_path, n, expected):
    path = synth.write(tmp_path / "v.mp4", 25, fps=10)
    video = sample_video(path, num_frames=n)
    assert shown(synth, video) == expected
    assert video.timestamps == pytest.approx([i / 10 for i in expected])


def test_num_frames_without_packet_pts_falls_back_to_frame_order(synth, tmp_path, monkeypatch):
    path = synth.write(tmp_path / "v.mp4", 25, fps=10)
    real = video_io.list_frame_pts

    def no_pts(p):
        _, time_base, count = real(p)
        return None, time_base, count

    monkeypatch.setattr(video_io, "list_frame_pts", no_pts)
    video = sample_video(path, num_frames=5)
    assert shown(synth, video) == [2, 7, 12, 17, 22]
    assert video.timestamps == pytest.approx([0.2, 0.7, 1.2, 1.7, 2.2])


@pytest.mark.parametrize("name, fourcc", [("v.avi", "MJPG"), ("v.mkv", "mp4v"), ("v.mov", "mp4v")])
def test_other_containers(synth, tmp_path, name, fourcc):
    path = synth.write(tmp_path / name, 30, fps=15, fourcc=fourcc)
    assert shown(synth, sample_video(path, num_frames=3)) == [5, 15, 25]
    assert shown(synth, sample_video(path, fps=1)) == [0, 15]


def test_gif_and_webm_written_by_pyav(synth, tmp_path):
    for name, codec, pix_fmt in [("v.gif", "gif", "rgb8"), ("v.webm", "libvpx", "yuv420p")]:
        path = tmp_path / name
        with av.open(str(path), "w") as out:
            stream = out.add_stream(codec, rate=fractions.Fraction(10))
            stream.width, stream.height, stream.pix_fmt = 32, 32, pix_fmt
            for i in range(12):
                img = np.empty((32, 32, 3), np.uint8)
                img[:] = synth.frame_rgb(i)
                out.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
            out.mux(stream.encode())
        video = sample_video(path, fps=5)
        assert shown(synth, video) == [0, 2, 4, 6, 8, 10], name
        assert video.timestamps == pytest.approx([0, 0.2, 0.4, 0.6, 0.8, 1.0])


def test_uniform_indices():
    assert uniform_indices(10, 2) == [2, 7]
    assert uniform_indices(3, 8) == [0, 1, 2]
    assert uniform_indices(0, 4) == []
    picks = uniform_indices(1000, 7)
    assert len(set(picks)) == 7 and picks == sorted(picks)


def test_scaled_size():
    assert scaled_size(1280, 720, 256) == (256, 144)
    assert scaled_size(720, 1280, 256) == (144, 256)
    assert scaled_size(100, 50, 256) == (100, 50)  # never upscaled
    assert scaled_size(1000, 3, 100) == (100, 1)  # at least one pixel
    assert scaled_size(640, 480, None) == (640, 480)


@pytest.mark.parametrize("size, max_size, expected", [
    ((160, 90), 64, (64, 36)),
    ((90, 160), 64, (36, 64)),
    ((64, 48), 256, (64, 48)),
])
def test_resize_keeps_aspect_and_colours(synth, tmp_path, size, max_size, expected):
    path = synth.write(tmp_path / "v.mp4", 10, fps=10, size=size)
    video = sample_video(path, num_frames=2, max_size=max_size)
    assert (video.width, video.height) == expected
    assert (video.source_width, video.source_height) == size
    img = decode_rgb(video.jpegs[0])
    assert img.shape == (expected[1], expected[0], 3)
    # RGB order survives the BGR round trip: mean colour is frame 2's colour, channel by channel
    np.testing.assert_allclose(img.reshape(-1, 3).mean(0), synth.frame_rgb(2), atol=8)


# --- damaged input -------------------------------------------------------------------------


def faststart_copy(src, dst):
    """Remux with the index (moov) first, as streaming sites serve mp4: a cut then still opens."""
    with av.open(str(src)) as inp, av.open(str(dst), "w", options={"movflags": "faststart"}) as out:
        in_stream = inp.streams.video[0]
        out_stream = out.add_stream_from_template(in_stream)
        for packet in inp.demux(in_stream):
            if packet.dts is None:
                continue
            packet.stream = out_stream
            out.mux(packet)
    return dst


def packet_offsets(path):
    with av.open(str(path)) as c:
        return [p.pos for p in c.demux(c.streams.video[0]) if p.size]


@pytest.fixture
def bikes(shared_data):
    path = shared_data / "videos" / "bikes.mp4"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return path


@pytest.mark.parametrize("fraction", [0.4, 0.6, 0.95])
def test_truncated_mp4_with_index_at_end_cannot_open(bikes, tmp_path, fraction):
    data = bikes.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(VideoError, match="^cannot open"):
        sample_video(cut, fps=1)


@pytest.mark.parametrize("fraction", [0.05, 0.4, 0.6, 0.99])
@pytest.mark.parametrize("mode", [{"fps": 1}, {"num_frames": 4}])
def test_truncated_faststart_mp4_mid_packet(bikes, tmp_path, fraction, mode):
    data = faststart_copy(bikes, tmp_path / "fs.mp4").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(VideoError, match="^truncated"):
        sample_video(cut, **mode)


def test_truncated_faststart_mp4_on_packet_boundary(bikes, tmp_path):
    # No partial packet, no decoder error: only the duration check can tell.
    fs = faststart_copy(bikes, tmp_path / "fs.mp4")
    offsets = packet_offsets(fs)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(fs.read_bytes()[: offsets[len(offsets) // 2]])
    with pytest.raises(VideoError, match=r"^truncated: frames end at 5\.00s .* declares 10\.00s"):
        sample_video(cut, fps=1)
    assert sample_video(fs, fps=1).duration == pytest.approx(10.0)


@pytest.mark.parametrize("name, fourcc", [("v.mkv", "mp4v"), ("v.avi", "MJPG")])
def test_truncated_synthetic_containers(synth, tmp_path, name, fourcc):
    good = synth.write(tmp_path / name, 60, fps=10, size=(96, 64), fourcc=fourcc)
    sample_video(good, fps=1)
    data = good.read_bytes()
    cut = tmp_path / f"cut{good.suffix}"
    cut.write_bytes(data[: int(len(data) * 0.55)])
    with pytest.raises(VideoError, match="^truncated"):
        sample_video(cut, fps=1)


def test_unreadable_files(tmp_path):
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(VideoError, match="^empty file"):
        sample_video(tmp_path / "empty.mp4", fps=1)
    (tmp_path / "text.mp4").write_text("not a video\n" * 100)
    for name in ["text.mp4", "missing.mp4"]:
        with pytest.raises(VideoError, match="^cannot open"):
            sample_video(tmp_path / name, num_frames=2)
    audio = tmp_path / "audio.mp4"
    with av.open(str(audio), "w") as out:
        stream = out.add_stream("aac", rate=8000)
        silence = np.zeros((1, 1024), np.float32)
        frame = av.AudioFrame.from_ndarray(silence, format="fltp", layout="mono")
        frame.sample_rate = 8000
        out.mux(stream.encode(frame))
        out.mux(stream.encode())
    with pytest.raises(VideoError, match="^no video stream"):
        sample_video(audio, num_frames=2)


def test_real_videos_are_not_flagged(shared_data, tmp_path):
    for path in sorted((shared_data / "videos").glob("*.mp4")):
        copy = shutil.copy(path, tmp_path / path.name)
        video = sample_video(copy, num_frames=3, max_size=32)
        assert len(video.jpegs) == 3, path.name
