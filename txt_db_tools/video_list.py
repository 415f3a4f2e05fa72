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

from collections import defaultdict
from pathlib import Path

from sparsevl.problems import BadInputError
from sparsevl.video_ids import video_id_from_path
from txt_db_tools.common import Converter, Finished, Option, Options, SplitInput
from txt_db_tools.sources import (
    brief,
    keep_unique,
    keep_valid,
    line_number,
    read_text_lines,
    split_counts,
    video_path_problem,
    whole_number,
)

SPLITS = ("train", "val", "test")
PATTERN = "*_{split}_list_videos.txt"
LABEL_MAP = "label2name.json"


def _class_folder(path: str) -> str | None:
    parts = path.replace("\\", "/").split("/")
    return parts[-2] if len(parts) > 1 and parts[-2] else None


def read_split(split: SplitInput) -> tuple[list[dict], dict]:
    """One list. Returns (records, counts for meta.json); each record also carries its `path`
    (dropped by `finish`) for the label names."""
    path, log = split.files["list"], split.log
    lines = read_text_lines(path)
    rows = []
    for n, text in lines:
        fields = text.split()
        if len(fields) != 2:
            log.drop(path, f"bad line: expected '<video> <label>', got {len(fields)} fields: {brief(text.strip())}", n)
            continue
        rows.append((n, {"path": fields[0], "label": fields[1]}))

    def check(row: dict) -> str | None:
        if whole_number(row["label"]) is None:
            return f"bad label: {brief(row['label'])} is not a class number (a whole number)"
        if video_path_problem(row["path"]) is not None:
            return video_path_problem(row["path"])
        row["video_id"] = video_id_from_path(row["path"])
        return None

    usable = keep_valid(rows, {"path": str, "label": str}, path, log, line_number, check=check)
    unique, _ = keep_unique(usable, "video_id", path, log, line_number)
    records = [{"video_id": r["video_id"], "label": whole_number(r["label"]), "path": r["path"]}
               for _, r in unique.values()]
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


def finish(splits: dict[str, list[dict]], _: Options, __: None) -> Finished:
    """label2name.json from the paths, which are then dropped from the records."""
    label2name, names_from = label_names(splits)
    for records in splits.values():
        for r in records:
            del r["path"]
    n_labels = len({r["label"] for rs in splits.values() for r in rs})
    meta = {"labels": {"count": n_labels, "names_from": names_from, "file": LABEL_MAP}}
    return Finished(extra_files={LABEL_MAP: label2name}, meta=meta)


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


def find(ann_dir: Path, opts: Options) -> tuple[dict[str, dict[str, Path]], dict[str, str]]:
    """The lists named by the `lists` option (split -> file), else found by PATTERN."""
    if not ann_dir.is_dir():
        raise FileNotFoundError(f"annotation folder not found: {ann_dir}")
    found: dict[str, dict[str, Path]] = {}
    missing: dict[str, str] = {}
    if opts["lists"] is not None:
        for split, file in opts["lists"].items():
            path = ann_dir / file  # an absolute FILE stays itself
            if path.is_file():
                found[split] = {"list": path}
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
            found[split] = {"list": matches[0]}
        else:
            missing[split] = f"missing {pattern}"
    return found, missing


def _needs(opts: Options) -> str:
    if opts["lists"] is not None:
        return ", ".join(opts["lists"].values())
    return "at least one of " + ", ".join(PATTERN.format(split=s) for s in SPLITS)


CONVERTER = Converter(
    module="txt_db_tools.video_list",
    doc=__doc__,
    dataset="video list",
    task="classification",
    find=find,
    needs=_needs,
    read_split=read_split,
    finish=finish,
    options=(
        Option(
            "--list", dest="lists", repeated=True, metavar="SPLIT=FILE", from_cli=parse_lists,
            help="convert FILE (in --ann-dir unless absolute) as split SPLIT; repeat for each split "
            f"(default: each split with one {PATTERN.format(split='{split}')} file in --ann-dir)",
        ),
    ),
)
convert = CONVERTER.convert
main = CONVERTER.main

if __name__ == "__main__":
    raise SystemExit(main())
