"""DiDeMo paragraph-to-video retrieval (published files) -> txt_db.

    python -m txt_db_tools.didemo --ann-dir DIR --out TXT_DB [--on-error skip|stop]

DIR holds `{train,val,test}_data.json` (LisaAnne/LocalizingMoments): lists of one description of
one moment each, {"video": "<file name>", "description", "times", "annotation_id", ...}; every
split whose file is there is converted.

One record per video, {cid, video_id, caption, num_descriptions, annotation_ids, source_videos}:
`video_id` (also `cid`) is the stem of the `video` field, the name the frames are stored under;
`caption` is the paragraph of the video's descriptions, each stripped, joined with one space in
the order they appear in the file (not sorted by time: the file order is the published one).
Some videos appear under two file names with the same stem (`x.mov` and `x.mp4`, or `x.` without
extension: the same Flickr video, same download link); they are one video here, and
`source_videos` lists the names. Records follow the first appearance of each video in the file.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from sparsevl.problems import BadInputError
from txt_db_tools.common import (
    converter_parser,
    SplitLog,
    file_info,
    find_split_files,
    keep_unique,
    keep_valid,
    load_json_list,
    run_cli,
    split_counts,
    start_problem_log,
    write_txt_db,
)

CONVERTER = "txt_db_tools.didemo"
SPLITS = ("train", "val", "test")
FILES = {"annotations": "{split}_data.json"}
FIELDS = {"video": str, "description": str, "annotation_id": int}


def video_stem(file_name: str) -> str:
    """`a.mov` -> `a`; also `a.` -> `a` (a few published names end with a bare dot)."""
    return os.path.splitext(file_name)[0]


def _where(index: int, annotation_id=None) -> str:
    return f"record {index}" + (f" (annotation_id {annotation_id!r})" if annotation_id is not None else "")


def _paragraph_record(video_id: str, descriptions: list[dict]) -> dict:
    return {
        "cid": video_id,
        "video_id": video_id,
        "caption": " ".join(d["description"].strip() for d in descriptions),
        "num_descriptions": len(descriptions),
        "annotation_ids": [d["annotation_id"] for d in descriptions],
        "source_videos": list(dict.fromkeys(d["video"] for d in descriptions)),
    }


def convert_split(path: Path, log: SplitLog) -> tuple[list[dict], dict]:
    """One split's descriptions, grouped into one paragraph per video. Returns (records, counts
    for meta.json)."""
    raw = load_json_list(path)
    usable = keep_valid(enumerate(raw), FIELDS, path, log, _where, key="annotation_id")
    unique, _ = keep_unique(usable, "annotation_id", path, log, _where)
    by_video: dict[str, list[dict]] = {}
    for _, rec in unique.values():  # file order
        by_video.setdefault(video_stem(rec["video"]), []).append(rec)
    records = [_paragraph_record(video_id, descriptions) for video_id, descriptions in by_video.items()]
    counts = split_counts(log, len(records), descriptions=len(raw))
    counts["descriptions_joined"] = sum(r["num_descriptions"] for r in records)
    counts["videos_under_several_names"] = sum(len(r["source_videos"]) > 1 for r in records)
    return records, counts


def convert(
    ann_dir: str | os.PathLike, out: str | os.PathLike, on_error: str = "stop", quiet: bool = False
) -> dict:
    """Convert every split found in `ann_dir` into the txt_db folder `out`; returns its meta.

    Raises BadInputError on bad input in stop mode, on malformed JSON, or when no split is found.
    """
    ann_dir, out = Path(ann_dir), Path(out)
    found, missing = find_split_files(ann_dir, SPLITS, FILES)
    if not found:
        names = ", ".join(FILES["annotations"].format(split=split) for split in SPLITS)
        raise BadInputError(f"no DiDeMo split in {ann_dir}: need at least one of {names}")
    problems = start_problem_log(out, on_error)
    splits, stats = {}, {}
    for split, paths in found.items():
        splits[split], stats[split] = convert_split(paths["annotations"], SplitLog(problems, split))
    meta = {
        "converter": CONVERTER,
        "dataset": "DiDeMo",
        "task": "retrieval",
        "protocol": "paragraph-to-video: one paragraph per video, its descriptions in file order",
        "source_dir": str(ann_dir.resolve()),
        "sources": [file_info(paths["annotations"]) for paths in found.values()],
        "on_error": on_error,
        "splits": stats,
        "missing_splits": missing,
    }
    return write_txt_db(out, splits, meta, problems=problems, quiet=quiet)


def build_parser() -> argparse.ArgumentParser:
    parser = converter_parser("txt_db_tools.didemo", __doc__)
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_cli(lambda a: convert(a.ann_dir, a.out, a.on_error), build_parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
