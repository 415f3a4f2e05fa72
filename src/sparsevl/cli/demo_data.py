"""`sparsevl demo-data OUT_DIR [--num-videos N] [--seed S]`"""

from __future__ import annotations

import argparse
import time

from sparsevl.data.demo_data import DemoSpec, generate
from sparsevl.problems import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out_dir", help="folder to write videos/, annotations/ and captions/ into")
    parser.add_argument("--num-videos", type=int, default=DemoSpec.num_videos)
    parser.add_argument("--seed", type=int, default=DemoSpec.seed)


def run(args: argparse.Namespace) -> int:
    if args.num_videos < 1:
        raise UserError("--num-videos must be at least 1")
    start = time.time()
    counts = generate(args.out_dir, DemoSpec(num_videos=args.num_videos, seed=args.seed))
    total_q = sum(c["questions"] for c in counts.values())
    print(f"wrote {args.num_videos} videos and {total_q} questions to {args.out_dir} in {time.time() - start:.1f}s")
    for split, c in counts.items():
        print(f"  {split}: {c['videos']} videos, {c['questions']} questions")
    return 0
