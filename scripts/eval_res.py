#!/usr/bin/env python
"""Open-ended QA accuracy per question type: python scripts/eval_res.py PRED GT [--json]

PRED: a JSON list of {"question_id", "answer"} (ActivityNet-QA's format; "qid" also accepted), a
.jsonl file of the same records, or a JSON object {question_id: answer}.
GT: a published ActivityNet-QA answers file (e.g. val_a.json) or a txt_db split (e.g. val.jsonl).

Prints a table (ActivityNet-QA's rows when GT uses its types), or with --json the same numbers as
JSON. Questions without a prediction count as wrong and are reported on stderr. Exit code 1 with a
one-line message on bad input (malformed file, prediction for an unknown question id).
"""

from __future__ import annotations

import argparse
import json
import sys

from sparsevl.problems import BadInputError
from sparsevl.tasks.qa_report import (
    accuracy_by_type,
    format_report,
    load_ground_truth,
    load_predictions,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="eval_res.py", description="Open-ended QA accuracy per question type."
    )
    parser.add_argument(
        "pred", help="predictions: JSON list of {question_id, answer}, or {question_id: answer}"
    )
    parser.add_argument(
        "gt", help="ground truth: ActivityNet-QA answers file (val_a.json) or txt_db split (.jsonl)"
    )
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON instead of a table")
    args = parser.parse_args(argv)
    try:
        ground_truth = load_ground_truth(args.gt)
        predictions = load_predictions(args.pred)
        report = accuracy_by_type(predictions, ground_truth)
    except (BadInputError, OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if report.missing:
        shown = ", ".join(str(q) for q in report.missing[:5])
        more = " ..." if len(report.missing) > 5 else ""
        print(
            f"warning: {len(report.missing)} of {report.row('All').total} questions have no "
            f"prediction (counted as wrong): {shown}{more}",
            file=sys.stderr,
        )
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(format_report(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
