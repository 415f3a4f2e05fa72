"""Something-Something v2 (published release) -> txt_db for video classification.

    python -m txt_db_tools.ssv2 --ann-dir DIR --out TXT_DB [--on-error skip|stop]

DIR holds `something-something-v2-labels.json` (the 174 classes: {template: "<class id>"}) and
any of `something-something-v2-{train,validation,test}.json`, JSON lists of
{"id", "label", "template", "placeholders"} (test: {"id"} only). They become the splits `train`,
`val` (from validation) and `test`; the labels file is required.

Records, in file order:
- train, val: {video_id: id (the video file's stem, `74225.webm`), label: the class id as an int,
  template, label_text: the source's `label` (the template filled in, "spinning cube that quickly
  stops spinning"), placeholders, ...}. The class is the `template` with its brackets removed
  ("Spinning [something] that ..." -> "Spinning something that ..."), looked up in the labels file;
  a template that is not there is unusable.
- test: {video_id} only: the test labels are not published. The split is written for inference
  (predictions); meta.json says it is unlabelled.
`label2name.json` maps each class id (as a string) to its name, from the labels file.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from sparsevl.problems import BadInputError
from txt_db_tools.common import (
    converter_parser,
    SplitLog,
    file_info,
    find_split_files,
    keep_unique,
    keep_valid,
    load_json_list,
    load_json_object,
    run_cli,
    split_counts,
    start_problem_log,
    write_txt_db,
)

CONVERTER = "txt_db_tools.ssv2"
PREFIX = "something-something-v2-"
LABELS_FILE = PREFIX + "labels.json"
SPLIT_FILES = {"train": PREFIX + "train.json", "val": PREFIX + "validation.json", "test": PREFIX + "test.json"}
UNLABELLED = ("test",)
LABEL_MAP = "label2name.json"
FIELDS = {"id": str, "template": str}
TEST_FIELDS = {"id": str}


def load_labels(path: Path) -> dict[str, int]:
    """The labels file as {class name: id}; ids must be the integers 0..n-1 written as strings."""
    labels = load_json_object(path)
    out: dict[str, int] = {}
    for name, value in labels.items():
        if not (isinstance(value, str) and value.isascii() and value.isdigit()):
            raise BadInputError(f"{path}: class {name!r} has id {value!r}, not a number in a string")
        out[name] = int(value)
    if sorted(out.values()) != list(range(len(out))):
        raise BadInputError(f"{path}: class ids must be 0..{len(out) - 1}, each used once")
    return out


def class_name(template: str) -> str:
    """"Putting [something] on [something]" -> "Putting something on something"."""
    return template.replace("[", "").replace("]", "")


def _where(index: int, video_id=None) -> str:
    return f"record {index}" + (f" (id {video_id!r})" if video_id is not None else "")


def convert_split(path: Path, labels: dict[str, int] | None, log: SplitLog) -> tuple[list[dict], dict]:
    """One split; `labels` None for the unlabelled test split. Returns (records, counts)."""
    raw = load_json_list(path)

    def check(rec: dict) -> str | None:
        if class_name(rec["template"]) not in labels:
            return f"unknown template: {rec['template']!r} is no class of {LABELS_FILE}"
        return None

    if labels is None:
        usable = keep_valid(enumerate(raw), TEST_FIELDS, path, log, _where, key="id")
    else:
        usable = keep_valid(enumerate(raw), FIELDS, path, log, _where, key="id", check=check)
    unique, _ = keep_unique(usable, "id", path, log, _where)
    records = []
    for _, rec in unique.values():
        out = {"video_id": rec["id"]}
        if labels is not None:
            out["label"] = labels[class_name(rec["template"])]
        for k, v in rec.items():  # source fields; its `label` (a caption) is kept as label_text
            if k != "id":
                out["label_text" if k == "label" else k] = v
        records.append(out)
    counts = split_counts(log, len(records), videos=len(raw))
    if labels is None:
        counts["unlabelled"] = True
    else:
        counts["labels"] = len({r["label"] for r in records})
    return records, counts


def convert(
    ann_dir: str | os.PathLike, out: str | os.PathLike, on_error: str = "stop", quiet: bool = False
) -> dict:
    """Convert every split found in `ann_dir` into the txt_db folder `out`; returns its meta.

    Raises BadInputError on bad input in stop mode, on malformed JSON, when the labels file is
    missing or no split is found.
    """
    ann_dir, out = Path(ann_dir), Path(out)
    found, missing = {}, {}
    for split, name in SPLIT_FILES.items():
        f, m = find_split_files(ann_dir, [split], {"annotations": name})
        found |= f
        missing |= m
    if not found:
        raise BadInputError(f"no Something-Something v2 split in {ann_dir}: need at least one of "
                            + ", ".join(SPLIT_FILES.values()))
    labels_path = ann_dir / LABELS_FILE
    if not labels_path.is_file():
        raise BadInputError(f"{labels_path}: not found; it names the classes")
    labels = load_labels(labels_path)
    problems = start_problem_log(out, on_error)
    splits, stats = {}, {}
    for split, paths in found.items():
        split_labels = None if split in UNLABELLED else labels
        splits[split], stats[split] = convert_split(paths["annotations"], split_labels, SplitLog(problems, split))
    label2name = {str(i): name for name, i in sorted(labels.items(), key=lambda kv: kv[1])}
    meta = {
        "converter": CONVERTER,
        "dataset": "Something-Something v2",
        "task": "classification",
        "split_names": "train, val (from validation), test (no labels: records have no `label`)",
        "source_dir": str(ann_dir.resolve()),
        "sources": [file_info(labels_path)] + [file_info(paths["annotations"]) for paths in found.values()],
        "on_error": on_error,
        "labels": {"count": len(labels), "names_from": LABELS_FILE, "file": LABEL_MAP},
        "splits": stats,
        "missing_splits": missing,
    }
    return write_txt_db(out, splits, meta, problems=problems, extra_files={LABEL_MAP: label2name}, quiet=quiet)


def build_parser() -> argparse.ArgumentParser:
    parser = converter_parser(CONVERTER, __doc__)
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_cli(lambda a: convert(a.ann_dir, a.out, a.on_error), build_parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
