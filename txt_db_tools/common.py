"""Parts shared by the converters: command line, reading and checking source records, the answer
vocabulary, and writing a txt_db folder with its meta.json.

A converter module reads its source files, turns each usable record into a txt_db record, reports
each unusable one through a `SplitLog` (which counts it per split and kind, and raises in stop
mode), then hands the splits to `write_txt_db`. See `txt_db_tools/activitynet_qa.py`.
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import hashlib
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import orjson

from sparsevl.txt_db import load_ans2label, read_json, write_json_atomic, write_jsonl
from sparsevl.problems import BadInputError, ProblemLog
from sparsevl.video_ids import video_id_from_path  # noqa: F401  (converters import it from here)

DEFAULT_TOP_K = 1000
PROBLEMS_LOG = "problems.log"
MAX_PROBLEMS_IN_META = 50


# ---------------------------------------------------------------------------- command line


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ann-dir", required=True, type=Path, help="folder of the source annotation files")
    parser.add_argument("--out", required=True, type=Path, help="txt_db folder to write (created if needed)")
    parser.add_argument(
        "--on-error",
        choices=("skip", "stop"),
        default="stop",
        help="on an unusable record: stop with its message (default), or skip it, count it in "
        f"meta.json and list it in OUT/{PROBLEMS_LOG}",
    )


def add_vocab_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--top-k",
        type=int,
        default=DEFAULT_TOP_K,
        help=f"answer vocabulary: the K most frequent train answers (default {DEFAULT_TOP_K})",
    )
    parser.add_argument(
        "--ans2label",
        type=Path,
        default=None,
        help="reuse this answer vocabulary (ans2label.json) instead of building one from train",
    )


def converter_parser(module: str, doc: str, vocab: bool = False) -> argparse.ArgumentParser:
    """The command line every converter shares: `python -m MODULE --ann-dir --out --on-error`
    (and the answer-vocabulary options for open-ended QA); a converter adds its own after."""
    parser = argparse.ArgumentParser(prog=f"python -m {module}", description=doc.splitlines()[0])
    add_common_arguments(parser)
    if vocab:
        add_vocab_arguments(parser)
    return parser


def run_cli(main: Callable[[argparse.Namespace], Any], parser: argparse.ArgumentParser, argv=None) -> int:
    """Parse, run `main(args)`; bad input ends in one line on stderr and exit code 1."""
    args = parser.parse_args(argv)
    try:
        main(args)
    except (BadInputError, OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


# ---------------------------------------------------------------------------- source files


def load_json_list(path: str | os.PathLike) -> list:
    data = read_json(path)
    if not isinstance(data, list):
        raise BadInputError(f"{path}: expected a JSON list of records, got {type(data).__name__}")
    return data


def load_json_object(path: str | os.PathLike) -> dict:
    data = read_json(path)
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


_TYPE_NAMES = {str: "string", int: "integer", float: "number", list: "list", dict: "object", bool: "boolean"}


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
                f"got {value!r}"
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
    records: list[tuple[int, dict]], key: str, source: str | os.PathLike, log: SplitLog, describe
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
            log.drop(source, f"duplicate id: {key} {k!r} also at record(s) {others}", describe(i, k))
    return unique, duplicated


def keep_valid(
    records: Iterable[tuple[Any, Any]],
    spec: Mapping[str, type],
    source: str | os.PathLike,
    log: SplitLog,
    describe: Callable[[Any, Any], str],
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
        except UnicodeDecodeError as e:  # decoded ahead in blocks: no line number to give
            raise BadInputError(f"{path}: not UTF-8 text: {e}") from None
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
                raise BadInputError(f"{path}:{n}: not UTF-8 text: {e}") from None
            if text.strip():
                lines.append((n, text))
    return lines


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


def split_counts(log: SplitLog, written: int, **source_counts: int) -> dict:
    """A split's counts for meta.json and `summary`: `{name}_in` for each count of source items,
    then records written and source items dropped (in all, and by kind)."""
    counts: dict[str, Any] = {f"{name}_in": n for name, n in source_counts.items()}
    counts.update(written=written, dropped=log.n_dropped, dropped_by_kind=dict(log.dropped.most_common()))
    return counts


# ---------------------------------------------------------------------------- answer vocabulary


def build_ans2label(answers: Iterable[str], top_k: int = DEFAULT_TOP_K) -> dict[str, int]:
    """The `top_k` most frequent answers -> labels 0..K-1 in frequency order (ties: by answer)."""
    if top_k < 1:
        raise ValueError(f"top_k must be at least 1, not {top_k}")
    counts = Counter(answers)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top_k]
    return {answer: label for label, (answer, _) in enumerate(ranked)}


def vocab_coverage(records: Iterable[dict], ans2label: Mapping[str, int], field: str = "answer") -> dict:
    n = oov = 0
    for r in records:
        n += 1
        oov += r[field] not in ans2label
    return {"out_of_vocab": oov, "out_of_vocab_fraction": round(oov / n, 6) if n else 0.0}


def resolve_ans2label(
    splits: Mapping[str, list[dict]], top_k: int, ans2label_path: str | os.PathLike | None
) -> tuple[dict[str, int], dict]:
    """Vocabulary from `ans2label_path` if given, else from the train answers. Returns
    (ans2label, its description for meta.json)."""
    if ans2label_path is not None:
        ans2label = load_ans2label(ans2label_path)
        return ans2label, {"from": str(Path(ans2label_path).resolve()), "size": len(ans2label)}
    if "train" not in splits:
        raise BadInputError(
            "no train split to build the answer vocabulary from; give one with --ans2label FILE"
        )
    answers = [r["answer"] for r in splits["train"]]
    ans2label = build_ans2label(answers, top_k)
    return ans2label, {
        "from": "train answers",
        "top_k": top_k,
        "distinct_train_answers": len(set(answers)),
        "size": len(ans2label),
    }


# ---------------------------------------------------------------------------- writing


def start_problem_log(out: str | os.PathLike, on_error: str) -> ProblemLog:
    """A ProblemLog that raises (stop) or writes to OUT/problems.log (skip; a previous run's log
    is removed first)."""
    if on_error != "skip":
        return ProblemLog(None, on_error=on_error)
    log_path = Path(out) / PROBLEMS_LOG
    log_path.unlink(missing_ok=True)
    return ProblemLog(log_path, on_error=on_error)


def write_txt_db(
    out: str | os.PathLike,
    splits: Mapping[str, list[dict]],
    meta: dict,
    ans2label: Mapping[str, int] | None = None,
    problems: ProblemLog | None = None,
    extra_files: Mapping[str, Any] | None = None,
    quiet: bool = True,
) -> dict:
    """Write `{split}.jsonl` for each split, `ans2label.json` if given, the JSON files of
    `extra_files` (file name -> object, e.g. a classification label map), then `meta.json` (last).

    `meta` gets `created` and `files`, and the first problems if any. Files a previous conversion
    wrote into the same folder (as its meta.json lists them, and its problems.log) that this one
    does not write are removed, so the folder never mixes two conversions.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    old_files = _previous_outputs(out)
    files = []
    for split, records in splits.items():
        write_jsonl(out / f"{split}.jsonl", records)
        files.append(f"{split}.jsonl")
    if ans2label is not None:
        write_json_atomic(out / "ans2label.json", dict(ans2label))
        files.append("ans2label.json")
    for name, obj in (extra_files or {}).items():
        write_json_atomic(out / name, obj)
        files.append(name)
    for name in old_files - set(files):
        (out / name).unlink(missing_ok=True)
    if problems is None or not len(problems):
        (out / PROBLEMS_LOG).unlink(missing_ok=True)  # a previous conversion's
    meta = dict(meta)
    meta["created"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    meta["files"] = files
    if problems is not None and len(problems):
        meta["problems"] = {
            "count": len(problems),
            "first": [str(p) for p in problems.problems[:MAX_PROBLEMS_IN_META]],
            "log": PROBLEMS_LOG,
        }
    write_json_atomic(out / "meta.json", meta)
    if not quiet:
        print(summary(meta, out))
    return meta


def _previous_outputs(out: Path) -> set[str]:
    try:
        old = orjson.loads((out / "meta.json").read_bytes())
        return {f for f in old.get("files", []) if isinstance(f, str) and "/" not in f}
    except (OSError, orjson.JSONDecodeError, AttributeError):
        return set()


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
        lines.append(f"  problems: {meta['problems']['count']}, listed in {Path(out) / PROBLEMS_LOG}")
    return "\n".join(lines)
