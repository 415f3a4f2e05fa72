"""Video classification lists (`<video> <label>` per line, Kinetics-style) -> txt_db.

    python -m txt_db_tools.video_list --ann-dir DIR --out TXT_DB [--list SPLIT=FILE ...]
                                      [--on-error skip|stop]

The lists are the ones MMAction2 publishes and reads (e.g. `kinetics400_val_list_videos.txt`):
one video per line, its path (relative to the video folder) and its integer class label,
separated by white space: `abseiling/0wR5jVB-WPk.mp4 0`. Which file is which split:
- by default, every split of train, val, test with exactly one file `*_{split}_list_videos.txt`
  in DIR (the published names: `kinetics400_{train,val}_list_videos.txt`);
- `--list SPLIT=FILE` (repeat it, one per split; FILE is taken in DIR unless absolute) names the
  files instead; then only those are converted, under those split names.

Records, in file order: {video_id, label}: `video_id` is the path without its folders and
extension (the id `extract-frames` stores the video under; `0wR5jVB-WPk`), `label` the integer.
A line without exactly two fields, or whose label is not a whole number, is unusable; a video
listed twice in a split drops every line of it.

`label2name.json` maps each label (as a string, JSON keys are strings) to its class name when the
lists tell it: when every line's path has a folder and each label comes with one folder name
only, and each folder name with one label (Kinetics: `abseiling/...` is always 0). Otherwise no
names are known and the file is `{}` (meta.json says why).
"""

from __future__ import annotations

import argparse
import os
from collections import defaultdict
from pathlib import Path

from sparsevl.problems import BadInputError
from txt_db_tools.common import (
    converter_parser,
    SplitLog,
    file_info,
    keep_unique,
    keep_valid,
    line_number,
    read_text_lines,
    run_cli,
    split_counts,
    start_problem_log,
    video_id_from_path,
    write_txt_db,
)

CONVERTER = "txt_db_tools.video_list"
SPLITS = ("train", "val", "test")
PATTERN = "*_{split}_list_videos.txt"
LABEL_MAP = "label2name.json"


def _class_folder(path: str) -> str | None:
    parts = path.replace("\\", "/").split("/")
    return parts[-2] if len(parts) > 1 and parts[-2] else None


def convert_split(path: Path, log: SplitLog) -> tuple[list[dict], dict]:
    """One list. Returns (records, counts for meta.json); each record also carries its `path`
    (dropped before writing) for the label names."""
    lines = read_text_lines(path)
    rows = []
    for n, text in lines:
        fields = text.split()
        if len(fields) != 2:
            log.drop(path, f"bad line: expected '<video> <label>', got {len(fields)} fields: {text.strip()!r}", n)
            continue
        rows.append((n, {"path": fields[0], "label": fields[1]}))

    def check(row: dict) -> str | None:
        label = row["label"]
        if not (label.isascii() and label.isdigit()):
            return f"bad label: {label!r} is not a class number (a whole number)"
        row["video_id"] = video_id_from_path(row["path"])
        return None

    usable = keep_valid(rows, {"path": str, "label": str}, path, log, line_number, check=check)
    unique, _ = keep_unique(usable, "video_id", path, log, line_number)
    records = [{"video_id": r["video_id"], "label": int(r["label"]), "path": r["path"]} for _, r in unique.values()]
    counts = split_counts(log, len(records), lines=len(lines))
    counts["labels"] = len({r["label"] for r in records})
    return records, counts


def label_names(splits: dict[str, list[dict]]) -> tuple[dict[str, str], str]:
    """label -> class name from the paths' folders, if they name the classes; and how it was told."""
    names: dict[int, set] = defaultdict(set)
    labels: dict[str, set] = defaultdict(set)
    for records in splits.values():
        for r in records:
            folder = _class_folder(r["path"])
            if folder is None:
                return {}, f"none: {r['path']!r} has no folder to name its class"
            names[r["label"]].add(folder)
            labels[folder].add(r["label"])
    for label, folders in names.items():
        if len(folders) > 1:
            return {}, f"none: label {label} is in folders {', '.join(sorted(folders))}"
    for folder, ids in labels.items():
        if len(ids) > 1:
            return {}, f"none: folder {folder!r} holds labels {', '.join(map(str, sorted(ids)))}"
    return {str(label): next(iter(names[label])) for label in sorted(names)}, "the videos' folders"


