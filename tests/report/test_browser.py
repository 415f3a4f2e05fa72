"""The report in a real browser: headless Chromium (Debian's `chromium`) opens it from disk, shows
every image, logs no error, requests nothing outside the page, and its filters work without
script; the screenshot it takes is the README's (docs/report.png):

    python tests/report/test_browser.py REPORT.html OUT.png [HEIGHT]
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from browser import Browser, find_chromium  # noqa: E402

VISIBLE_CARDS = "[...document.querySelectorAll('.gallery .ex')].filter(e => e.offsetParent !== null).length"


def check_page(browser: Browser, page: Path) -> dict:
    """Open `page`; what a person would see go wrong, and the gallery's counts."""
    browser.open(page)
    return {
        "complaints": browser.complaints(),
        "outside": [u for u in browser.requested_urls() if not u.startswith(("file:", "data:"))],
        "gallery_images": browser.evaluate("document.querySelectorAll('.gallery img').length"),
        "frame_strips": browser.evaluate("document.querySelectorAll('.gallery img.frames').length"),
        "broken_images": browser.evaluate("[...document.images].filter(i => !i.complete || !i.naturalWidth).length"),
        "cards": browser.evaluate(VISIBLE_CARDS),
    }


def screenshot(page: Path, out: Path, width: int = 1280, height: int = 1500) -> Path:
    """The top of the page as a person first sees it: results, chart, curves, the gallery's start."""
    with Browser(require_chromium(), width=width, height=height) as browser:
        browser.open(page)
        return browser.screenshot(out)


def require_chromium() -> str:
    exe = find_chromium()
    if exe is None:
        pytest.skip("chromium is not installed (apt-get install chromium; .ci/run installs it): "
                    "the report is not checked in a browser")
    return exe


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


def test_the_report_opens_offline_without_errors_and_shows_the_requested_sample(report_data, tmp_path):
    from sparsevl.report import report_runs

    qa = report_runs(report_data["concat"], tmp_path / "qa.html", compare=[report_data["mean"]], sample=10)
    retrieval = report_runs(report_data["retrieval"], tmp_path / "retrieval.html", sample=4)
    with Browser(require_chromium()) as browser:
        seen = check_page(browser, qa)
        assert seen["complaints"] == [] and seen["outside"] == []
        assert seen["gallery_images"] == seen["frame_strips"] == seen["cards"] == 10
        assert seen["broken_images"] == 0
        # the filters are radio buttons and CSS: choosing one hides the other cards
        wrong = browser.evaluate("document.querySelectorAll('.gallery .ex.wrong').length")
        browser.evaluate("document.querySelector('label[for=f-o-wrong]').click()")
        assert browser.evaluate(VISIBLE_CARDS) == wrong
        browser.evaluate("document.querySelector('label[for=f-g-0]').click()")
        assert browser.evaluate(VISIBLE_CARDS) == browser.evaluate("document.querySelectorAll('.gallery .ex.wrong.g0').length")
        png = browser.screenshot(tmp_path / "qa.png")
        assert png_size(png) == (1280, 900)

        seen = check_page(browser, retrieval)
        assert seen["complaints"] == [] and seen["outside"] == [] and seen["broken_images"] == 0
        assert seen["frame_strips"] == seen["cards"] == 4 and seen["gallery_images"] == 4 * (1 + 3)

    shot = screenshot(qa, tmp_path / "top.png")
    assert png_size(shot) == (1280, 1500)


def test_the_browser_reports_a_broken_page(tmp_path):
    """The checks above can fail: a script error, a missing image and an outside request are seen."""
    page = tmp_path / "broken.html"
    page.write_text('<!doctype html><html><head><meta charset="utf-8"><title>x</title></head><body>'
                    '<img src="missing.png"><script>undefined_function()</script></body></html>')
    with Browser(require_chromium()) as browser:
        seen = check_page(browser, page)
    assert any("undefined_function" in c for c in seen["complaints"])
    assert any("failed to load" in c or "ERR_FILE_NOT_FOUND" in c for c in seen["complaints"])
    assert seen["broken_images"] == 1


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        sys.exit("usage: python tests/report/test_browser.py REPORT.html OUT.png [HEIGHT]")
    print(screenshot(Path(sys.argv[1]), Path(sys.argv[2]), height=int(sys.argv[3]) if len(sys.argv) == 4 else 1500))
