"""`sparsevl evaluate --checkpoint CKPT [--split SPLIT] [--key value ...]`, or zero-shot
`sparsevl evaluate --init-from FOLDER --out DIR --task retrieval --txt_db ... --vis_db ...`"""

from __future__ import annotations

import argparse

from sparsevl.problems import UserError

ACCEPTS_CONFIG_OVERRIDES = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", help="a ckpt/step_*.pt file written by train")
    source.add_argument("--init-from", metavar="FOLDER",
                        help="zero-shot: the pretrained model in FOLDER as it is, no checkpoint, no training "
                             "(a Hugging Face CLIP folder: the CLIP dual encoder); needs --out")
    parser.add_argument("--split", default="test", help="txt_db split to evaluate (default: test)")
    parser.add_argument("--config", default=None,
                        help="a config to use instead of the one saved in the checkpoint (rarely needed); with "
                             "--init-from, the run config (default: the defaults and the --key value overrides)")
    parser.add_argument("--out", default=None, help="folder for the result files (default: RUN/results)")
    parser.epilog = ("The checkpoint holds the run's config; --key value overrides it, e.g. --txt_db DIR "
                     "--vis_db DIR for other data, or --task multiple_choice for a retrieval model. With "
                     "--init-from, give the task and the data: --task retrieval --txt_db DIR --vis_db DIR "
                     "--retrieval.eval_mode dual.")


def run(args: argparse.Namespace) -> int:
    from sparsevl.runner.evaluate import evaluate, evaluate_pretrained

    if args.init_from is not None:
        if args.out is None:
            raise UserError("--init-from FOLDER has no run folder to write into: give --out DIR")
        result, files = evaluate_pretrained(args.init_from, args.split, args.out, args.overrides, args.config)
    else:
        result, files = evaluate(args.checkpoint, args.split, args.overrides, args.config, args.out)
    print(result.table)
    for name, path in files.items():
        print(f"{name}: {path}")
    return 0
