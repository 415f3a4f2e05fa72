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

import argparse
import os
from pathlib import Path
from typing import Callable

from sparsevl.problems import BadInputError, ProblemLog
from txt_db_tools.common import (
    converter_parser,
    DEFAULT_TOP_K,
    SplitLog,
    file_info,
    find_split_files,
    keep_unique,
    keep_valid,
    load_json_list,
    resolve_ans2label,
    run_cli,
    split_counts,
    start_problem_log,
    vocab_coverage,
    write_txt_db,
)

CONVERTER = "txt_db_tools.msrvtt_qa"
SPLITS = ("train", "val", "test")
FILES = {"qa": "{split}_qa.json"}
FIELDS = {"question": str, "answer": str, "video_id": int, "id": int}
QUESTION_TYPES = ("what", "who", "how", "where", "when")  # ClipBERT's order
OTHER_TYPE = "other"
_MAPPED = {"question", "answer", "video_id", "id"}

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


def _where(index: int, qid=None) -> str:
    return f"record {index}" + (f" (id {qid!r})" if qid is not None else "")


def convert_split(path: Path, log: SplitLog, video_of: VideoOf = msrvtt_video) -> tuple[list[dict], dict]:
    """One split's QA pairs. Returns (records, counts for meta.json)."""
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
        records.append(rec | {k: v for k, v in q.items() if k not in _MAPPED})  # category_id, ...
    counts = split_counts(log, len(records), questions=len(raw))
    by_type = {name: 0 for name in (*QUESTION_TYPES, OTHER_TYPE)}
    for r in records:
        by_type[r["answer_type"]] += 1
    counts["answer_types"] = by_type
    counts["videos"] = len({r["video_id"] for r in records})
    return records, counts


def convert_qa_json(
    ann_dir: Path,
    out: Path,
    *,
    dataset: str,
    converter: str,
    top_k: int,
    on_error: str,
    ans2label: str | os.PathLike | None,
    quiet: bool,
    video_of: Callable[[ProblemLog], tuple[VideoOf, list[dict], dict]] | None = None,
) -> dict:
    """The conversion shared by MSRVTT-QA and MSVD-QA (same `{split}_qa.json` files).

    `video_of(problems)`, if given, reads the dataset's video mapping and returns (the function
    mapping a record's video_id, the mapping file's `file_info`s, its meta.json entry).
    """
    if ans2label is None and top_k < 1:
        raise ValueError(f"top_k must be at least 1, not {top_k}")
    found, missing = find_split_files(ann_dir, SPLITS, FILES)
    if not found:
        names = ", ".join(FILES["qa"].format(split=split) for split in SPLITS)
        raise BadInputError(f"no {dataset} split in {ann_dir}: need at least one of {names}")
    problems = start_problem_log(out, on_error)
    mapping, sources, mapping_meta = msrvtt_video, [], None
    if video_of is not None:
        mapping, sources, mapping_meta = video_of(problems)
    splits, stats = {}, {}
    for split, paths in found.items():
        splits[split], stats[split] = convert_split(paths["qa"], SplitLog(problems, split), mapping)
        sources.append(file_info(paths["qa"]))
    vocab, vocab_meta = resolve_ans2label(splits, top_k, ans2label)
    for split, records in splits.items():
        stats[split].update(vocab_coverage(records, vocab))
    meta = {
        "converter": converter,
        "dataset": dataset,
        "task": "video_qa",
        "answer_type": "the question's first word: " + ", ".join(QUESTION_TYPES) + f", else {OTHER_TYPE!r}",
        "source_dir": str(ann_dir.resolve()),
        "sources": sources,
        "on_error": on_error,
        "top_k": top_k if ans2label is None else None,
        "ans2label": vocab_meta,
    }
    if mapping_meta is not None:
        meta["video_mapping"] = mapping_meta
    meta |= {"splits": stats, "missing_splits": missing}
    return write_txt_db(out, splits, meta, vocab, problems, quiet=quiet)


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
    return convert_qa_json(
        Path(ann_dir), Path(out), dataset="MSRVTT-QA", converter=CONVERTER, top_k=top_k,
        on_error=on_error, ans2label=ans2label, quiet=quiet,
    )


def build_parser(prog: str = CONVERTER, doc: str = __doc__) -> argparse.ArgumentParser:
    parser = converter_parser(prog, doc, vocab=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_cli(
        lambda a: convert(a.ann_dir, a.out, a.top_k, a.on_error, a.ans2label),
        build_parser(),
        argv,
    )


if __name__ == "__main__":
    raise SystemExit(main())
