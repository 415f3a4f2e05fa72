"""Open-ended QA accuracy, per answer type and overall.

A prediction is correct when it equals the ground-truth answer after `.strip().lower()` on both
sides (exact match otherwise: no punctuation or article stripping). A question without a
prediction counts as wrong and is listed in the report; a prediction for a question that is not in
the ground truth is an error. Question ids are compared as strings, so `5` and `"5"` are the same
question (JSON object keys are always strings).

Layouts:
- ActivityNet-QA (every answer_type is one of ActivityNet-QA's type names): Motion, Spatial
  Relation, Temporal Relation, Free, All, then the six Free sub-types Yes/No, Color, Object,
  Location, Number, Other. Free is the accuracy over all questions of types 3-8.
- otherwise: one row per answer_type (sorted), then All.

Files:
- ground truth (`load_ground_truth`): the published ActivityNet-QA answers file (`val_a.json`, a
  list of {answer, type, question_id}; type codes become names), or a txt_db split (`.jsonl`, or a
  JSON list, of {qid, answer, answer_type?}).
- predictions (`load_predictions`): ActivityNet-QA's format, a JSON list of
  {"question_id", "answer"} ("qid" is accepted for "question_id"; a `.jsonl` file of the same
  records too), or a JSON object {question_id: answer}.
"""

from __future__ import annotations

import dataclasses
import os
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Mapping

from sparsevl import tables
from sparsevl.txt_db import ANET_TYPES, read_json, read_jsonl
from sparsevl.problems import BadInputError

ANET_FREE = ANET_TYPES[3:]
ANET_ROWS = ANET_TYPES[:3] + ("Free", "All") + ANET_FREE
NO_TYPE = "(no type)"
SHOW_IDS = 5  # how many ids an error message or a summary lists


@dataclasses.dataclass
class Row:
    name: str
    correct: int
    total: int

    @property
    def accuracy(self) -> float | None:
        """Percent correct; None when the row has no question."""
        return 100.0 * self.correct / self.total if self.total else None

    def to_dict(self) -> dict:
        return {"name": self.name, "accuracy": self.accuracy, "correct": self.correct, "total": self.total}


@dataclasses.dataclass
class Report:
    rows: list[Row]
    layout: str  # "activitynet-qa" or "by-type"
    missing: list = dataclasses.field(default_factory=list)  # qids without a prediction
    n_predictions: int = 0

    def row(self, name: str) -> Row:
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(f"no row {name!r}; rows: {', '.join(r.name for r in self.rows)}")

    def to_dict(self) -> dict:
        return {
            "layout": self.layout,
            "rows": [r.to_dict() for r in self.rows],
            "predictions": self.n_predictions,
            "missing": {"count": len(self.missing), "first": self.missing[:SHOW_IDS]},
        }


def normalize(answer: Any) -> str:
    return str(answer).strip().lower()


def _show(ids: list) -> str:
    more = f" ... (+{len(ids) - SHOW_IDS} more)" if len(ids) > SHOW_IDS else ""
    return ", ".join(repr(i) for i in ids[:SHOW_IDS]) + more


def accuracy_by_type(predictions: Mapping[Any, Any], ground_truth: Iterable[Mapping]) -> Report:
    """Exact-match accuracy (after .strip().lower()) per answer_type and overall.

    `ground_truth`: records with `qid`, `answer` and optionally `answer_type`.
    Raises ValueError for duplicate ground-truth ids and for predictions of unknown ids.
    """
    preds = {}
    for qid, answer in predictions.items():
        key = str(qid)
        if key in preds:
            raise ValueError(f"two predictions for question id {qid!r}")
        preds[key] = answer
    gt_ids: set[str] = set()
    correct: Counter[str] = Counter()
    total: Counter[str] = Counter()
    missing = []
    for g in ground_truth:
        key = str(g["qid"])
        if key in gt_ids:
            raise ValueError(f"question id {g['qid']!r} appears twice in the ground truth")
        gt_ids.add(key)
        atype = g.get("answer_type")
        atype = NO_TYPE if atype is None else str(atype)
        total[atype] += 1
        if key not in preds:
            missing.append(g["qid"])
        elif normalize(preds[key]) == normalize(g["answer"]):
            correct[atype] += 1
    unknown = [qid for qid in predictions if str(qid) not in gt_ids]
    if unknown:
        raise ValueError(
            f"{len(unknown)} prediction(s) for question ids not in the ground truth: {_show(unknown)}"
        )

    def row(name: str, types: Iterable[str]) -> Row:
        types = list(types)
        return Row(name, sum(correct[t] for t in types), sum(total[t] for t in types))

    if total and set(total) <= set(ANET_TYPES):
        layout = "activitynet-qa"
        rows = [row(t, [t]) for t in ANET_TYPES[:3]]
        rows += [row("Free", ANET_FREE), row("All", ANET_TYPES)]
        rows += [row(t, [t]) for t in ANET_FREE]
    else:
        layout = "by-type"
        rows = [row(t, [t]) for t in sorted(total)] + [row("All", list(total))]
    return Report(rows=rows, layout=layout, missing=missing, n_predictions=len(preds))


