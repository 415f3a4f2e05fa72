"""Bad input, reported instead of raised.

A broken video, a missing frame or a malformed annotation record is recorded here with the file
(and the line or record) it came from. The caller chooses what happens next: in `skip` mode the
problem is counted, written to the log file at once (so nothing is lost if the run dies later) and
reported in the summary; in `stop` mode it raises `BadInputError` with the same message.
"""

from __future__ import annotations

import dataclasses
import os
from collections import Counter
from pathlib import Path


class UserError(Exception):
    """A problem the user can fix: a bad config, a missing file, a malformed record. Its message
    names the file (and record) and says what to do; the command line prints it as one line and
    exits with status 2, without a traceback."""


class BadInputError(UserError):
    """Input that cannot be used, with a message naming the file and the record."""


class MissingInputError(UserError, FileNotFoundError):
    """A file or folder the command needs is not there."""


class BadSampleError(BadInputError):
    """One sample that cannot be used (a video's unreadable frames, a record missing a field),
    while the rest of the data is fine: skipped or fatal by the run's `on_error` policy."""


@dataclasses.dataclass(frozen=True)
class Problem:
    source: str  # file (or store) the problem is in
    reason: str
    where: str = ""  # line number, record index or key inside the source, if any

    def __str__(self) -> str:
        loc = f"{self.source}:{self.where}" if self.where else self.source
        return f"{loc}: {self.reason}"


class ProblemLog:
    """Collects problems; appends each to `log_path` as it happens."""

    def __init__(self, log_path: str | os.PathLike | None = None, on_error: str = "skip"):
        if on_error not in ("skip", "stop"):
            raise ValueError(f"on_error must be 'skip' or 'stop', not {on_error!r}")
        self.on_error = on_error
        self.log_path = Path(log_path) if log_path else None
        self.problems: list[Problem] = []

    def report(self, source, reason: str, where="") -> None:
        problem = Problem(str(source), str(reason), str(where))
        if self.on_error == "stop":
            raise BadInputError(str(problem))
        self.problems.append(problem)
        if self.log_path is not None:
            self._write([problem])

    def write_to(self, log_path: str | os.PathLike) -> None:
        """From now on append to `log_path`; the problems reported so far are written there first
        (a run reports problems while checking its inputs, before its folder exists)."""
        self.log_path = Path(log_path)
        self._write(self.problems)

    def _write(self, problems: list[Problem]) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "a", encoding="utf-8") as f:
            f.writelines(str(p) + "\n" for p in problems)

    def __len__(self) -> int:
        return len(self.problems)

    def summary(self, limit: int = 10) -> str:
        """A few lines for the end of a run: how many problems, of which kinds, where the log is."""
        if not self.problems:
            return "no problems"
        kinds = Counter(p.reason.split(":")[0] for p in self.problems)
        lines = [f"{len(self.problems)} problem(s), skipped:"]
        lines += [f"  {p}" for p in self.problems[:limit]]
        if len(self.problems) > limit:
            lines.append(f"  ... and {len(self.problems) - limit} more")
        lines.append("  by kind: " + ", ".join(f"{k} x{n}" for k, n in kinds.most_common()))
        if self.log_path is not None:
            lines.append(f"  full list: {self.log_path}")
        return "\n".join(lines)
