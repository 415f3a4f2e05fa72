"""`sparsevl extract-frames` end to end: synthetic and real videos, bad files, resume, crashes."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import cv2
import lmdb
import numpy as np
import pytest
from PIL import Image

from sparsevl.cli import main
from sparsevl.data import extract_frames as ef
from sparsevl.data.clips import ClipReader, ClipSampling
from sparsevl.data.shard_plan import Shard, read_video_list
from sparsevl.data.video_io import encode_jpeg
from sparsevl.data.vis_db import SettingsMismatch, VisDB
from sparsevl.problems import BadInputError
from txt_db_tools.cc3m import image_name
from txt_db_tools.sources import image_stem
from txt_db_tools.vqa_v2 import image_video_id

REAL_VIDEOS = ["bigbuckbunny", "bikes", "carphone_distorted", "carphone_pristine"]


def keys_of(store: Path) -> set[str]:
    env = lmdb.open(str(store), readonly=True, lock=False)
    with env.begin() as txn:
        keys = {k.decode() for k, _ in txn.cursor()}
    env.close()
    return keys


def expected_keys(frame_counts: dict[str, int]) -> set[str]:
    keys = {"__settings__"}
    for vid, n in frame_counts.items():
        keys |= {f"meta/{vid}"} | {f"{vid}/{i:06d}" for i in range(n)}
    return keys


# --- synthetic videos ----------------------------------------------------------------------


@pytest.mark.parametrize("workers", [0, 2])
def test_fps_mode_end_to_end(synth, tmp_path, workers):
    videos = tmp_path / "videos"
    synth.write(videos / "wide.mp4", 30, fps=10, size=(160, 90))  # 3 s
    synth.write(videos / "tall.mp4", 12, fps=6, size=(48, 96))  # 2 s
    synth.write(videos / "small.avi", 5, fps=10, size=(32, 24), fourcc="MJPG")  # 0.5 s
    (videos / "notes.txt").write_text("not a video")
    summary = ef.extract_frames(
        videos, tmp_path / "db", fps=2, max_size=64, workers=workers, progress=False
    )
    assert (summary.stored, summary.skipped_existing, summary.failed) == (3, 0, 0)
    db = VisDB(tmp_path / "db")
    assert db.video_ids() == ["small", "tall", "wide"]
    expected = {"wide": [0, 5, 10, 15, 20, 25], "tall": [0, 3, 6, 9], "small": [0]}
    for vid, source_frames in expected.items():
        m = db.meta(vid)
        assert m.num_frames == len(source_frames)
        frames = db.frames(vid, range(m.num_frames))
        assert [synth.identify(f) for f in frames] == source_frames, vid
    wide, tall = db.meta("wide"), db.meta("tall")
    assert wide.timestamps == pytest.approx([0, 0.5, 1, 1.5, 2, 2.5])
    assert (wide.width, wide.height, wide.source_width, wide.source_height) == (64, 36, 160, 90)
    assert (tall.width, tall.height) == (32, 64)
    assert (db.meta("small").width, db.meta("small").height) == (32, 24)  # not upscaled
    assert wide.fps == 2.0 and wide.source_fps == pytest.approx(10) and wide.duration == 3.0
    assert wide.source_frames_decoded == 30
    assert db.frames("wide", [3, 1]).shape == (2, 36, 64, 3)
    db.close()  # LMDB allows one open environment per store and process
    assert keys_of(tmp_path / "db") == expected_keys({"wide": 6, "tall": 4, "small": 1})


def test_num_frames_mode_end_to_end(synth, tmp_path):
    videos = tmp_path / "videos"
    synth.write(videos / "a.mp4", 40, fps=20)
    synth.write(videos / "b.mp4", 3, fps=20)
    ef.extract_frames(videos, tmp_path / "db", num_frames=4, workers=0, progress=False)
    db = VisDB(tmp_path / "db")
    assert [synth.identify(f) for f in db.frames("a", range(4))] == [5, 15, 25, 35]
    assert db.meta("a").timestamps == pytest.approx([0.25, 0.75, 1.25, 1.75])
    assert db.meta("a").fps is None
    assert [synth.identify(f) for f in db.frames("b", range(3))] == [0, 1, 2]  # fewer than N
    assert db.settings().num_frames == 4 and db.settings().fps is None


# --- real videos ---------------------------------------------------------------------------


def opencv_frames(path: Path, size: tuple[int, int]) -> tuple[list[np.ndarray], float]:
    """Every frame, decoded independently with OpenCV and processed as the store does."""
    cap = cv2.VideoCapture(str(path))
    fps = cap.get(cv2.CAP_PROP_FPS)
    out = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        jpeg = encode_jpeg(bgr, size, 90)
        out.append(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)[..., ::-1])
    cap.release()
    return out, fps


def mad(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def check_against_source(db: VisDB, vid: str, path: Path) -> None:
    m = db.meta(vid)
    source, fps = opencv_frames(path, (m.width, m.height))
    assert m.source_frames_decoded == len(source)
    stored = db.frames(vid, range(m.num_frames))
    for img, t in zip(stored, m.timestamps):
        i = round(t * fps)  # constant-rate files: frame i is shown from i / fps
        assert abs(i / fps - t) < 1e-3, (vid, t)
        own = mad(img, source[i])
        assert own < 0.5, f"{vid} t={t}: stored frame differs from source frame {i} ({own:.2f})"
        for j in (i - 1, i + 1):
            if 0 <= j < len(source) and mad(source[i], source[j]) > 0.5:
                assert mad(img, source[j]) > own + 0.25, f"{vid} t={t}: looks like frame {j}"


@pytest.fixture
def real_videos(shared_data, tmp_path):
    folder = tmp_path / "real"
    folder.mkdir()
    for name in REAL_VIDEOS:
        src = shared_data / "videos" / f"{name}.mp4"
        if not src.is_file():
            pytest.skip(f"{src} not found")
        shutil.copy(src, folder)
    return folder


def test_real_videos_num_frames(real_videos, tmp_path):
    summary = ef.extract_frames(
        real_videos, tmp_path / "db", num_frames=6, max_size=96, workers=2, progress=False
    )
    assert (summary.stored, summary.failed) == (4, 0)
    db = VisDB(tmp_path / "db")
    assert db.video_ids() == REAL_VIDEOS
    for vid in REAL_VIDEOS:
        assert db.meta(vid).num_frames == 6
        assert max(db.meta(vid).width, db.meta(vid).height) == 96
        check_against_source(db, vid, real_videos / f"{vid}.mp4")
    bikes = db.meta("bikes")
    assert (bikes.source_width, bikes.source_height, bikes.source_frames_decoded) == (640, 272, 250)
    assert bikes.duration == pytest.approx(10.0) and bikes.source_fps == pytest.approx(25)


def test_real_videos_fps(real_videos, tmp_path):
    for name in ["bigbuckbunny", "bikes"]:  # the two larger ones are covered by num_frames
        (real_videos / f"{name}.mp4").unlink()
    ef.extract_frames(real_videos, tmp_path / "db", fps=3, max_size=64, workers=0, progress=False)
    db = VisDB(tmp_path / "db")
    for vid in ["carphone_distorted", "carphone_pristine"]:
        m = db.meta(vid)
        assert m.num_frames == 13  # 4.004 s at 3 fps: targets 0, 1/3, ..., 4
        # 29.97 fps: the frame on screen at k/3 s is frame floor(k / 3 * 29.97)
        expected = [int(k / 3 * 30000 / 1001) / (30000 / 1001) for k in range(13)]
        assert m.timestamps == pytest.approx(expected, abs=1e-5)
        check_against_source(db, vid, real_videos / f"{vid}.mp4")


# --- bad input -----------------------------------------------------------------------------


def faststart_cut(src: Path, dst: Path, fraction: float) -> Path:
    """A truncated copy of a 'streamable' mp4 (index first), so that it still opens."""
    tmp = dst.with_suffix(".full.mp4")
    with av.open(str(src)) as inp, av.open(str(tmp), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(inp.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    data = tmp.read_bytes()
    tmp.unlink()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


@pytest.fixture
def mixed_folder(shared_data, synth, tmp_path):
    bikes = shared_data / "videos" / "bikes.mp4"
    if not bikes.is_file():
        pytest.skip(f"{bikes} not found")
    folder = tmp_path / "mixed"
    folder.mkdir()
    shutil.copy(bikes, folder / "good_bikes.mp4")
    synth.write(folder / "good_synth.mp4", 20, fps=10)
    data = bikes.read_bytes()
    (folder / "cut40.mp4").write_bytes(data[: int(len(data) * 0.4)])
    faststart_cut(bikes, folder / "cut60_streamable.mp4", 0.6)
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "text.mp4").write_text("this is not a video\n" * 50)
    return folder


BAD = {
    "cut40.mp4": "cannot open",
    "cut60_streamable.mp4": "truncated",
    "empty.mp4": "empty file",
    "text.mp4": "cannot open",
}


def test_bad_files_are_reported_and_skipped(mixed_folder, tmp_path, capsys):
    db_path = tmp_path / "db"
    rc = main(["extract-frames", str(mixed_folder), str(db_path), "--fps", "1", "--max-size", "32",
               "--workers", "2"])
    out, err = capsys.readouterr()
    assert rc == 0
    assert "stored 2, already present 0, failed 4" in out
    log = (db_path / "extract_errors.log").read_text().splitlines()
    assert len(log) == 4
    for name, reason in BAD.items():
        assert any(name in line and f": {reason}" in line for line in log), (name, log)
        assert name in out and name in err  # in the summary, and as it happened
    assert "full list: " + str(db_path / "extract_errors.log") in out
    assert VisDB(db_path).video_ids() == ["good_bikes", "good_synth"]
    # A re-run retries only the failed files and rewrites the log.
    rc = main(["extract-frames", str(mixed_folder), str(db_path), "--fps", "1", "--max-size", "32",
               "--workers", "0"])
    assert rc == 0
    assert "stored 0, already present 2, failed 4" in capsys.readouterr().out
    assert len((db_path / "extract_errors.log").read_text().splitlines()) == 4


def test_on_error_stop(synth, tmp_path, capsys):
    folder = tmp_path / "videos"
    synth.write(folder / "a.mp4", 10)
    (folder / "b.mp4").write_bytes(b"\x00" * 1000)
    synth.write(folder / "c.mp4", 10)
    with pytest.raises(BadInputError, match=r"b\.mp4: cannot open"):
        ef.extract_frames(folder, tmp_path / "db1", workers=0, on_error="stop", progress=False)
    assert VisDB(tmp_path / "db1").video_ids() == ["a"]  # work before the stop is kept
    rc = main(["extract-frames", str(folder), str(tmp_path / "db2"), "--on-error", "stop",
               "--workers", "2"])
    err = capsys.readouterr().err
    assert rc == 1
    assert re.search(r"stopped .*b\.mp4: cannot open", err)


def test_settings_mismatch_on_rerun(synth, tmp_path, capsys):
    folder = tmp_path / "videos"
    synth.write(folder / "a.mp4", 10)
    db = tmp_path / "db"
    assert main(["extract-frames", str(folder), str(db), "--fps", "2", "--workers", "0"]) == 0
    assert main(["extract-frames", str(folder), str(db), "--fps", "2", "--max-size", "128",
                 "--workers", "0"]) == 2
    err = capsys.readouterr().err
    assert "made with other settings (max_size: store has 256, asked for 128)" in err
    with pytest.raises(SettingsMismatch):
        ef.extract_frames(folder, db, num_frames=3, workers=0, progress=False)


def test_names_that_cannot_be_ids(synth, tmp_path):
    folder = tmp_path / "videos"
    synth.write(folder / "clip.mp4", 5)
    synth.write(folder / "clip.avi", 5, fourcc="MJPG")  # same id as clip.mp4
    synth.write(folder / "meta.mp4", 5)  # would collide with the meta/ records
    summary = ef.extract_frames(folder, tmp_path / "db", workers=0, progress=False)
    assert (summary.stored, summary.failed) == (1, 2)
    text = str(summary)
    assert "clip.mp4: duplicate video id" in text and "meta.mp4: reserved name" in text


def test_usage_errors(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["extract-frames", str(tmp_path / "empty"), str(tmp_path / "db")]) == 1
    assert "no video or image files in" in capsys.readouterr().err
    assert main(["extract-frames", str(tmp_path / "nope"), str(tmp_path / "db")]) == 2
    assert "video folder not found" in capsys.readouterr().err
    assert main(["extract-frames", str(tmp_path), str(tmp_path / "db"), "--quality", "0"]) == 2
    with pytest.raises(SystemExit):  # argparse: --fps and --num-frames exclude each other
        main(["extract-frames", str(tmp_path), str(tmp_path / "db"), "--fps", "1",
              "--num-frames", "3"])


# --- images as 1-frame videos -------------------------------------------------------------

CC3M_URL = "http://example.com/picture.jpg"  # a CC3M image is saved as <row>_<crc32 of its url>


def photo() -> np.ndarray:
    """A real photograph, RGB (512 x 512)."""
    from skimage import data

    return data.astronaut()


def stored_rgb(db: VisDB, vid: str) -> np.ndarray:
    return db.frames(vid, [0])[0]


def decoded(path: Path) -> np.ndarray:
    """The image file's pixels as stored (no EXIF turn), RGB."""
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def as_stored(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """What the store should hold for these pixels: resized and JPEG-encoded as a video frame."""
    jpeg = encode_jpeg(np.ascontiguousarray(rgb[..., ::-1]), size, 90)
    return cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)[..., ::-1]


