"""Time the data tools on demo data: `python benchmarks/data_tools.py [--num-videos N] [--workers W]`.

Writes N demo videos, then extracts them twice into fresh stores: with W worker processes and
in-process (workers=0, the baseline of no parallelism), both in this run; prints the ratio.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

from sparsevl.data.demo_data import DemoSpec, generate
from sparsevl.data.extract_frames import extract_frames


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--num-videos", type=int, default=500)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t = time.perf_counter()
        generate(tmp / "demo", DemoSpec(num_videos=args.num_videos), progress=False)
        gen = time.perf_counter() - t
        print(f"demo-data: {args.num_videos} videos in {gen:.1f}s ({args.num_videos / gen:.0f} videos/s)")
        times = {}
        for workers in (args.workers, 0):
            t = time.perf_counter()
            s = extract_frames(tmp / "demo" / "videos", tmp / f"vis_{workers}", num_frames=12, max_size=64,
                               workers=workers, progress=False)
            times[workers] = time.perf_counter() - t
            assert s.stored == args.num_videos and s.failed == 0
            print(f"extract-frames --num-frames 12 --max-size 64 --workers {workers}: {times[workers]:.1f}s "
                  f"({args.num_videos / times[workers]:.0f} videos/s)")
        print(f"speed-up of {args.workers} workers over in-process: {times[0] / times[args.workers]:.2f}x")


if __name__ == "__main__":
    main()
