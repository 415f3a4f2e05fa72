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

import os

from txt_db_tools.common import Converter, SplitInput, each_split
from txt_db_tools.sources import keep_unique, keep_valid, load_json_list, record_locator, split_counts

FIELDS = {"video": str, "description": str, "annotation_id": int}
_where = record_locator("annotation_id")


def video_stem(file_name: str) -> str:
    """`a.mov` -> `a`; also `a.` -> `a` (a few published names end with a bare dot)."""
    return os.path.splitext(file_name)[0]


def _paragraph_record(video_id: str, descriptions: list[dict]) -> dict:
    return {
        "cid": video_id,
        "video_id": video_id,
        "caption": " ".join(d["description"].strip() for d in descriptions),
        "num_descriptions": len(descriptions),
        "annotation_ids": [d["annotation_id"] for d in descriptions],
        "source_videos": list(dict.fromkeys(d["video"] for d in descriptions)),
    }


def read_split(split: SplitInput) -> tuple[list[dict], dict]:
    """One split's descriptions, grouped into one paragraph per video. Returns (records, counts
    for meta.json)."""
    path, log = split.files["annotations"], split.log
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


CONVERTER = Converter(
    module="txt_db_tools.didemo",
    doc=__doc__,
    dataset="DiDeMo",
    task="retrieval",
    files=each_split(("train", "val", "test"), annotations="{split}_data.json"),
    read_split=read_split,
    meta={"protocol": "paragraph-to-video: one paragraph per video, its descriptions in file order"},
)
convert = CONVERTER.convert
main = CONVERTER.main

if __name__ == "__main__":
    raise SystemExit(main())