def format_report(report: Report) -> str:
    """Plain aligned text: type, accuracy (percent, 2 decimals), correct, total."""
    body = [
        (r.name, "-" if r.accuracy is None else f"{r.accuracy:.2f}", str(r.correct), str(r.total))
        for r in report.rows
    ]
    return tables.format_table(("Type", "Accuracy", "Correct", "Total"), body)


# ---------------------------------------------------------------------------- files


def _load_records(path: Path) -> Any:
    if not path.is_file():
        raise FileNotFoundError(f"file not found: {path}")
    return read_jsonl(path) if path.suffix == ".jsonl" else read_json(path)


def _field(path: Path, i: int, rec: Any, names: tuple[str, ...], types: tuple[type, ...]) -> Any:
    if not isinstance(rec, dict):
        raise BadInputError(f"{path}: record {i}: expected a JSON object, got {type(rec).__name__}")
    for name in names:
        if name in rec:
            value = rec[name]
            if not isinstance(value, types) or isinstance(value, bool):
                kinds = " or ".join(t.__name__ for t in types)
                raise BadInputError(f"{path}: record {i}: field {name!r} should be {kinds}, got {value!r}")
            return value
    raise BadInputError(f"{path}: record {i}: missing field {' or '.join(repr(n) for n in names)}")


def load_ground_truth(path: str | os.PathLike) -> list[dict]:
    """Ground truth as [{qid, answer, answer_type?}], from a published ActivityNet-QA answers file
    ({answer, type, question_id}) or a txt_db split (.jsonl or JSON list of {qid, answer, ...},
    whose `question` and `video_id` are kept too)."""
    path = Path(path)
    data = _load_records(path)
    if not isinstance(data, list):
        raise BadInputError(f"{path}: expected a list of records, got {type(data).__name__}")
    gt = []
    for i, rec in enumerate(data):
        qid = _field(path, i, rec, ("qid", "question_id"), (str, int))
        answer = _field(path, i, rec, ("answer",), (str,))
        if "qid" in rec or "answer_type" in rec:  # txt_db record
            atype = rec.get("answer_type")
            if atype is not None and not isinstance(atype, str):
                raise BadInputError(f"{path}: record {i}: answer_type should be a string, got {atype!r}")
        elif "type" in rec:  # published ActivityNet-QA answers file
            code = _field(path, i, rec, ("type",), (int,))
            if not 0 <= code < len(ANET_TYPES):
                raise BadInputError(f"{path}: record {i} (question_id {qid!r}): unknown type code {code}")
            atype = ANET_TYPES[code]
        else:
            atype = None
        record = {"qid": qid, "answer": answer, "answer_type": atype}
        for name in ("question", "video_id"):  # txt_db records: shown by eval_res.py --html
            if isinstance(rec.get(name), str):
                record[name] = rec[name]
        gt.append(record)
    return gt


def load_predictions(path: str | os.PathLike) -> dict:
    """Predictions as {question_id: answer}, from a JSON list of {"question_id", "answer"}
    (or "qid"), a .jsonl file of the same, or a JSON object {question_id: answer}."""
    path = Path(path)
    data = _load_records(path)
    if isinstance(data, dict):
        for qid, answer in data.items():
            if not isinstance(answer, str):
                raise BadInputError(
                    f"{path}: answer of question id {qid!r} should be a string, got {answer!r}"
                )
        return data
    if not isinstance(data, list):
        raise BadInputError(
            f"{path}: expected a list of {{question_id, answer}} or an object, "
            f"got {type(data).__name__}"
        )
    preds: dict = {}
    for i, rec in enumerate(data):
        qid = _field(path, i, rec, ("question_id", "qid"), (str, int))
        answer = _field(path, i, rec, ("answer",), (str,))
        if qid in preds:
            raise BadInputError(f"{path}: record {i}: second prediction for question id {qid!r}")
        preds[qid] = answer
    return preds
