"""`sparsevl report` on tiny real runs: what the page holds, that it needs nothing outside itself,
and the errors a user can make."""

from __future__ import annotations

import json
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from sparsevl.cli import main
from sparsevl.problems import UserError
from sparsevl.report import report_runs
from sparsevl.report.gallery import sample
from sparsevl.report.run_folder import read_run
from sparsevl.tasks.protocol import Example


class Page(HTMLParser):
    """The tags of a page, with the section and classes each one is in."""

    def __init__(self, text: str):
        super().__init__()
        self.tags: list[tuple[str, dict, list[str]]] = []  # (tag, attributes, enclosing classes)
        self.stack: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs, list(self.stack)))
        if tag not in ("img", "input", "meta", "br"):
            self.stack.append(attrs.get("class", "") + " #" + attrs.get("id", ""))

    def handle_endtag(self, tag):
        if tag not in ("img", "input", "meta", "br") and self.stack:
            self.stack.pop()

    def inside(self, tag: str, css_class: str) -> list[dict]:
        return [a for t, a, enclosing in self.tags if t == tag and any(css_class in c.split() for c in enclosing)]


def examples_of(run_dir: Path, split: str) -> list[dict]:
    return json.loads(next((run_dir / "results").glob(f"{split}_step*_examples.json")).read_text())


def test_the_page_holds_results_curves_a_sampled_gallery_config_and_problems(report_data, tmp_path):
    (report_data["concat"] / "problems.log").write_text("videos/x.mp4: video not in vis_db: its question(s) dropped\n")
    out = report_runs(report_data["concat"], tmp_path / "r.html", compare=[report_data["mean"]], sample=10)
    text = out.read_text()
    page = Page(text)
    # offline: no script, every image inline, no link or source outside the page
    assert not [t for t, _, _ in page.tags if t in ("script", "link", "iframe")]
    assert all(a["src"].startswith("data:image/") for t, a, _ in page.tags if t == "img")
    assert not [a["href"] for t, a, _ in page.tags if t == "a" and not a["href"].startswith("#")]
    # one strip of the frames the model saw per example shown
    gallery = page.inside("img", "gallery")
    assert len(gallery) == 10
    evaluated = examples_of(report_data["concat"], "test")
    for img in gallery:
        video = img["alt"].rsplit(" ", 1)[1]
        listed = img["alt"].removeprefix("frames ").split(" of video")[0]
        assert any(e["video_id"] == video and ", ".join(map(str, e["frames"])) == listed for e in evaluated)
    # each compared run's answer to the same question is beside the main run's
    cards = text.split('<figure class="ex')[1:]
    assert all("concat: " in c and "mean: " in c and "truth: " in c for c in cards)
    # results of both runs, the printed tables, the curves, what differs in the config, the problems
    for run in ("concat", "mean"):
        saved = json.loads(next((report_data[run] / "results").glob("test_step*_evaluation.json")).read_text())
        assert f"{saved['metrics']['All']:.2f}" in text
    assert text.count("<pre>Type ") == 2
    assert 'alt="training curves"' in text and 'alt="the metrics of the table as bars"' in text
    assert "<td>model.fusion</td><td>&quot;concat&quot;</td><td>&quot;mean&quot;</td>" in text
    assert "video not in vis_db: its question(s) dropped" in text
    (report_data["concat"] / "problems.log").unlink()


def test_filters_are_one_radio_button_per_group_shown_and_per_outcome(report_data, tmp_path):
    out = report_runs(report_data["concat"], tmp_path / "r.html", sample=12, seed=3)
    page = Page(out.read_text())
    cards = [a["class"].split() for t, a, _ in page.tags if t == "figure"]
    groups = sorted({e["group"] for e in examples_of(report_data["concat"], "test")})
    radios = [a["id"] for t, a, _ in page.tags if t == "input" and a.get("name") == "group"]
    shown_groups = {c for classes in cards for c in classes if c.startswith("g") and c[1:].isdigit()}
    assert len(radios) == 1 + len(shown_groups) and len(shown_groups) <= len(groups)
    assert all(("right" in c) != ("wrong" in c) for c in cards)
    assert {a["id"] for t, a, _ in page.tags if t == "input" and a.get("name") == "outcome"} == {
        "f-o-all", "f-o-right", "f-o-wrong"}


