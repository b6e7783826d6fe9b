"""The committed example, reports/default/, is whole: every number its page shows is its report.json's."""

from __future__ import annotations

import json
from functools import reduce
from html.parser import HTMLParser
from pathlib import Path

from botcap.report.build import SECTION_IDS
from botcap.report.fmt import format_value

EXAMPLE = Path(__file__).resolve().parents[2] / "reports" / "default"


class _Marks(HTMLParser):
    """Collects (data-key, data-fmt, text) of every marked element and the section ids."""

    def __init__(self):
        super().__init__()
        self.marks, self.sections, self._open = [], [], None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "data-key" in a:
            self._open = [a["data-key"], a.get("data-fmt"), ""]
        if tag == "section" and "data-section" in a:
            self.sections.append(a["data-section"])

    def handle_data(self, data):
        if self._open is not None:
            self._open[2] += data

    def handle_endtag(self, tag):
        if self._open is not None and tag == "span":
            self.marks.append(tuple(self._open))
            self._open = None


def test_the_committed_example_page_matches_its_json():
    report = json.loads((EXAMPLE / "report.json").read_text(encoding="utf-8"))
    parser = _Marks()
    parser.feed((EXAMPLE / "index.html").read_text(encoding="utf-8"))
    assert parser.sections == list(SECTION_IDS) == report["order"]
    assert not report["quick"]
    assert len(parser.marks) > 300
    for key, fmt, shown in parser.marks:
        value = reduce(
            lambda node, part: node[int(part)] if isinstance(node, list) else node[part],
            key.split("."),
            report,
        )
        assert shown == format_value(value, fmt), f"{key}: rebuild with scripts/build-report.sh"
