"""`sparsevl evaluate --checkpoint CKPT [--split SPLIT] [--key value ...]`"""

from __future__ import annotations

import argparse

ACCEPTS_CONFIG_OVERRIDES = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="a ckpt/step_*.pt file written by train")
    parser.add_argument("--split", default="test", help="txt_db split to evaluate (default: test)")
    parser.add_argument("--config", default=None,
                        help="a config to use instead of the one saved in the checkpoint (rarely needed)")
    parser.add_argument("--out", default=None, help="folder for the result files (default: RUN/results)")
    parser.epilog = ("The checkpoint holds the run's config; --key value overrides it, e.g. --txt_db DIR "
                     "--vis_db DIR for other data, or --task multiple_choice for a retrieval model.")


def run(args: argparse.Namespace) -> int:
    from sparsevl.runner.evaluate import evaluate

    result, files = evaluate(args.checkpoint, args.split, args.overrides, args.config, args.out)
    print(result.table)
    for name, path in files.items():
        print(f"{name}: {path}")
    return 0
