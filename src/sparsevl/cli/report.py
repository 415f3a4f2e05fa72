"""`sparsevl report RUN_DIR [--compare OTHER_RUN_DIR ...] --out report.html`"""

from __future__ import annotations

import argparse
from pathlib import Path

from sparsevl.report import DEFAULT_SAMPLE


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "One self-contained HTML page of a run: results (table and chart), training curves, a gallery "
        "of evaluated examples with the frames the model saw, the config and the problems logs. "
        "It opens offline; compared runs are shown side by side."
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", type=Path, help="a run folder (train's output_dir)")
    parser.add_argument("--compare", nargs="+", default=[], type=Path, metavar="OTHER_RUN_DIR",
                        help="runs to show beside it, on the same split")
    parser.add_argument("--out", required=True, type=Path, help="the HTML file to write")
    parser.add_argument("--split", default=None,
                        help="which evaluated split (default: the one evaluated last by `sparsevl evaluate`)")
    parser.add_argument("--sample", type=int, default=DEFAULT_SAMPLE,
                        help=f"examples in the gallery (default {DEFAULT_SAMPLE}, half of them wrong where possible)")
    parser.add_argument("--seed", type=int, default=0, help="of the gallery's random sample")
    parser.add_argument("--vis-db", default=None, help="frame store, if not the run config's vis_db (e.g. moved)")


def run(args: argparse.Namespace) -> int:
    from sparsevl.report import report_runs

    path = report_runs(args.run_dir, args.out, args.compare, args.split, args.sample, args.seed, args.vis_db)
    print(f"report: {path}")
    return 0
