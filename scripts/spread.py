#!/usr/bin/env python
"""Mean, min and max of the same numbers over several runs (e.g. seeds): one row per number.

    python scripts/spread.py runs/demo/runs/demo_qa*/results/test_step1400_accuracy.json

Reads the result files `sparsevl evaluate` writes: QA accuracy files (`rows` of name/accuracy)
and evaluation files (`metrics`). A number missing from one of the files is an error: the runs
must be comparable.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path


def numbers(path: Path) -> dict[str, float]:
    record = json.loads(path.read_text())
    if "rows" in record:
        return {row["name"]: row["accuracy"] for row in record["rows"] if row.get("accuracy") is not None}
    if "metrics" in record:
        return {k: v for k, v in record["metrics"].items() if isinstance(v, (int, float))}
    raise SystemExit(f"spread.py: {path}: neither `rows` nor `metrics` (not a sparsevl result file)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args(argv)
    runs = [numbers(p) for p in args.files]
    names = list(runs[0])
    for path, run in zip(args.files, runs):
        if list(run) != names:
            raise SystemExit(f"spread.py: {path} has {sorted(run)}, {args.files[0]} has {sorted(names)}")
    print(f"{len(runs)} runs: " + ", ".join(str(p) for p in args.files))
    print(f"{'name':<20} {'mean':>7} {'min':>7} {'max':>7}  values")
    for name in names:
        values = [run[name] for run in runs]
        print(f"{name:<20} {statistics.mean(values):7.2f} {min(values):7.2f} {max(values):7.2f}  "
              + " ".join(f"{v:.2f}" for v in values))
    return 0


if __name__ == "__main__":
    sys.exit(main())
