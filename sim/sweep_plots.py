"""Sweep plots: each headline metric against each swept parameter, mean with its 95% band.

One PNG per swept parameter, one panel per metric (p95 per kind, throughput, error rate, digest
lateness, the share of replications meeting the SLO). Points that differ in the other parameters
are drawn as separate lines (up to ``MAX_LINES``); beyond that, as points with error bars.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

__all__ = ["write_sweep_plots", "headline_metrics"]

MAX_LINES = 8
FIXED = ("throughput_per_s", "error_rate", "digests.lateness_s.max", "slo.met")


def headline_metrics(metrics) -> list[str]:
    """The per-kind p95 latencies present, then throughput, errors, digest lateness, the SLO verdict."""
    names = set(metrics)
    kinds = sorted(m for m in names if m.startswith("latency_by_kind_s.") and m.endswith(".p95"))
    return kinds + [m for m in FIXED if m in names]


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)


def write_sweep_plots(result, axes: list[str], folder: Path) -> list[str]:
    """Write one PNG per axis into ``folder``; return the file names relative to its parent."""
    if not axes or result.ci95.empty:
        return []
    folder.mkdir(parents=True, exist_ok=True)
    ci = result.ci95.merge(result.points, on="point")
    metrics = headline_metrics(ci.metric.unique())
    written = []
    for axis in axes:
        others = [a for a in axes if a != axis]
        numeric = pd.api.types.is_numeric_dtype(result.points[axis])
        cols = 3
        rows = math.ceil(len(metrics) / cols)
        fig, grid = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
        for ax, metric in zip(grid.flat, metrics, strict=False):
            d = ci[ci.metric == metric]
            groups = list(d.groupby(others, sort=True)) if others else [((), d)]
            for key, g in groups[:MAX_LINES] if len(groups) <= MAX_LINES else []:
                g = g.sort_values(axis)
                x = g[axis] if numeric else g[axis].astype(str)
                label = ", ".join(f"{o.split('.')[-1]}={v}" for o, v in
                                  zip(others, key if isinstance(key, tuple) else (key,), strict=True))
                ax.plot(x, g["mean"], marker="o", label=label or None)
                ax.fill_between(x, g["lo"].fillna(g["mean"]), g["hi"].fillna(g["mean"]), alpha=0.2)
            if len(groups) > MAX_LINES:
                x = d[axis] if numeric else d[axis].astype(str)
                err = [(d["mean"] - d["lo"]).fillna(0).clip(lower=0),
                       (d["hi"] - d["mean"]).fillna(0).clip(lower=0)]
                ax.errorbar(x, d["mean"], yerr=err, fmt="o", alpha=0.6)
            ax.set_title(metric, fontsize=9)
            ax.set_xlabel(axis, fontsize=8)
            if len(groups) > 1 and len(groups) <= MAX_LINES and metric == metrics[0]:
                ax.legend(fontsize=6)
        for ax in list(grid.flat)[len(metrics):]:
            ax.set_visible(False)
        fig.suptitle(f"sweep over {axis}: mean and 95% CI across replications", fontsize=10)
        fig.tight_layout()
        name = f"{_safe(axis)}.png"
        tmp = folder / f".{name}.partial.png"
        fig.savefig(tmp, dpi=90)
        plt.close(fig)
        tmp.replace(folder / name)
        written.append(f"plots/{name}")
    return written
