"""The report as one HTML page: inline CSS, images as data URIs, no script, no request at view
time. The gallery's filters are radio buttons and CSS (`:checked ~`), so they work without JS."""

from __future__ import annotations

import json
from html import escape

from sparsevl.report.charts import colour
from sparsevl.report.gallery import Shown
from sparsevl.report.run_folder import RunResults

MAX_PROBLEM_LINES = 200  # per log file; the page says how many more there are

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d232a;background:#f6f7f9}
header,section{max-width:1200px;margin:0 auto;padding:12px 24px}
header{padding-top:20px}
h1{font-size:22px;margin:0 0 6px}h2{font-size:18px;border-bottom:1px solid #d5d9de;padding-bottom:4px;margin-top:28px}
nav a{margin-right:14px;color:#245b9e;text-decoration:none}
.runs span.swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:5px}
table{border-collapse:collapse;background:#fff;font-variant-numeric:tabular-nums}
th,td{border:1px solid #d5d9de;padding:3px 9px;text-align:right}th:first-child,td:first-child{text-align:left}
th{background:#eef1f4}
.side{display:flex;flex-wrap:wrap;gap:18px;align-items:flex-start}
.side>div{min-width:0}
pre{background:#fff;border:1px solid #d5d9de;padding:8px;overflow:auto;font-size:12px;margin:4px 0}
img.chart{max-width:100%;background:#fff;border:1px solid #d5d9de}
.note{color:#6b4e00;background:#fff6d8;border:1px solid #ecd68f;padding:4px 8px;margin:4px 0}
.filter{position:absolute;opacity:0;pointer-events:none}
.filters{margin:6px 0}
.filters label{display:inline-block;border:1px solid #b9c0c8;border-radius:12px;padding:1px 9px;margin:2px;cursor:pointer;background:#fff}
.gallery{display:grid;grid-template-columns:repeat(auto-fill,minmax(330px,1fr));gap:12px}
.ex{margin:0;background:#fff;border:1px solid #d5d9de;border-left:4px solid #2e9d5a;padding:8px;min-width:0}
.ex.wrong{border-left-color:#d13f3f}
.ex img.frames{display:block;max-width:100%;image-rendering:auto}
.ex p{margin:4px 0;overflow-wrap:anywhere}
.ex .text{font-weight:600}
.ex .meta{color:#66707a;font-size:12px}
.ok{color:#1f7a45}.bad{color:#b42323}
.score{color:#66707a;font-size:12px}
ol.candidates{margin:4px 0 0;padding-left:20px}
ol.candidates li{margin:3px 0;font-size:12px}
ol.candidates li.hit{font-weight:600}
ol.candidates img{display:block;max-width:100%}
details{margin:6px 0}summary{cursor:pointer}
"""


def render(runs: list[RunResults], shown: list[Shown], metric_chart: str | None, curve_chart: str | None,
           sample_size: int, notes: list[str]) -> str:
    main = runs[0]
    title = f"sparsevl report: {main.name}"
    body = [
        f"<header><h1>{escape(title)}</h1>",
        _runs_line(runs),
        '<nav><a href="#results">Results</a><a href="#training">Training</a><a href="#examples">Examples</a>'
        '<a href="#config">Config</a><a href="#problems">Problems</a></nav>',
        *[f'<p class="note">{escape(n)}</p>' for n in notes],
        "</header>",
        _results(runs, metric_chart),
        _training(runs, curve_chart),
        _examples(runs, shown, sample_size),
        _config(runs),
        _problems(runs),
    ]
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>{escape(title)}</title><style>{CSS}{_filter_css(shown)}</style></head>\n<body>\n"
            + "\n".join(body) + "\n</body></html>\n")


def _runs_line(runs: list[RunResults]) -> str:
    items = []
    for i, run in enumerate(runs):
        task = (run.config or {}).get("task", "")
        where = f"{run.split} split, step {run.step}" if run.split is not None else "no results"
        items.append(f'<li><span class="swatch" style="background:{colour(i)}"></span><b>{escape(run.name)}</b> '
                     f'({escape(str(task))}{", " if task else ""}{escape(where)}'
                     f'{": " + escape(run.headline) if run.headline else ""}) '
                     f'<span class="meta">{escape(run.source)}</span></li>')
    return '<ul class="runs">' + "".join(items) + "</ul>"


def _number(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.2f}"
    return f"{value:,}" if isinstance(value, int) else escape(str(value))


def _results(runs: list[RunResults], chart: str | None) -> str:
    names = list(dict.fromkeys(m for run in runs for m in run.metrics))
    out = ['<section id="results"><h2>Results</h2>']
    for run in runs:
        out += [f'<p class="note">{escape(run.name)}: {escape(n)}</p>' for n in run.notes]
    if names:
        head = "".join(f"<th>{escape(r.name)}</th>" for r in runs)
        rows = "".join(f"<tr><td>{escape(m)}</td>" + "".join(f"<td>{_number(r.metrics.get(m))}</td>" for r in runs)
                       + "</tr>" for m in names)
        table = f'<table class="metrics"><tr><th>metric</th>{head}</tr>{rows}</table>'
        figure = f'<div><img class="chart" src="{chart}" alt="the metrics of the table as bars"></div>' if chart else ""
        out.append(f'<div class="side"><div>{table}</div>{figure}</div>')
    tables = [(r.name, r.table) for r in runs if r.table]
    if tables:
        out.append("<h3>As <code>sparsevl evaluate</code> printed them</h3><div class=\"side\">"
                   + "".join(f"<div><b>{escape(n)}</b><pre>{escape(t)}</pre></div>" for n, t in tables) + "</div>")
    return "\n".join(out) + "</section>"


def _training(runs: list[RunResults], chart: str | None) -> str:
    out = ['<section id="training"><h2>Training</h2>']
    for run in runs:
        facts = []
        params = next((r for r in run.log if "model/parameters" in r), None)
        if params:
            facts.append(f"{params['model/parameters'] / 1e6:.2f}M parameters "
                         f"({params.get('model/trainable_parameters', 0) / 1e6:.2f}M trainable)")
        steps = [r["step"] for r in run.log if "train/loss" in r]
        if steps:
            facts.append(f"{len(steps)} logged steps, last {steps[-1]}")
        skipped = [r["train/skipped_steps"] for r in run.log if "train/skipped_steps" in r]
        if skipped:
            facts.append(f"{skipped[-1]} step(s) skipped for overflowed fp16 gradients")
        times = [r["time"] for r in run.log if "time" in r]
        if len(times) > 1:
            facts.append(f"{times[-1] - times[0]:.0f} s from the first to the last record")
        out.append(f"<p><b>{escape(run.name)}</b>: {escape('; '.join(facts)) if facts else 'no log.jsonl'}</p>")
    if chart:
        out.append(f'<img class="chart" src="{chart}" alt="training curves">')
    return "\n".join(out) + "</section>"


def _groups(shown: list[Shown]) -> list[str]:
    return sorted({s.example.group for s in shown if s.example.group})


def _filter_css(shown: list[Shown]) -> str:
    rules = ['#f-o-right:checked~.gallery .ex.wrong,#f-o-wrong:checked~.gallery .ex.right{display:none}']
    ids = ["f-g-all", "f-o-all", "f-o-right", "f-o-wrong"]
    for i, _ in enumerate(_groups(shown)):
        rules.append(f"#f-g-{i}:checked~.gallery .ex:not(.g{i}){{display:none}}")
        ids.append(f"f-g-{i}")
    rules.append(",".join(f'#{i}:checked~.filters label[for="{i}"]' for i in ids)
                 + "{background:#245b9e;color:#fff;border-color:#245b9e}")
    return "\n".join(rules)


def _examples(runs: list[RunResults], shown: list[Shown], sample_size: int) -> str:
    main = runs[0]
    out = ['<section id="examples"><h2>Examples</h2>']
    if not shown:
        out.append("<p>No examples to show.</p></section>")
        return "\n".join(out)
    wrong = sum(not s.example.correct for s in shown)
    out.append(f"<p>{len(shown)} of {len(main.examples):,} evaluated items of the {escape(str(main.split))} split "
               f"(asked for {sample_size}; {wrong} wrong, {len(shown) - wrong} right, drawn at random), with the "
               "frames the model saw, read from the frame store.</p>")
    missing = sorted({s.missing for s in shown if s.missing})
    out += [f'<p class="note">frames not shown: {escape(m)}</p>' for m in missing[:5]]
    groups = _groups(shown)
    inputs = ['<input class="filter" type="radio" name="group" id="f-g-all" checked>']
    inputs += [f'<input class="filter" type="radio" name="group" id="f-g-{i}">' for i in range(len(groups))]
    inputs += ['<input class="filter" type="radio" name="outcome" id="f-o-all" checked>',
               '<input class="filter" type="radio" name="outcome" id="f-o-right">',
               '<input class="filter" type="radio" name="outcome" id="f-o-wrong">']
    counts = {g: sum(s.example.group == g for s in shown) for g in groups}
    labels = [f'<label for="f-g-all">all ({len(shown)})</label>']
    labels += [f'<label for="f-g-{i}">{escape(g)} ({counts[g]})</label>' for i, g in enumerate(groups)]
    outcome = [f'<label for="f-o-all">right and wrong</label>', f'<label for="f-o-right">right ({len(shown) - wrong})</label>',
               f'<label for="f-o-wrong">wrong ({wrong})</label>']
    out.append("".join(inputs))
    out.append('<div class="filters">' + ("Type: " + "".join(labels) + "<br>" if groups else "")
               + "Answer: " + "".join(outcome) + "</div>")
    index = {g: i for i, g in enumerate(groups)}
    out.append('<div class="gallery">' + "\n".join(_card(s, index, runs) for s in shown) + "</div>")
    return "\n".join(out) + "</section>"


def _verdict(example) -> str:
    mark = '<span class="ok">✓</span>' if example.correct else '<span class="bad">✗</span>'
    score = f' <span class="score">{example.score:.3f}</span>' if example.score is not None else ""
    return f"{mark} {escape(example.prediction)}{score}"


def _card(s: Shown, group_index: dict[str, int], runs: list[RunResults]) -> str:
    e = s.example
    classes = ["ex", "right" if e.correct else "wrong"] + ([f"g{group_index[e.group]}"] if e.group else [])
    frames = ", ".join(map(str, e.frames))
    parts = [f'<figure class="{" ".join(classes)}">']
    if s.strip:
        parts.append(f'<img class="frames" src="{s.strip}" alt="frames {escape(frames)} of video {escape(e.video_id)}" '
                     f'title="stored frames {escape(frames)}">')
    parts.append("<figcaption>")
    if e.text:
        parts.append(f'<p class="text">{escape(e.text)}</p>')
    name = escape(runs[0].name) + ": " if len(runs) > 1 else ""
    parts.append(f"<p>{name}{_verdict(e)}</p>")
    for run, other in zip(runs[1:], s.others):
        parts.append(f"<p>{escape(run.name)}: {_verdict(other) if other else '–'}</p>")
    parts.append(f"<p>truth: <b>{escape(e.truth)}</b></p>")
    meta = ([f"video {e.video_id}"] if e.video_id else []) + ([e.group] if e.group else [])
    parts.append(f'<p class="meta">{escape(" · ".join(meta))}</p>')
    if s.candidates:
        items = []
        for c, strip in s.candidates:
            hit = ' class="hit"' if c["video_id"] == e.truth else ""
            img = f'<img class="candidate" src="{strip}" alt="frames of video {escape(c["video_id"])}">' if strip else ""
            items.append(f'<li{hit}>{escape(c["video_id"])} <span class="score">{c["score"]:.3f}</span>{img}</li>')
        parts.append(f'<ol class="candidates">{"".join(items)}</ol>')
    parts.append("</figcaption></figure>")
    return "".join(parts)


def _flat(config: dict, prefix: str = "") -> dict[str, object]:
    out = {}
    for key, value in config.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _config(runs: list[RunResults]) -> str:
    out = ['<section id="config"><h2>Config</h2>']
    flat = [_flat(r.config or {}) for r in runs]
    if len(runs) > 1:
        keys = list(dict.fromkeys(k for f in flat for k in f))
        differ = [k for k in keys if len({json.dumps(f.get(k)) for f in flat}) > 1]
        paths = {"txt_db", "vis_db", "output_dir"}  # where, not what: expected to differ
        differ = [k for k in differ if k not in paths]
        if differ:
            head = "".join(f"<th>{escape(r.name)}</th>" for r in runs)
            rows = "".join(f"<tr><td>{escape(k)}</td>" + "".join(f"<td>{escape(json.dumps(f.get(k)))}</td>" for f in flat)
                           + "</tr>" for k in differ)
            out.append(f"<p>What differs between the runs:</p><table><tr><th>key</th>{head}</tr>{rows}</table>")
        else:
            out.append("<p>The runs have the same config (apart from their folders).</p>")
    for run in runs:
        text = json.dumps(run.config, indent=2) if run.config is not None else "(no config.json)"
        out.append(f"<details{' open' if len(runs) == 1 else ''}><summary>{escape(run.name)}: config.json</summary>"
                   f"<pre>{escape(text)}</pre></details>")
    return "\n".join(out) + "</section>"


def _problems(runs: list[RunResults]) -> str:
    out = ['<section id="problems"><h2>Problems</h2>',
           "<p>Videos and records that were skipped (each with its file and record), as the run logged them.</p>"]
    for run in runs:
        logs = {path: lines for path, lines in run.problems.items() if lines}
        if not logs:
            out.append(f"<p><b>{escape(run.name)}</b>: none logged.</p>")
            continue
        for path, lines in logs.items():
            shown = "\n".join(lines[:MAX_PROBLEM_LINES])
            more = f"\n... and {len(lines) - MAX_PROBLEM_LINES} more" if len(lines) > MAX_PROBLEM_LINES else ""
            out.append(f"<details><summary><b>{escape(run.name)}</b>: {len(lines)} in {escape(path)}</summary>"
                       f"<pre>{escape(shown + more)}</pre></details>")
    return "\n".join(out) + "</section>"
