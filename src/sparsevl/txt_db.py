"""txt_db: the text side of a dataset, one folder per dataset.

    {split}.jsonl     one example (a JSON object) per line, e.g. train.jsonl, val.jsonl, test.jsonl
    ans2label.json    answer -> int label (0..n-1), open-ended QA only
    meta.json         how the folder was made: converter, source files, counts, what was dropped

Open-ended QA records carry `qid`, `video_id`, `question`, `answer` and optionally `answer_type`;
other fields from the source are kept as they are. ClipBERT's own txt_db folders are read as they
are: `load_split` adds our field names to their records (`from_clipbert`), and their vocabulary
file, `train_ans2label.json`, is found as a fallback.

Reading malformed input raises `sparsevl.problems.BadInputError` naming the file and line; a
missing file or split raises `FileNotFoundError` saying what is there instead. Writes are atomic
(temp file in the same folder, then `os.replace`), so a reader never sees half a file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Iterable

import orjson

from sparsevl.problems import BadInputError, ProblemLog

ANS2LABEL_NAMES = ("ans2label.json", "train_ans2label.json")  # ours, then ClipBERT's
# ActivityNet-QA type codes 0..8 -> names; 3-8 are the "Free" answer types
ANET_TYPES = (
    "Motion",
    "Spatial Relation",
    "Temporal Relation",
    "Yes/No",
    "Color",
    "Object",
    "Location",
    "Number",
    "Other",
)

_DUMP_OPTS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def read_json(path: str | os.PathLike) -> Any:
    """A whole JSON file; malformed JSON raises BadInputError naming the file and position."""
    path = Path(path)
    try:
        return orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as e:
        raise BadInputError(f"{path}: malformed JSON: {e}") from None


def read_jsonl(path: str | os.PathLike, problems: ProblemLog | None = None) -> list[dict]:
    """All records of a jsonl file; blank lines are ignored.

    A line that is not a JSON object raises `BadInputError` ("FILE:LINE: ..."), or, when a
    `ProblemLog` is given, is reported there (and skipped in its skip mode).
    """
    path = Path(path)
    records: list[dict] = []
    with open(path, "rb") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError as e:
                reason = f"malformed JSON line: {e}"
            else:
                if isinstance(record, dict):
                    records.append(record)
                    continue
                reason = f"expected a JSON object per line, got {type(record).__name__}"
            if problems is None:
                raise BadInputError(f"{path}:{lineno}: {reason}")
            problems.report(path, reason, lineno)
    return records


def _write_atomic(path: str | os.PathLike, chunks: Iterable[bytes]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def write_jsonl(path: str | os.PathLike, records: Iterable[dict]) -> Path:
    """Write one JSON object per line, atomically."""
    return _write_atomic(path, (orjson.dumps(r, option=_DUMP_OPTS) + b"\n" for r in records))


def write_json_atomic(path: str | os.PathLike, obj: Any) -> Path:
    """Write `obj` as indented JSON (key order kept), atomically."""
    return _write_atomic(path, [orjson.dumps(obj, option=_DUMP_OPTS | orjson.OPT_INDENT_2) + b"\n"])


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """A whole utf-8 text file (e.g. an HTML report), replaced in one step."""
    return _write_atomic(path, [text.encode("utf-8")])


def available_splits(txt_db_dir: str | os.PathLike) -> list[str]:
    """Names of the splits in a txt_db folder (the `*.jsonl` stems), sorted."""
    d = Path(txt_db_dir)
    if not d.is_dir():
        return []
    return sorted(p.stem for p in d.glob("*.jsonl") if p.is_file() and not p.name.startswith("."))


def load_split(txt_db_dir: str | os.PathLike, split: str) -> list[dict]:
    """The records of `{txt_db_dir}/{split}.jsonl`."""
    d = Path(txt_db_dir)
    if not d.is_dir():
        raise FileNotFoundError(f"txt_db folder not found: {d}")
    path = d / f"{split}.jsonl"
    if not path.is_file():
        have = available_splits(d)
        listed = ", ".join(have) if have else "none (no *.jsonl file)"
        raise FileNotFoundError(f"split {split!r} not found in txt_db {d}; available splits: {listed}")
    return [from_clipbert(record, i) for i, record in enumerate(read_jsonl(path))]


# ClipBERT's txt_db names (jayleicn/ClipBERT, src/tasks/run_video_qa.py, run_video_retrieval.py,
# run_msrvtt_mc.py): the video is `gif_name` (TGIF-QA), `clip_name` (MSRVTT retrieval and
# multiple choice) or `video_id` (MSRVTT-QA); QA records carry no id: ClipBERT numbers them.
CLIPBERT_VIDEO_FIELDS = ("gif_name", "clip_name")


def from_clipbert(record: dict, index: int) -> dict:
    """A record of ClipBERT's txt_db with this project's field names added (a field already
    present is never replaced): `qid` from `question_id`, or, for a question (`question` or
    `options`) without either, its position in the file, as ClipBERT numbers its questions;
    `cid` of a caption without one, its position; `video_id` from `gif_name` or `clip_name`.
    `answer`, `answer_type`, `options` and `caption` have the same names in both."""
    if "qid" not in record:
        if "question_id" in record:
            record["qid"] = record["question_id"]
        elif "question" in record or "options" in record:
            record["qid"] = index
    if "cid" not in record and "caption" in record:
        record["cid"] = index
    if "video_id" not in record:
        for name in CLIPBERT_VIDEO_FIELDS:
            if name in record:
                record["video_id"] = record[name]
                break
    return record


def load_ans2label(txt_db_dir: str | os.PathLike) -> dict[str, int]:
    """The answer vocabulary of a txt_db folder (or of an ans2label json file given directly).

    Labels must be the integers 0..n-1, each used once.
    """
    p = Path(txt_db_dir)
    if p.is_dir():
        found = [p / name for name in ANS2LABEL_NAMES if (p / name).is_file()]
        if not found:
            raise FileNotFoundError(
                f"no answer vocabulary in txt_db {p}: expected {' or '.join(ANS2LABEL_NAMES)}"
            )
        p = found[0]
    elif not p.is_file():
        raise FileNotFoundError(f"answer vocabulary not found: {p}")
    try:
        obj = orjson.loads(p.read_bytes())
    except orjson.JSONDecodeError as e:
        raise BadInputError(f"{p}: malformed JSON: {e}") from None
    if not isinstance(obj, dict):
        raise BadInputError(f"{p}: expected a JSON object answer -> label, got {type(obj).__name__}")
    for answer, label in obj.items():
        if not isinstance(label, int) or isinstance(label, bool):
            raise BadInputError(f"{p}: label of answer {answer!r} is {label!r}, not an integer")
    labels = sorted(obj.values())
    if labels != list(range(len(labels))):
        raise BadInputError(f"{p}: labels must be 0..{len(labels) - 1}, each used once")
    return obj
