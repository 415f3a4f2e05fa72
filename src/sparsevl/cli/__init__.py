"""The `sparsevl <verb>` command.

Each verb is a module of this package exposing `add_arguments(parser)` and `run(args) -> int`,
imported only when its verb runs (so `sparsevl demo-data` does not pay for torch). Verbs are thin:
they parse, call the library and print. A user error (`sparsevl.problems.UserError`: a bad
config, a missing file, a malformed record) ends here as one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from sparsevl.problems import UserError

# verb -> (module, one-line help)
VERBS: dict[str, tuple[str, str]] = {
    "demo-data": ("sparsevl.cli.demo_data", "write synthetic shape videos with QA and captions"),
    "extract-frames": ("sparsevl.cli.extract_frames", "sample frames from videos into a vis_db"),
    "vis-db": ("sparsevl.cli.vis_db", "index a folder of vis_db shards as one store"),
    "train": ("sparsevl.cli.train", "train a model from a JSON config"),
    "evaluate": ("sparsevl.cli.evaluate", "evaluate a checkpoint on a split"),
    "predict": ("sparsevl.cli.predict", "answer questions or score captions for one video file"),
    "report": ("sparsevl.cli.report", "one HTML page of a run's results, curves and examples"),
    "demo": ("sparsevl.cli.demo", "the whole pipeline on synthetic data, on a CPU"),
}
USER_ERROR_STATUS = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sparsevl", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for verb, (_, help_text) in VERBS.items():
        sub.add_parser(verb, help=help_text, add_help=False)
    return parser


def parse_intermixed(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """Options may come between positionals (`VIDEO_DIR --fps 4 VIS_DB`), which plain parse_args
    refuses. argparse cannot intermix a verb with sub-commands (`vis-db index`) and says so with a
    TypeError: those parse plainly."""
    try:
        return parser.parse_intermixed_args(argv)
    except TypeError:
        return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in VERBS:
        parser = build_parser()
        if argv and argv[0] not in ("-h", "--help"):
            parser.error(f"unknown verb {argv[0]!r}; choose from {', '.join(VERBS)}")
        parser.print_help()
        return 0 if argv else 2
    verb, rest = argv[0], argv[1:]
    module = importlib.import_module(VERBS[verb][0])
    # allow_abbrev=False: a config override must never be taken for a prefix of an option
    parser = argparse.ArgumentParser(prog=f"sparsevl {verb}", description=VERBS[verb][1], allow_abbrev=False)
    module.add_arguments(parser)
    if getattr(module, "ACCEPTS_CONFIG_OVERRIDES", False):
        # Verbs that read a config take the leftover `--key value` pairs as overrides (sparsevl.config).
        args, args.overrides = parser.parse_known_args(rest)
    else:
        args = parse_intermixed(parser, rest)
        args.overrides = []
    try:
        return int(module.run(args) or 0)
    except UserError as e:
        print(f"sparsevl {verb}: {e}", file=sys.stderr)
        return USER_ERROR_STATUS


if __name__ == "__main__":
    raise SystemExit(main())
