"""The vis_db writer and reader: layout, reads, errors, map growth, use across processes."""

from __future__ import annotations

import multiprocessing as mp
import pickle

import cv2
import lmdb
import numpy as np
import orjson
import pytest
import simplejpeg

from sparsevl.data.vis_db import (
    SettingsMismatch,
    StoreSettings,
    VideoMeta,
    VideoNotFound,
    VisDB,
    VisDBWriter,
)

SETTINGS = StoreSettings(fps=2.0, num_frames=None, max_size=64, quality=90)


def jpeg_of(rgb, size=(24, 16)) -> bytes:
    img = np.empty((size[1], size[0], 3), np.uint8)
    img[:] = rgb[::-1]
    return cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()


def meta_for(n, size=(24, 16)) -> dict:
    return VideoMeta(
        num_frames=n, timestamps=[i * 0.5 for i in range(n)], fps=2.0, source_fps=25.0,
        duration=n * 0.5, width=size[0], height=size[1], source_width=240, source_height=160,
        source_frames_decoded=n * 12,
    ).to_dict()


@pytest.fixture
def store(tmp_path, synth):
    path = tmp_path / "vis_db"
    with VisDBWriter(path, SETTINGS) as w:
        for vid, n in [("b", 3), ("a", 5), ("000001", 2)]:
            w.put_video(vid, [jpeg_of(synth.frame_rgb(i)) for i in range(n)], meta_for(n))
    return path


def test_layout_is_exactly_as_documented(store):
    env = lmdb.open(str(store), readonly=True, lock=False)
    with env.begin() as txn:
        keys = {k.decode() for k, _ in txn.cursor()}
        settings = orjson.loads(txn.get(b"__settings__"))
        meta = orjson.loads(txn.get(b"meta/a"))
    env.close()
    expected = {"__settings__", "meta/a", "meta/b", "meta/000001"}
    expected |= {f"a/{i:06d}" for i in range(5)} | {f"b/{i:06d}" for i in range(3)}
    expected |= {"000001/000000", "000001/000001"}
    assert keys == expected
    assert settings == {
        "fps": 2.0, "num_frames": None, "max_size": 64, "quality": 90, "image_format": "jpeg",
        "format": "sparsevl-vis_db", "version": 1,
    }
    assert meta["num_frames"] == 5 and len(meta["timestamps"]) == 5


def test_reader(store, synth):
    db = VisDB(store)
    assert db.video_ids() == ["000001", "a", "b"]
    assert len(db) == 3
    assert "a" in db and "c" not in db and "meta" not in db
    m = db.meta("a")
    assert isinstance(m, VideoMeta)
    assert (m.num_frames, m.width, m.height, m.fps, m.source_fps) == (5, 24, 16, 2.0, 25.0)
    assert m.timestamps == [0.0, 0.5, 1.0, 1.5, 2.0]
    frames = db.frames("a", [4, 1, 1])
    assert frames.dtype == np.uint8 and frames.shape == (3, 16, 24, 3)
    assert [synth.identify(f) for f in frames] == [4, 1, 1]  # RGB, in the order asked
    assert db.frames("a", []).shape == (0, 16, 24, 3)
    assert db.jpeg("b", 0)[:2] == b"\xff\xd8"
    assert db.settings() == SETTINGS
    db.close()


def test_reader_errors_name_video_and_store(store, tmp_path):
    db = VisDB(store)
    with pytest.raises(VideoNotFound, match=f"'nope' is not in the vis_db at {store}"):
        db.meta("nope")
    with pytest.raises(KeyError):  # VideoNotFound is a KeyError
        db.frames("nope", [0])
    with pytest.raises(IndexError, match="frame index 3 out of range for video 'b' \\(3 frames"):
        db.frames("b", [0, 3])
    with pytest.raises(FileNotFoundError, match="no vis_db at"):
        VisDB(tmp_path / "missing")


def test_frames_decode_only_the_chosen_indices(store, monkeypatch):
    db = VisDB(store)
    calls = []
    real = simplejpeg.decode_jpeg
    monkeypatch.setattr(simplejpeg, "decode_jpeg", lambda *a, **k: calls.append(1) or real(*a, **k))
    db.frames("a", [3])
    assert len(calls) == 1


def _read_in_child(db):
    return db.frames("a", [0, 2]).shape, db.meta("b").num_frames


