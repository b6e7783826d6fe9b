"""Where a scenario's numbers came from: the ``calibration:`` facts every output repeats.

Why one module: a scenario written by ``botcap calibrate`` carries the load-test runs it was fitted
on, and every output made from it (``sim run``, ``sim capacity``, ``cost``, their JSON, text and
plots) must say so, the same way, or a reader cannot tell a measured model from a guessed one.
An uncalibrated scenario (``calibration`` is None) gets nothing: no key, no line, no footnote.

The facts are plain data (``calibration_facts``), so that a JSON object carries them and a printer
or a plot that only has that object (a summary dict, ``cost.json``) can rebuild the same line.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping
from typing import Any

__all__ = ["calibration_facts", "calibration_line", "footnote", "FOOTNOTE_FONTSIZE", "FOOTNOTE_LINE_IN"]

ERROR_KEYS = ("throughput", "p50", "p95")
FOOTNOTE_FONTSIZE = 6
_PAD_IN = 0.06
_LINE_IN = FOOTNOTE_FONTSIZE * 1.4 / 72   # one line of footnote text with its leading, inches
_CHARS_PER_IN = 72 / (FOOTNOTE_FONTSIZE * 0.6)  # a generous average glyph width for DejaVu Sans
FOOTNOTE_LINE_IN = _LINE_IN + _PAD_IN
"""Height of one footnote line with its padding, in inches (for a caller stacking its own footer)."""


def calibration_facts(source: Any) -> dict | None:
    """The JSON ``calibration`` object of a scenario, or None when it did not come from calibration.

    ``source`` is a ``Scenario``, or facts already made by this function (returned as a copy), or
    None. Kept small: which runs, when, on which load levels, how far the held-out levels missed,
    and the fake Claude latency scale the runs used (notes stay in the scenario file).
    """
    if source is None:
        return None
    if isinstance(source, Mapping):  # e.g. read back from a summary.json: trust only its shape
        runs = source.get("runs")
        return dict(source) if isinstance(runs, list | tuple) and runs else None
    cal = getattr(source, "calibration", None)
    if cal is None:
        return None
    err = cal.max_holdout_error
    return {"runs": list(cal.runs), "created_utc": cal.created_utc,
            "fitted_rates_per_s": list(cal.fitted_rates_per_s),
            "held_out_rates_per_s": list(cal.held_out_rates_per_s),
            "max_holdout_error": None if err is None else {k: _finite(v) for k, v in err.items()},
            "claude_time_scale": float(cal.claude_time_scale)}


def calibration_line(source: Any) -> str | None:
    """One line for people, e.g. ``calibrated from runs: A, B (2026-11-24T01:02:03Z; held-out max
    error p95 8.1%)``; None when ``source`` (as for ``calibration_facts``) is not calibrated."""
    facts = calibration_facts(source)
    if facts is None:
        return None
    err = facts.get("max_holdout_error")
    err = err if isinstance(err, Mapping) else {}
    errors = ", ".join(f"{k} {err[k]:.1%}" for k in ERROR_KEYS if _finite(err.get(k)) is not None)
    parts = [str(facts.get("created_utc") or "undated"),
             f"held-out max error {errors}" if errors else "no held-out check"]
    scale = facts.get("claude_time_scale")
    if isinstance(scale, int | float) and scale != 1:
        parts.append(f"runs used fake Claude latency x{scale:g}")
    return f"calibrated from runs: {', '.join(map(str, facts['runs']))} ({'; '.join(parts)})"


def footnote(fig, source: Any, *, below_in: float = 0.0) -> float:
    """Write the calibration line at the foot of a matplotlib figure; return the share of its height used.

    Returns 0.0 (and draws nothing) when ``source`` is not calibrated. A line too long for the
    figure's width (many runs) is wrapped, never cut: every run stays named. ``below_in``: inches
    already taken at the foot by another footer, to stack above it. Give the returned share (plus any
    footer's) to ``fig.tight_layout(rect=(0, share, 1, 1))`` so the axes leave room for it.
    """
    line = calibration_line(source)
    if line is None:
        return 0.0
    width_in, height_in = fig.get_size_inches()
    lines = textwrap.wrap(line, width=max(40, int(width_in * _CHARS_PER_IN)), break_on_hyphens=False)
    fig.text(0.01, (_PAD_IN / 2 + below_in) / height_in, "\n".join(lines), fontsize=FOOTNOTE_FONTSIZE,
             color="0.35", ha="left", va="bottom", linespacing=1.2)
    return (_PAD_IN + len(lines) * _LINE_IN) / height_in


def _finite(v) -> float | None:
    return float(v) if isinstance(v, int | float) and math.isfinite(v) else None
