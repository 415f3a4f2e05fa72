"""MSRVTT-QA (published release) -> txt_db.

    python -m txt_db_tools.msrvtt_qa --ann-dir DIR --out TXT_DB [--top-k K] [--ans2label FILE]
                                     [--on-error skip|stop]

DIR holds `{train,val,test}_qa.json` (Xu et al., 2017): JSON lists of {"question", "answer",
"video_id": int, "id": int, "category_id": int}; every split whose file is there is converted.
Records, in file order: {qid: id, video_id: "video<N>" (MSRVTT's file stem for video_id N),
question, answer, answer_type, category_id (and any other source field, as it is)}.

`answer_type` is the question's first word, one of what, who, how, when, where: the five types
ClipBERT reports (jayleicn/ClipBERT, src/datasets/dataset_video_qa.py, `evaluate_tgif_qa`:
`answer_type2idx["msrvtt_qa"]`, and the record example in src/tasks/run_video_qa.py,
`{"question": "what are three people sitting on?", "answer_type": "what"}`). ClipBERT's own
preprocessing is not published; the first-word rule is the one of antoyang/just-ask,
preproc/preproc_msrvttqa.py (`question.split(" ")[0]` in what/who/where/when/how; just-ask adds
a "color" type that ClipBERT does not have). Here the word is lower-cased first, and a question
starting with any other word gets "other" (counted in meta.json; ClipBERT has no such type).

The answer vocabulary holds the K most frequent train answers, as for ActivityNet-QA (ClipBERT's
classifier had max(answers, 1500) outputs: use --top-k 1500 to match its size).
"""

from __future__ import annotations

from typing import Callable

from txt_db_tools.common import Converter, SplitInput, each_split
from txt_db_tools.sources import (
    keep_unique,
    keep_valid,
    load_json_list,
    record_locator,
    split_counts,
    with_source_fields,
)

SPLITS = ("train", "val", "test")
FILES = each_split(SPLITS, qa="{split}_qa.json")
FIELDS = {"question": str, "answer": str, "video_id": int, "id": int}
QUESTION_TYPES = ("what", "who", "how", "where", "when")  # ClipBERT's order
OTHER_TYPE = "other"
_MAPPED = {"question", "answer", "video_id", "id"}
_where = record_locator("id")
META = {"answer_type": "the question's first word: " + ", ".join(QUESTION_TYPES) + f", else {OTHER_TYPE!r}"}

# video_id N of a record -> (the video's id in the vis_db, None) or (None, why N is unusable)
VideoOf = Callable[[int], "tuple[str | None, str | None]"]


def question_type(question: str) -> str:
    """The question's first word, lower-cased, if it is one of QUESTION_TYPES; else "other"."""
    words = question.split()
    word = words[0].lower() if words else ""
    return word if word in QUESTION_TYPES else OTHER_TYPE


def msrvtt_video(n: int) -> tuple[str | None, str | None]:
    if n < 0:
        return None, f"bad video_id: {n} is negative (MSRVTT videos are video0 .. video9999)"
    return f"video{n}", None


def read_qa_split(split: SplitInput, video_of: VideoOf) -> tuple[list[dict], dict]:
    """One split's QA pairs (the `{split}_qa.json` format MSRVTT-QA and MSVD-QA share), videos
    named by `video_of`. Returns (records, counts for meta.json)."""
    path, log = split.files["qa"], split.log
    raw = load_json_list(path)
    videos: dict[int, str] = {}

    def check(rec: dict) -> str | None:
        video, problem = video_of(rec["video_id"])
        if video is not None:
            videos[rec["video_id"]] = video
        return problem

    usable = keep_valid(enumerate(raw), FIELDS, path, log, _where, key="id", check=check)
    unique, _ = keep_unique(usable, "id", path, log, _where)
    records = []
    for _, q in unique.values():  # file order
        rec = {
            "qid": q["id"],
            "video_id": videos[q["video_id"]],
            "question": q["question"],
            "answer": q["answer"],
            "answer_type": question_type(q["question"]),
        }
        records.append(with_source_fields(rec, q, _MAPPED))  # category_id, ...
    counts = split_counts(log, len(records), questions=len(raw))
    by_type = {name: 0 for name in (*QUESTION_TYPES, OTHER_TYPE)}
    for r in records:
        by_type[r["answer_type"]] += 1
    counts["answer_types"] = by_type
    counts["videos"] = len({r["video_id"] for r in records})
    return records, counts


CONVERTER = Converter(
    module="txt_db_tools.msrvtt_qa",
    doc=__doc__,
    dataset="MSRVTT-QA",
    task="video_qa",
    files=FILES,
    read_split=lambda split: read_qa_split(split, msrvtt_video),
    answer_vocab=True,
    meta=META,
)
convert = CONVERTER.convert
main = CONVERTER.main

if __name__ == "__main__":
    raise SystemExit(main())
