"""MSRVTT text-video retrieval (published files) -> txt_db.

    python -m txt_db_tools.msrvtt --ann-dir DIR --out TXT_DB [--train-list 9k|7k] [--on-error skip|stop]

DIR holds any of
- `MSRVTT_data.json`: the official annotations, {"videos": [...], "sentences": [{"caption",
  "video_id", "sen_id"}, ...]}, 20 captions for each of the 10,000 videos (only "sentences" is read);
- `MSRVTT_train.9k.csv` / `MSRVTT_train.7k.csv`: train video lists, one `video_id` column;
- `MSRVTT_JSFUSION_test.csv`: the 1k-A test of JSFusion, columns key, vid_key, video_id, sentence,
  one caption for each of 1,000 videos.

train: every caption in MSRVTT_data.json of the videos on the train list chosen with
`--train-list` (9k: 9,000 videos, the official train and val videos plus the official test
videos outside 1k-A; 7k: 7,010, the official train and val videos), one record per caption,
{cid: str(sen_id), video_id, caption, sen_id}, in the order of MSRVTT_data.json. The official
`split` field is not read: the 9k list takes videos it calls "test".
test (1k-A): the rows of the JSFusion csv in file order, {cid: key, video_id, caption: sentence,
vid_key}; one caption per video, so a video named by two rows is dropped.
Video ids are MSRVTT's file stems `video<N>`; a test row whose vid_key is not `msr<N>` for the
same N is unusable (its columns disagree about the video).
"""

from __future__ import annotations

import re
from pathlib import Path

from sparsevl.problems import BadInputError
from txt_db_tools.common import Converter, Option, SplitInput
from txt_db_tools.sources import (
    SplitLog,
    brief,
    keep_unique,
    keep_valid,
    line_number,
    load_json_object,
    read_csv_rows,
    record_locator,
    split_counts,
    with_source_fields,
)

DATA_FILE = "MSRVTT_data.json"
TRAIN_LISTS = {"9k": "MSRVTT_train.9k.csv", "7k": "MSRVTT_train.7k.csv"}
TEST_FILE = "MSRVTT_JSFUSION_test.csv"
TEST_PROTOCOL = "1k-A"
TEST_COLUMNS = ("key", "vid_key", "video_id", "sentence")
SENTENCE_FIELDS = {"caption": str, "video_id": str, "sen_id": int}
VID_KEY = re.compile(r"msr([0-9]+)")  # ASCII digits: \d takes other scripts' digits too
_where_sentence = record_locator("sen_id", noun="sentence")


def video_of_vid_key(vid_key: str) -> str | None:
    """JSFusion's video key `msr<N>` -> MSRVTT's video file stem `video<N>`; None for anything else."""
    match = VID_KEY.fullmatch(vid_key)
    return f"video{match.group(1)}" if match else None


def msrvtt_video_problem(row: dict) -> str | None:
    """Why a JSFusion row does not name one MSRVTT video: its `vid_key` is not `msr<N>`, or its
    `video_id` (if it has one) is not `video<N>` for the same N. None when it does."""
    video = video_of_vid_key(row["vid_key"])
    if video is None:
        return f"bad vid_key: {brief(row['vid_key'])} is not a JSFusion video key (msr<N>)"
    if row.get("video_id", video) != video:
        return f"video mismatch: video_id {brief(row['video_id'])} is not vid_key {brief(row['vid_key'])}"
    return None


def read_test(path: Path, log: SplitLog) -> tuple[list[dict], dict]:
    """The 1k-A test split from the JSFusion csv. Returns (records, counts for meta.json)."""
    rows, n_rows = read_csv_rows(path, TEST_COLUMNS, log)
    fields = dict.fromkeys(TEST_COLUMNS, str)
    usable = keep_valid(rows, fields, path, log, line_number, check=msrvtt_video_problem)
    by_key, _ = keep_unique(usable, "key", path, log, line_number)
    by_video, _ = keep_unique(list(by_key.values()), "video_id", path, log, line_number)
    records = [
        {"cid": r["key"], "video_id": r["video_id"], "caption": r["sentence"], "vid_key": r["vid_key"]}
        for _, r in by_video.values()
    ]
    return records, split_counts(log, len(records), rows=n_rows)


def _train_videos(list_path: Path, test_videos: set[str], log: SplitLog) -> tuple[dict[str, int], int]:
    """The usable videos of a train list -> their line, and the number of rows. A 1k-A test video
    on the list is dropped: training on it would leak the test set."""

    def check(row: dict) -> str | None:
        if row["video_id"] in test_videos:
            return f"test video in train list: {brief(row['video_id'])} is in {TEST_FILE}"
        return None

    rows, n_rows = read_csv_rows(list_path, ["video_id"], log)
    usable = keep_valid(rows, {"video_id": str}, list_path, log, line_number, check=check)
    unique, _ = keep_unique(usable, "video_id", list_path, log, line_number)
    return {video: line for video, (line, _) in unique.items()}, n_rows


def _load_sentences(path: Path) -> list:
    sentences = load_json_object(path).get("sentences")
    if not isinstance(sentences, list):
        got = type(sentences).__name__
        raise BadInputError(f"{path}: expected a list of records under 'sentences', got {got}")
    return sentences


def _caption_record(sentence: dict) -> dict:
    record = {
        "cid": str(sentence["sen_id"]),
        "video_id": sentence["video_id"],
        "caption": sentence["caption"],
    }
    return with_source_fields(record, sentence)  # sen_id and any extra field


def read_train(data_path: Path, list_path: Path, test_videos: set[str], log: SplitLog) -> tuple[list[dict], dict]:
    """Every caption of the listed videos. Returns (records, counts for meta.json)."""
    sentences = _load_sentences(data_path)
    listed, n_listed = _train_videos(list_path, test_videos, log)
    usable = keep_valid(enumerate(sentences), SENTENCE_FIELDS, data_path, log, _where_sentence, key="sen_id")
    by_sen_id, _ = keep_unique(usable, "sen_id", data_path, log, _where_sentence)
    records = [_caption_record(s) for _, s in by_sen_id.values() if s["video_id"] in listed]
    captioned = {r["video_id"] for r in records}
    for video, line in listed.items():
        if video not in captioned:
            reason = f"video without captions: no sentence in {data_path.name} is of {video!r}"
            log.drop(list_path, reason, line)
    counts = split_counts(log, len(records), listed_videos=n_listed, sentences=len(sentences))
    counts["videos"] = len(captioned)
    return records, counts


def read_split(split: SplitInput) -> tuple[list[dict], dict]:
    if split.name == "test":
        return read_test(split.files["csv"], split.log)
    test_videos = {r["video_id"] for r in split.done.get("test", [])}
    return read_train(split.files["data"], split.files["list"], test_videos, split.log)


CONVERTER = Converter(
    module="txt_db_tools.msrvtt",
    doc=__doc__,
    dataset="MSRVTT",
    task="retrieval",
    files={"train": {"data": DATA_FILE, "list": "MSRVTT_train.{train_list}.csv"}, "test": {"csv": TEST_FILE}},
    read_split=read_split,
    read_first=("test",),  # the train list is checked against the test videos
    options=(
        Option(
            "--train-list", default="9k", choices=tuple(TRAIN_LISTS),
            help="train videos: 9k (MSRVTT_train.9k.csv, default) or 7k (MSRVTT_train.7k.csv)",
        ),
    ),
    meta=lambda opts: {"protocol": {"train": opts["train_list"], "test": TEST_PROTOCOL}},
)
convert = CONVERTER.convert
main = CONVERTER.main

if __name__ == "__main__":
    raise SystemExit(main())
