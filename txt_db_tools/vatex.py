"""VATEX (published json) -> txt_db for text-to-video retrieval, English or Chinese captions.

    python -m txt_db_tools.vatex --ann-dir DIR --out TXT_DB [--language en|zh] [--on-error skip|stop]

DIR holds the files of the VATEX release: `vatex_training_v1.0.json` (train),
`vatex_validation_v1.0.json` (val) and `vatex_public_test_english_v1.1.json` (test, English
only): JSON lists of {videoID, enCap: [10 English captions], chCap: [10 Chinese captions]}, the
videoID being `<youtube id>_<start>_<end>` with 6-digit seconds (`Ptf_2VRj-V0_000122_000132`).
`--language en` (default) reads `enCap`, `--language zh` reads `chCap` (then the English-only test
file is not read).

One record per caption, in file order: {cid: "<videoID>_<n>" (n counts the video's captions from
0), video_id: videoID (the stem of the clip file, `<videoID>.mp4`), caption}. Captions are written
as published: UTF-8, no escaping, no normalisation of any kind (Chinese text stays as it is). A
video whose captions are not a list is unusable; a caption that is not a non-empty string is
dropped alone; a videoID given twice drops every entry of it.
"""

from __future__ import annotations

from pathlib import Path

from txt_db_tools.common import Converter, Option, Options, SplitInput
from txt_db_tools.sources import (
    brief,
    find_split_files,
    keep_unique,
    keep_valid,
    load_json_list,
    record_locator,
    split_counts,
)

FILES = {
    "train": "vatex_training_v1.0.json",
    "val": "vatex_validation_v1.0.json",
    "test": "vatex_public_test_english_v1.1.json",
}
CAPTION_FIELDS = {"en": "enCap", "zh": "chCap"}
ENGLISH_ONLY = ("test",)
_where = record_locator("videoID", noun="video")


def _files(language: str) -> dict[str, str]:
    return {split: name for split, name in FILES.items() if language == "en" or split not in ENGLISH_ONLY}


def find(ann_dir: Path, opts: Options) -> tuple[dict[str, dict[str, Path]], dict[str, str]]:
    found, missing = {}, {}
    for split, name in _files(opts["language"]).items():
        f, m = find_split_files(ann_dir, [split], {"captions": name})
        found |= f
        missing |= m
    return found, missing


def read_split(split: SplitInput) -> tuple[list[dict], dict]:
    path, log = split.files["captions"], split.log
    field = CAPTION_FIELDS[split.options["language"]]
    raw = load_json_list(path)
    usable = keep_valid(enumerate(raw), {"videoID": str, field: list}, path, log, _where, key="videoID")
    videos, _ = keep_unique(usable, "videoID", path, log, _where)
    records = []
    for video_id, (i, video) in videos.items():
        for n, caption in enumerate(video[field]):
            if not isinstance(caption, str) or not caption.strip():
                log.drop(path, f"bad caption: {field}[{n}] should be a non-empty string, got {brief(caption)}",
                         _where(i, video_id))
                continue
            records.append({"cid": f"{video_id}_{n}", "video_id": video_id, "caption": caption})
    counts = split_counts(log, len(records), videos=len(raw))
    counts["videos"] = len({r["video_id"] for r in records})
    return records, counts


CONVERTER = Converter(
    module="txt_db_tools.vatex",
    doc=__doc__,
    dataset="VATEX",
    task="retrieval",
    find=find,
    needs=lambda opts: "at least one of " + ", ".join(_files(opts["language"]).values()),
    read_split=read_split,
    options=(Option("--language", default="en", choices=tuple(CAPTION_FIELDS),
                    help="captions: en (enCap, default) or zh (chCap; the test file has none)"),),
    meta=lambda opts: {"language": opts["language"], "caption_field": CAPTION_FIELDS[opts["language"]]},
)
convert = CONVERTER.convert
main = CONVERTER.main

if __name__ == "__main__":
    raise SystemExit(main())
