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

from pathlib import Path

from sparsevl.txt_db import ANET_TYPES
from txt_db_tools.common import Converter, SplitInput, each_split
from txt_db_tools.sources import (
    SplitLog,
    keep_unique,
    keep_valid,
    load_json_list,
    record_locator,
    split_counts,
    with_source_fields,
)

# type code -> name (0-2 question types, 3-8 the answer types of the "Free" questions): the
# names the QA report groups by, so converted records and eval_res.py agree
TYPE_NAMES = ANET_TYPES
Q_FIELDS = {"video_name": str, "question": str, "question_id": str}
A_FIELDS = {"answer": str, "type": int, "question_id": str}
_MAPPED = {"video_name", "question", "question_id", "answer", "type"}
_where = record_locator("question_id")


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


def _usable(path: Path, fields: dict, log: SplitLog, check=None) -> tuple[list, dict]:
    """A file's records, and its usable ones by question_id."""
    raw = load_json_list(path)
    usable = keep_valid(enumerate(raw), fields, path, log, _where, key="question_id", check=check)
    unique, _ = keep_unique(usable, "question_id", path, log, _where)
    return raw, unique


def read_split(split: SplitInput) -> tuple[list[dict], dict]:
    """Join one split's question and answer files. Returns (records, counts for meta.json)."""
    q_path, a_path, log = split.files["questions"], split.files["answers"], split.log
    q_raw, questions = _usable(q_path, Q_FIELDS, log)
    a_raw, answers = _usable(a_path, A_FIELDS, log, _check_type)
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
        records.append(with_source_fields(with_source_fields(rec, q, _MAPPED), a, _MAPPED))
    for qid, (i, _) in answers.items():
        if qid not in questions:
            _drop_unpaired(log, a_path, q_path, i, qid, q_seen, "question", "answer without question")

    by_type = {name: 0 for name in TYPE_NAMES}
    for r in records:
        by_type[r["answer_type"]] += 1
    counts = split_counts(log, len(records), questions=len(q_raw), answers=len(a_raw))
    counts["answer_types"] = by_type
    return records, counts


CONVERTER = Converter(
    module="txt_db_tools.activitynet_qa",
    doc=__doc__,
    dataset="ActivityNet-QA",
    task="video_qa",
    files=each_split(("train", "val", "test"), questions="{split}_q.json", answers="{split}_a.json"),
    read_split=read_split,
    answer_vocab=True,
)
convert = CONVERTER.convert
main = CONVERTER.main

if __name__ == "__main__":
    raise SystemExit(main())
