"""Writing a txt_db folder so that it is either whole or not there.

A conversion writes into a fresh hidden folder beside OUT (`.OUT.<random>.partial`), meta.json
last; only when everything is written does that folder take OUT's place (`staged_folder`). A run
that fails, in stop mode or on an unreadable file, removes its partial folder and leaves OUT as it
was, a previous complete txt_db included; a run that is killed leaves only the hidden partial
folder, which no reader takes for a txt_db (it can be deleted). So a folder at OUT is always the
complete output of one conversion.

OUT is replaced only when it is absent, empty, or a txt_db a converter wrote (its meta.json names
the converter and every file in it): a folder holding anything else is refused, never deleted.
"""

from __future__ import annotations

import datetime as _dt
import os
import secrets
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping

import orjson

from sparsevl.txt_db import write_json_atomic, write_jsonl
from sparsevl.problems import BadInputError, ProblemLog

META = "meta.json"
PROBLEMS_LOG = "problems.log"
MAX_PROBLEMS_IN_META = 50
PROBLEMS_IN_SUMMARY = 5
CONVERTER_PREFIX = "txt_db_tools."  # meta.json's `converter` of a folder this package wrote


@contextmanager
def staged_folder(out: str | os.PathLike) -> Iterator[Path]:
    """A new empty folder to write the txt_db into; when the block ends normally it replaces `out`,
    when the block raises it is removed and `out` is left untouched."""
    out = _target(out)
    check_replaceable(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = _sibling(out, "partial")
    stage.mkdir()
    try:
        yield stage
        _replace(stage, out)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


def _target(out: str | os.PathLike) -> Path:
    out = Path(os.path.abspath(out))
    return out.resolve() if out.is_symlink() else out  # replace the folder, not the link


def _sibling(out: Path, kind: str) -> Path:
    """A hidden name beside `out` that nothing else uses."""
    while True:
        path = out.parent / f".{out.name}.{secrets.token_hex(4)}.{kind}"
        if not os.path.lexists(path):
            return path


def check_replaceable(out: Path) -> None:
    """Raise BadInputError unless `out` is absent, an empty folder, or a converter's txt_db whose
    meta.json lists every file in it."""
    if not os.path.lexists(out):
        return
    if not out.is_dir():
        raise BadInputError(f"{out}: exists and is not a folder; give a folder for the txt_db")
    names = {p.name for p in out.iterdir()}
    if not names:
        return
    written = _files_of_conversion(out)
    if written is None:
        raise BadInputError(
            f"{out}: not a txt_db written by a converter (no {META} naming one); give a new or empty "
            "folder, or remove this one"
        )
    extra = sorted(names - written)
    if extra:
        shown = ", ".join(extra[:5]) + (", ..." if len(extra) > 5 else "")
        raise BadInputError(
            f"{out}: holds files its {META} does not list ({shown}); give a new or empty folder, or "
            "remove them"
        )


def _files_of_conversion(out: Path) -> set[str] | None:
    """The names a converter wrote into `out`, from its meta.json; None if it is not one's."""
    try:
        meta = orjson.loads((out / META).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    if not isinstance(meta, dict) or not str(meta.get("converter", "")).startswith(CONVERTER_PREFIX):
        return None
    files = meta.get("files")
    if not isinstance(files, list):
        return None
    return {f for f in files if isinstance(f, str)} | {META, PROBLEMS_LOG}


def _replace(stage: Path, out: Path) -> None:
    """Put `stage` at `out`. A previous `out` is moved aside first and deleted only once `stage`
    is in place (put back if that fails)."""
    if not os.path.lexists(out):
        os.rename(stage, out)
        return
    old = _sibling(out, "old")
    os.rename(out, old)
    try:
        os.rename(stage, out)
    except BaseException:
        os.rename(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)


def start_problem_log(folder: str | os.PathLike, on_error: str) -> ProblemLog:
    """A ProblemLog that raises (stop) or appends each problem to FOLDER/problems.log at once
    (skip)."""
    if on_error != "skip":
        return ProblemLog(None, on_error=on_error)
    return ProblemLog(Path(folder) / PROBLEMS_LOG, on_error=on_error)


def write_txt_db(
    folder: str | os.PathLike,
    splits: Mapping[str, list[dict]],
    meta: dict,
    ans2label: Mapping[str, int] | None = None,
    problems: ProblemLog | None = None,
    extra_files: Mapping[str, Any] | None = None,
) -> dict:
    """Write `{split}.jsonl` for each split, `ans2label.json` if given, the JSON files of
    `extra_files` (file name -> object, e.g. a classification label map), then `meta.json`, into
    `folder` (a fresh one: see `staged_folder`). Returns the meta written.

    `meta` gets `created`, `files`, and the problems if any (their count and the first ones).
    """
    folder = Path(folder)
    files = []
    for split, records in splits.items():
        write_jsonl(folder / f"{split}.jsonl", records)
        files.append(f"{split}.jsonl")
    if ans2label is not None:
        write_json_atomic(folder / "ans2label.json", dict(ans2label))
        files.append("ans2label.json")
    for name, obj in (extra_files or {}).items():
        write_json_atomic(folder / name, obj)
        files.append(name)
    meta = dict(meta)
    meta["created"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    meta["files"] = files
    if problems is not None and len(problems):
        meta["problems"] = {
            "count": len(problems),
            "first": [str(p) for p in problems.problems[:MAX_PROBLEMS_IN_META]],
            "log": PROBLEMS_LOG,
        }
    write_json_atomic(folder / META, meta)
    return meta


def summary(meta: Mapping, out: str | os.PathLike) -> str:
    """A few lines for stdout after a conversion."""
    lines = [f"wrote {out}"]
    for split, s in meta["splits"].items():
        counts_in = ", ".join(f"{k[:-3]} {v}" for k, v in s.items() if k.endswith("_in"))
        line = f"  {split}: {s['written']} written ({counts_in} in)"
        if s["dropped"]:
            kinds = ", ".join(f"{k} x{n}" for k, n in s["dropped_by_kind"].items())
            line += f", {s['dropped']} source records dropped ({kinds})"
        if "out_of_vocab" in s:
            line += (
                f"; {s['out_of_vocab']} answers outside the vocabulary"
                f" ({100 * s['out_of_vocab_fraction']:.1f}%)"
            )
        lines.append(line)
    for split, why in meta.get("missing_splits", {}).items():
        lines.append(f"  {split}: not converted ({why})")
    if "ans2label" in meta:
        lines.append(f"  ans2label: {meta['ans2label']['size']} answers ({meta['ans2label']['from']})")
    if "problems" in meta:
        problems = meta["problems"]
        lines.append(f"  problems: {problems['count']} skipped, listed in {Path(out) / PROBLEMS_LOG}")
        lines += [f"    {p}" for p in problems["first"][:PROBLEMS_IN_SUMMARY]]
        if problems["count"] > PROBLEMS_IN_SUMMARY:
            lines.append(f"    ... and {problems['count'] - PROBLEMS_IN_SUMMARY} more")
    return "\n".join(lines)
