"""HowTo100M (published narration captions) -> txt_db for video-text pre-training.

    python -m txt_db_tools.howto100m --ann-dir DIR --out TXT_DB [--captions caption|raw_caption]
                                     [--on-error skip|stop]

DIR holds `caption.json` (the HowTo100M release, stop words removed) or, with `--captions
raw_caption`, `raw_caption.json` (the same captions unprocessed): a JSON object, video id ->
{start: [seconds], end: [seconds], text: [narration]}, the three lists of one length (one entry per
ASR caption).
HowTo100M has no published split: everything becomes the split `train`.

One record per caption, in file order: {cid: "<video>_<n>" (n the caption's place in the video's
lists), video_id: the video id (the YouTube id the video file is named by), caption: text (as
published), start, end (seconds)}. `start` and `end` are kept so that training samples its frames
inside the caption's window. A video whose lists are missing or of different lengths is unusable;
a caption whose text is empty or whose window is not 0 <= start <= end is dropped alone.
"""

from __future__ import annotations

from numbers import Real

from txt_db_tools.common import Converter, Option, SplitInput
from txt_db_tools.sources import brief, keep_valid, load_json_object, split_counts

FIELDS = {"start": list, "end": list, "text": list}


def _where(video_id: str, _=None) -> str:
    return f"video {brief(video_id)}"


def _lists_problem(rec: dict) -> str | None:
    lengths = {len(rec[name]) for name in FIELDS}
    if len(lengths) > 1:
        sizes = ", ".join(str(len(rec[name])) for name in FIELDS)
        return f"length mismatch: start, end and text have {sizes} entries"
    return None


def _is_seconds(value) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool) and 0 <= value < float("inf")


def _caption_problem(start, end, text) -> str | None:
    if not isinstance(text, str) or not text.strip():
        return f"bad caption: text should be a non-empty string, got {brief(text)}"
    if not (_is_seconds(start) and _is_seconds(end) and start <= end):
        return f"bad window: start {brief(start)}, end {brief(end)} are not seconds with start <= end"
    return None


def read_split(split: SplitInput) -> tuple[list[dict], dict]:
    path, log = split.files["captions"], split.log
    videos = load_json_object(path)
    usable = keep_valid(videos.items(), FIELDS, path, log, _where, check=_lists_problem)
    records, n_captions = [], 0
    for video_id, rec in usable:
        n_captions += len(rec["text"])
        for n, (start, end, text) in enumerate(zip(rec["start"], rec["end"], rec["text"])):
            problem = _caption_problem(start, end, text)
            if problem is not None:
                log.drop(path, problem, f"{_where(video_id)} caption {n}")
                continue
            records.append({"cid": f"{video_id}_{n}", "video_id": video_id, "caption": text,
                            "start": start, "end": end})
    counts = split_counts(log, len(records), videos=len(videos))
    counts |= {"captions_of_usable_videos": n_captions, "videos": len({r["video_id"] for r in records})}
    return records, counts


CONVERTER = Converter(
    module="txt_db_tools.howto100m",
    doc=__doc__,
    dataset="HowTo100M",
    task="pretrain",
    files={"train": {"captions": "{captions}.json"}},
    read_split=read_split,
    options=(Option("--captions", default="caption", choices=("caption", "raw_caption"),
                    help="caption.json (default: stop words removed) or raw_caption.json (unprocessed)"),),
    meta={"clips": "each record's start/end (seconds) is the caption's window in its video"},
)
convert = CONVERTER.convert
main = CONVERTER.main

if __name__ == "__main__":
    raise SystemExit(main())