@pytest.fixture
def image_folder(synth, tmp_path) -> Path:
    """Images named as the image converters name their videos, a video, and two broken images."""
    folder = tmp_path / "media"
    folder.mkdir()
    image = Image.fromarray(photo())
    image.save(folder / "COCO_val2014_000000393225.jpg", quality=95)  # VQA v2 / COCO 2014
    image.resize((320, 160)).save(folder / "1.PNG")  # Visual Genome: <image id>.jpg; any case
    image.convert("P").save(folder / "palette.png")  # a palette PNG
    image.save(folder / image_name(0, CC3M_URL), format="JPEG")  # no extension, as downloaded
    # A phone photo stored sideways: EXIF orientation 6 = turn 90 degrees clockwise to view.
    exif = Image.Exif()
    exif[0x0112] = 6
    image.resize((80, 40)).save(folder / "sideways.jpg", exif=exif)
    synth.write(folder / "clip.mp4", 20, fps=10)  # 2 s
    data = (folder / "COCO_val2014_000000393225.jpg").read_bytes()
    (folder / "cut.jpg").write_bytes(data[: len(data) // 2])
    (folder / "text.png").write_text("not an image\n" * 20)
    (folder / "notes.txt").write_text("neither")
    return folder


IMAGE_IDS = [image_name(0, CC3M_URL), "1", "COCO_val2014_000000393225", "palette", "sideways"]


@pytest.mark.parametrize("workers", ["0", "2"])
def test_images_and_videos_in_one_folder(image_folder, tmp_path, capsys, workers):
    db_path = tmp_path / "db"
    args = ["extract-frames", str(image_folder), str(db_path), "--fps", "2", "--max-size", "64",
            "--workers", workers]
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert "stored 6, already present 0, failed 2" in out
    log = (db_path / "extract_errors.log").read_text().splitlines()
    assert len(log) == 2
    assert any("cut.jpg: decode error: image file is truncated" in line for line in log), log
    assert any("text.png: cannot open: not an image" in line for line in log), log
    assert "cut.jpg" in err and "text.png" in err  # reported as they happen
    with VisDB(db_path) as db:
        assert db.video_ids() == sorted(IMAGE_IDS + ["clip"])
        assert db.meta("clip").num_frames == 4
        for vid in IMAGE_IDS:
            m = db.meta(vid)
            assert (m.num_frames, m.timestamps, m.duration, m.fps, m.source_fps) == (1, [0.0], 0.0, 2.0, None)
        coco = db.meta("COCO_val2014_000000393225")
        assert (coco.width, coco.height, coco.source_width, coco.source_height) == (64, 64, 512, 512)
        # The pixels are the file's, resized and encoded as video frames are; turned upright.
        assert mad(stored_rgb(db, "COCO_val2014_000000393225"),
                   as_stored(decoded(image_folder / "COCO_val2014_000000393225.jpg"), (64, 64))) < 1
        assert (db.meta("1").width, db.meta("1").height) == (64, 32)
        assert mad(stored_rgb(db, "1"), as_stored(decoded(image_folder / "1.PNG"), (64, 32))) < 1
        side = db.meta("sideways")
        assert (side.width, side.height, side.source_width, side.source_height) == (32, 64, 40, 80)
        sideways = decoded(image_folder / "sideways.jpg")  # as stored in the file: 80 x 40
        upright = np.ascontiguousarray(np.rot90(sideways, -1))  # 90 degrees clockwise
        assert mad(stored_rgb(db, "sideways"), as_stored(upright, (32, 64))) < 1
        assert mad(stored_rgb(db, "sideways"), as_stored(upright[::-1, ::-1].copy(), (32, 64))) > 20
    # Resume: nothing decoded again; a new image is added; the broken ones are tried again.
    Image.fromarray(photo()).save(image_folder / "000000397133.jpg")  # COCO 2017
    assert main(args) == 0
    assert "stored 1, already present 6, failed 2" in capsys.readouterr().out
    with VisDB(db_path) as db:
        assert db.meta("000000397133").num_frames == 1


def test_image_ids_are_the_converters_video_ids(image_folder, tmp_path):
    ef.extract_frames(image_folder, tmp_path / "db", workers=0, progress=False)
    with VisDB(tmp_path / "db") as db:
        assert image_video_id("val2014", 393225) in db  # VQA v2
        assert image_stem("val2014/COCO_val2014_000000393225.jpg") in db  # COCO 2014 captions
        assert str(1) in db  # Visual Genome: the image id of 1.jpg
        assert image_name(0, CC3M_URL) in db  # CC3M, saved without an extension


def test_images_from_a_list_and_in_num_frames_mode(image_folder, tmp_path):
    listed = ["COCO_val2014_000000393225.jpg", IMAGE_IDS[0], "clip.mp4", "cut.jpg"]
    (image_folder / "list.txt").write_text("\n".join(listed) + "\n")
    with pytest.raises(BadInputError, match=r"cut\.jpg: decode error: image file is truncated"):
        ef.extract_frames(None, tmp_path / "db", num_frames=3, workers=0, progress=False,
                          on_error="stop", videos=read_video_list(image_folder / "list.txt"))
    with VisDB(tmp_path / "db") as db:  # what came before the bad image is kept
        assert db.video_ids() == sorted([IMAGE_IDS[0], "COCO_val2014_000000393225", "clip"])
        assert db.meta("clip").num_frames == 3
        assert db.meta(IMAGE_IDS[0]).num_frames == 1  # an image has one frame to give


def test_images_are_sharded_by_their_stored_id(image_folder, tmp_path):
    stored = []
    for i in range(2):
        ef.extract_frames(image_folder, tmp_path / f"db{i}", workers=0, progress=False, shard=Shard(i, 2))
        with VisDB(tmp_path / f"db{i}") as db:
            stored.append(db.video_ids())
            assert all(Shard(i, 2).takes(vid) for vid in stored[i])
    assert sorted(stored[0] + stored[1]) == sorted(IMAGE_IDS + ["clip"])  # each in exactly one shard


@pytest.mark.parametrize("random", [False, True])
def test_clip_of_several_frames_from_an_image_repeats_it(image_folder, tmp_path, random):
    ef.extract_frames(image_folder, tmp_path / "db", workers=0, progress=False)
    with VisDB(tmp_path / "db") as db:
        reader = ClipReader(db, ClipSampling(num_frm=4, n_clips=2, random=random), img_size=32)
        clips = reader.read("COCO_val2014_000000393225", item=3, epoch=1)
        assert clips.shape == (2, 4, 32, 32, 3)
        assert clips.std() > 10  # the photo, not padding
        assert (clips == clips[0, 0]).all()


# --- worker crashes ------------------------------------------------------------------------


def crash_on_bad(path: Path):
    """Runs in a worker process: dies like a segfaulting decoder on files named crash*."""
    if path.name.startswith("crash"):
        os._exit(11)
    time.sleep(0.05)
    return {"name": path.name}


def test_worker_crash_is_isolated_and_reported(tmp_path):
    paths = [tmp_path / f"ok{i}.mp4" for i in range(5)] + [tmp_path / "crash.mp4"]
    paths += [tmp_path / f"ok{i}.mp4" for i in range(5, 8)]
    start = time.monotonic()
    outcomes = dict(ef._run(crash_on_bad, paths, workers=2))
    assert time.monotonic() - start < 60
    assert set(outcomes) == set(paths)
    assert outcomes[tmp_path / "crash.mp4"].startswith("worker crashed")
    assert all(outcomes[p] == {"name": p.name} for p in paths if p.name != "crash.mp4")


# --- resume after a kill -------------------------------------------------------------------


def count_stored(store: Path) -> int:
    if not (store / "data.mdb").exists():
        return 0
    env = lmdb.open(str(store), readonly=True, lock=True)  # locked: the writer is running
    try:
        with env.begin() as txn:
            cursor = txn.cursor()
            n = 0
            if cursor.set_range(b"meta/"):
                for key in cursor.iternext(values=False):
                    if not key.startswith(b"meta/"):
                        break
                    n += 1
            return n
    finally:
        env.close()


def children_of(pid: int) -> list[int]:
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(entry.name))
    return kids


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to find worker processes")
def test_resume_after_sigkill(synth, tmp_path):
    folder = tmp_path / "videos"
    n_videos, n_frames = 30, 150
    for i in range(n_videos):
        synth.write(folder / f"v{i:02d}.mp4", n_frames, fps=30, size=(160, 120))
    store = tmp_path / "db"
    cmd = [sys.executable, "-m", "sparsevl", "extract-frames", str(folder), str(store),
           "--fps", "30", "--workers", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    workers: set[int] = set()
    try:
        deadline = time.monotonic() + 60
        while count_stored(store) < 3:
            workers.update(children_of(proc.pid))
            assert proc.poll() is None, "extraction ended before it could be interrupted"
            assert time.monotonic() < deadline, "extraction made no progress"
            time.sleep(0.01)
        workers.update(children_of(proc.pid))
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
        # The orphaned worker processes notice and exit on their own.
        deadline = time.monotonic() + 15
        while any(alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert workers and not any(alive(w) for w in workers), "worker processes outlived the kill"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for w in workers:
            if alive(w):
                os.kill(w, signal.SIGKILL)
    done_before = count_stored(store)
    assert 3 <= done_before < n_videos

    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert (
        f"stored {n_videos - done_before}, already present {done_before}, failed 0" in rerun.stdout
    )
    assert keys_of(store) == expected_keys({f"v{i:02d}": n_frames for i in range(n_videos)})
    with VisDB(store) as db:
        for vid in ["v00", f"v{n_videos - 1}"]:
            frames = db.frames(vid, [0, 75, 149])
            assert [synth.identify(f) for f in frames] == [0, 75, 149]


def test_summary_text(tmp_path):
    problems = ef.ProblemLog(None)
    summary = ef.ExtractSummary(tmp_path, 3, 2, 0, 1.31, problems)
    assert str(summary) == f"vis_db {tmp_path}: stored 3, already present 2, failed 0 (1.3 s)"
    problems.report("x.mp4", "truncated: frames end at 1.00s")
    summary.failed = 1
    assert "x.mp4: truncated: frames end at 1.00s" in str(summary)

