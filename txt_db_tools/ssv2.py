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

from pathlib import Path

from sparsevl.problems import BadInputError, ProblemLog
from txt_db_tools.common import Converter, Finished, Options, Shared, SplitInput
from txt_db_tools.sources import (
    brief,
    keep_unique,
    keep_valid,
    load_json_list,
    load_json_object,
    record_locator,
    split_counts,
    whole_number,
    with_source_fields,
)

PREFIX = "something-something-v2-"
LABELS_FILE = PREFIX + "labels.json"
SPLIT_FILES = {"train": PREFIX + "train.json", "val": PREFIX + "validation.json", "test": PREFIX + "test.json"}
UNLABELLED = ("test",)
LABEL_MAP = "label2name.json"
FIELDS = {"id": str, "template": str}
TEST_FIELDS = {"id": str}
_where = record_locator("id")


def load_labels(path: Path) -> dict[str, int]:
    """The labels file as {class name: id}; ids must be the integers 0..n-1 written as strings."""
    labels = load_json_object(path)
    out: dict[str, int] = {}
    for name, value in labels.items():
        label = whole_number(value) if isinstance(value, str) else None
        if label is None:
            raise BadInputError(f"{path}: class {brief(name)} has id {brief(value)}, not a number in a string")
        out[name] = label
    if sorted(out.values()) != list(range(len(out))):
        raise BadInputError(f"{path}: class ids must be 0..{len(out) - 1}, each used once")
    return out


def class_name(template: str) -> str:
    """"Putting [something] on [something]" -> "Putting something on something"."""
    return template.replace("[", "").replace("]", "")


def read_shared(ann_dir: Path, _: ProblemLog, __: Options) -> Shared:
    """The classes (required), also written as label2name.json."""
    path = ann_dir / LABELS_FILE
    if not path.is_file():
        raise BadInputError(f"{path}: not found; it names the classes")
    labels = load_labels(path)
    meta = {"labels": {"count": len(labels), "names_from": LABELS_FILE, "file": LABEL_MAP}}
    return Shared(labels, (path,), meta)


def read_split(split: SplitInput) -> tuple[list[dict], dict]:
    """One split; the test split is unlabelled. Returns (records, counts)."""
    path, log = split.files["annotations"], split.log
    labels: dict[str, int] | None = None if split.name in UNLABELLED else split.shared
    raw = load_json_list(path)

    def check(rec: dict) -> str | None:
        if class_name(rec["template"]) not in labels:
            return f"unknown template: {brief(rec['template'])} is no class of {LABELS_FILE}"
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
        if "label" in rec:  # the source's label is a caption, the template filled in
            out["label_text"] = rec["label"]
        records.append(with_source_fields(out, rec, consumed=("id", "label")))
    counts = split_counts(log, len(records), videos=len(raw))
    if labels is None:
        counts["unlabelled"] = True
    else:
        counts["labels"] = len({r["label"] for r in records})
    return records, counts


def finish(_: dict, __: Options, labels: dict[str, int]) -> Finished:
    label2name = {str(i): name for name, i in sorted(labels.items(), key=lambda kv: kv[1])}
    return Finished(extra_files={LABEL_MAP: label2name})


CONVERTER = Converter(
    module="txt_db_tools.ssv2",
    doc=__doc__,
    dataset="Something-Something v2",
    task="classification",
    files={split: {"annotations": name} for split, name in SPLIT_FILES.items()},
    read_split=read_split,
    read_shared=read_shared,
    finish=finish,
    meta={"split_names": "train, val (from validation), test (no labels: records have no `label`)"},
)
convert = CONVERTER.convert
main = CONVERTER.main

if __name__ == "__main__":
    raise SystemExit(main())
