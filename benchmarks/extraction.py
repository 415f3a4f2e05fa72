"""Frame extraction, videos/s and frames/s: `sparsevl extract-frames` against the usual recipe.

    python benchmarks/extraction.py [--videos DIR] [--demo DEMO_OUT] [--rounds 3]

The recipe: the `ffmpeg` command line writes each video's frames as JPEG files at the same rate
and size (`-vf fps=F,scale=...:flags=area -q:v 2`), then a script packs the files of each video
into an LMDB (one transaction per video). At one worker the videos go through it one after
another, at two workers two at a time; FFmpeg picks its own decoder threads in both, as
`extract-frames` does at one worker. Each round runs every path on every video into a new store,
in turns (benchmarks/report.py).

Inputs: the real videos of benchmarks/real_videos.py at 2 fps, longer side 448; with --demo, the
demo's first `--demo-videos` videos at 4 fps (their 12 frames), longer side 64.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import lmdb

sys.path.insert(0, str(Path(__file__).resolve().parent))
from real_videos import make_inputs  # noqa: E402
from report import Report, best, interleaved  # noqa: E402

from sparsevl.data.extract_frames import extract_frames  # noqa: E402
from sparsevl.data.video_io import find_videos  # noqa: E402

SHARED_VIDEOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "videos"


def ffmpeg_to_jpegs(video: Path, out: Path, fps: float, max_size: int) -> Path:
    folder = out / video.stem
    folder.mkdir(parents=True)
    # longer side at most max_size, never upscaled, aspect kept (even sizes not required by mjpeg)
    scale = (f"scale='if(gt(iw,ih),min({max_size},iw),-1)':'if(gt(iw,ih),-1,min({max_size},ih))'"
             ":flags=area")
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-i", str(video), "-vf", f"fps={fps},{scale}",
                    "-q:v", "2", str(folder / "%06d.jpg")], check=True)
    return folder


def pack(folders: list[Path], path: Path) -> int:
    """The JPEG files of each folder into one LMDB, one transaction per video; returns frames."""
    env = lmdb.open(str(path), map_size=1 << 34)
    frames = 0
    for folder in folders:
        with env.begin(write=True) as txn:
            for i, f in enumerate(sorted(folder.iterdir())):
                txn.put(f"{folder.name}/{i:06d}".encode(), f.read_bytes())
                frames += 1
    env.close()
    return frames


def recipe(videos: list[Path], work: Path, fps: float, max_size: int, workers: int, counts: dict) -> None:
    out = Path(tempfile.mkdtemp(dir=work))
    try:
        with cf.ThreadPoolExecutor(workers) as pool:  # each job is an ffmpeg process
            folders = list(pool.map(lambda v: ffmpeg_to_jpegs(v, out / "jpg", fps, max_size), videos))
        counts["recipe"] = pack(folders, out / "lmdb")
        counts["recipe_bytes"] = sum(f.stat().st_size for f in (out / "jpg").rglob("*.jpg"))
    finally:
        shutil.rmtree(out)


def ours(video_dir: Path, work: Path, fps: float, max_size: int, workers: int, counts: dict) -> None:
    out = Path(tempfile.mkdtemp(dir=work))
    try:
        summary = extract_frames(video_dir, out / "vis_db", fps=fps, max_size=max_size, workers=workers, progress=False)
        if summary.failed:
            raise RuntimeError(summary.problems.summary())
        from sparsevl.data.vis_db import VisDB

        with VisDB(out / "vis_db") as db:
            counts["ours"] = sum(db.meta(v).num_frames for v in db.video_ids())
        counts["ours_bytes"] = (out / "vis_db" / "data.mdb").stat().st_size
    finally:
        shutil.rmtree(out)


def bench(report: Report, label: str, video_dir: Path, work: Path, fps: float, max_size: int, rounds: int) -> list:
    videos = find_videos(video_dir)
    counts: dict = {}
    paths = {}
    for w in (1, 2):
        paths[f"ffmpeg CLI + LMDB, {w} worker(s)"] = lambda w=w: recipe(videos, work, fps, max_size, w, counts)
        paths[f"sparsevl extract-frames, {w} worker(s)"] = lambda w=w: ours(video_dir, work, fps, max_size, w, counts)
    report.log(f"{label}: {len(videos)} videos from {video_dir}, {fps:g} fps, longer side <= {max_size}")
    times = interleaved(paths, rounds, report.log)
    report.log(f"{label}: frames stored: ffmpeg {counts['recipe']}, sparsevl {counts['ours']}; JPEG bytes: ffmpeg "
               f"{counts['recipe_bytes']:,}, sparsevl store {counts['ours_bytes']:,} (data.mdb, with LMDB pages)")
    rows = []
    for w in (1, 2):
        base = best(times[f"ffmpeg CLI + LMDB, {w} worker(s)"])
        for name in (f"ffmpeg CLI + LMDB, {w} worker(s)", f"sparsevl extract-frames, {w} worker(s)"):
            t = best(times[name])
            frames = counts["recipe" if name.startswith("ffmpeg") else "ours"]
            rows.append((name, f"{t:.1f} s", f"{len(videos) / t:.1f}", f"{frames / t:.0f}", f"{base / t:.2f}x"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--videos", type=Path, default=None)
    parser.add_argument("--demo", type=Path, default=None, help="a `sparsevl demo --out` folder")
    parser.add_argument("--demo-videos", type=int, default=300)
    parser.add_argument("--work", type=Path, default=Path.home() / ".cache" / "sparsevl-bench")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    report = Report("extraction", "Frame extraction: extract-frames vs the ffmpeg command line")
    args.work.mkdir(parents=True, exist_ok=True)
    videos = args.videos or args.work / "real_videos"
    if args.videos is None:
        make_inputs(SHARED_VIDEOS, videos)
    header = ("path", "time", "videos/s", "frames/s", "vs ffmpeg, same workers")
    rows = bench(report, "real", videos, args.work, 2.0, 448, args.rounds)
    report.table(header, rows, caption=f"Real videos ({len(find_videos(videos))} files, 4-30 s, 176x144 to "
                 "1280x720) at 2 fps, longer side 448:")
    report.bar_chart("extraction_real.png", [r[0] for r in rows], [float(r[3]) for r in rows], "frames/s",
                     "Extraction, real videos (2 fps, 448 px)")
    if args.demo is not None:
        subset = Path(tempfile.mkdtemp(dir=args.work))
        for v in find_videos(args.demo / "data" / "videos")[: args.demo_videos]:
            (subset / v.name).symlink_to(v.resolve())
        try:
            rows = bench(report, "demo", subset, args.work, 4.0, 64, args.rounds)
        finally:
            shutil.rmtree(subset)
        report.table(header, rows, caption=f"Demo videos ({args.demo_videos}, 3 s, 96 x 96) at 4 fps, longer side 64:")
        report.bar_chart("extraction_demo.png", [r[0] for r in rows], [float(r[3]) for r in rows], "frames/s",
                         "Extraction, demo videos (4 fps, 64 px)")
    report.finish()


if __name__ == "__main__":
    main()