def parse_lists(specs: list[str] | None) -> dict[str, str] | None:
    """`--list SPLIT=FILE` values -> {split: file}."""
    if not specs:
        return None
    lists: dict[str, str] = {}
    for spec in specs:
        split, sep, file = spec.partition("=")
        split, file = split.strip(), file.strip()
        if not sep or not split or not file or "/" in split:
            raise ValueError(f"--list takes SPLIT=FILE (e.g. val=kinetics400_val_list_videos.txt), not {spec!r}")
        if split in lists:
            raise ValueError(f"--list names split {split!r} twice")
        lists[split] = file
    return lists


def _find_files(ann_dir: Path, lists: dict[str, str] | None) -> tuple[dict[str, Path], dict[str, str]]:
    if not ann_dir.is_dir():
        raise FileNotFoundError(f"annotation folder not found: {ann_dir}")
    found: dict[str, Path] = {}
    missing: dict[str, str] = {}
    if lists is not None:
        for split, file in lists.items():
            path = ann_dir / file  # an absolute FILE stays itself
            if path.is_file():
                found[split] = path
            else:
                missing[split] = f"missing {path}"
        return found, missing
    for split in SPLITS:
        pattern = PATTERN.format(split=split)
        matches = sorted(p for p in ann_dir.glob(pattern) if p.is_file())
        if len(matches) > 1:
            names = ", ".join(p.name for p in matches)
            raise BadInputError(
                f"{ann_dir}: several lists for split {split!r} ({names}); choose one with --list {split}=FILE"
            )
        if matches:
            found[split] = matches[0]
        else:
            missing[split] = f"missing {pattern}"
    return found, missing


def convert(
    ann_dir: str | os.PathLike,
    out: str | os.PathLike,
    lists: dict[str, str] | None = None,
    on_error: str = "stop",
    quiet: bool = False,
) -> dict:
    """Convert the lists found in `ann_dir` (or named by `lists`, split -> file) into the txt_db
    folder `out`; returns its meta.

    Raises BadInputError on bad input in stop mode, on an unreadable file, or when no list is found.
    """
    ann_dir, out = Path(ann_dir), Path(out)
    found, missing = _find_files(ann_dir, lists)
    if not found:
        wanted = ", ".join(lists.values()) if lists else ", ".join(PATTERN.format(split=s) for s in SPLITS)
        raise BadInputError(f"no video list in {ann_dir}: need {wanted}")
    problems = start_problem_log(out, on_error)
    splits, stats = {}, {}
    for split, path in found.items():
        splits[split], stats[split] = convert_split(path, SplitLog(problems, split))
    label2name, names_from = label_names(splits)
    for records in splits.values():
        for r in records:
            del r["path"]
    meta = {
        "converter": CONVERTER,
        "dataset": "video list",
        "task": "classification",
        "source_dir": str(ann_dir.resolve()),
        "sources": [file_info(path) for path in found.values()],
        "on_error": on_error,
        "labels": {"count": len({r["label"] for rs in splits.values() for r in rs}), "names_from": names_from,
                   "file": LABEL_MAP},
        "splits": stats,
        "missing_splits": missing,
    }
    return write_txt_db(out, splits, meta, problems=problems, extra_files={LABEL_MAP: label2name}, quiet=quiet)


def build_parser() -> argparse.ArgumentParser:
    parser = converter_parser(CONVERTER, __doc__)
    parser.add_argument(
        "--list",
        action="append",
        metavar="SPLIT=FILE",
        help="convert FILE (in --ann-dir unless absolute) as split SPLIT; repeat for each split "
        f"(default: each split with one {PATTERN.format(split='{split}')} file in --ann-dir)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_cli(
        lambda a: convert(a.ann_dir, a.out, parse_lists(a.list), a.on_error),
        build_parser(),
        argv,
    )


if __name__ == "__main__":
    raise SystemExit(main())
