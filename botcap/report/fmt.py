"""How a number of report.json is written on the page: one function, used by the renderer and the tests.

Why one function: the page must show exactly the numbers report.json holds; the browser test reads
each marked cell, looks up its key in report.json and compares the text with ``format_value`` of
the stored value, so the two cannot drift apart.
"""

from __future__ import annotations

import math

__all__ = ["FORMATS", "format_value"]

FORMATS = ("int", "num", "s", "usd", "pct", "text", "bool")


def _finite(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def format_value(value, fmt: str) -> str:
    """The text shown for ``value`` (a JSON scalar; None = no data, shown as an en dash)."""
    if fmt not in FORMATS:
        raise ValueError(f"fmt: must be one of {', '.join(FORMATS)} (got {fmt!r})")
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if fmt == "bool" or isinstance(value, bool):
        return "yes" if value else "no"
    if fmt == "text" or not _finite(value):
        return str(value)
    if fmt == "int":
        return f"{round(value):,}"
    if fmt == "pct":
        return f"{value * 100:.1f}%"
    if fmt == "usd":
        sign, a = ("-" if value < 0 else ""), abs(value)
        if a >= 100:
            return f"{sign}${a:,.0f}"
        return f"{sign}${a:,.2f}" if a >= 1 or a == 0 else f"{sign}${a:.4f}"
    # num and s: three significant digits, thousands separated
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"
