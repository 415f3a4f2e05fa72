"""`sparsevl train --config FILE [--key value ...]`"""

from __future__ import annotations

import argparse

from sparsevl.config import ConfigError, load_config

ACCEPTS_CONFIG_OVERRIDES = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="JSON config (see configs/)")
    parser.add_argument(
        "--resume", action="store_true",
        help="continue the run in output_dir from its latest checkpoint (same config), ending as an uninterrupted run would",
    )
    parser.epilog = "Any config key can be overridden: --lr 3e-4 --model.fusion mean --num_epochs 2"


def run(args: argparse.Namespace) -> int:
    from sparsevl.train.config import TrainConfig
    from sparsevl.train.loop import train

    try:
        cfg = load_config(TrainConfig, args.config, args.overrides)
    except ConfigError as e:
        raise SystemExit(f"config error: {e}")
    train(cfg, resume=args.resume)
    print(f"run folder: {cfg.output_dir}")
    return 0
