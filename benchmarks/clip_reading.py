"""Clip reading, clips/s in one process and one thread: sparsevl's vis_db against decoding at load.

    python benchmarks/clip_reading.py [--videos DIR] [--demo DEMO_OUT] [--rounds 7] [--repeats 4]

Inputs: real videos (default: the project's four real mp4 files, re-encoded by
benchmarks/real_videos.py into 33 videos of 4-30 s, 176x144 to 1280x720), extracted at 2 fps with
the longer side at 448; the sampling is one clip of 2 frames at 448 x 448, as in training
(random positions). With --demo, also the demo's data (`sparsevl demo --out DEMO_OUT`): 12
frames of 64 px per video, the demo config's clip of 4 frames, stride 3, at 64 x 64.

Paths, each reading every video `--repeats` times per round (the ones decoding videos at load time:
once), in turns (benchmarks/report.py), timed by this process's CPU time: every path runs in this
process on one thread, so the other work on the machine does not change what they cost.
- clipbert: ClipBERT's loader (jayleicn/ClipBERT src/datasets/dataset_base.py and decoder.py),
  written out here: the whole video file's bytes from an LMDB, `av.open` on them, a seek to the
  random clip's start (1,024 pts early, to the keyframe before), decode up to the clip's end,
  frames picked by linspace, RGB, resized (bilinear) and padded. One decoder thread, like every
  path here; the resize is OpenCV's on uint8 (ClipBERT's own is torch on float: slower).
- opencv_seek: `cv2.VideoCapture` on the mp4 file, a seek to each frame (CAP_PROP_POS_FRAMES), read,
  RGB, resized and padded.
- sparsevl_before: the clip reader as it was before (decode with cv2.imdecode, BGR->RGB into a
  new array, resize even when the size fits, pad into a new array, stack; meta read per clip).
- sparsevl: `ClipReader.read` (sparsevl.data.clips).
- ceiling_cv2 / ceiling_simplejpeg: decoding the same stored JPEGs (already in memory) and nothing
  else, with cv2.imdecode / simplejpeg; ceiling_cv2 + resize: and the resize to the input size of
  the frames stored smaller or larger than it (OpenCV), the least any reader has to do.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import av
import cv2
import lmdb
import numpy as np
import simplejpeg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from real_videos import make_inputs  # noqa: E402
from report import Report, best, interleaved  # noqa: E402

from sparsevl.data.clips import ClipReader, ClipSampling  # noqa: E402
from sparsevl.data.extract_frames import extract_frames  # noqa: E402
from sparsevl.data.frame_fit import fitted_size  # noqa: E402
from sparsevl.data.video_io import find_videos  # noqa: E402
from sparsevl.data.vis_db import VisDB  # noqa: E402

SHARED_VIDEOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "videos"


def resize_pad(rgb: np.ndarray, size: int, interpolation: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    nh, nw = fitted_size(h, w, size)
    out = np.zeros((size, size, 3), np.uint8)
    out[:nh, :nw] = cv2.resize(rgb, (nw, nh), interpolation=interpolation)
    return out


def resize_if_needed(frame: np.ndarray, size: int) -> np.ndarray:
    h, w = frame.shape[:2]
    nh, nw = fitted_size(h, w, size)
    if (nh, nw) == (h, w):
        return frame
    return cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_AREA if nh < h else cv2.INTER_LINEAR)


# --- ClipBERT's way -------------------------------------------------------------------------------

def clipbert_store(videos: list[Path], path: Path) -> Path:
    """ClipBERT's vis_db (src/preprocessing/file2lmdb.py): key = file stem, value = the file's bytes."""
    if not (path / "data.mdb").exists():
        env = lmdb.open(str(path), map_size=1 << 34)
        with env.begin(write=True) as txn:
            for v in videos:
                txn.put(v.stem.encode(), v.read_bytes())
        env.close()
    return path


class ClipBertLoader:
    """One clip of `num_frm` frames at `target_fps`, from a random start, decoded at load time."""

    def __init__(self, store: Path, num_frm: int, n_clips: int, target_fps: float, size: int):
        self.env = lmdb.open(str(store), readonly=True, lock=False)
        self.txn = self.env.begin(buffers=True)
        self.num_frm, self.n_clips, self.target_fps, self.size = num_frm, n_clips, target_fps, size
        self.rng = np.random.default_rng(0)

    def read(self, video_id: str) -> np.ndarray:
        data = io.BytesIO(self.txn.get(video_id.encode()))  # the whole video, as ClipBERT's loader
        return np.stack([self._clip(data) for _ in range(self.n_clips)])

    def _clip(self, data: io.BytesIO) -> np.ndarray:
        data.seek(0)
        with av.open(data, metadata_errors="ignore") as container:
            stream = container.streams.video[0]
            stream.thread_count = 1
            fps, n_frames, duration = float(stream.average_rate), stream.frames, stream.duration
            clip_size = self.num_frm / self.target_fps * fps  # sampling_rate 1
            start_idx = self.rng.uniform(0, max(n_frames - clip_size, 0))
            end_idx = start_idx + clip_size - 1
            pts_per_frame = duration / n_frames
            start_pts, end_pts = int(start_idx * pts_per_frame), int(end_idx * pts_per_frame)
            container.seek(max(start_pts - 1024, 0), any_frame=False, backward=True, stream=stream)
            frames = {}
            for frame in container.decode(stream):
                if frame.pts < start_pts:
                    continue
                frames[frame.pts] = frame
                if frame.pts > end_pts:  # buffer_size 0: stop at the first frame past the clip
                    break
            decoded = [frames[p] for p in sorted(frames)]
            picks = np.clip(np.linspace(0, clip_size - 1, self.num_frm), 0, len(decoded) - 1).astype(int)
            rgb = [decoded[i].to_ndarray(format="rgb24") for i in picks]
        return np.stack([resize_pad(f, self.size, cv2.INTER_LINEAR) for f in rgb])


# --- OpenCV seeks on the video file ------------------------------------------------------------------

class OpenCVSeekLoader:
    """The frames the vis_db clip has (stored frame k = time k / rate), by seeking in the mp4."""

    def __init__(self, files: dict[str, Path], reader: ClipReader, stored_rate: float, size: int):
        self.files, self.reader, self.stored_rate, self.size = files, reader, stored_rate, size

    def read(self, video_id: str, item: int, epoch: int) -> np.ndarray:
        clips = self.reader.video_clip_indices(video_id, item, epoch)
        cap = cv2.VideoCapture(str(self.files[video_id]), cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, 1])
        fps, last = cap.get(cv2.CAP_PROP_FPS), int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) - 1
        out = []
        for clip in clips:
            frames = []
            for k in clip:
                cap.set(cv2.CAP_PROP_POS_FRAMES, min(round(k / self.stored_rate * fps), last))
                ok, bgr = cap.read()
                if not ok:
                    raise RuntimeError(f"OpenCV could not read frame of {video_id} at stored index {k}")
                frames.append(resize_pad(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), self.size, cv2.INTER_AREA))
            out.append(np.stack(frames))
        cap.release()
        return np.stack(out)


# --- the clip reader as it was, and the steps between it and the current one -----------------------

def fit_frame_before(frame: np.ndarray, size: int) -> np.ndarray:
    h, w = frame.shape[:2]
    if (h, w) == (size, size):
        return frame
    scale = size / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    resized = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    out = np.zeros((size, size, 3), np.uint8)
    out[:nh, :nw] = resized
    return out


def read_before(db: VisDB, reader: ClipReader, video_id: str, item: int, epoch: int) -> np.ndarray:
    clips = reader.clip_indices(db.meta(video_id).num_frames, item, epoch)
    wanted = sorted({i for clip in clips for i in clip})
    db.meta(video_id)  # the old VisDB.frames read and parsed the meta record again
    frames = [cv2.cvtColor(cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
              for b in db.jpegs(video_id, wanted)]
    decoded = dict(zip(wanted, frames))
    return np.stack([[fit_frame_before(decoded[i], reader.img_size) for i in clip] for clip in clips])


def read_cv2_into_slots(db: VisDB, reader: ClipReader, video_id: str, item: int, epoch: int, rgb_flag: bool) -> np.ndarray:
    """Meta cached, no resize when the size fits, padded in place; OpenCV decoding, BGR + cvtColor
    or (rgb_flag) RGB from the decoder."""
    clips = reader.video_clip_indices(video_id, item, epoch)
    size = reader.img_size
    out = np.zeros((len(clips), len(clips[0]), size, size, 3), np.uint8)
    for c, clip in enumerate(clips):
        for f, buf in enumerate(db.jpegs(video_id, clip)):
            arr = np.frombuffer(buf, np.uint8)
            if rgb_flag:
                rgb = cv2.imdecode(arr, cv2.IMREAD_COLOR_RGB)
            else:
                rgb = cv2.cvtColor(cv2.imdecode(arr, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
            h, w = rgb.shape[:2]
            nh, nw = fitted_size(h, w, size)
            if (nh, nw) != (h, w):
                rgb = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA if nh < h else cv2.INTER_LINEAR)
            out[c, f, :nh, :nw] = rgb
    return out


def read_full_decode_resize(db: VisDB, reader: ClipReader, video_id: str, item: int, epoch: int) -> np.ndarray:
    """The current reader without the DCT-reduced decode: full-size decode, then area resize."""
    clips = reader.video_clip_indices(video_id, item, epoch)
    size = reader.img_size
    out = np.zeros((len(clips), len(clips[0]), size, size, 3), np.uint8)
    for c, clip in enumerate(clips):
        for f, buf in enumerate(db.jpegs(video_id, clip)):
            rgb = simplejpeg.decode_jpeg(buf, "RGB")
            nh, nw = fitted_size(*rgb.shape[:2], size)
            out[c, f, :nh, :nw] = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA)
    return out


# --- one data set ------------------------------------------------------------------------------------

def bench_dataset(report: Report, label: str, video_files: list[Path], vis_db: Path, work: Path,
                  sampling: ClipSampling, size: int, rounds: int, repeats: int, ablation: bool,
                  at_load: bool = True) -> list[tuple]:
    db = VisDB(vis_db)
    files = {p.stem: p for p in video_files if p.stem in db}
    ids = sorted(files)
    meta0 = db.meta(ids[0])
    stored_rate = db.settings().fps or (meta0.num_frames / meta0.duration)
    reader = ClipReader(db, sampling, size)
    store = clipbert_store([files[v] for v in ids], work / f"clipbert_{label}")
    clipbert = ClipBertLoader(store, sampling.num_frm, sampling.n_clips, stored_rate / sampling.frm_stride, size)
    seeks = OpenCVSeekLoader(files, reader, stored_rate, size)
    items = [(v, k * len(ids) + j) for k in range(repeats) for j, v in enumerate(ids)]
    slow_items = items[: len(ids)]  # decoding videos at load time: each video once per round
    epoch = [0]

    def each(fn, which=items):
        def run():
            epoch[0] += 1
            for v, item in which:
                fn(v, item, epoch[0])
        return run

    # the ceilings decode the JPEGs the reader decodes for these items, held in memory beforehand
    jpegs = [b for v, item in items for i in sorted({i for c in reader.video_clip_indices(v, item, 1) for i in c})
             for b in db.jpegs(v, [i])]
    paths = {
        "clipbert": each(lambda v, i, e: clipbert.read(v), slow_items),
        "opencv_seek": each(seeks.read, slow_items),
        "sparsevl_before": each(lambda v, i, e: read_before(db, reader, v, i, e)),
        "sparsevl": each(reader.read),
        "ceiling_cv2": lambda: [cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_COLOR) for b in jpegs],
        "ceiling_simplejpeg": lambda: [simplejpeg.decode_jpeg(b, "RGB") for b in jpegs],
        # what producing the input needs at least when stored frames are smaller than the input
        "ceiling_cv2 + resize": lambda: [resize_if_needed(cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_COLOR), size)
                                         for b in jpegs],
    }
    if not at_load:  # decoding videos at load time hardly depends on the input size: measured once
        del paths["clipbert"], paths["opencv_seek"]
    if ablation:
        paths["cached_meta_no_resize_in_place"] = each(lambda v, i, e: read_cv2_into_slots(db, reader, v, i, e, False))
        paths["+ rgb_from_opencv"] = each(lambda v, i, e: read_cv2_into_slots(db, reader, v, i, e, True))
    for name, fn in paths.items():  # warm up: open files and stores, fill the meta cache
        fn()
    report.log(f"{label}: {len(ids)} videos x {repeats} reads per round, {len(jpegs)} JPEGs per round, "
               f"sampling {sampling}, input {size} x {size}")
    times = interleaved(paths, rounds, report.log, clock="cpu")
    n = {name: len(slow_items) if name in ("clipbert", "opencv_seek") else len(items) for name in paths}
    rate = {name: n[name] / best(t) for name, t in times.items()}
    return [(label, name, rate[name], rate) for name in paths]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--videos", type=Path, default=None, help="folder of real videos (default: made from shared/data/videos)")
    parser.add_argument("--demo", type=Path, default=None, help="a `sparsevl demo --out` folder, for the demo-data rows")
    parser.add_argument("--demo-videos", type=int, default=400, help="demo videos read per round")
    parser.add_argument("--work", type=Path, default=Path.home() / ".cache" / "sparsevl-bench")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=4, help="reads of each real video per round")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    report = Report("clip_reading", "Clip reading: clips/s per worker")
    work = args.work
    videos = args.videos or work / "real_videos"
    if args.videos is None:
        make_inputs(SHARED_VIDEOS, videos)
    video_files = find_videos(videos)
    vis_db = work / "real_vis_db_2fps_448"
    extract_frames(videos, vis_db, fps=2.0, max_size=448, workers=1, progress=False)
    rows = bench_dataset(report, "real", video_files, vis_db, work, ClipSampling(num_frm=2, n_clips=1, random=True),
                         448, args.rounds, args.repeats, ablation=True)
    reduced = bench_dataset(report, "real_224", video_files, vis_db, work, ClipSampling(num_frm=2, n_clips=1, random=True),
                            224, args.rounds, args.repeats, ablation=False, at_load=False)
    db = VisDB(vis_db)
    reader224 = ClipReader(db, ClipSampling(num_frm=2, n_clips=1, random=True), 224)
    ids = [p.stem for p in video_files]
    times = interleaved({
        "sparsevl (DCT-reduced decode)": lambda: [reader224.read(v, i, 1) for i, v in enumerate(ids * args.repeats)],
        "full decode + area resize": lambda: [read_full_decode_resize(db, reader224, v, i, 1) for i, v in enumerate(ids * args.repeats)],
    }, args.rounds, report.log, clock="cpu")
    reduced_rates = {k: len(ids) * args.repeats / best(t) for k, t in times.items()}
    if args.demo is not None:
        demo_files = find_videos(args.demo / "data" / "videos")[: args.demo_videos]
        demo_rows = bench_dataset(report, "demo", demo_files, args.demo / "vis_db", work,
                                  ClipSampling(num_frm=4, n_clips=1, frm_stride=3, random=True), 64, args.rounds, 1, ablation=False)
    else:
        demo_rows = []

    def table(label, rows_, what):
        rate = rows_[0][3]
        clipbert = rate.get("clipbert", rows[0][3]["clipbert"])  # the 448 run's, when not measured again
        body = [(name, f"{r:,.1f}", f"{r / clipbert:.1f}x", f"{100 * r / rate['ceiling_cv2']:.0f}%",
                 f"{100 * r / rate['ceiling_cv2 + resize']:.0f}%") for _, name, r, _ in rows_]
        report.table(("path", "clips/s", "vs ClipBERT's way", "of the cv2.imdecode ceiling",
                      "of decode + necessary resize"), body, caption=what)
        report.bar_chart(f"clip_reading_{label}.png", [n for _, n, _, _ in rows_], [r for _, _, r, _ in rows_],
                         "clips/s (one process, one thread; log scale)", what, log_scale=True)

    table("real", rows, f"Real videos ({len(video_files)} files made from the four real mp4s), vis_db at 2 fps, "
          "longer side 448; one clip of 2 frames at 448 x 448:")
    table("real_224", reduced, "Same store, input 224 x 224 (stored frames twice the input):")
    report.table(("448 px stored, 224 px input", "clips/s"), [(k, f"{v:,.1f}") for k, v in reduced_rates.items()],
                 caption="The DCT-reduced decode against a full-size decode and area resize, same run:")
    if demo_rows:
        table("demo", demo_rows, f"Demo data ({args.demo_videos} videos, 12 stored frames of 64 px), the demo "
              "config's clip (4 frames, stride 3) at 64 x 64:")
    report.finish()


if __name__ == "__main__":
    main()
