"""The page itself, opened from disk by headless Chromium (Debian's chromium; fails, never skips, without it).

Checks: no console errors and no request leaving the file (self-contained), every image decodes with a
non-zero size, every section is there, every marked number equals report.json's value as formatted
by botcap.report.fmt, every table cell is marked; a screenshot of each section is kept.
"""

from __future__ import annotations

from functools import reduce
from pathlib import Path

import matplotlib.image as mpimg
import pytest
from report_cdp import Browser

from botcap.report.build import SECTION_IDS
from botcap.report.fmt import format_value


@pytest.fixture(scope="module")
def page(quick_report):
    browser = Browser()
    try:
        browser.open(quick_report / "index.html")
        yield browser
    finally:
        browser.close()


def _lookup(doc, key: str):
    def step(node, part):
        return node[int(part)] if isinstance(node, list) else node[part]

    return reduce(step, key.split("."), doc)


def test_no_console_errors_and_nothing_fetched(page):
    assert page.errors() == []
    urls = page.requested_urls()
    assert urls, "the page load was not observed"
    assert all(u.startswith(("file:", "data:")) for u in urls), urls


def test_every_image_decodes(page, quick_json):
    images = page.eval("[...document.images].map(i => [i.alt, i.complete, i.naturalWidth, i.naturalHeight])")
    assert len(images) >= len(SECTION_IDS) - 1  # every section but provenance has a plot
    for alt, complete, w, h in images:
        assert complete and w > 0 and h > 0, alt


def test_every_section_is_there_in_order(page, quick_json):
    ids = page.eval("[...document.querySelectorAll('section[data-section]')].map(s => s.id)")
    assert ids == list(SECTION_IDS) == quick_json["order"]
    for sid in SECTION_IDS:
        text = page.eval(
            f"document.getElementById('{sid}').querySelector('[data-role=recommendation]').innerText"
        )
        assert text.startswith("Recommendation:") and len(text) > 30, sid


def test_numbers_shown_equal_report_json(page, quick_json):
    marks = page.eval(
        "[...document.querySelectorAll('[data-key]')].map(e => [e.dataset.key, e.dataset.fmt, e.textContent])"
    )
    assert len(marks) > 200
    keys = {k for k, _, _ in marks}
    assert len(keys) == len(marks), "a key is shown twice"
    for key, fmt, shown in marks:
        assert shown == format_value(_lookup(quick_json, key), fmt), key
    # every recommendation value of every section is on the page
    for sid, s in quick_json["sections"].items():
        for field in s["recommendation"]["values"]:
            assert f"sections.{sid}.recommendation.values.{field}" in keys


def test_every_table_cell_is_marked(page):
    unmarked = page.eval(
        "[...document.querySelectorAll('td')].filter(td => !td.querySelector('[data-key]'))"
        ".map(td => td.textContent)"
    )
    assert unmarked == []


def test_screenshot_of_each_section(page, quick_report):
    shots: Path = quick_report.parent / "screenshots"
    shots.mkdir(exist_ok=True)
    for sid in SECTION_IDS:
        box = page.eval(
            f"(() => {{ const r = document.getElementById('{sid}').getBoundingClientRect(); "
            f"return {{x: r.left + scrollX, y: r.top + scrollY, width: r.width, "
            f"height: Math.min(r.height, 4000)}}; }})()"
        )
        assert box["width"] > 100 and box["height"] > 50, sid
        path = shots / f"{sid}.png"
        page.screenshot(box, path)
        img = mpimg.imread(path)
        assert img.shape[0] > 50 and img.shape[1] > 100, sid
        assert img.std() > 0, f"{sid}: blank screenshot"
    print(f"section screenshots kept in {shots}")


def test_print_stylesheet_paginates(page):
    # one section per printed page from the second on: the print rules are really there
    rules = page.eval(
        "[...document.styleSheets].flatMap(s => [...s.cssRules]).filter(r => r.media && "
        "[...r.media].includes('print')).map(r => r.cssText).join(' ')"
    )
    assert "page-break-before: always" in rules or "break-before: page" in rules
    pdf = page.call("Page.printToPDF", printBackground=False)["data"]
    assert len(pdf) > 10_000
    # on paper (A4 less 14 mm margins: about 690 CSS px) nothing is cut off at the right edge
    page.call("Emulation.setDeviceMetricsOverride", width=690, height=1000, deviceScaleFactor=1, mobile=False)
    page.call("Emulation.setEmulatedMedia", media="print")
    try:
        assert page.eval("document.documentElement.scrollWidth") <= 690
        wide = page.eval(
            "[...document.querySelectorAll('table')].filter(t => t.scrollWidth > 690)"
            ".map(t => t.dataset.table)"
        )
        assert wide == []
    finally:
        page.call("Emulation.clearDeviceMetricsOverride")
        page.call("Emulation.setEmulatedMedia", media="")
