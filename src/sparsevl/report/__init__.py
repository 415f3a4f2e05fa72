"""Run reports: one self-contained HTML page per run (`sparsevl report`, the end of each demo,
`scripts/eval_res.py --html`).

The page holds the results (the task's metrics as a table and a chart, and the table `sparsevl
evaluate` printed), the training curves of log.jsonl, a gallery of evaluated examples with the
frames the model saw, the config and the problems logs; with compared runs, all side by side.
Everything is read from run folders (`run_folder`) whatever the task, and everything the page
needs is inside it: it opens offline.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from sparsevl.data.store import FrameStore, open_vis_db
from sparsevl.problems import UserError
from sparsevl.report import charts, gallery, page
from sparsevl.report.run_folder import RunResults, read_lines, read_run
from sparsevl.files import write_atomic

DEFAULT_SAMPLE = 24  # examples in the gallery


def write_report(
    runs: Sequence[RunResults], out: str | os.PathLike, sample: int = DEFAULT_SAMPLE, seed: int = 0,
    store: FrameStore | None = None, notes: Sequence[str] = (),
) -> Path:
    """The page for `runs` (the first one's examples in the gallery, with frames from `store`)."""
    if not runs:
        raise ValueError("a report needs at least one run")
    if sample < 0:
        raise UserError(f"the sample of examples must be >= 0, not {sample}")
    names = _unique_names(runs)
    for run, name in zip(runs, names):
        run.name = name
    main = runs[0]
    shown = gallery.show(gallery.sample(main.examples, sample, seed), store, [r.examples for r in runs[1:]])
    html = page.render(
        list(runs), shown,
        metric_chart=charts.metric_bars({r.name: r.metrics for r in runs if r.metrics}),
        curve_chart=charts.curves({r.name: r.log for r in runs if r.log}),
        sample_size=sample, notes=list(notes),
    )
    return write_atomic(out, lambda f: f.write(html.encode("utf-8")))


def report_runs(
    run_dir: str | os.PathLike, out: str | os.PathLike, compare: Sequence[str | os.PathLike] = (),
    split: str | None = None, sample: int = DEFAULT_SAMPLE, seed: int = 0, vis_db: str | None = None,
) -> Path:
    """`sparsevl report`: the report of a run folder, compared with others on the same split.
    Frames come from the run's vis_db (its config's, or `vis_db`)."""
    main = read_run(run_dir, split)
    others = [read_run(d, main.split, required=False) for d in compare]
    notes, store = [], None
    location = vis_db or main.vis_db
    if main.examples and location:
        try:
            store = open_vis_db(location)
        except UserError as e:  # moved or deleted: the report is still worth having
            notes.append(f"the gallery has no frames: {e} (give --vis-db PATH)")
    for path in _extraction_logs(location):
        main.problems[str(path)] = read_lines(path)
    return write_report([main, *others], out, sample, seed, store, notes)


def _extraction_logs(vis_db) -> list[Path]:
    """The videos `sparsevl extract-frames` skipped, from each store's extract_errors.log."""
    if not vis_db:
        return []
    folders = [Path(p) for p in (vis_db if isinstance(vis_db, list) else [vis_db])]
    logs = []
    for folder in folders:
        logs += [p for p in [folder / "extract_errors.log", *sorted(folder.glob("*/extract_errors.log"))] if p.is_file()]
    return logs


def _unique_names(runs: Sequence[RunResults]) -> list[str]:
    """Folder names, or the whole path where two runs share a folder name."""
    names = [r.name for r in runs]
    return [r.source if names.count(r.name) > 1 else r.name for r in runs]
