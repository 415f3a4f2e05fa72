#!/usr/bin/env python
"""Open-ended QA accuracy per question type, or video classification accuracy:
python scripts/eval_res.py PRED GT [--json] [--html OUT]

QA: PRED is a JSON list of {"question_id", "answer"} (ActivityNet-QA's format; "qid" also
accepted), a .jsonl file of the same records, or a JSON object {question_id: answer}; GT a
published ActivityNet-QA answers file (e.g. val_a.json) or a txt_db split (e.g. val.jsonl).

Classification: PRED is the predictions file of a classification run (a JSON list of {"video_id",
"top5", "scores", ...}, results/{split}_step{N}_predictions.json); GT the txt_db split
({video_id, label} records). Prints top-1, top-5 and mean-class accuracy.

Prints a table (ActivityNet-QA's rows when GT uses its types), or with --json the same numbers as
JSON. --html OUT also writes the report page of `sparsevl report` for these predictions: the
table and chart, and a gallery of questions (no frames: a prediction file does not say which
frames the model saw). Questions without a prediction count as wrong and are reported on stderr. Exit code 1 with a
one-line message on bad input (malformed file, prediction for an unknown question id).
"""

from __future__ import annotations

import argparse
import json
import sys

from pathlib import Path

from sparsevl.problems import BadInputError
from sparsevl.tasks.classification_metrics import evaluate_files, format_accuracy, is_classification_predictions
from sparsevl.tasks.qa_report import (
    NO_TYPE,
    Report,
    accuracy_by_type,
    format_report,
    load_ground_truth,
    load_predictions,
    normalize,
)
from sparsevl.txt_db import read_json


def html_report(pred_path: str, gt_path: str, predictions: dict, ground_truth: list[dict], report: Report,
                out: Path, sample: int) -> Path:
    """The report page of a bare prediction file: its metrics and its questions, without frames."""
    # imported here: only --html pays for torch and matplotlib
    from sparsevl.report import write_report
    from sparsevl.report.run_folder import RunResults
    from sparsevl.tasks.protocol import Example

    answers = {str(qid): answer for qid, answer in predictions.items()}
    examples = []
    for g in ground_truth:
        answer = answers.get(str(g["qid"]))
        examples.append(Example(
            video_id=g.get("video_id", ""), frames=[], text=g.get("question") or f"question {g['qid']}",
            prediction="(no prediction)" if answer is None else answer, truth=g["answer"],
            correct=answer is not None and normalize(answer) == normalize(g["answer"]),
            group=g["answer_type"] or NO_TYPE,
        ))
    run = RunResults(
        name=Path(pred_path).name, source=str(pred_path), split=Path(gt_path).name,
        metrics={r.name: r.accuracy for r in report.rows if r.total}, headline=f"All {report.row('All').accuracy:.2f}",
        table=format_report(report), examples=examples,
    )
    note = f"predictions {pred_path} against {gt_path}: a prediction file does not say which frames the model saw"
    return write_report([run], out, sample, notes=[note])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="eval_res.py", description="Open-ended QA accuracy per question type, or classification accuracy."
    )
    parser.add_argument(
        "pred", help="predictions: JSON list of {question_id, answer}, or {question_id: answer}; or a "
        "classification run's predictions file"
    )
    parser.add_argument(
        "gt", help="ground truth: ActivityNet-QA answers file (val_a.json) or txt_db split (.jsonl)"
    )
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON instead of a table")
    parser.add_argument("--html", type=Path, default=None, metavar="OUT",
                        help="also write the report page (table, chart, a gallery of questions) to OUT")
    parser.add_argument("--sample", type=int, default=24, help="questions in the --html gallery (default 24)")
    args = parser.parse_args(argv)
    try:
        if _classification_file(args.pred):
            return classification(args)
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
    if args.html is not None:
        path = html_report(args.pred, args.gt, predictions, ground_truth, report, args.html, args.sample)
        print(f"report: {path}", file=sys.stderr)
    return 0


def _classification_file(path: str) -> bool:
    """A classification run's predictions file (a JSON list of {video_id, top5, ...})? Anything
    else, unreadable files included, is left to the QA reader and its messages."""
    try:
        return is_classification_predictions(read_json(path))
    except (BadInputError, OSError):
        return False


def classification(args: argparse.Namespace) -> int:
    try:
        result = evaluate_files(args.pred, args.gt)
    except (BadInputError, OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    missing = result.pop("missing")
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        print(f"warning: {len(missing)} of {result['videos']} videos have no prediction (counted as wrong): {shown}",
              file=sys.stderr)
    print(json.dumps({"layout": "classification", **result, "missing": len(missing)}, indent=2) if args.json
          else format_accuracy(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