def test_pickles_into_worker_processes(store):
    db = VisDB(store)
    db.frames("a", [0])  # the environment is open in this process now
    clone = pickle.loads(pickle.dumps(db))
    assert clone.frames("a", [1]).shape == (1, 16, 24, 3)
    for method in ("fork", "spawn"):  # DataLoader uses fork on Linux, spawn elsewhere
        with mp.get_context(method).Pool(1) as pool:
            assert pool.apply(_read_in_child, (db,)) == ((2, 16, 24, 3), 3)


def _read_inherited(db, queue):
    queue.put(db.frames("a", [0, 2]).shape)


def test_inherited_through_fork_and_shared_within_a_process(store):
    db = VisDB(store)
    db.frames("a", [0])
    ctx = mp.get_context("fork")  # the child inherits the open handle without pickling
    queue = ctx.Queue()
    child = ctx.Process(target=_read_inherited, args=(db, queue))
    child.start()
    assert queue.get(timeout=20) == (2, 16, 24, 3)
    child.join(20)
    assert child.exitcode == 0
    other = VisDB(store)  # a second reader of the same store in this process
    assert other.meta("a").num_frames == 5
    other.close()
    assert db.meta("a").num_frames == 5  # closing one reader leaves the other working
    db.close()


class _FramesDataset:
    def __init__(self, db):
        self.db = db

    def __len__(self):
        return 6

    def __getitem__(self, i):
        return self.db.frames("a", [i % 5])[0]


def test_torch_dataloader_workers(store):
    torch = pytest.importorskip("torch")
    db = VisDB(store)
    db.video_ids()  # opened in the parent before the workers fork, as a training script would
    loader = torch.utils.data.DataLoader(_FramesDataset(db), batch_size=2, num_workers=2)
    batches = list(loader)
    assert [tuple(b.shape) for b in batches] == [(2, 16, 24, 3)] * 3


def test_writer_grows_the_map(tmp_path):
    path = tmp_path / "vis_db"
    rng = np.random.default_rng(0)
    big = [rng.bytes(200_000) for _ in range(5)]  # 1 MB per video, map starts at 256 KB
    with VisDBWriter(path, SETTINGS, map_size=256 * 1024) as w:
        for vid in ["x", "y", "z"]:
            w.put_video(vid, big, meta_for(5))
    db = VisDB(path)
    assert db.video_ids() == ["x", "y", "z"]
    assert db.jpeg("z", 4) == big[4]


def test_settings_mismatch_is_an_error(store):
    VisDBWriter(store, SETTINGS).close()  # same settings: fine
    other = StoreSettings(fps=None, num_frames=8, max_size=64, quality=90)
    with pytest.raises(SettingsMismatch, match="fps: store has 2.0, asked for None"):
        VisDBWriter(store, other)


def test_refuses_foreign_lmdb_and_reserved_ids(tmp_path):
    env = lmdb.open(str(tmp_path / "other"))
    with env.begin(write=True) as txn:
        txn.put(b"some_video", b"mp4 bytes")
    env.close()
    with pytest.raises(SettingsMismatch, match="without vis_db settings"):
        VisDBWriter(tmp_path / "other", SETTINGS)
    with VisDBWriter(tmp_path / "new", SETTINGS) as w:
        with pytest.raises(ValueError, match="reserved"):
            w.put_video("meta", [b"x"], meta_for(1))
        with pytest.raises(ValueError, match="num_frames"):
            w.put_video("v", [b"x"], meta_for(2))
        assert not w.has("v")


def test_writer_commits_in_batches_and_at_close(tmp_path):
    path = tmp_path / "vis_db"
    w = VisDBWriter(path, SETTINGS, commit_videos=3, commit_seconds=3600)
    for vid in ["v1", "v2"]:
        w.put_video(vid, [b"\xff\xd8a", b"\xff\xd8b"], meta_for(2))
    assert w.has("v1")  # pending videos count as present (a resumed plan must not redo them)
    committed = lambda vid: w.env.begin().get(f"meta/{vid}".encode()) is not None  # noqa: E731
    assert not committed("v1")  # nothing committed yet: a killed run would redo both
    w.put_video("v3", [b"\xff\xd8c"], meta_for(1))  # the third video commits the batch
    assert all(committed(v) for v in ["v1", "v2", "v3"])
    w.put_video("v4", [b"\xff\xd8d"], meta_for(1))
    w.close()  # commits what is pending
    with VisDB(path) as reader:
        assert reader.video_ids() == ["v1", "v2", "v3", "v4"] and reader.jpeg("v4", 0) == b"\xff\xd8d"
