"""ActivityNet-QA (published release) -> txt_db.

    python -m txt_db_tools.activitynet_qa --ann-dir DIR --out TXT_DB [--top-k K] [--on-error skip|stop]

DIR holds `{split}_q.json` (list of {video_name, question, question_id}) and `{split}_a.json`
(list of {answer, type, question_id}) for train, val and test; every split with both files is
converted. Records are joined on `question_id` and written in the question file's order as
{qid, video_id, question, answer, answer_type, type}: `video_id` is "v_" + video_name (ActivityNet
video files are named `v_<youtube id>.mp4`), `answer_type` the type code's name and `type` the code.
The answer vocabulary holds the K most frequent train answers (ties broken by the answer string).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from sparsevl.problems import BadInputError
from sparsevl.txt_db import ANET_TYPES
from txt_db_tools.common import (
    converter_parser,
    DEFAULT_TOP_K,
    SplitLog,
    check_fields,
    file_info,
    find_split_files,
    keep_unique,
    load_json_list,
    resolve_ans2label,
    run_cli,
    start_problem_log,
    vocab_coverage,
    write_txt_db,
)

CONVERTER = "txt_db_tools.activitynet_qa"
SPLITS = ("train", "val", "test")
FILES = {"questions": "{split}_q.json", "answers": "{split}_a.json"}
# type code -> name (0-2 question types, 3-8 the answer types of the "Free" questions): the
# names the QA report groups by, so converted records and eval_res.py agree
TYPE_NAMES = ANET_TYPES
Q_FIELDS = {"video_name": str, "question": str, "question_id": str}
A_FIELDS = {"answer": str, "type": int, "question_id": str}
_MAPPED = {"video_name", "question", "question_id", "answer", "type"}


def _where(index: int, qid=None) -> str:
    return f"record {index}" + (f" (question_id {qid!r})" if qid is not None else "")


def _usable(records: list, fields: dict, path: Path, log: SplitLog, check=None) -> list[tuple[int, dict]]:
    kept = []
    for i, rec in enumerate(records):
        reason = check_fields(rec, fields)
        if reason is None and check is not None:
            reason = check(rec)
        if reason is not None:
            log.drop(path, reason, _where(i, rec.get("question_id") if isinstance(rec, dict) else None))
            continue
        kept.append((i, rec))
    return kept


def _check_type(rec: dict) -> str | None:
    if 0 <= rec["type"] < len(TYPE_NAMES):
        return None
    return f"unknown type code: {rec['type']} (ActivityNet-QA uses 0-{len(TYPE_NAMES) - 1})"


def _ids(records: list) -> set:
    """The string question_ids present in `records`, usable or not."""
    return {r["question_id"] for r in records if isinstance(r, dict) and isinstance(r.get("question_id"), str)}


def _drop_unpaired(log, path, other_path, i, qid, other_seen, other_kind, missing_reason) -> None:
    """Drop a record whose partner in the other file is unusable or absent, saying which."""
    if qid in other_seen:
        reason = f"{other_kind} dropped: the record in {other_path.name} with this question_id is unusable"
    else:
        reason = f"{missing_reason}: no record in {other_path.name} has this question_id"
    log.drop(path, reason, _where(i, qid))


def convert_split(q_path: Path, a_path: Path, log: SplitLog) -> tuple[list[dict], dict]:
    """Join one split's question and answer files. Returns (records, counts for meta.json)."""
    q_raw, a_raw = load_json_list(q_path), load_json_list(a_path)
    q_ok = _usable(q_raw, Q_FIELDS, q_path, log)
    a_ok = _usable(a_raw, A_FIELDS, a_path, log, _check_type)
    questions, _ = keep_unique(q_ok, "question_id", q_path, log, _where)
    answers, _ = keep_unique(a_ok, "question_id", a_path, log, _where)
    q_seen, a_seen = _ids(q_raw), _ids(a_raw)

    records = []
    for qid, (i, q) in questions.items():  # in the question file's order
        if qid not in answers:
            _drop_unpaired(log, q_path, a_path, i, qid, a_seen, "answer", "question without answer")
            continue
        a = answers[qid][1]
        rec = {
            "qid": qid,
            "video_id": "v_" + q["video_name"],
            "question": q["question"],
            "answer": a["answer"],
            "answer_type": TYPE_NAMES[a["type"]],
            "type": a["type"],
        }
        for src in (q, a):  # extra source fields, as they are
            for k, v in src.items():
                if k not in _MAPPED and k not in rec:
                    rec[k] = v
        records.append(rec)
    for qid, (i, _) in answers.items():
        if qid not in questions:
            _drop_unpaired(log, a_path, q_path, i, qid, q_seen, "question", "answer without question")

    by_type = {name: 0 for name in TYPE_NAMES}
    for r in records:
        by_type[r["answer_type"]] += 1
    counts = {
        "questions_in": len(q_raw),
        "answers_in": len(a_raw),
        "written": len(records),
        "dropped": log.n_dropped,
        "dropped_by_kind": dict(log.dropped.most_common()),
        "answer_types": by_type,
    }
    return records, counts


def convert(
    ann_dir: str | os.PathLike,
    out: str | os.PathLike,
    top_k: int = DEFAULT_TOP_K,
    on_error: str = "stop",
    ans2label: str | os.PathLike | None = None,
    quiet: bool = False,
) -> dict:
    """Convert every split found in `ann_dir` into the txt_db folder `out`; returns its meta.

    Raises BadInputError on bad input in stop mode, on malformed JSON, or when no split is found.
    """
    if ans2label is None and top_k < 1:
        raise ValueError(f"top_k must be at least 1, not {top_k}")
    ann_dir, out = Path(ann_dir), Path(out)
    found, missing = find_split_files(ann_dir, SPLITS, FILES)
    if not found:
        raise BadInputError(
            f"no ActivityNet-QA split in {ann_dir}: need both {{split}}_q.json and {{split}}_a.json "
            f"for at least one of {', '.join(SPLITS)}"
        )
    problems = start_problem_log(out, on_error)
    splits, stats, sources = {}, {}, []
    for split, paths in found.items():
        records, counts = convert_split(paths["questions"], paths["answers"], SplitLog(problems, split))
        splits[split], stats[split] = records, counts
        sources += [file_info(paths["questions"]), file_info(paths["answers"])]
    vocab, vocab_meta = resolve_ans2label(splits, top_k, ans2label)
    for split, records in splits.items():
        stats[split].update(vocab_coverage(records, vocab))
    meta = {
        "converter": CONVERTER,
        "dataset": "ActivityNet-QA",
        "task": "video_qa",
        "source_dir": str(ann_dir.resolve()),
        "sources": sources,
        "on_error": on_error,
        "top_k": top_k if ans2label is None else None,
        "ans2label": vocab_meta,
        "splits": stats,
        "missing_splits": missing,
    }
    return write_txt_db(out, splits, meta, vocab, problems, quiet=quiet)


def build_parser() -> argparse.ArgumentParser:
    parser = converter_parser("txt_db_tools.activitynet_qa", __doc__, vocab=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_cli(
        lambda a: convert(a.ann_dir, a.out, a.top_k, a.on_error, a.ans2label),
        build_parser(),
        argv,
    )


if __name__ == "__main__":
    raise SystemExit(main())
