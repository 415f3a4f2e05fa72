"""QuerYD (published audio descriptions) -> txt_db for paragraph-to-video retrieval.

    python -m txt_db_tools.queryd --ann-dir DIR --out TXT_DB [--list-prefix PREFIX] [--on-error skip|stop]

DIR holds
- the split lists `train_list.txt`, `val_list.txt`, `test_list.txt` of QuerYD-experts
  (albanie/collaborative-experts; `--list-prefix exists_` reads `exists_{split}_list.txt`, the
  lists of the videos still online), one video per line, `video-<youtube id>`;
- the descriptions, `raw_captions_combined_filtered-v2.pkl` (or the same file renamed
  `raw_captions_combined_filtered.pkl`, as the QuerYD downloader's README suggests): a pickle of
  {video: [[token, ...], ...]}, one token list per audio description, read with a reader that
  accepts plain data only (no class in the pickle is ever loaded);
- optionally `relevant-video-links-v2.txt` (oncescuandreea/QuerYD_downloader), one
  `https://www.youtube.com/watch?v=<id>` per line: then a listed video that is not a QuerYD v2
  video is unusable.

One record per video, in list order: {cid: video, video_id: video (the downloader names each file
`video-<youtube id>`), caption: the video's descriptions, each the words joined by single spaces,
joined by single spaces in published order (the fused caption collaborative-experts evaluates
on), num_descriptions}. A listed video without descriptions is unusable; a description that is not
a list of words is dropped alone.
"""

from __future__ import annotations

from pathlib import Path

from sparsevl.problems import BadInputError, ProblemLog
from txt_db_tools.common import Converter, Option, Options, Shared, SplitInput, each_split
from txt_db_tools.sources import (
    SplitLog,
    brief,
    keep_unique,
    line_number,
    load_token_lists,
    read_id_list,
    read_text_lines,
    split_counts,
)

SPLITS = ("train", "val", "test")
CAPTION_FILES = ("raw_captions_combined_filtered-v2.pkl", "raw_captions_combined_filtered.pkl")
LINKS_FILE = "relevant-video-links-v2.txt"
WATCH_URL = "https://www.youtube.com/watch?v="
VIDEO_PREFIX = "video-"  # the downloader's file names: video-<youtube id>


def read_links(path: Path, log: SplitLog) -> tuple[set[str], int]:
    """The videos of the links file, as the downloader names them, and its number of lines."""
    videos = []
    lines = read_text_lines(path)
    for n, line in lines:
        url = line.strip()
        if not url.startswith(WATCH_URL) or not url[len(WATCH_URL):]:
            log.drop(path, f"bad line: expected '{WATCH_URL}<id>', got {brief(url)}", n)
            continue
        videos.append((n, {"video": VIDEO_PREFIX + url[len(WATCH_URL):]}))
    unique, _ = keep_unique(videos, "video", path, log, line_number)
    return set(unique), len(lines)


def read_shared(ann_dir: Path, problems: ProblemLog, _: Options) -> Shared:
    present = [ann_dir / name for name in CAPTION_FILES if (ann_dir / name).is_file()]
    if len(present) != 1:
        problem = "both" if present else "neither"
        raise BadInputError(f"{ann_dir}: {problem} of {' and '.join(CAPTION_FILES)}; QuerYD needs one")
    log = SplitLog(problems, "descriptions")
    descriptions = load_token_lists(present[0], log, "video", "description")
    counts = {"file": present[0].name,
              **split_counts(log, sum(map(len, descriptions.values())), videos=len(descriptions))}
    links, files, meta = None, [present[0]], {"descriptions": counts}
    if (ann_dir / LINKS_FILE).is_file():
        links_log = SplitLog(problems, "links")
        links, n_lines = read_links(ann_dir / LINKS_FILE, links_log)
        files.append(ann_dir / LINKS_FILE)
        meta["links"] = {"file": LINKS_FILE, **split_counts(links_log, len(links), lines=n_lines)}
    return Shared((descriptions, links), tuple(files), meta)


def read_split(split: SplitInput) -> tuple[list[dict], dict]:
    path, log = split.files["list"], split.log
    descriptions, links = split.shared
    listed, n_lines = read_id_list(path, log)
    records = []
    for video, n in listed.items():
        if links is not None and video not in links:
            log.drop(path, f"unknown video: {brief(video)} is not in {LINKS_FILE}", n)
        elif not descriptions.get(video):
            log.drop(path, f"video without descriptions: no description of {brief(video)}", n)
        else:
            texts = descriptions[video]
            records.append({"cid": video, "video_id": video, "caption": " ".join(texts),
                            "num_descriptions": len(texts)})
    return records, split_counts(log, len(records), listed_videos=n_lines)


CONVERTER = Converter(
    module="txt_db_tools.queryd",
    doc=__doc__,
    dataset="QuerYD",
    task="retrieval",
    files=each_split(SPLITS, list="{list_prefix}{split}_list.txt"),
    read_split=read_split,
    read_shared=read_shared,
    options=(Option("--list-prefix", default="", choices=("", "exists_"),
                    help="split lists {split}_list.txt (default) or exists_{split}_list.txt"),),
    meta={"protocol": "paragraph-to-video retrieval: each video's audio descriptions fused, in order"},
)
convert = CONVERTER.convert
main = CONVERTER.main

if __name__ == "__main__":
    raise SystemExit(main())
