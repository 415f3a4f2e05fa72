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

import argparse
import os
import re
from pathlib import Path

from sparsevl.problems import BadInputError
from txt_db_tools.common import (
    converter_parser,
    SplitLog,
    file_info,
    find_split_files,
    keep_unique,
    keep_valid,
    line_number,
    load_json_object,
    read_csv_rows,
    run_cli,
    split_counts,
    start_problem_log,
    write_txt_db,
)

CONVERTER = "txt_db_tools.msrvtt"
SPLITS = ("train", "test")
DATA_FILE = "MSRVTT_data.json"
TRAIN_LISTS = {"9k": "MSRVTT_train.9k.csv", "7k": "MSRVTT_train.7k.csv"}
TEST_FILE = "MSRVTT_JSFUSION_test.csv"
TEST_PROTOCOL = "1k-A"
TEST_COLUMNS = ("key", "vid_key", "video_id", "sentence")
SENTENCE_FIELDS = {"caption": str, "video_id": str, "sen_id": int}
VID_KEY = re.compile(r"msr(\d+)")


def video_of_vid_key(vid_key: str) -> str | None:
    """JSFusion's video key `msr<N>` -> MSRVTT's video file stem `video<N>`; None for anything else."""
    match = VID_KEY.fullmatch(vid_key)
    return f"video{match.group(1)}" if match else None


def msrvtt_video_problem(row: dict) -> str | None:
    """Why a JSFusion row does not name one MSRVTT video: its `vid_key` is not `msr<N>`, or its
    `video_id` (if it has one) is not `video<N>` for the same N. None when it does."""
    video = video_of_vid_key(row["vid_key"])
    if video is None:
        return f"bad vid_key: {row['vid_key']!r} is not a JSFusion video key (msr<N>)"
    if row.get("video_id", video) != video:
        return f"video mismatch: video_id {row['video_id']!r} is not vid_key {row['vid_key']!r}"
    return None


def _where_sentence(index: int, sen_id=None) -> str:
    return f"sentence {index}" + (f" (sen_id {sen_id!r})" if sen_id is not None else "")


def convert_test(path: Path, log: SplitLog) -> tuple[list[dict], dict]:
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
            return f"test video in train list: {row['video_id']!r} is in {TEST_FILE}"
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
    return record | {k: v for k, v in sentence.items() if k not in record}  # sen_id and any extra field


def convert_train(
    data_path: Path, list_path: Path, test_videos: set[str], log: SplitLog
) -> tuple[list[dict], dict]:
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


def _find_files(ann_dir: Path, train_list: str) -> tuple[dict, dict]:
    train_files = {"data": DATA_FILE, "list": TRAIN_LISTS[train_list]}
    found, missing = find_split_files(ann_dir, ["train"], train_files)
    found_test, missing_test = find_split_files(ann_dir, ["test"], {"csv": TEST_FILE})
    return found | found_test, missing | missing_test


def convert(
    ann_dir: str | os.PathLike,
    out: str | os.PathLike,
    train_list: str = "9k",
    on_error: str = "stop",
    quiet: bool = False,
) -> dict:
    """Convert every split found in `ann_dir` into the txt_db folder `out`; returns its meta.

    Raises BadInputError on bad input in stop mode, on a malformed file, or when no split is found.
    """
    if train_list not in TRAIN_LISTS:
        raise ValueError(f"train_list must be one of {', '.join(TRAIN_LISTS)}, not {train_list!r}")
    ann_dir, out = Path(ann_dir), Path(out)
    found, missing = _find_files(ann_dir, train_list)
    if not found:
        raise BadInputError(
            f"no MSRVTT split in {ann_dir}: need {TEST_FILE}, or {DATA_FILE} with {TRAIN_LISTS[train_list]}"
        )
    problems = start_problem_log(out, on_error)
    built: dict[str, tuple[list[dict], dict]] = {}
    if "test" in found:  # first: the train list is checked against the test videos
        built["test"] = convert_test(found["test"]["csv"], SplitLog(problems, "test"))
    if "train" in found:
        test_videos = {r["video_id"] for r in built["test"][0]} if "test" in built else set()
        files = found["train"]
        built["train"] = convert_train(files["data"], files["list"], test_videos, SplitLog(problems, "train"))
    splits = {split: built[split][0] for split in SPLITS if split in built}
    meta = {
        "converter": CONVERTER,
        "dataset": "MSRVTT",
        "task": "retrieval",
        "protocol": {"train": train_list, "test": TEST_PROTOCOL},
        "source_dir": str(ann_dir.resolve()),
        "sources": [file_info(p) for split in splits for p in found[split].values()],
        "on_error": on_error,
        "splits": {split: built[split][1] for split in splits},
        "missing_splits": missing,
    }
    return write_txt_db(out, splits, meta, problems=problems, quiet=quiet)


def build_parser() -> argparse.ArgumentParser:
    parser = converter_parser("txt_db_tools.msrvtt", __doc__)
    parser.add_argument(
        "--train-list",
        choices=tuple(TRAIN_LISTS),
        default="9k",
        help="train videos: 9k (MSRVTT_train.9k.csv, default) or 7k (MSRVTT_train.7k.csv)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_cli(lambda a: convert(a.ann_dir, a.out, a.train_list, a.on_error), build_parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
