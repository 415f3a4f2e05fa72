"""Reading and checking a converter's source files: whole JSON files, CSV/TSV with a header,
text and jsonl lines; each record checked against the fields it needs.

An unusable record is reported through a `SplitLog` with the file and the record (or line) it is
in: counted per kind in skip mode, raised as `BadInputError` in stop mode. A file that cannot be
read at all (malformed JSON, not UTF-8, a CSV header without a needed column) raises
`BadInputError` naming the file whatever the mode.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import os
import pickle
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import orjson

from sparsevl.video_ids import video_id_from_path
from sparsevl.problems import BadInputError, ProblemLog

# (position, record id or None) -> where a record is, for messages: "record 3 (id 'a')", "12"
Describe = Callable[[Any, Any], str]



def not_utf8(path: str | os.PathLike, raw: bytes, error: UnicodeDecodeError, first_line: int = 1) -> BadInputError:
    """The error for `raw`, the bytes of `path` from line `first_line` on, that `error` found not
    UTF-8: the line and column of the bad byte."""
    line = raw.count(b"\n", 0, error.start) + first_line
    column = error.start - raw.rfind(b"\n", 0, error.start)
    byte = raw[error.start : error.start + 1].hex()
    return BadInputError(f"{path}:{line}: not UTF-8 text: byte 0x{byte} at column {column} ({error.reason})")


def read_json_file(path: str | os.PathLike) -> Any:
    """A whole JSON file. A UTF-8 byte order mark is ignored, as the CSV and text readers do;
    malformed JSON raises BadInputError naming the file and the position, text that is not UTF-8
    one naming the line and column of the first bad byte."""
    raw = Path(path).read_bytes()
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8):]
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        try:  # orjson places a decoding error at the start of the file: find the byte
            raw.decode("utf-8")
        except UnicodeDecodeError as u:
            raise not_utf8(path, raw, u) from None
        raise BadInputError(f"{path}: malformed JSON: {e}") from None


class _RefusedName(pickle.UnpicklingError):
    pass


class _PlainDataUnpickler(pickle.Unpickler):
    """Reads plain data only: dicts, lists, tuples, strings, bytes, numbers, booleans, None and
    sets. A pickle can name any class or function to call while it loads (that is how it runs
    code); every such name is refused, except the two set types older protocols name."""

    ALLOWED = {("builtins", "set"), ("builtins", "frozenset"), ("__builtin__", "set"), ("__builtin__", "frozenset")}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise _RefusedName(
            f"refused: the pickle names {brief(f'{module}.{name}')}; only plain data (dict, list, str, "
            "numbers) is read from a pickle"
        )


def load_plain_pickle(path: str | os.PathLike) -> Any:
    """A pickle of plain data (see _PlainDataUnpickler), e.g. the caption pickles some datasets
    publish; anything else, or a broken pickle, raises BadInputError naming the file."""
    try:
        with open(path, "rb") as f:
            return _PlainDataUnpickler(f, encoding="utf-8").load()
    except OSError:
        raise
    except _RefusedName as e:
        raise BadInputError(f"{path}: {e}") from None
    except Exception as e:  # noqa: BLE001: a malformed pickle fails inside the parser in any way
        raise BadInputError(f"{path}: not a readable pickle: {type(e).__name__}: {brief(str(e))}") from None


def load_token_lists(path: str | os.PathLike, log: "SplitLog", item: str, text: str) -> dict[str, list[str]]:
    """A caption pickle of plain data, {video: [[word, ...], ...]} (CLIP4Clip's and
    collaborative-experts' raw captions), as {video: [words joined by single spaces, ...]}.

    `item` and `text` name a key and a caption in messages ("clip", "caption"). A file that is not
    such a dict raises BadInputError; an entry that is not a list is dropped through `log`, and so
    is each caption that is not a non-empty list of words, alone."""
    data = load_plain_pickle(path)
    if not isinstance(data, dict):
        raise BadInputError(f"{path}: expected a dict {item} -> {text}s, got {type(data).__name__}")
    out: dict[str, list[str]] = {}
    for key, token_lists in data.items():
        where = f"{item} {brief(key)}"
        if not isinstance(key, str) or not key.strip() or not isinstance(token_lists, list):
            log.drop(path, f"bad entry: expected a {item} name -> list of word lists, got {brief(token_lists)}", where)
            continue
        texts = []
        for n, tokens in enumerate(token_lists):
            if isinstance(tokens, list) and tokens and all(isinstance(t, str) for t in tokens):
                texts.append(" ".join(tokens))
            else:
                log.drop(path, f"bad {text}: {text} {n} is not a list of words, got {brief(tokens)}", where)
        out[key] = texts
    return out


def load_json_list(path: str | os.PathLike) -> list:
    data = read_json_file(path)
    if not isinstance(data, list):
        raise BadInputError(f"{path}: expected a JSON list of records, got {type(data).__name__}")
    return data


def load_json_object(path: str | os.PathLike) -> dict:
    data = read_json_file(path)
    if not isinstance(data, dict):
        raise BadInputError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def file_info(path: str | os.PathLike) -> dict:
    path = Path(path)
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return {"name": path.name, "size": path.stat().st_size, "sha256": h.hexdigest()}


def find_split_files(
    ann_dir: str | os.PathLike, splits: Iterable[str], templates: Mapping[str, str]
) -> tuple[dict[str, dict[str, Path]], dict[str, str]]:
    """For each split, the files named by `templates` (role -> e.g. "{split}_q.json").

    Returns (found: split -> role -> path, for splits with every file present;
    missing: split -> what is missing).
    """
    ann_dir = Path(ann_dir)
    if not ann_dir.is_dir():
        raise FileNotFoundError(f"annotation folder not found: {ann_dir}")
    found: dict[str, dict[str, Path]] = {}
    missing: dict[str, str] = {}
    for split in splits:
        paths = {role: ann_dir / t.format(split=split) for role, t in templates.items()}
        absent = [p.name for p in paths.values() if not p.is_file()]
        if absent:
            missing[split] = "missing " + ", ".join(absent)
        else:
            found[split] = paths
    return found, missing


def find_one_of(
    ann_dir: str | os.PathLike, names: Mapping[str, Mapping[str, str]]
) -> tuple[dict[str, dict[str, Path]], dict[str, str]]:
    """For formats that publish a split's file under one of several names (`names`: split ->
    kind -> file name): each split's file as {split: {kind: path}}, and split -> what is missing.
    Two of them present for one split raise BadInputError: which one to read cannot be told."""
    ann_dir = Path(ann_dir)
    if not ann_dir.is_dir():
        raise FileNotFoundError(f"annotation folder not found: {ann_dir}")
    found: dict[str, dict[str, Path]] = {}
    missing: dict[str, str] = {}
    for split, kinds in names.items():
        present = {kind: ann_dir / name for kind, name in kinds.items() if (ann_dir / name).is_file()}
        if len(present) > 1:
            both = " and ".join(p.name for p in present.values())
            raise BadInputError(f"{ann_dir}: both {both} for split {split!r}; keep one")
        if present:
            found[split] = present
        else:
            missing[split] = "missing " + " or ".join(kinds.values())
    return found, missing


_TYPE_NAMES = {str: "string", int: "integer", float: "number", list: "list", dict: "object", bool: "boolean"}


BRIEF_LIMIT = 80


def brief(value: Any) -> str:
    """repr(value), cut to BRIEF_LIMIT characters: a message quotes a source value, not pages of it."""
    text = repr(value)
    return text if len(text) <= BRIEF_LIMIT else f"{text[:BRIEF_LIMIT]}... ({len(text)} characters)"


def check_fields(record: Any, spec: Mapping[str, type]) -> str | None:
    """Why `record` does not fit `spec` (field -> type), as "kind: detail"; None if it does.

    A bool is not accepted as an int, and a string field must not be empty.
    """
    if not isinstance(record, dict):
        return f"not a record: expected a JSON object, got {type(record).__name__}"
    for field, want in spec.items():
        if field not in record:
            return f"missing field: {field!r}"
        value = record[field]
        if not isinstance(value, want) or (want is int and isinstance(value, bool)):
            return (
                f"wrong field type: {field!r} should be a {_TYPE_NAMES.get(want, want.__name__)}, "
                f"got {brief(value)}"
            )
        if want is str and not value.strip():
            return f"empty field: {field!r}"
    return None


class SplitLog:
    """Unusable records of one split: reported through a ProblemLog, counted by kind.

    `reason` is "kind: detail"; the kind ("missing field", "duplicate id", ...) is what meta.json
    counts.
    """

    def __init__(self, problems: ProblemLog, split: str):
        self.problems = problems
        self.split = split
        self.dropped: Counter[str] = Counter()

    def drop(self, source: str | os.PathLike, reason: str, where: str = "") -> None:
        self.problems.report(source, reason, where)  # raises in stop mode
        self.dropped[reason.split(":")[0]] += 1

    @property
    def n_dropped(self) -> int:
        return sum(self.dropped.values())


def keep_unique(
    records: list[tuple[Any, dict]], key: str, source: str | os.PathLike, log: SplitLog, describe: Describe
) -> tuple[dict[Any, tuple[int, dict]], set]:
    """Index (position, record) pairs by `record[key]`; every record of an id that occurs more
    than once is dropped (which of them is right cannot be told). Returns (unique, duplicated ids).
    """
    positions: dict[Any, list[int]] = {}
    for pos, (i, rec) in enumerate(records):
        positions.setdefault(rec[key], []).append(pos)
    unique: dict[Any, tuple[int, dict]] = {}
    duplicated = set()
    for k, where in positions.items():
        if len(where) == 1:
            unique[k] = records[where[0]]
            continue
        duplicated.add(k)
        indices = [records[p][0] for p in where]
        for i in indices:
            others = ", ".join(str(j) for j in indices if j != i)
            log.drop(source, f"duplicate id: {key} {brief(k)} also at record(s) {others}", describe(i, k))
    return unique, duplicated


def keep_valid(
    records: Iterable[tuple[Any, Any]],
    spec: Mapping[str, type],
    source: str | os.PathLike,
    log: SplitLog,
    describe: Describe,
    key: str | None = None,
    check: Callable[[dict], str | None] | None = None,
) -> list[tuple[Any, dict]]:
    """The (position, record) pairs whose record fits `spec` (see check_fields) and then passes
    `check` (the reason a record is unusable, or None). Each other record is dropped through `log`,
    located by `describe(position, record[key])` (None without `key` or when the record lacks it:
    the same `describe` keep_unique takes).
    """
    kept = []
    for pos, rec in records:
        reason = check_fields(rec, spec)
        if reason is None and check is not None:
            reason = check(rec)
        if reason is None:
            kept.append((pos, rec))
        else:
            log.drop(source, reason, describe(pos, rec.get(key) if key and isinstance(rec, dict) else None))
    return kept


def read_csv_rows(
    path: str | os.PathLike, columns: Iterable[str], log: SplitLog, delimiter: str = ","
) -> tuple[list[tuple[int, dict[str, str]]], int]:
    """The data rows of a CSV file with a header line, as (line number, {column: value}), and how
    many data rows the file has, bad ones included.

    Line numbers count from 1 at the top of the file, blank lines included, as an editor shows
    them. A header without one of `columns`, text that is not UTF-8 or broken quoting raise
    BadInputError naming the file; a row with more or fewer fields than the header is dropped
    through `log` as a "bad row" at its line. Blank lines are ignored.
    """
    path = Path(path)
    header: list[str] | None = None
    rows, n_rows = [], 0
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f, delimiter=delimiter)
        try:
            end = 0
            for fields in reader:
                line, end = end + 1, reader.line_num  # a quoted field may span lines
                if not fields:
                    continue
                if header is None:
                    header = [name.strip() for name in fields]
                    _check_header(path, header, columns, line)
                    continue
                n_rows += 1
                if len(fields) != len(header):
                    log.drop(path, f"bad row: {len(fields)} fields, the header has {len(header)}", line)
                else:
                    rows.append((line, dict(zip(header, fields))))
        except csv.Error as e:
            raise BadInputError(f"{path}:{reader.line_num}: malformed CSV: {e}") from None
        except UnicodeDecodeError:  # decoded ahead in blocks: find the line in the bytes
            raw = path.read_bytes()
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise not_utf8(path, raw, e) from None
            raise
    if header is None:
        raise BadInputError(f"{path}: empty file, expected a header line")
    return rows, n_rows


def _check_header(path: Path, header: list[str], columns: Iterable[str], line: int) -> None:
    absent = [c for c in columns if c not in header]
    if absent:
        raise BadInputError(
            f"{path}:{line}: missing column(s) {', '.join(map(repr, absent))} in the header {header}"
        )


def line_number(line: int, _id: Any = None) -> str:
    """`describe` for CSV rows (keep_valid, keep_unique): the row's line number."""
    return str(line)


