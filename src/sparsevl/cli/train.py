"""`sparsevl train --config FILE [--resume] [--key value ...]`"""

from __future__ import annotations

import argparse

ACCEPTS_CONFIG_OVERRIDES = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True,
                        help="JSON config: a file, or the name of one shipped with sparsevl (e.g. demo_qa.json)")
    parser.add_argument(
        "--resume", action="store_true",
        help="continue the run in output_dir from its latest checkpoint (same config), ending as an uninterrupted run would",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace the run that is in output_dir")
    parser.add_argument("--allow-missing-pretrained", action="store_true",
                        help="start the parts whose pretrained weights are not there (model.backbone_dir, "
                             "model.text_model_dir) from random weights instead of stopping")
    parser.epilog = "Any config key can be overridden: --lr 3e-4 --model.fusion mean --num_epochs 2"


def run(args: argparse.Namespace) -> int:
    from sparsevl.config import load_config
    from sparsevl.configs import config_file
    from sparsevl.runner.train import train
    from sparsevl.tasks.config import RunConfig

    overrides = args.overrides + (["--model.allow_missing_pretrained", "true"] if args.allow_missing_pretrained else [])
    cfg = load_config(RunConfig, config_file(args.config), overrides)
    train(cfg, resume=args.resume, overwrite=args.overwrite)
    print(f"run folder: {cfg.output_dir}")
    return 0
