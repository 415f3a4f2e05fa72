"""VQA v2 (published release) -> txt_db for open-ended image QA (images as 1-frame videos).

    python -m txt_db_tools.vqa_v2 --ann-dir DIR --out TXT_DB [--top-k K] [--ans2label FILE]
                                  [--on-error skip|stop]

DIR holds, for train (train2014) and val (val2014), `v2_OpenEnded_mscoco_{subtype}_questions.json`
({questions: [{image_id, question, question_id}]}) and `v2_mscoco_{subtype}_annotations.json`
({annotations: [{question_id, image_id, question_type, answer_type, multiple_choice_answer,
answers: [10 x {answer, answer_confidence, answer_id}]}]}); every split with both files is
converted. The test questions have no answers and are not converted.

Records, in the question file's order, joined on question_id: {qid: question_id, video_id:
`COCO_<subtype>_<image_id, 12 digits>` (the COCO 2014 image file's stem,
`COCO_val2014_000000393225.jpg`), question, answer, answer_type (yes/no, number, other),
question_type, image_id, labels}:
- `answer` is `multiple_choice_answer`, which the VQA release defines as the most frequent of the
  10 answers; it is what bottom-up-attention-vqa (tools/compute_softscore.py) builds its answer
  vocabulary from. The answers are kept as published: that script's normalisation (punctuation,
  number words, articles, contractions) is not applied.
- `labels` are the soft targets of the 10 answers, as that script and ClipBERT's VQA dataset use
  them: {answer: score}, the score 0.3, 0.6, 0.9 for an answer given 1, 2, 3 times, 1 for 4 or more.
The answer vocabulary holds the K most frequent train answers (bottom-up-attention-vqa keeps the
3,129 answers given at least 9 times over train and val: `--top-k 3129` matches its size).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from sparsevl.problems import BadInputError
from txt_db_tools.common import Converter, SplitInput
from txt_db_tools.sources import (
    SplitLog,
    brief,
    keep_unique,
    keep_valid,
    load_json_object,
    record_locator,
    split_counts,
)

SUBTYPES = {"train": "train2014", "val": "val2014"}
Q_FIELDS = {"question_id": int, "image_id": int, "question": str}
A_FIELDS = {"question_id": int, "image_id": int, "multiple_choice_answer": str, "answer_type": str,
            "answers": list}
SOFT_SCORES = {1: 0.3, 2: 0.6, 3: 0.9}  # answer given n times -> score; 4 or more: 1.0
_where = record_locator("question_id")


def image_video_id(subtype: str, image_id: int) -> str:
    return f"COCO_{subtype}_{image_id:012d}"


def soft_labels(answers: list[dict]) -> dict[str, float]:
    counts = Counter(a["answer"] for a in answers)
    return {answer: SOFT_SCORES.get(n, 1.0) for answer, n in counts.most_common()}


def _answers_problem(rec: dict) -> str | None:
    if rec["image_id"] < 0:
        return f"bad image_id: {rec['image_id']} is negative"
    bad = [a for a in rec["answers"] if not (isinstance(a, dict) and isinstance(a.get("answer"), str))]
    if bad or not rec["answers"]:
        return f"bad answers: expected a list of {{answer: string, ...}}, got {brief(rec['answers'])}"
    return None


def _records_under(path: Path, key: str) -> list:
    data = load_json_object(path)
    if not isinstance(data.get(key), list):
        raise BadInputError(f"{path}: expected a list of records under {key!r}, got {type(data.get(key)).__name__}")
    return data[key]


def _usable(path: Path, key: str, fields: dict, log: SplitLog, check=None) -> tuple[list, dict]:
    raw = _records_under(path, key)
    usable = keep_valid(enumerate(raw), fields, path, log, _where, key="question_id", check=check)
    unique, _ = keep_unique(usable, "question_id", path, log, _where)
    return raw, unique


def read_split(split: SplitInput) -> tuple[list[dict], dict]:
    q_path, a_path, log = split.files["questions"], split.files["annotations"], split.log
    subtype = SUBTYPES[split.name]
    q_raw, questions = _usable(q_path, "questions", Q_FIELDS, log)
    a_raw, answers = _usable(a_path, "annotations", A_FIELDS, log, _answers_problem)
    records = []
    for qid, (i, q) in questions.items():
        if qid not in answers:
            log.drop(q_path, f"question without answer: no usable annotation in {a_path.name} has this question_id",
                     _where(i, qid))
            continue
        a = answers[qid][1]
        if a["image_id"] != q["image_id"]:
            log.drop(q_path, f"image mismatch: {a_path.name} gives image_id {a['image_id']}", _where(i, qid))
            continue
        record = {
            "qid": qid, "video_id": image_video_id(subtype, q["image_id"]), "question": q["question"],
            "answer": a["multiple_choice_answer"], "answer_type": a["answer_type"], "image_id": q["image_id"],
            "labels": soft_labels(a["answers"]),
        }
        if isinstance(a.get("question_type"), str):
            record["question_type"] = a["question_type"]
        records.append(record)
    for qid, (i, _) in answers.items():
        if qid not in questions:
            log.drop(a_path, f"answer without question: no usable question in {q_path.name} has this question_id",
                     _where(i, qid))
    counts = split_counts(log, len(records), questions=len(q_raw), annotations=len(a_raw))
    counts["answer_types"] = dict(Counter(r["answer_type"] for r in records).most_common())
    counts["images"] = len({r["video_id"] for r in records})
    return records, counts


CONVERTER = Converter(
    module="txt_db_tools.vqa_v2",
    doc=__doc__,
    dataset="VQA v2",
    task="video_qa",
    files={split: {"questions": f"v2_OpenEnded_mscoco_{sub}_questions.json",
                   "annotations": f"v2_mscoco_{sub}_annotations.json"} for split, sub in SUBTYPES.items()},
    read_split=read_split,
    answer_vocab=True,
    meta={"images": "1-frame videos: video_id is the COCO 2014 image file's stem",
          "answer": "multiple_choice_answer, as published; labels: soft scores of the 10 answers"},
)
convert = CONVERTER.convert
main = CONVERTER.main

if __name__ == "__main__":
    raise SystemExit(main())