def record_locator(key: str, noun: str = "record") -> Describe:
    """`describe` for the records of a JSON list, by position and id:
    `record_locator("id")(3, "a")` -> "record 3 (id 'a')"; "record 3" when the id is unknown."""

    def describe(index: Any, value: Any = None) -> str:
        return f"{noun} {index}" + (f" ({key} {brief(value)})" if value is not None else "")

    return describe


def read_text_lines(path: str | os.PathLike) -> list[tuple[int, str]]:
    """The non-blank lines of a text file as (line number from 1, text without its line end).

    Text that is not UTF-8 raises BadInputError naming the file and the line.
    """
    path = Path(path)
    lines = []
    with open(path, "rb") as f:
        for n, raw in enumerate(f, start=1):
            try:
                text = raw.decode("utf-8-sig" if n == 1 else "utf-8").rstrip("\r\n")
            except UnicodeDecodeError as e:
                raise not_utf8(path, raw, e, first_line=n) from None
            if text.strip():
                lines.append((n, text))
    return lines


def read_id_list(path: str | os.PathLike, log: SplitLog) -> tuple[dict[str, int], int]:
    """A list of ids (videos, clips), one per line, as {id: its line} in file order, and the
    number of non-blank lines; an id listed twice drops every line of it."""
    lines = read_text_lines(path)
    unique, _ = keep_unique([(n, {"id": text.strip()}) for n, text in lines], "id", path, log, line_number)
    return {key: n for key, (n, _) in unique.items()}, len(lines)


