"""The report's charts: matplotlib figures as self-contained SVG data URIs (text drawn as paths,
so no font is needed at view time; fixed ids, so the same data gives the same bytes)."""

from __future__ import annotations

import base64
import io
import math

import matplotlib
from matplotlib.figure import Figure

# one colour per run, in --compare order (matplotlib's default cycle)
RUN_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
SVG_SETTINGS = {"svg.fonttype": "path", "svg.hashsalt": "sparsevl-report", "font.size": 9}
PANELS_PER_ROW = 3


def colour(run_index: int) -> str:
    return RUN_COLOURS[run_index % len(RUN_COLOURS)]


def svg_data_uri(figure: Figure) -> str:
    buffer = io.BytesIO()
    with matplotlib.rc_context(SVG_SETTINGS):
        figure.savefig(buffer, format="svg", metadata={"Date": None}, bbox_inches="tight")
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def metric_bars(runs: dict[str, dict[str, float]]) -> str | None:
    """Horizontal bars, one group per metric, one bar per run, each labelled with its value.
    Only metrics that every run has on the 0..100 scale are drawn (counts and unbounded values
    stay in the table)."""
    names = [m for m in next(iter(runs.values()), {})
             if all(isinstance(r.get(m), float) and 0 <= r[m] <= 100 for r in runs.values())]
    if not names:
        return None
    with matplotlib.rc_context(SVG_SETTINGS):
        n_runs = len(runs)
        bar = 0.8 / n_runs
        figure = Figure(figsize=(6.4, 0.5 + 0.28 * len(names) * max(1, n_runs * 0.75)), layout="constrained")
        axes = figure.add_subplot()
        for r, (run, metrics) in enumerate(runs.items()):
            ys = [i + (r - (n_runs - 1) / 2) * bar for i in range(len(names))]
            values = [metrics[m] for m in names]
            bars = axes.barh(ys, values, height=bar * 0.9, color=colour(r), label=run)
            axes.bar_label(bars, labels=[f"{v:.2f}" for v in values], padding=2, fontsize=7)
        axes.set_yticks(range(len(names)), names)
        axes.invert_yaxis()  # the first metric on top, as in the table
        axes.set_xlim(0, 112)  # room for the labels of bars at 100
        axes.spines[["top", "right"]].set_visible(False)
        if n_runs > 1:  # above the bars, never over them
            figure.legend(loc="outside upper center", ncols=n_runs, fontsize=8, frameon=False)
        return svg_data_uri(figure)


def curves(runs: dict[str, list[dict]]) -> str | None:
    """One panel per logged series (train/loss, train/lr, val/..., skipped steps), one line per run,
    against the optimizer step. Series that never change in any run (counts, the epoch, a single
    validation) are left out."""
    series: dict[str, dict[str, tuple[list[int], list[float]]]] = {}
    for run, log in runs.items():
        for record in log:
            for key, value in record.items():
                if key.split("/")[0] not in ("train", "val") or key == "train/epoch":
                    continue
                if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                    steps, values = series.setdefault(key, {}).setdefault(run, ([], []))
                    steps.append(record["step"])
                    values.append(value)
    # a line needs two different values in some run (one validation at the end is in the table)
    keys = [k for k, by_run in series.items()
            if k == "train/loss" or any(len(set(values)) > 1 for _, values in by_run.values())]
    if not keys:
        return None
    keys.sort(key=lambda k: (not k.startswith("train/"), k != "train/loss"))  # loss first, then train, then val
    rows = math.ceil(len(keys) / PANELS_PER_ROW)
    with matplotlib.rc_context(SVG_SETTINGS):
        figure = Figure(figsize=(3.2 * min(len(keys), PANELS_PER_ROW), 2.3 * rows), layout="constrained")
        for i, key in enumerate(keys):
            axes = figure.add_subplot(rows, min(len(keys), PANELS_PER_ROW), i + 1)
            for r, run in enumerate(runs):
                if run in series[key]:
                    steps, values = series[key][run]
                    axes.plot(steps, values, color=colour(r), marker="o" if len(steps) < 20 else None,
                              markersize=3, linewidth=1.2, label=run)
            axes.set_title(key, fontsize=9)
            axes.set_xlabel("step", fontsize=8)
            axes.tick_params(labelsize=7)
            axes.spines[["top", "right"]].set_visible(False)
            if key == "train/lr":
                axes.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
        if len(runs) > 1:
            handles = {}
            for axes in figure.axes:
                handles.update(zip(*reversed(axes.get_legend_handles_labels())))
            figure.legend(list(handles.values()), list(handles), loc="outside upper center",
                          ncols=len(handles), fontsize=8, frameon=False)
        return svg_data_uri(figure)
