"""What every benchmark script shares: timing rounds, the machine and its load, and the report
(a table printed, kept in docs/logs/, written into docs/benchmarks.md, drawn as a PNG chart).

A benchmark section in docs/benchmarks.md starts with `## <title>` and is replaced as a whole
when the same benchmark runs again, so the page always shows each benchmark's latest run.
"""

from __future__ import annotations

import datetime
import os
import platform
import re
import shlex
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# where the logs, the page and the charts go; a test points it at a temporary folder
DOCS = Path(os.environ.get("SPARSEVL_BENCHMARK_DOCS", ROOT / "docs"))


def load() -> str:
    """The load averages (1, 5, 15 min): other work on the machine shows in every timing."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} ({os.cpu_count()} cores)"


def machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB, Python {platform.python_version()}, "
            f"torch {torch.__version__}")


def interleaved(paths: dict[str, Callable[[], object]], rounds: int, log: Callable[[str], None],
                clock: str = "wall") -> dict[str, list[float]]:
    """Seconds of each call of each path, run in turns (a different order every round), so a
    change of the machine's load in the middle of the run hits every path alike.

    clock "cpu": the CPU time of this process (all its threads) instead of the wall clock. For
    paths that run in this process on one thread it is their own cost, whatever share of the
    cores the other work on the machine leaves them; "wall" is for paths that use other
    processes (workers) or wait for them."""
    now = time.process_time if clock == "cpu" else time.perf_counter
    names = list(paths)
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            start = now()
            paths[name]()
            times[name].append(now() - start)
        log(f"round {r + 1}/{rounds} ({clock} s): " + ", ".join(f"{n} {times[n][-1]:.2f}s" for n in names) + f"; {load()}")
    return times


def best(xs: Sequence[float]) -> float:
    """The fastest of the rounds: on a machine shared with other work, the round least disturbed
    by it is the closest to the path's own cost (the log keeps every round)."""
    return min(xs)


class Report:
    """Collects what a benchmark prints; `finish` keeps the log and writes the docs section."""

    def __init__(self, name: str, title: str):
        self.name, self.title = name, title
        self.command = "python " + " ".join(shlex.quote(a) for a in [os.path.relpath(sys.argv[0], ROOT), *sys.argv[1:]])
        self.date = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
        self.lines: list[str] = []
        self.tables: list[str] = []
        self.charts: list[str] = []
        self.log(f"command: {self.command}")
        self.log(f"date: {self.date}")
        self.log(f"machine: {machine()}")
        self.log(f"at start: {load()}")
        try:
            self.log("uptime: " + subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
        except OSError:
            pass

    def log(self, line: str = "") -> None:
        print(line, flush=True)
        self.lines.append(line)

    def table(self, header: Sequence[str], rows: Sequence[Sequence[object]], caption: str = "") -> str:
        text = "| " + " | ".join(header) + " |\n|" + "---|" * len(header) + "\n"
        text += "".join("| " + " | ".join(str(c) for c in row) + " |\n" for row in rows)
        if caption:
            text = caption + "\n\n" + text
        self.tables.append(text)
        self.log(text)
        return text

    def bar_chart(self, file: str, labels: Sequence[str], values: Sequence[float], xlabel: str,
                  title: str, log_scale: bool = False) -> Path:
        """A horizontal bar chart in docs/img/, linked from the section."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        path = DOCS / "img" / file
        path.parent.mkdir(parents=True, exist_ok=True)
        fig, ax = plt.subplots(figsize=(8, 0.45 * len(labels) + 1.4))
        bars = ax.barh(range(len(labels)), values, color="#4c72b0")
        ax.set_yticks(range(len(labels)), labels)
        ax.invert_yaxis()
        ax.set_xlabel(xlabel)
        ax.set_title(textwrap.fill(title, 80), fontsize=9)
        if log_scale:
            ax.set_xscale("log")
        ax.bar_label(bars, labels=[f"{v:,.1f}" if v < 100 else f"{v:,.0f}" for v in values], padding=3, fontsize=8)
        ax.margins(x=0.15)
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        self.charts.append(f"![{title}](img/{file})")
        return path

    def finish(self, notes: str = "") -> Path:
        """Write docs/logs/<name>_<date>.txt and replace this benchmark's section of docs/benchmarks.md."""
        self.log(f"at end: {load()}")
        stamp = self.date.replace(" ", "_").replace(":", "")
        log_path = DOCS / "logs" / f"{self.name}_{stamp}.txt"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.write_text("\n".join(self.lines) + "\n")
        rel_log = log_path.relative_to(DOCS)
        section = (
            f"## {self.title}\n\n`{self.command}` ({self.date}; {machine()}; "
            f"log: [{rel_log}]({rel_log}))\n\n" + "\n".join(self.tables) + "\n"
            + "".join(c + "\n\n" for c in self.charts) + (notes.strip() + "\n" if notes else "")
        )
        write_section(DOCS / "benchmarks.md", self.title, section)
        print(f"log: {log_path}\nsection '{self.title}' written to docs/benchmarks.md")
        return log_path


def write_section(page: Path, title: str, section: str) -> None:
    text = page.read_text() if page.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section.rstrip() + "\n\n", text, count=1)
    else:
        text = text.rstrip() + "\n\n" + section
    tmp = page.with_suffix(".md.tmp")
    tmp.write_text(text.rstrip() + "\n")
    tmp.replace(page)
