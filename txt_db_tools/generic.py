"""Open-ended QA from a plain CSV or jsonl file per split -> txt_db.

    python -m txt_db_tools.generic --ann-dir DIR --out TXT_DB [--top-k K] [--ans2label FILE]
                                   [--on-error skip|stop]

DIR holds `{split}.csv` or `{split}.jsonl` for any of train, val, test (not both for one split).
Each row (CSV: comma-separated, a header line, standard quoting) or line (jsonl: one JSON object)
has `video`, `question` and `answer`, and optionally `answer_type` and `qid`; an empty optional
cell (CSV) or a null (jsonl) counts as absent. Other columns or fields are kept as they are.

Records, in file order: {qid, video_id, question, answer, answer_type (if given), ...}:
- `video_id` is `video` reduced to the id `extract-frames` stores the video under: without its
  folders and without a video extension (`clips/abc.mp4` -> `abc`; `abc` stays `abc`);
- `qid` is the given one (jsonl: a string or an integer), else `{split}_{line}` with the row's line
  in its file (`train_12`); a qid given twice in a split drops every row of it.
The answer vocabulary holds the K most frequent train answers, as for ActivityNet-QA.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sparsevl.video_ids import video_id_from_path
from txt_db_tools.common import Converter, Options, SplitInput
from txt_db_tools.sources import (
    SplitLog,
    brief,
    find_one_of,
    keep_unique,
    keep_valid,
    line_number,
    read_csv_rows,
    read_jsonl_rows,
    split_counts,
    video_path_problem,
    with_source_fields,
)

SPLITS = ("train", "val", "test")
FORMATS = {"csv": "{split}.csv", "jsonl": "{split}.jsonl"}
REQUIRED = ("video", "question", "answer")
OPTIONAL = ("answer_type", "qid")


def _row_problem(rec: dict) -> str | None:
    """Why a row with the required fields is unusable: its video names no file, or an optional
    field is wrong (jsonl: it may be anything); None if fine."""
    video_problem = video_path_problem(rec["video"])
    if video_problem is not None:
        return video_problem
    qid = rec.get("qid")
    if qid is not None and (isinstance(qid, bool) or not isinstance(qid, (str, int))):
        return f"wrong field type: 'qid' should be a string or an integer, got {brief(qid)}"
    if isinstance(qid, str) and not qid.strip():
        return "empty field: 'qid'"
    answer_type = rec.get("answer_type")
    if answer_type is not None and not isinstance(answer_type, str):
        return f"wrong field type: 'answer_type' should be a string, got {brief(answer_type)}"
    return None


def _read(path: Path, kind: str, log: SplitLog) -> tuple[list[tuple[int, Any]], int]:
    """The rows of a split's file; an optional field that is empty (CSV) or null (jsonl) is
    removed: the row does not give it."""
    if kind == "jsonl":
        rows, n_rows = read_jsonl_rows(path, log)
        absent = [(row, name) for _, row in rows if isinstance(row, dict) for name in OPTIONAL
                  if name in row and row[name] is None]
    else:
        rows, n_rows = read_csv_rows(path, REQUIRED, log)
        absent = [(row, name) for _, row in rows for name in OPTIONAL if name in row and not row[name].strip()]
    for row, name in absent:
        del row[name]
    return rows, n_rows


def read_split(split: SplitInput) -> tuple[list[dict], dict]:
    """One split's file. Returns (records, counts for meta.json)."""
    (kind, path), = split.files.items()
    rows, n_rows = _read(path, kind, split.log)
    usable = keep_valid(rows, dict.fromkeys(REQUIRED, str), path, split.log, line_number, check=_row_problem)
    for line, row in usable:
        row.setdefault("qid", f"{split.name}_{line}")
    unique, _ = keep_unique(usable, "qid", path, split.log, line_number)
    records = []
    for _, row in unique.values():
        rec = {"qid": row["qid"], "video_id": video_id_from_path(row["video"]), "question": row["question"],
               "answer": row["answer"]}
        records.append(with_source_fields(rec, row, consumed=("video",)))
    counts = split_counts(split.log, len(records), rows=n_rows)
    counts["videos"] = len({r["video_id"] for r in records})
    return records, counts


def find(ann_dir: Path, _: Options) -> tuple[dict[str, dict[str, Path]], dict[str, str]]:
    """Each split's file, {split}.csv or {split}.jsonl, as {split: {kind: path}}."""
    return find_one_of(ann_dir, {split: {kind: t.format(split=split) for kind, t in FORMATS.items()}
                                 for split in SPLITS})


CONVERTER = Converter(
    module="txt_db_tools.generic",
    doc=__doc__,
    dataset="generic",
    task="video_qa",
    find=find,
    needs=lambda _: f"{{split}}.csv or {{split}}.jsonl for at least one of {', '.join(SPLITS)}",
    read_split=read_split,
    answer_vocab=True,
)
convert = CONVERTER.convert
main = CONVERTER.main

if __name__ == "__main__":
    raise SystemExit(main())
