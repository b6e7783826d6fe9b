"""report.json -> index.html: one self-contained page (plots inline as base64 PNG, no network).

Every number shown sits in an element with ``data-key`` (its path in report.json) and ``data-fmt``
(how ``botcap.report.fmt.format_value`` wrote it), so that a browser test can check the page
against the JSON it came from.
"""

from __future__ import annotations

import string

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape

from botcap.report.fmt import format_value

__all__ = ["render_html", "recommendation_html"]


def _value_html(value, fmt: str, key: str) -> Markup:
    return Markup('<span class="v" data-key="{}" data-fmt="{}">{}</span>').format(
        key, fmt, format_value(value, fmt)
    )


def recommendation_html(section: dict, base_key: str) -> Markup:
    """The recommendation template with each {field} replaced by its marked value."""
    rec = section["recommendation"]
    out = Markup("")
    for literal, field, _, _ in string.Formatter().parse(rec["template"]):
        out += escape(literal)
        if field:
            out += _value_html(
                rec["values"][field], rec["fmt"][field], f"{base_key}.recommendation.values.{field}"
            )
    return out


def _cell(row: dict, col: dict, key: str) -> Markup:
    return _value_html(row.get(col["key"]), col["fmt"], key)


def render_html(report: dict, plots: dict[str, list[str]]) -> str:
    env = Environment(
        loader=PackageLoader("botcap.report", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(
        mark=_value_html, recommendation_html=recommendation_html, cell=_cell, format_value=format_value
    )
    return env.get_template("report.html.j2").render(report=report, plots=plots)
