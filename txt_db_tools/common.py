"""The skeleton every converter shares, so that a converter module only reads its format.

A module declares one `Converter`: its dataset and task, the files of each split, and a function
turning one split's files into txt_db records (`read_split`), plus, where its format needs them,
its own options, a file every split uses (`read_shared`) and a last step over all splits
(`finish`). The skeleton does the rest the same way for all: it finds the splits, reads them in
order, each with its own SplitLog (unusable records are dropped and counted in skip mode, or stop
the run with one line naming the file and record), builds the answer vocabulary of open-ended QA,
writes the txt_db into a staged folder that replaces OUT only when complete (output.py), prints
the summary, and provides the command line:

    python -m txt_db_tools.NAME --ann-dir DIR --out TXT_DB [--on-error skip|stop] [options]

and the Python entry point `txt_db_tools.NAME.convert(ann_dir, out, on_error="skip",
quiet=False, **options)` (open-ended QA also takes top_k and ans2label). See activitynet_qa.py.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path
from typing import Any, Callable, Mapping

from sparsevl.problems import BadInputError, ProblemLog
from txt_db_tools.output import PROBLEMS_LOG, staged_folder, start_problem_log, summary, write_txt_db
from txt_db_tools.sources import SplitLog, file_info, find_split_files
from txt_db_tools.vocab import DEFAULT_TOP_K, resolve_ans2label, vocab_coverage

OPEN_ENDED_QA = "video_qa"  # the task whose records need an answer vocabulary
ON_ERROR = ("skip", "stop")
DEFAULT_ON_ERROR = "skip"

Options = Mapping[str, Any]


@dataclasses.dataclass(frozen=True)
class Option:
    """A converter's own option: `--flag` on the command line, `name=` in `convert`."""

    flag: str
    help: str
    default: Any = None
    choices: tuple | None = None
    required: bool = False
    repeated: bool = False  # given once per value on the command line (a list)
    metavar: str | None = None
    from_cli: Callable[[Any], Any] | None = None  # command-line value -> `convert`'s value
    dest: str | None = None  # `convert`'s name for it, when not the flag's

    @property
    def name(self) -> str:
        return self.dest or self.flag.lstrip("-").replace("-", "_")

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        kwargs: dict[str, Any] = {
            "help": self.help, "required": self.required, "metavar": self.metavar, "dest": self.name,
        }
        if self.repeated:
            kwargs["action"] = "append"
        else:
            kwargs |= {"default": self.default, "choices": self.choices}
        parser.add_argument(self.flag, **kwargs)


@dataclasses.dataclass(frozen=True)
class SplitInput:
    """What `read_split` gets for one split."""

    name: str
    files: Mapping[str, Path]  # role -> file, as `Converter.files` names them
    log: SplitLog
    options: Options
    shared: Any  # what `read_shared` returned as its value (None without it)
    done: Mapping[str, list[dict]]  # records of the splits read before this one


@dataclasses.dataclass(frozen=True)
class Shared:
    """A file every split needs (a video mapping, a label list), read once before the splits."""

    value: Any = None
    files: tuple[Path, ...] = ()  # source files read, for meta.json
    meta: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # meta.json entries


@dataclasses.dataclass(frozen=True)
class Finished:
    """What `finish` adds once every split is read."""

    extra_files: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # name -> JSON object
    meta: Mapping[str, Any] = dataclasses.field(default_factory=dict)


# one split's input -> (its records, its counts for meta.json)
ReadSplit = Callable[[SplitInput], "tuple[list[dict], dict]"]
# (ann_dir, options) -> (split -> role -> file, for the splits found; split -> what is missing)
FindSplits = Callable[[Path, Options], "tuple[dict[str, dict[str, Path]], dict[str, str]]"]


