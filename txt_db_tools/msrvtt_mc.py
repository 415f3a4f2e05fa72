"""MSRVTT multiple choice (JSFusion's MSR_MC_test.csv) -> txt_db.

    python -m txt_db_tools.msrvtt_mc --ann-dir DIR --out TXT_DB [--on-error skip|stop]

DIR holds `MSR_MC_test.csv`, the MSRVTT multiple-choice test of JSFusion (yj-yu/lsmdc), as used by
ClipBERT: for each of the 2,990 videos of the official test split, five captions of which one
describes it. The file is not in this project's test data; its schema comes from the published
code that reads it: facebookresearch/fairseq examples/MMPT, mmpt/processors/dsprocessor.py
(MSRVTTQAMetaProcessor: `pd.read_csv(path, sep="\\t")`, columns `vid_key`, `a1`..`a5`, `answer`, video
`vid_key.replace("msr", "video")`) and mmpt/evaluators/predictor.py (QAPredictor: the argmax over
the five options is compared with `answer` as is), and an MMAction2-based MSRVTT-MC metric doing
the same (`sep="\\t"`, argmax over 5 == `answer`). So: tab-separated, a header line, `answer` is
0-based (0 is a1). The full header is said to be key, vid_key, video_id, a1, a2, a3, a4, a5,
answer (no copy of the file was found to confirm `video_id`), so the columns required are those
the readers use, key, vid_key, a1..a5 and answer; a `video_id` column, when present, must name the
same video as `vid_key`.

Output split `test`, in file order: {qid: key, video_id: `video<N>` from vid_key `msr<N>`,
options: [a1..a5], answer: int 0-4, vid_key}.
"""

from __future__ import annotations

import argparse
import os
from collections import Counter
from pathlib import Path

from sparsevl.problems import BadInputError
from txt_db_tools.common import (
    converter_parser,
    SplitLog,
    file_info,
    find_split_files,
    keep_unique,
    keep_valid,
    line_number,
    read_csv_rows,
    run_cli,
    split_counts,
    start_problem_log,
    write_txt_db,
)
from txt_db_tools.msrvtt import msrvtt_video_problem, video_of_vid_key

CONVERTER = "txt_db_tools.msrvtt_mc"
TEST_FILE = "MSR_MC_test.csv"
DELIMITER = "\t"
OPTION_COLUMNS = ("a1", "a2", "a3", "a4", "a5")
COLUMNS = ("key", "vid_key", *OPTION_COLUMNS, "answer")
ANSWER_INDICES = {str(i): i for i in range(len(OPTION_COLUMNS))}


def _row_problem(row: dict) -> str | None:
    if row["answer"].strip() not in ANSWER_INDICES:
        return f"bad answer: {row['answer']!r} is not an option index 0-{len(OPTION_COLUMNS) - 1} (0 is a1)"
    return msrvtt_video_problem(row)


def _question_record(row: dict) -> dict:
    return {
        "qid": row["key"],
        "video_id": video_of_vid_key(row["vid_key"]),
        "options": [row[c] for c in OPTION_COLUMNS],
        "answer": ANSWER_INDICES[row["answer"].strip()],
        "vid_key": row["vid_key"],
    }


def convert_test(path: Path, log: SplitLog) -> tuple[list[dict], dict]:
    """The multiple-choice questions of MSR_MC_test.csv. Returns (records, counts for meta.json)."""
    rows, n_rows = read_csv_rows(path, COLUMNS, log, delimiter=DELIMITER)
    usable = keep_valid(rows, dict.fromkeys(COLUMNS, str), path, log, line_number, check=_row_problem)
    unique, _ = keep_unique(usable, "key", path, log, line_number)
    records = [_question_record(row) for _, row in unique.values()]
    counts = split_counts(log, len(records), rows=n_rows)
    # a 1-based file read as 0-based would show no answer at 0: worth a glance in meta.json
    by_index = Counter(r["answer"] for r in records)
    counts["answers_by_index"] = {str(i): by_index[i] for i in ANSWER_INDICES.values()}
    return records, counts


def convert(
    ann_dir: str | os.PathLike, out: str | os.PathLike, on_error: str = "stop", quiet: bool = False
) -> dict:
    """Convert MSR_MC_test.csv in `ann_dir` into the txt_db folder `out`; returns its meta.

    Raises BadInputError on bad input in stop mode, on a malformed file, or when the file is absent.
    """
    ann_dir, out = Path(ann_dir), Path(out)
    found, missing = find_split_files(ann_dir, ["test"], {"csv": TEST_FILE})
    if not found:
        raise BadInputError(f"no MSRVTT multiple-choice split in {ann_dir}: need {TEST_FILE}")
    problems = start_problem_log(out, on_error)
    path = found["test"]["csv"]
    records, counts = convert_test(path, SplitLog(problems, "test"))
    meta = {
        "converter": CONVERTER,
        "dataset": "MSRVTT multiple choice (JSFusion)",
        "task": "multiple_choice",
        "source_dir": str(ann_dir.resolve()),
        "sources": [file_info(path)],
        "on_error": on_error,
        "splits": {"test": counts},
        "missing_splits": missing,
    }
    return write_txt_db(out, {"test": records}, meta, problems=problems, quiet=quiet)


def build_parser() -> argparse.ArgumentParser:
    parser = converter_parser("txt_db_tools.msrvtt_mc", __doc__)
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_cli(lambda a: convert(a.ann_dir, a.out, a.on_error), build_parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
