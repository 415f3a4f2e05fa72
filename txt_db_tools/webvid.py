"""WebVid (published csv) -> txt_db for video-text pre-training.

    python -m txt_db_tools.webvid --ann-dir DIR --out TXT_DB [--subset 10M|2M] [--on-error skip|stop]

DIR holds `results_{subset}_train.csv` and/or `results_{subset}_val.csv` (m-bain/webvid): a header
line, then one video per row. The 10M files have the columns `videoid,contentUrl,duration,
page_dir,name`, the 2M files `videoid,name,page_idx,page_dir,duration,contentUrl`; columns are
found by name, so both read alike. `name` (the caption) is quoted when it holds commas, quotes or
line breaks (some hold CRLF inside the quotes): a row can span lines, and problems are reported at
the line the row starts on.

One record per row, in file order: {cid: videoid, video_id: videoid, caption: name (as
published), duration: seconds, page_dir, url: contentUrl}. Frozen-in-Time stores a video as
`videos/<page_dir>/<videoid>.mp4`; `extract-frames` reads the videos of one folder and names each
by its file stem, so `video_id` is the videoid (unique in WebVid) and `page_dir` is kept to find
the file. `duration` is the ISO-8601 duration (`PT00H00M30S` -> 30.0). A videoid that is not a
whole number, or a duration that does not parse, makes the row unusable; a videoid given twice
drops every row of it.

The whole split is held in memory while it is checked (about 1 kB a row): the 10M train csv needs
a machine with the memory for it.
"""

from __future__ import annotations

import re

from txt_db_tools.common import Converter, Option, SplitInput
from txt_db_tools.sources import brief, keep_unique, keep_valid, line_number, read_csv_rows, split_counts, whole_number

COLUMNS = ("videoid", "name", "page_dir", "duration", "contentUrl")
ISO_DURATION = re.compile(r"PT(?:([0-9]+)H)?(?:([0-9]+)M)?(?:([0-9]+(?:\.[0-9]+)?)S)?")


def duration_seconds(text: str) -> float | None:
    """An ISO-8601 time duration `PT#H#M#S` (any part may be left out) in seconds; None if `text`
    is not one."""
    match = ISO_DURATION.fullmatch(text.strip())
    if match is None or not any(match.groups()):
        return None
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def _row_problem(row: dict) -> str | None:
    if whole_number(row["videoid"]) is None:
        return f"bad videoid: {brief(row['videoid'])} is not a whole number"
    if duration_seconds(row["duration"]) is None:
        return f"bad duration: {brief(row['duration'])} is not an ISO-8601 duration (PT00H00M30S)"
    return None


def read_split(split: SplitInput) -> tuple[list[dict], dict]:
    path, log = split.files["csv"], split.log
    rows, n_rows = read_csv_rows(path, COLUMNS, log)
    usable = keep_valid(rows, dict.fromkeys(("videoid", "name", "duration"), str), path, log, line_number,
                        check=_row_problem)
    for _, row in usable:
        row["videoid"] = row["videoid"].strip()
    unique, _ = keep_unique(usable, "videoid", path, log, line_number)
    records = [
        {"cid": r["videoid"], "video_id": r["videoid"], "caption": r["name"],
         "duration": duration_seconds(r["duration"]), "page_dir": r["page_dir"], "url": r["contentUrl"]}
        for _, r in unique.values()
    ]
    counts = split_counts(log, len(records), rows=n_rows)
    counts["seconds"] = round(sum(r["duration"] for r in records), 3)
    return records, counts


CONVERTER = Converter(
    module="txt_db_tools.webvid",
    doc=__doc__,
    dataset="WebVid",
    task="pretrain",
    files={split: {"csv": f"results_{{subset}}_{split}.csv"} for split in ("train", "val")},
    read_split=read_split,
    options=(Option("--subset", default="10M", choices=("10M", "2M"),
                    help="which release: results_10M_{train,val}.csv (default) or results_2M_..."),),
    meta=lambda opts: {"subset": opts["subset"]},
)
convert = CONVERTER.convert
main = CONVERTER.main

if __name__ == "__main__":
    raise SystemExit(main())
