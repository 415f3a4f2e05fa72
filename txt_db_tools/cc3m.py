"""Conceptual Captions 3M (published tsv, or the downloaded-images list) -> txt_db for image-text
pre-training.

    python -m txt_db_tools.cc3m --ann-dir DIR --out TXT_DB [--on-error skip|stop]

DIR holds, for each of train and val, one of
- Google's release: `Train_GCC-training.tsv`, `Validation_GCC-1.1.0-Validation.tsv`, lines
  `caption<TAB>image url`, no header, no quoting;
- the list of downloaded images that Frozen-in-Time's loaders read (m-bain/frozen-in-time,
  ConceptualCaptions3M): `cc3m_training_success_full.tsv`, `cc3m_validation_success_full.tsv`,
  lines `caption<TAB>file name`, the file name being the image's name in `training/` or
  `validation/`.

The images are named as the common downloader of the release names them (and as the second
layout lists them): `<row>_<crc32 of the url>`, the 0-based row of the url in Google's tsv and
zlib.crc32 of its UTF-8 bytes (row 0 of the validation tsv -> `0_1595581236`). So `video_id` is that
name for Google's tsv, and the file name's stem for the downloaded list: both name the same image,
as long as the tsv is Google's complete file (a line missing shifts the rows after it).

One record per line, in file order: {cid: video_id, video_id, caption (as published), url (Google's
tsv) or file_name (downloaded list)}. A line without exactly two fields, or whose second field is
not an http(s) url (Google's tsv), is unusable; an image named twice drops every line of it.
"""

from __future__ import annotations

import zlib
from pathlib import Path

from txt_db_tools.common import Converter, Options, SplitInput
from txt_db_tools.sources import (
    brief,
    find_one_of,
    image_stem,
    keep_unique,
    keep_valid,
    line_number,
    read_text_lines,
    split_counts,
)

LAYOUTS = {  # layout -> split -> file
    "google": {"train": "Train_GCC-training.tsv", "val": "Validation_GCC-1.1.0-Validation.tsv"},
    "downloaded": {"train": "cc3m_training_success_full.tsv", "val": "cc3m_validation_success_full.tsv"},
}
URL_SCHEMES = ("http://", "https://")


def image_name(row: int, url: str) -> str:
    """The name the downloader gives the image of Google's tsv row `row` (0-based) and `url`."""
    return f"{row}_{zlib.crc32(url.encode('utf-8')) & 0xFFFFFFFF}"


def _rows(path: Path, layout: str, log) -> tuple[list[tuple[int, dict]], int]:
    lines = read_text_lines(path)
    rows = []
    for n, text in lines:
        fields = text.split("\t")
        if len(fields) != 2:
            log.drop(path, f"bad line: expected 'caption<TAB>{'url' if layout == 'google' else 'file name'}', "
                     f"got {len(fields)} fields", n)
            continue
        caption, second = fields
        if layout == "google":
            rows.append((n, {"caption": caption, "url": second.strip()}))
        else:
            rows.append((n, {"caption": caption, "file_name": second.strip()}))
    return rows, len(lines)


def _row_problem(row: dict) -> str | None:
    if "url" in row and not row["url"].startswith(URL_SCHEMES):
        return f"bad url: {brief(row['url'])} is not an http(s) url"
    if "file_name" in row and not image_stem(row["file_name"]):
        return f"bad file name: {brief(row['file_name'])}"
    return None


def read_split(split: SplitInput) -> tuple[list[dict], dict]:
    (layout, path), = split.files.items()
    rows, n_lines = _rows(path, layout, split.log)
    second = "url" if layout == "google" else "file_name"
    usable = keep_valid(rows, {"caption": str, second: str}, path, split.log, line_number, check=_row_problem)
    for line, row in usable:  # Google's tsv has no header and no blank line: row = line - 1
        row["video_id"] = image_name(line - 1, row["url"]) if layout == "google" else image_stem(row["file_name"])
    unique, _ = keep_unique(usable, "video_id", path, split.log, line_number)
    records = [{"cid": r["video_id"], "video_id": r["video_id"], "caption": r["caption"], second: r[second]}
               for _, r in unique.values()]
    counts = split_counts(split.log, len(records), lines=n_lines)
    counts["layout"] = layout
    return records, counts


def find(ann_dir: Path, _: Options) -> tuple[dict[str, dict[str, Path]], dict[str, str]]:
    """Each split's file, in either layout (not both), as {split: {layout: path}}."""
    return find_one_of(ann_dir, {split: {layout: files[split] for layout, files in LAYOUTS.items()}
                                 for split in ("train", "val")})


CONVERTER = Converter(
    module="txt_db_tools.cc3m",
    doc=__doc__,
    dataset="Conceptual Captions 3M",
    task="pretrain",
    find=find,
    needs=lambda _: "at least one of " + ", ".join(name for files in LAYOUTS.values() for name in files.values()),
    read_split=read_split,
    meta={"images": "1-frame videos: video_id is the downloaded image's name, <row>_<crc32 of the url>"},
)
convert = CONVERTER.convert
main = CONVERTER.main

if __name__ == "__main__":
    raise SystemExit(main())
