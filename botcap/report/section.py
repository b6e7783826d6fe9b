"""A report section as plain data: question, variants, table, rule, recommendation (and a plot aside).

Why plain data: ``report.json`` is these dicts; the HTML renderer only formats them. Every number a
page shows comes from a table cell or a recommendation value, each addressed by its key path in
report.json (``sections.A1.table.rows.3.p95_s``), so the browser test can check them one by one.
"""

from __future__ import annotations

import base64
import io
import string

from botcap.report.fmt import FORMATS

__all__ = ["Column", "make_section", "png_base64", "template_fields"]

Column = tuple[str, str, str]  # key, label, fmt


def template_fields(template: str) -> list[str]:
    return [f for _, f, _, _ in string.Formatter().parse(template) if f]


def make_section(
    sid: str,
    title: str,
    *,
    question: str,
    rule: str,
    variants: list[dict],
    columns: list[Column],
    rows: list[dict],
    recommendation: str,
    values: dict,
    value_fmt: dict[str, str],
    notes: list[str] | None = None,
    extra: dict | None = None,
) -> dict:
    """Check the pieces fit (every template field has a value and a format) and assemble the dict."""
    for key, _, fmt in columns:
        if fmt not in FORMATS:
            raise ValueError(f"{sid} column {key}: fmt {fmt!r} not in {FORMATS}")
    fields = template_fields(recommendation)
    missing = [f for f in fields if f not in values or f not in value_fmt]
    if missing:
        raise ValueError(f"{sid}: recommendation fields without a value or format: {missing}")
    return {
        "id": sid,
        "title": title,
        "question": question,
        "rule": rule,
        "variants": variants,
        "table": {
            "columns": [{"key": k, "label": label, "fmt": f} for k, label, f in columns],
            "rows": [{k: r.get(k) for k, _, _ in columns} for r in rows],
        },
        "recommendation": {  # only the numbers the sentence shows: report.json holds what the page shows
            "template": recommendation,
            "values": {f: values[f] for f in fields},
            "fmt": {f: value_fmt[f] for f in fields},
        },
        "notes": list(notes or []),
        **(extra or {}),
    }


def png_base64(fig) -> str:
    """A matplotlib figure as base64 PNG (closed afterwards), for an ``<img src="data:...">``."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")
