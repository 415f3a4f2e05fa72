"""ClipBERT's vis_db (whole video files under their ids) read as a frame source, and open_vis_db."""

from __future__ import annotations

import fractions
import hashlib
import pickle

import av
import lmdb
import numpy as np
import pytest

from sparsevl.data import clipbert_vis_db
from sparsevl.data.clipbert_vis_db import BrokenVideo, ClipBertVisDB
from sparsevl.data.store import open_vis_db
from sparsevl.data.clips import ClipReader, ClipSampling
from sparsevl.data.video_io import sample_video, uniform_indices
from sparsevl.data.vis_db import StoreSettings, VideoNotFound, VisDB, VisDBWriter
from sparsevl.problems import ProblemLog


def write_clipbert_lmdb(path, videos: dict[str, bytes]) -> None:
    """As ClipBERT's src/preprocessing/lmdb_utils.py writes it: key str(id).encode(), value the file."""
    env = lmdb.open(str(path), map_size=1 << 26)
    with env.begin(write=True) as txn:
        for video_id, data in videos.items():
            txn.put(key=str(video_id).encode("utf-8"), value=data)
    env.close()


def write_gif(path, synth, num_frames: int, fps: int = 10):
    """TGIF-QA's videos are GIFs; OpenCV cannot write one, PyAV can."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("gif", rate=fractions.Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = 32, 32, "rgb8"
        for i in range(num_frames):
            img = np.empty((32, 32, 3), np.uint8)
            img[:] = synth.frame_rgb(i)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        out.mux(stream.encode())
    return path


def sequential_decode(path) -> list[np.ndarray]:
    """Every frame, front to back, as RGB: what the store's frames must be exact copies of."""
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


@pytest.fixture
def videos(tmp_path, synth):
    return {
        "video7": synth.write(tmp_path / "video7.mp4", 25, fps=10),  # 2.5 s
        "short": synth.write(tmp_path / "short.mp4", 3, fps=10, size=(48, 32)),
        "tumblr_x": write_gif(tmp_path / "tumblr_x.gif", synth, 12),
    }


@pytest.fixture
def store(tmp_path, videos):
    path = tmp_path / "clipbert_vis_db"
    write_clipbert_lmdb(path, {vid: p.read_bytes() for vid, p in videos.items()})
    return path


def test_open_vis_db_tells_the_stores_apart(store, tmp_path):
    db = open_vis_db(store)
    assert isinstance(db, ClipBertVisDB) and db.path == store
    ours = tmp_path / "ours"
    with VisDBWriter(ours, StoreSettings(fps=1.0, num_frames=None, max_size=64, quality=90)):
        pass
    assert type(open_vis_db(ours)) is VisDB
    with pytest.raises(FileNotFoundError, match="no vis_db at"):
        open_vis_db(tmp_path / "missing")


def test_run_data_opens_either_store(store, tmp_path):
    from sparsevl.tasks.common import RunData  # imports torch: only this test needs it
    from sparsevl.tasks.config import RunConfig

    cfg = RunConfig(txt_db=str(tmp_path), vis_db=str(store), output_dir=str(tmp_path / "run"))
    assert isinstance(RunData(cfg, tmp_path / "run", ProblemLog()).vis_db, ClipBertVisDB)


def test_reader_interface(store, synth):
    db = ClipBertVisDB(store, fps=4)
    assert sorted(db.video_ids()) == ["short", "tumblr_x", "video7"] and len(db) == 3
    assert "video7" in db and "nope" not in db
    meta = db.meta("video7")
    # targets 0, 0.25, ..., 2.25 s show frame floor(10 t), exactly as extract-frames picks them
    expected = [0, 2, 5, 7, 10, 12, 15, 17, 20, 22]
    assert meta.num_frames == 10 and (meta.width, meta.height) == (64, 48)
    assert meta.timestamps == pytest.approx([i / 10 for i in expected])
    assert meta.duration == pytest.approx(2.5) and meta.source_fps == pytest.approx(10)
    frames = db.frames("video7", [9, 0, 3])
    assert frames.dtype == np.uint8 and frames.shape == (3, 48, 64, 3)
    assert [synth.identify(f) for f in frames] == [22, 0, 7]
    assert db.frames("video7", []).shape == (0, 48, 64, 3)
    with pytest.raises(IndexError, match="frame index 10 out of range for video 'video7' \\(10 frames"):
        db.frames("video7", [10])


