"""`sparsevl train --config FILE [--key value ...]`"""

from __future__ import annotations

import argparse

from sparsevl.config import ConfigError, load_config

ACCEPTS_CONFIG_OVERRIDES = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="JSON config (see configs/)")
    parser.epilog = "Any config key can be overridden: --lr 3e-4 --model.fusion mean --num_epochs 2"


def run(args: argparse.Namespace) -> int:
    from sparsevl.train.config import TrainConfig
    from sparsevl.train.loop import train

    try:
        cfg = load_config(TrainConfig, args.config, args.overrides)
    except ConfigError as e:
        raise SystemExit(f"config error: {e}")
    train(cfg)
    print(f"run folder: {cfg.output_dir}")
    return 0
