"""`sparsevl demo --out DIR [--task NAME] [--config FILE] [--data-seed S] [--key value ...]`"""

from __future__ import annotations

import argparse

from sparsevl.demos import DEMOS

ACCEPTS_CONFIG_OVERRIDES = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="folder for data, stores and runs")
    parser.add_argument("--task", choices=sorted(DEMOS), default="video_qa", help="which demo (default: video_qa)")
    parser.add_argument("--config", default=None, help="training config instead of the demo's own")
    parser.add_argument("--num-videos", type=int, default=None, help="demo videos to generate (default: the demo's)")
    parser.add_argument("--data-seed", type=int, default=0, help="seed of the demo data (`--seed N` sets the training seed)")
    parser.epilog = "Other --key value pairs override the training config."


def run(args: argparse.Namespace) -> int:
    from sparsevl.demos import DemoOptions, run_demo

    options = DemoOptions(config=args.config, num_videos=args.num_videos, seed=args.data_seed, overrides=tuple(args.overrides))
    return run_demo(args.task, args.out, options)
