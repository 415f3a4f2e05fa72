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

from collections import Counter

from txt_db_tools.common import Converter, SplitInput
from txt_db_tools.msrvtt import msrvtt_video_problem, video_of_vid_key
from txt_db_tools.sources import brief, keep_unique, keep_valid, line_number, read_csv_rows, split_counts

TEST_FILE = "MSR_MC_test.csv"
DELIMITER = "\t"
OPTION_COLUMNS = ("a1", "a2", "a3", "a4", "a5")
COLUMNS = ("key", "vid_key", *OPTION_COLUMNS, "answer")
ANSWER_INDICES = {str(i): i for i in range(len(OPTION_COLUMNS))}


def _row_problem(row: dict) -> str | None:
    if row["answer"].strip() not in ANSWER_INDICES:
        return f"bad answer: {brief(row['answer'])} is not an option index 0-{len(OPTION_COLUMNS) - 1} (0 is a1)"
    return msrvtt_video_problem(row)


def _question_record(row: dict) -> dict:
    return {
        "qid": row["key"],
        "video_id": video_of_vid_key(row["vid_key"]),
        "options": [row[c] for c in OPTION_COLUMNS],
        "answer": ANSWER_INDICES[row["answer"].strip()],
        "vid_key": row["vid_key"],
    }


def read_split(split: SplitInput) -> tuple[list[dict], dict]:
    """The multiple-choice questions of MSR_MC_test.csv. Returns (records, counts for meta.json)."""
    path, log = split.files["csv"], split.log
    rows, n_rows = read_csv_rows(path, COLUMNS, log, delimiter=DELIMITER)
    usable = keep_valid(rows, dict.fromkeys(COLUMNS, str), path, log, line_number, check=_row_problem)
    unique, _ = keep_unique(usable, "key", path, log, line_number)
    records = [_question_record(row) for _, row in unique.values()]
    counts = split_counts(log, len(records), rows=n_rows)
    # a 1-based file read as 0-based would show no answer at 0: worth a glance in meta.json
    by_index = Counter(r["answer"] for r in records)
    counts["answers_by_index"] = {str(i): by_index[i] for i in ANSWER_INDICES.values()}
    return records, counts


CONVERTER = Converter(
    module="txt_db_tools.msrvtt_mc",
    doc=__doc__,
    dataset="MSRVTT multiple-choice",
    task="multiple_choice",
    files={"test": {"csv": TEST_FILE}},
    read_split=read_split,
    meta={"protocol": "JSFusion's multiple-choice test: 5 captions per video, one of them right"},
)
convert = CONVERTER.convert
main = CONVERTER.main

if __name__ == "__main__":
    raise SystemExit(main())