@dataclasses.dataclass(frozen=True)
class Converter:
    """One annotation format -> txt_db, declared."""

    module: str  # "txt_db_tools.activitynet_qa": the command's name and meta.json's `converter`
    doc: str  # the module's docstring; its first line describes the command
    dataset: str
    task: str | Callable[[Options], str]  # meta.json's task ("video_qa", "retrieval", ...)
    read_split: ReadSplit
    # split -> role -> file name; "{split}" and "{option name}" are filled in
    files: Mapping[str, Mapping[str, str]] = dataclasses.field(default_factory=dict)
    # instead of `files`, for layouts that file-name templates cannot describe
    find: FindSplits | None = None
    needs: Callable[[Options], str] | None = None  # what `find` looks for, for the no-split error
    options: tuple[Option, ...] = ()
    answer_vocab: bool = False  # may be open-ended QA: adds --top-k and --ans2label
    read_first: tuple[str, ...] = ()  # splits read before the others (see SplitInput.done)
    read_shared: Callable[[Path, ProblemLog, Options], Shared] | None = None
    finish: Callable[[dict[str, list[dict]], Options, Any], Finished] | None = None
    meta: Mapping[str, Any] | Callable[[Options], Mapping[str, Any]] = dataclasses.field(default_factory=dict)

    # ------------------------------------------------------------------------ conversion

    def convert(
        self,
        ann_dir: str | os.PathLike,
        out: str | os.PathLike,
        *,
        on_error: str = DEFAULT_ON_ERROR,
        quiet: bool = False,
        top_k: int = DEFAULT_TOP_K,
        ans2label: str | os.PathLike | None = None,
        **options: Any,
    ) -> dict:
        """Convert every split found in `ann_dir` into the txt_db folder `out`; returns its meta.

        on_error "skip" drops, counts and lists each unusable record (OUT/problems.log, meta.json);
        "stop" raises BadInputError at the first one. An unreadable file, or no split at all,
        raises BadInputError whatever the mode; nothing is written then, and a previous txt_db in
        `out` is kept.
        """
        if on_error not in ON_ERROR:
            raise ValueError(f"on_error must be one of {', '.join(ON_ERROR)}, not {on_error!r}")
        opts = self._options(options)
        task = self.task(opts) if callable(self.task) else self.task
        with_vocab = self.answer_vocab and task == OPEN_ENDED_QA
        if with_vocab and ans2label is None and top_k < 1:
            raise ValueError(f"top_k must be at least 1, not {top_k}")
        ann_dir = Path(ann_dir)
        found, missing = self._find(ann_dir, opts)
        if not found:
            raise BadInputError(f"no {self.dataset} split in {ann_dir}: need {self._needs(opts)}")
        with staged_folder(out) as stage:
            problems = start_problem_log(stage, on_error)
            shared = self.read_shared(ann_dir, problems, opts) if self.read_shared else Shared()
            splits, stats = self._read_splits(found, problems, opts, shared.value)
            finished = self.finish(splits, opts, shared.value) if self.finish else Finished()
            meta = {
                "converter": self.module,
                "dataset": self.dataset,
                "task": task,
                **(self.meta(opts) if callable(self.meta) else self.meta),
                "source_dir": str(ann_dir.resolve()),
                "sources": _sources(shared.files, found),
                "on_error": on_error,
            }
            vocab = None
            if with_vocab:
                train_source = ", ".join(map(str, found["train"].values())) if "train" in found else ann_dir
                vocab, vocab_meta = resolve_ans2label(splits, top_k, ans2label, str(train_source))
                for split, records in splits.items():
                    stats[split].update(vocab_coverage(records, vocab))
                meta |= {"top_k": top_k if ans2label is None else None, "ans2label": vocab_meta}
            meta |= {**shared.meta, **finished.meta, "splits": stats, "missing_splits": missing}
            meta = write_txt_db(stage, splits, meta, vocab, problems, finished.extra_files)
        if not quiet:
            print(summary(meta, out))
        return meta

    def _read_splits(
        self, found: Mapping[str, Mapping[str, Path]], problems: ProblemLog, opts: Options, shared: Any
    ) -> tuple[dict[str, list[dict]], dict[str, dict]]:
        """Each split's records and counts, in the declared order (read `read_first` first)."""
        done: dict[str, list[dict]] = {}
        counts: dict[str, dict] = {}
        for split in sorted(found, key=lambda s: s not in self.read_first):  # a stable sort
            job = SplitInput(split, found[split], SplitLog(problems, split), opts, shared, done)
            done[split], counts[split] = self.read_split(job)
        return {split: done[split] for split in found}, {split: counts[split] for split in found}

    def _options(self, given: Mapping[str, Any]) -> dict[str, Any]:
        known = {o.name: o for o in self.options}
        unknown = sorted(set(given) - set(known))
        if unknown:
            raise TypeError(f"{self.module}.convert got unknown option(s) {', '.join(unknown)}")
        opts = {}
        for name, option in known.items():
            if name not in given and option.required:
                raise TypeError(f"{self.module}.convert needs {name}=")
            value = given.get(name, option.default)
            if option.choices is not None and value not in option.choices:
                raise ValueError(f"{name} must be one of {', '.join(map(str, option.choices))}, not {value!r}")
            opts[name] = value
        return opts

    def _templates(self, opts: Options) -> dict[str, dict[str, str]]:
        return {
            split: {role: name.format(split=split, **opts) for role, name in roles.items()}
            for split, roles in self.files.items()
        }

    def _find(self, ann_dir: Path, opts: Options) -> tuple[dict[str, dict[str, Path]], dict[str, str]]:
        if self.find is not None:
            return self.find(ann_dir, opts)
        found, missing = {}, {}
        for split, names in self._templates(opts).items():
            f, m = find_split_files(ann_dir, [split], names)
            found |= f
            missing |= m
        return found, missing

    def _needs(self, opts: Options) -> str:
        if self.needs is not None:
            return self.needs(opts)
        per_split = [" and ".join(names.values()) for names in self._templates(opts).values()]
        return per_split[0] if len(per_split) == 1 else "at least one of " + ", ".join(per_split)

    # ------------------------------------------------------------------------ command line

    def parser(self) -> argparse.ArgumentParser:
        parser = argparse.ArgumentParser(prog=f"python -m {self.module}", description=self.doc.strip().splitlines()[0])
        parser.add_argument("--ann-dir", required=True, type=Path, help="folder of the source annotation files")
        parser.add_argument(
            "--out", required=True, type=Path,
            help="txt_db folder to write; replaced only once the new one is complete",
        )
        parser.add_argument(
            "--on-error", choices=ON_ERROR, default=DEFAULT_ON_ERROR,
            help=f"on an unusable record: skip it (default; counted in meta.json, listed in "
            f"OUT/{PROBLEMS_LOG}), or stop with its file and record",
        )
        if self.answer_vocab:
            parser.add_argument(
                "--top-k", type=int, default=DEFAULT_TOP_K,
                help=f"answer vocabulary: the K most frequent train answers (default {DEFAULT_TOP_K})",
            )
            parser.add_argument(
                "--ans2label", type=Path, default=None,
                help="reuse this answer vocabulary (ans2label.json) instead of building one from train",
            )
        for option in self.options:
            option.add_to(parser)
        return parser

    def main(self, argv: list[str] | None = None) -> int:
        """The command line: bad input ends in one line on stderr and exit code 1."""
        args = self.parser().parse_args(argv)
        vocab = {"top_k": args.top_k, "ans2label": args.ans2label} if self.answer_vocab else {}
        try:
            opts = {}
            for o in self.options:
                value = getattr(args, o.name)
                opts[o.name] = o.from_cli(value) if o.from_cli else value
            self.convert(args.ann_dir, args.out, on_error=args.on_error, **vocab, **opts)
        except (BadInputError, OSError, ValueError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        return 0


def each_split(splits: tuple[str, ...], **files: str) -> dict[str, dict[str, str]]:
    """`Converter.files` for formats naming every split's files alike: role -> "{split}..."."""
    return {split: dict(files) for split in splits}


def _sources(shared: tuple[Path, ...], found: Mapping[str, Mapping[str, Path]]) -> list[dict]:
    paths = list(shared) + [p for files in found.values() for p in files.values()]
    return [file_info(p) for p in dict.fromkeys(paths)]
