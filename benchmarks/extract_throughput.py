"""Per-core throughput and disk cost of `extract-frames` at its default settings, on real videos:

    python benchmarks/extract_throughput.py VIDEO [VIDEO ...] [--copies N]

Each video is extracted N times (as N differently named links) into a fresh store, in this
process (`workers=0`: one decoding process, so its CPU time is the cost on one core). Prints per
video: stored frames, seconds of video, wall and CPU time, seconds of video per CPU second (how
many times real time one core extracts), and the store's size per hour of video (data.mdb, and
the JPEG bytes alone). docs/scale.md turns these into the cost of a million-video dataset.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

from sparsevl.data.extract_frames import extract_frames
from sparsevl.data.vis_db import VisDB
from sparsevl.data.video_io import DEFAULT_FPS, DEFAULT_MAX_SIZE, DEFAULT_QUALITY


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("videos", nargs="+", type=Path)
    parser.add_argument("--copies", type=int, default=10)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"settings: the defaults (fps {DEFAULT_FPS:g}, max size {DEFAULT_MAX_SIZE}, JPEG quality {DEFAULT_QUALITY}), "
          f"workers 0 (decoding in this process), {args.copies} copies of each video")
    header = ("video", "frames", "video s", "wall s", "CPU s", "video s / CPU s", "MB / video h (data.mdb)",
              "MB / video h (JPEG)")
    print(" | ".join(header))
    totals = {"video": 0.0, "cpu": 0.0, "disk": 0, "jpeg": 0}
    for video in args.videos:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "videos"
            folder.mkdir()
            for i in range(args.copies):
                (folder / f"{video.stem}_{i:03d}{video.suffix}").symlink_to(video.resolve())
            wall, cpu = time.perf_counter(), time.process_time()
            summary = extract_frames(folder, Path(tmp) / "vis_db", workers=0, progress=False)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            assert summary.stored == args.copies and summary.failed == 0, summary
            with VisDB(Path(tmp) / "vis_db") as db:
                metas = {v: db.meta(v) for v in db.video_ids()}
                seconds = sum(m.duration for m in metas.values())
                frames = sum(m.num_frames for m in metas.values())
                jpeg = sum(len(db.jpeg(v, i)) for v, m in metas.items() for i in range(m.num_frames))
            disk = (Path(tmp) / "vis_db" / "data.mdb").stat().st_blocks * 512
        hours = seconds / 3600
        print(f"{video.name} | {frames} | {seconds:.1f} | {wall:.2f} | {cpu:.2f} | {seconds / cpu:.1f} | "
              f"{disk / hours / 1e6:.1f} | {jpeg / hours / 1e6:.1f}")
        totals["video"] += seconds
        totals["cpu"] += cpu
        totals["disk"] += disk
        totals["jpeg"] += jpeg
    hours = totals["video"] / 3600
    print(f"all | | {totals['video']:.1f} | | {totals['cpu']:.2f} | {totals['video'] / totals['cpu']:.1f} | "
          f"{totals['disk'] / hours / 1e6:.1f} | {totals['jpeg'] / hours / 1e6:.1f}")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
