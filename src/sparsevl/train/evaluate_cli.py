"""`sparsevl evaluate --config RUN/config.json --checkpoint CKPT --split SPLIT`"""

from __future__ import annotations

import argparse

from sparsevl.config import ConfigError, load_config

ACCEPTS_CONFIG_OVERRIDES = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="the run's config.json (or any config)")
    parser.add_argument("--checkpoint", required=True, help="a ckpt/step_*.pt file written by train")
    parser.add_argument("--split", default="test", help="txt_db split to evaluate (default: test)")


def run(args: argparse.Namespace) -> int:
    from sparsevl.train.config import TrainConfig
    from sparsevl.train.loop import evaluate

    try:
        cfg = load_config(TrainConfig, args.config, args.overrides)
    except ConfigError as e:
        raise SystemExit(f"config error: {e}")
    result, files = evaluate(cfg, args.checkpoint, args.split)
    print(result.table)
    for name, path in files.items():
        print(f"{name}: {path}")
    return 0
