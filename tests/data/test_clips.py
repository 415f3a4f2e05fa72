"""ClipReader: clips from a vis_db's JPEGs or from any frame store, the same either way."""

from __future__ import annotations

import numpy as np
import pytest

from sparsevl.data.clips import ClipReader, ClipSampling
from sparsevl.data.store import InMemoryStore
from sparsevl.data.vis_db import StoreSettings, VideoMeta, VisDB, VisDBWriter
from tests.data.test_frame_fit import jpeg, photo

SETTINGS = StoreSettings(fps=2.0, num_frames=None, max_size=64, quality=95)


def frames_of(n: int, h: int = 36, w: int = 64) -> list[np.ndarray]:
    return [np.roll(photo(h, w), 5 * i, axis=1) for i in range(n)]


@pytest.fixture
def stores(tmp_path):
    """The same videos in a vis_db (JPEG bytes) and in memory (the vis_db's decoded frames)."""
    path = tmp_path / "vis_db"
    with VisDBWriter(path, SETTINGS) as w:
        for vid, n, (h, w_) in [("wide", 6, (36, 64)), ("tall", 3, (64, 36)), ("small", 4, (20, 30))]:
            meta = VideoMeta(num_frames=n, timestamps=[i / 2 for i in range(n)], fps=2.0, source_fps=None,
                             duration=n / 2, width=w_, height=h)
            w.put_video(vid, [jpeg(f) for f in frames_of(n, h, w_)], meta.to_dict())
    db = VisDB(path)
    memory = InMemoryStore({v: db.frames(v, range(db.meta(v).num_frames)) for v in ("wide", "tall", "small")})
    return db, memory


@pytest.mark.parametrize("random", [False, True])
def test_jpeg_path_equals_decoded_frames_path(stores, random):
    db, memory = stores
    sampling = ClipSampling(num_frm=3, n_clips=3, frm_stride=1, random=random, seed=1)
    for vid in ("wide", "tall", "small"):
        a = ClipReader(db, sampling, 64).read(vid, item=2, epoch=1)
        b = ClipReader(memory, sampling, 64).read(vid, item=2, epoch=1)
        assert a.shape == (3, 3, 64, 64, 3) and a.dtype == np.uint8
        assert np.array_equal(a, b)


def test_each_slot_holds_its_stored_frame_and_repeats_are_copies(stores):
    db, _ = stores
    reader = ClipReader(db, ClipSampling(num_frm=4, n_clips=2), 64)  # "tall" has 3 frames: repeats
    clips = reader.video_clip_indices("tall")
    out = reader.read("tall")
    for c, clip in enumerate(clips):
        for f, i in enumerate(clip):
            expected = np.zeros((64, 64, 3), np.uint8)
            expected[:, :36] = db.frames("tall", [i])[0]
            assert np.array_equal(out[c, f], expected)
    assert any(len(set(clip)) < len(clip) for clip in clips)  # the case this test is about


def test_meta_record_read_once_per_video(stores, monkeypatch):
    db, _ = stores
    reads = []
    real = db.meta
    monkeypatch.setattr(db, "meta", lambda vid: reads.append(vid) or real(vid))
    reader = ClipReader(db, ClipSampling(num_frm=2, n_clips=1, random=True), 64)
    for epoch in range(3):
        reader.read("wide", 0, epoch)
        reader.read("tall", 1, epoch)
    assert reads == ["wide", "tall"]


def test_a_broken_jpeg_names_frame_video_and_store(tmp_path):
    path = tmp_path / "vis_db"
    with VisDBWriter(path, SETTINGS) as w:
        meta = VideoMeta(num_frames=1, timestamps=[0.0], fps=2.0, source_fps=None, duration=0.5, width=8, height=8)
        w.put_video("v", [b"not a jpeg"], meta.to_dict())
    reader = ClipReader(VisDB(path), ClipSampling(num_frm=1, n_clips=1), 8)
    with pytest.raises(ValueError, match=f"frame 0 of video 'v' in {path} is not a readable JPEG"):
        reader.read("v")