def read_jsonl_rows(path: str | os.PathLike, log: SplitLog) -> tuple[list[tuple[int, Any]], int]:
    """The values of a jsonl file as (line number, value), and how many non-blank lines it has.

    A line that is not JSON is dropped through `log` as a "malformed JSON line" at its line; any
    other value is returned as it is (keep_valid then refuses what is not a record).
    """
    path = Path(path)
    rows = []
    lines = read_text_lines(path)
    for n, text in lines:
        try:
            rows.append((n, orjson.loads(text)))
        except orjson.JSONDecodeError as e:
            log.drop(path, f"malformed JSON line: {e}", n)
    return rows, len(lines)


MAX_DIGITS = 18  # a whole number read from text stays below 10**18: it fits JSON's 64-bit integers


def whole_number(text: str) -> int | None:
    """`text` (surrounding blanks ignored) as an int if it is ASCII digits only, at most
    MAX_DIGITS of them; None otherwise (a sign, a fraction, other digits, or too large)."""
    text = text.strip()
    if text.isascii() and text.isdigit() and len(text) <= MAX_DIGITS:
        return int(text)
    return None


def with_source_fields(record: dict, source: Mapping[str, Any], consumed: Iterable[str] = ()) -> dict:
    """`record` plus the fields of `source` it does not have, as they are, except the `consumed`
    ones (those the record was made from). A source field never replaces a record field: a stray
    `video_id` or `qid` in the source cannot change what the record says."""
    skip = set(consumed)
    return record | {k: v for k, v in source.items() if k not in record and k not in skip}


def image_stem(name: str) -> str:
    """The id an image is stored under as a 1-frame video: its file name without folders and
    without its extension, whatever it is (`train2017/000000397133.jpg` -> `000000397133`)."""
    return os.path.splitext(name.replace("\\", "/").rsplit("/", 1)[-1])[0]


def video_path_problem(name: str) -> str | None:
    """Why a video path names no video id (it is only slashes, like "/"); None if it names one."""
    if not video_id_from_path(name):
        return f"bad video: {brief(name)} names no file"
    return None


def split_counts(log: SplitLog, written: int, **source_counts: int) -> dict:
    """A split's counts for meta.json and `summary`: `{name}_in` for each count of source items,
    then records written and source items dropped (in all, and by kind)."""
    counts: dict[str, Any] = {f"{name}_in": n for name, n in source_counts.items()}
    counts.update(written=written, dropped=log.n_dropped, dropped_by_kind=dict(log.dropped.most_common()))
    return counts