@pytest.mark.parametrize("mode", [{"fps": 4}, {"fps": 1}, {"num_frames": 5}, {"num_frames": 40}])
def test_frames_equal_a_sequential_decode(store, videos, mode):
    db = ClipBertVisDB(store, **mode)
    for video_id, path in videos.items():
        every = sequential_decode(path)
        meta = db.meta(video_id)
        # the same frame choice as sample_video (extract-frames), on the same timestamps
        assert meta.timestamps == pytest.approx(sample_video(path, max_size=None, **mode).timestamps)
        if "num_frames" in mode:
            chosen = uniform_indices(len(every), mode["num_frames"])
        else:
            chosen = [round(t * 10) for t in meta.timestamps]  # all test videos run at 10 fps
        got = db.frames(video_id, range(meta.num_frames))
        assert len(got) == len(chosen)
        for frame, i in zip(got, chosen):
            np.testing.assert_array_equal(frame, every[i])


def test_real_mp4(shared_data, tmp_path):
    path = shared_data / "videos" / "carphone_distorted.mp4"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    store = tmp_path / "real"
    write_clipbert_lmdb(store, {"carphone": path.read_bytes()})
    db = open_vis_db(store, num_frames=6)
    meta = db.meta("carphone")
    assert (meta.source_width, meta.source_height) == (176, 144)
    assert meta.timestamps == pytest.approx(sample_video(path, num_frames=6).timestamps)
    every = sequential_decode(path)
    for frame, i in zip(db.frames("carphone", range(6)), uniform_indices(len(every), 6)):
        np.testing.assert_array_equal(frame, every[i])


def test_meta_and_frames_decode_once_and_stop_early(store, monkeypatch):
    calls = {"plan": 0, "decode": 0, "decoded_frames": 0}
    real_plan, real_decode = ClipBertVisDB._make_plan, clipbert_vis_db._decode

    def counting_plan(self, data):
        calls["plan"] += 1
        return real_plan(self, data)

    def counting_decode(container, stream):
        calls["decode"] += 1
        for item in real_decode(container, stream):
            calls["decoded_frames"] += 1
            yield item

    monkeypatch.setattr(ClipBertVisDB, "_make_plan", counting_plan)
    monkeypatch.setattr(clipbert_vis_db, "_decode", counting_decode)
    db = ClipBertVisDB(store, num_frames=5)  # frames 2, 7, 12, 17, 22 of 25
    clips = ClipReader(db, ClipSampling(num_frm=2, n_clips=1), img_size=32).read("video7")
    assert clips.shape == (1, 2, 32, 32, 3)
    assert calls["plan"] == 1 and calls["decode"] == 1
    # the middle clip is stored frames 1-2 = source frames 7 and 12: decoding stops at frame 12
    assert calls["decoded_frames"] == 13


def test_unknown_video_is_a_key_error_naming_it(store):
    db = ClipBertVisDB(store)
    for call in (db.meta, lambda v: db.frames(v, [0])):
        with pytest.raises(VideoNotFound, match=f"'nope' is not in the ClipBERT vis_db at {store}"):
            call("nope")
    with pytest.raises(KeyError):
        db.meta("nope")


def test_broken_bytes_are_reported_with_video_and_store(tmp_path, videos):
    good = videos["video7"].read_bytes()
    store = tmp_path / "broken"
    write_clipbert_lmdb(store, {
        "text": b"not a video\n" * 50,
        "cut": good[: len(good) // 2],  # mp4 with its index at the end, cut: cannot be opened
        "empty": b"",
        "ok": good,
    })
    db = ClipBertVisDB(store)
    for video_id, reason in [("text", "cannot open"), ("cut", "cannot open"), ("empty", "empty file")]:
        with pytest.raises(BrokenVideo, match=f"video '{video_id}' in the ClipBERT vis_db at {store} "
                                              f"cannot be used: {reason}"):
            db.meta(video_id)
        with pytest.raises(ValueError):  # as a bad JPEG in our VisDB
            db.frames(video_id, [0])
    assert db.meta("ok").num_frames == 3  # the store stays usable


def snapshot(folder) -> dict:
    return {
        p.name: (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
        for p in sorted(folder.iterdir())
    }


def test_read_only(store):
    (store / "lock.mdb").unlink()  # ClipBERT's writer leaves one; a reader must not need or make it
    before = snapshot(store)
    db = open_vis_db(store)
    db.frames("video7", range(db.meta("video7").num_frames))
    assert "short" in db and db.video_ids()
    copy = pickle.loads(pickle.dumps(db))  # as DataLoader workers get it
    assert copy.meta("tumblr_x").num_frames == db.meta("tumblr_x").num_frames
    db.close()
    assert snapshot(store) == before


def test_sampling_options_are_checked(store):
    with pytest.raises(ValueError, match="not both"):
        ClipBertVisDB(store, fps=1, num_frames=4)
    with pytest.raises(ValueError, match="fps must be > 0"):
        ClipBertVisDB(store, fps=0)
    db = ClipBertVisDB(store, fps=4, max_size=32)
    meta = db.meta("video7")
    assert (meta.width, meta.height) == (32, 24)
    assert db.frames("video7", [0]).shape == (1, 24, 32, 3)
