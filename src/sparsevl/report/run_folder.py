"""What a report shows of a run, read from its folder without knowing its task.

    RUN/config.json                                the resolved run config (vis_db: where the frames are)
    RUN/log.jsonl                                  training curves
    RUN/problems*.log                              videos and records skipped in training
    RUN/results/{split}_step{N}_evaluation.json    metrics, headline and table (`sparsevl evaluate`)
    RUN/results/{split}_step{N}_examples.json      every evaluated item (`Evaluation.examples`)
    RUN/results/{split}_problems.log               skipped at evaluation

A run that was never evaluated by `sparsevl evaluate` shows its last validation from log.jsonl.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from sparsevl.problems import BadInputError, MissingInputError, ProblemLog, UserError
from sparsevl.tasks.protocol import Example
from sparsevl.txt_db import read_json, read_jsonl

EVALUATION_FILE = re.compile(r"^(?P<split>.+)_step(?P<step>\d+)_evaluation\.json$")


@dataclasses.dataclass
class RunResults:
    """One column of a report: a run's results on one split, and how it got there."""

    name: str
    source: str  # the folder (or file) it was read from
    split: str | None = None
    step: int | None = None
    metrics: dict[str, float] = dataclasses.field(default_factory=dict)
    headline: str = ""
    table: str = ""  # as `sparsevl evaluate` printed it
    examples: list[Example] = dataclasses.field(default_factory=list)
    log: list[dict] = dataclasses.field(default_factory=list)  # log.jsonl records
    config: dict | None = None
    problems: dict[str, list[str]] = dataclasses.field(default_factory=dict)  # log file -> its lines
    notes: list[str] = dataclasses.field(default_factory=list)  # what is missing, and why

    @property
    def vis_db(self) -> str | list | None:
        return (self.config or {}).get("vis_db") or None


def evaluations(run_dir: Path) -> list[tuple[str, int, Path]]:
    """(split, step, file) of every evaluation in RUN/results, oldest file first."""
    found = []
    for path in (run_dir / "results").glob("*_evaluation.json"):
        match = EVALUATION_FILE.match(path.name)
        if match:
            found.append((match["split"], int(match["step"]), path))
    return sorted(found, key=lambda f: (f[2].stat().st_mtime, f[1]))


def read_run(run_dir: str | Path, split: str | None = None, required: bool = True) -> RunResults:
    """The run's latest evaluation of `split` (default: of the split evaluated last). `required`:
    a missing split is an error; else the run is shown without results for it."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise MissingInputError(f"no run folder at {run_dir}")
    run = RunResults(name=run_dir.name, source=str(run_dir))
    if (run_dir / "config.json").is_file():
        run.config = read_json(run_dir / "config.json")
    run.log = _read_log(run_dir / "log.jsonl", run)
    run.problems = {str(p): read_lines(p) for p in _problem_logs(run_dir)}
    found = evaluations(run_dir)
    wanted = split or (found[-1][0] if found else None)
    mine = [f for f in found if f[0] == wanted]
    if mine:
        _, step, path = max(mine, key=lambda f: f[1])
        _read_evaluation(run, path)
        _read_examples(run, path.with_name(path.name.replace("_evaluation.json", "_examples.json")))
    elif split is not None and found and required:
        have = ", ".join(sorted({f[0] for f in found}))
        raise UserError(f"{run_dir}: no evaluation of split {split!r} in results/ (evaluated: {have})")
    else:
        _last_validation(run, split)
    return run


def _read_evaluation(run: RunResults, path: Path) -> None:
    saved = read_json(path)
    try:
        run.split, run.step = str(saved["split"]), int(saved["step"])
        run.metrics = {str(k): v for k, v in saved["metrics"].items() if isinstance(v, (int, float))}
        run.headline, run.table = str(saved.get("headline", "")), str(saved.get("table", ""))
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise BadInputError(f"{path}: not an evaluation file of sparsevl evaluate ({type(e).__name__}: {e})") from None


def _read_examples(run: RunResults, path: Path) -> None:
    if not path.is_file():
        run.notes.append(f"no examples file ({path.name}): the gallery is empty")
        return
    records = read_json(path)
    if not isinstance(records, list):
        raise BadInputError(f"{path}: expected a JSON list of examples, got {type(records).__name__}")
    for i, record in enumerate(records):
        try:
            run.examples.append(Example(**record))
        except TypeError as e:
            raise BadInputError(f"{path}: example {i}: {e}") from None


def _last_validation(run: RunResults, split: str | None) -> None:
    """No evaluation file: the last validation logged in training, if it is of `split`."""
    val_split = (run.config or {}).get("val_split")
    validations = [r for r in run.log if any(k.startswith("val/") for k in r)]
    if validations and split in (None, val_split):
        last = validations[-1]
        run.split, run.step = val_split, int(last["step"])
        run.metrics = {k[4:]: v for k, v in last.items() if k.startswith("val/") and isinstance(v, (int, float))}
        run.notes.append(f"not evaluated by `sparsevl evaluate`: the metrics are the last validation in "
                         f"log.jsonl (step {run.step}), and there are no examples")
    else:
        run.notes.append("no results" + (f" for split {split!r}" if split else "") + " in this run")


def _read_log(path: Path, run: RunResults) -> list[dict]:
    if not path.is_file():
        return []
    problems = ProblemLog()  # a run killed while writing may leave a broken last line
    records = read_jsonl(path, problems)
    run.notes += [f"log.jsonl: skipped {p}" for p in problems.problems]
    return records


def _problem_logs(run_dir: Path) -> list[Path]:
    return sorted(run_dir.glob("problems*.log")) + sorted((run_dir / "results").glob("*_problems.log"))


def read_lines(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
