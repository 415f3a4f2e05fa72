"""ActivityNet Captions paragraph-to-video retrieval (published files) -> txt_db.

    python -m txt_db_tools.activitynet_captions --ann-dir DIR --out TXT_DB [--on-error skip|stop]

DIR holds `train.json`, `val_1.json`, `val_2.json`: each a JSON object, video id ("v_<youtube id>",
the stem of ActivityNet's video files) -> {"duration", "timestamps": [[start, end], ...],
"sentences": [...]}, one sentence per timestamp. Every split whose file is there is converted, and
the output splits keep the published names train, val_1 and val_2 (val_1 and val_2 annotate
almost the same videos, by different annotators; the test annotations are not published).

One record per video, in file order: {cid, video_id, caption, duration, timestamps, sentences}:
`cid` and `video_id` are the key, `caption` the paragraph of its sentences, each stripped, joined
with one space in their published order; the source fields are kept as they are.
"""

from __future__ import annotations

from numbers import Real

from txt_db_tools.common import Converter, SplitInput, each_split
from txt_db_tools.sources import brief, keep_valid, load_json_object, split_counts, with_source_fields

FIELDS = {"sentences": list, "timestamps": list}


def _where(video_id: str, _=None) -> str:
    return f"video {brief(video_id)}"


def _is_segment(value) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(t, Real) and not isinstance(t, bool) for t in value)
    )


def _captions_problem(rec: dict) -> str | None:
    """Why a video's sentences and timestamps cannot make a paragraph; None if they can."""
    sentences, timestamps = rec["sentences"], rec["timestamps"]
    if not sentences:
        return "no sentences: 'sentences' is empty"
    for n, sentence in enumerate(sentences):
        if not isinstance(sentence, str):
            return f"wrong field type: sentence {n} should be a string, got {brief(sentence)}"
        if not sentence.strip():
            return f"empty field: sentence {n}"
    if len(timestamps) != len(sentences):
        return f"length mismatch: {len(timestamps)} timestamps for {len(sentences)} sentences"
    for n, segment in enumerate(timestamps):
        if not _is_segment(segment):
            return f"bad timestamp: timestamp {n} should be [start, end] in seconds, got {brief(segment)}"
    return None


def _paragraph_record(video_id: str, rec: dict) -> dict:
    paragraph = " ".join(sentence.strip() for sentence in rec["sentences"])
    record = {"cid": video_id, "video_id": video_id, "caption": paragraph}
    return with_source_fields(record, rec)


def read_split(split: SplitInput) -> tuple[list[dict], dict]:
    """One split's videos, one paragraph each. Returns (records, counts for meta.json).

    A JSON object cannot hold a video twice, so there are no duplicate ids to check (the parser
    keeps the last of repeated keys)."""
    path = split.files["captions"]
    videos = load_json_object(path)
    usable = keep_valid(videos.items(), FIELDS, path, split.log, _where, check=_captions_problem)
    records = [_paragraph_record(video_id, rec) for video_id, rec in usable]
    counts = split_counts(split.log, len(records), videos=len(videos))
    counts["sentences"] = sum(len(r["sentences"]) for r in records)
    return records, counts


CONVERTER = Converter(
    module="txt_db_tools.activitynet_captions",
    doc=__doc__,
    dataset="ActivityNet Captions",
    task="retrieval",
    files=each_split(("train", "val_1", "val_2"), captions="{split}.json"),
    read_split=read_split,
    meta={
        "protocol": "paragraph-to-video: one paragraph per video, its sentences in published order",
        "split_names": "the published file names: train, val_1, val_2 (val_1 and val_2: two "
        "annotations of the validation videos)",
    },
)
convert = CONVERTER.convert
main = CONVERTER.main

if __name__ == "__main__":
    raise SystemExit(main())