def test_retrieval_shows_each_caption_with_its_ranked_videos(report_data, tmp_path):
    out = report_runs(report_data["retrieval"], tmp_path / "r.html", sample=3)
    page = Page(out.read_text())
    frames, candidates = page.inside("img", "gallery"), [a for a in page.inside("img", "gallery") if a["class"] == "candidate"]
    assert len(frames) - len(candidates) == 3 and len(candidates) == 3 * 3  # rerank_k = 3 candidates each


def test_the_gallery_draws_half_wrong_when_it_can():
    def examples(n_right: int, n_wrong: int) -> list[Example]:
        return [Example(f"v{i}", [0], "", "a", "a" if i < n_right else "b", i < n_right) for i in range(n_right + n_wrong)]

    for n_right, n_wrong, n, want_wrong in ((50, 50, 10, 5), (2, 50, 10, 8), (50, 2, 10, 2), (3, 3, 10, 3)):
        chosen = sample(examples(n_right, n_wrong), n, seed=0)
        assert len(chosen) == min(n, n_right + n_wrong) and sum(not e.correct for e in chosen) == want_wrong
    assert sample(examples(20, 20), 6, seed=1) == sample(examples(20, 20), 6, seed=1)


def test_a_moved_frame_store_leaves_the_gallery_without_frames_and_says_so(report_data, tmp_path):
    run = tmp_path / "moved_run"
    shutil.copytree(report_data["concat"], run)
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "vis_db": str(tmp_path / "gone")}))
    text = report_runs(run, tmp_path / "r.html", sample=4).read_text()
    assert "the gallery has no frames" in text and str(tmp_path / "gone") in text
    assert not Page(text).inside("img", "gallery") and text.count('<figure class="ex') == 4
    # --vis-db points at where the store is now
    text = report_runs(run, tmp_path / "r.html", sample=4, vis_db=str(report_data["vis_db"])).read_text()
    assert len(Page(text).inside("img", "gallery")) == 4


def test_a_run_never_evaluated_shows_its_last_validation(report_data, tmp_path):
    run = tmp_path / "unevaluated"
    shutil.copytree(report_data["concat"], run, ignore=shutil.ignore_patterns("results"))
    results = read_run(run)
    last = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if '"val/All"' in line][-1]
    assert results.split == "val" and results.step == last["step"] and results.metrics["All"] == last["val/All"]
    assert "not evaluated by `sparsevl evaluate`" in results.notes[0]


def test_cli_writes_the_page_and_names_a_missing_split_in_one_line(report_data, tmp_path, capsys):
    out = tmp_path / "sub" / "report.html"
    assert main(["report", str(report_data["concat"]), "--compare", str(report_data["mean"]), "--out", str(out),
                 "--sample", "5"]) == 0
    assert f"report: {out}" in capsys.readouterr().out and len(Page(out.read_text()).inside("img", "gallery")) == 5
    assert main(["report", str(report_data["concat"]), "--split", "nope", "--out", str(tmp_path / "x.html")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no evaluation of split 'nope'" in err and "(evaluated: test)" in err
    assert main(["report", str(tmp_path / "no_run"), "--out", str(tmp_path / "x.html")]) == 2
    assert "no run folder at" in capsys.readouterr().err
    assert not (tmp_path / "x.html").exists()


def test_a_malformed_examples_file_is_named(report_data, tmp_path):
    run = tmp_path / "broken"
    shutil.copytree(report_data["concat"], run)
    path = next((run / "results").glob("test_step*_examples.json"))
    path.write_text(json.dumps([{"video_id": "v", "frames": []}]))
    with pytest.raises(UserError, match=rf"{path.name}: example 0"):
        report_runs(run, tmp_path / "r.html")
