"""TGIF-QA (published release) -> txt_db, one task per txt_db.

    python -m txt_db_tools.tgif_qa --ann-dir DIR --out TXT_DB --task frameqa|action|transition|count
                                   [--top-k K] [--ans2label FILE] [--on-error skip|stop]

DIR holds the published `Train_{task}_question.csv` and `Test_{task}_question.csv`
(YunseokJANG/tgif-qa, dataset/): tab-separated, a header line, CSV quoting (a field holding a
quote is written between quotes, its quotes doubled). They become the splits `train` and `test`
(TGIF-QA has no val split). Columns: gif_name, question, then
- frameqa: answer, type (0 object, 1 number, 2 color, 3 location), vid_id, key, description;
- action, transition: a1 .. a5, answer (0-based index: 0 is a1), vid_id, key;
- count: answer (the count), vid_id, key.

Records, in file order, `qid` = vid_id (e.g. FRAMEQA1159, unique per file), `video_id` =
gif_name (the GIF's file stem), the other columns kept as strings (key, description):
- frameqa (open-ended QA): {qid, video_id, question, answer, answer_type: object|number|color|
  location, type: the code as an int} + ans2label.json;
- action, transition (multiple choice): {qid, video_id, question, options: [a1..a5], answer: int};
- count (open-ended QA): {qid, video_id, question, answer: the count as a string ("3"),
  answer_type: "count", count: the same as an int} + ans2label.json.

ClipBERT's txt_db (jayleicn/ClipBERT, src/tasks/run_video_qa.py, `mk_tgif_qa_dataloader`) holds
the same fields for frameqa, action and transition, the video under `gif_name` (question, answer,
`answer_type` with these lower-case names, `options`, the 0-based `answer`). Its released configs
have no count task (src/configs/config.py, `get_video_qa_args`: task in action, transition,
frameqa, msrvtt_qa); the leftover regression branch of run_video_qa.py would train on
`int(answer)` with MSE and predict round(x) clamped to 1..10. Here the count is an open-ended
answer (exact-match accuracy, the project's QA task) and `count` keeps the integer for a
regression head. The published counts are 0 and 2..10 (no 1).
"""

from __future__ import annotations

from collections import Counter

from txt_db_tools.common import Converter, Option, SplitInput
from txt_db_tools.sources import (
    brief,
    keep_unique,
    keep_valid,
    line_number,
    read_csv_rows,
    split_counts,
    whole_number,
    with_source_fields,
)

TASKS = ("frameqa", "action", "transition", "count")
MULTIPLE_CHOICE = ("action", "transition")
FILES = {"train": "Train_{task}_question.csv", "test": "Test_{task}_question.csv"}
DELIMITER = "\t"
OPTION_COLUMNS = ("a1", "a2", "a3", "a4", "a5")
FRAMEQA_TYPES = ("object", "number", "color", "location")  # type code -> name (ClipBERT's names)
COUNT_TYPE = "count"
COLUMNS = {
    "frameqa": ("gif_name", "question", "answer", "type", "vid_id"),
    "action": ("gif_name", "question", *OPTION_COLUMNS, "answer", "vid_id"),
    "transition": ("gif_name", "question", *OPTION_COLUMNS, "answer", "vid_id"),
    "count": ("gif_name", "question", "answer", "vid_id"),
}
ANSWER_INDICES = {str(i): i for i in range(len(OPTION_COLUMNS))}
TYPE_CODES = {str(i): i for i in range(len(FRAMEQA_TYPES))}


def _row_problem(task: str):
    def check(row: dict) -> str | None:
        answer = row["answer"].strip()
        if task in MULTIPLE_CHOICE and answer not in ANSWER_INDICES:
            return f"bad answer: {brief(row['answer'])} is not an option index 0-{len(OPTION_COLUMNS) - 1} (0 is a1)"
        if task == "count" and whole_number(answer) is None:
            return f"bad answer: {brief(row['answer'])} is not a count (a whole number)"
        if task == "frameqa" and row["type"].strip() not in TYPE_CODES:
            return f"unknown type code: {brief(row['type'])} (FrameQA uses 0-{len(FRAMEQA_TYPES) - 1})"
        return None

    return check


def _record(task: str, row: dict) -> dict:
    rec = {"qid": row["vid_id"], "video_id": row["gif_name"], "question": row["question"]}
    answer = row["answer"].strip()
    if task in MULTIPLE_CHOICE:
        rec |= {"options": [row[c] for c in OPTION_COLUMNS], "answer": ANSWER_INDICES[answer]}
    elif task == "frameqa":
        code = TYPE_CODES[row["type"].strip()]
        rec |= {"answer": row["answer"], "answer_type": FRAMEQA_TYPES[code], "type": code}
    else:
        count = whole_number(answer)
        rec |= {"answer": str(count), "answer_type": COUNT_TYPE, "count": count}
    return with_source_fields(rec, row, COLUMNS[task])  # key, description, ...


def read_split(split: SplitInput) -> tuple[list[dict], dict]:
    """One split's questions of the task. Returns (records, counts for meta.json)."""
    path, log, task = split.files["csv"], split.log, split.options["task"]
    columns = COLUMNS[task]
    rows, n_rows = read_csv_rows(path, columns, log, delimiter=DELIMITER)
    usable = keep_valid(rows, dict.fromkeys(columns, str), path, log, line_number, check=_row_problem(task))
    unique, _ = keep_unique(usable, "vid_id", path, log, line_number)
    records = [_record(task, row) for _, row in unique.values()]
    counts = split_counts(log, len(records), rows=n_rows)
    if task in MULTIPLE_CHOICE:  # a 1-based file read as 0-based would show no answer at 0
        by_index = Counter(r["answer"] for r in records)
        counts["answers_by_index"] = {str(i): by_index[i] for i in ANSWER_INDICES.values()}
    elif task == "frameqa":
        by_type = Counter(r["answer_type"] for r in records)
        counts["answer_types"] = {name: by_type[name] for name in FRAMEQA_TYPES}
    else:
        counts["counts"] = {str(n): k for n, k in sorted(Counter(r["count"] for r in records).items())}
    return records, counts


CONVERTER = Converter(
    module="txt_db_tools.tgif_qa",
    doc=__doc__,
    dataset="TGIF-QA",
    # frameqa and count are open-ended (an answer vocabulary), action and transition multiple choice
    task=lambda opts: "multiple_choice" if opts["task"] in MULTIPLE_CHOICE else "video_qa",
    files={split: {"csv": name} for split, name in FILES.items()},
    read_split=read_split,
    options=(Option("--task", required=True, choices=TASKS, help="the TGIF-QA task to convert"),),
    answer_vocab=True,
    meta=lambda opts: {"tgif_task": opts["task"]},
)
convert = CONVERTER.convert
main = CONVERTER.main

if __name__ == "__main__":
    raise SystemExit(main())
