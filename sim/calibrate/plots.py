"""Measured vs predicted latency–load and throughput–load curves, with the replications' 95% bands.

One PNG per question: ``latency_load.png`` (p50 and p95 per kind against the arrival rate; measured
as points with their bootstrap 95% intervals, predicted as a line with its band; held-out levels
ringed) and ``throughput_load.png`` (replies per second against the arrival rate, with the USL curve
at the measured concurrency).
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from botcap.sim.calibrate.usl import usl_x  # noqa: E402

__all__ = ["write_plots"]


def _series(levels: list[dict], kind: str | None, side: str, key: str) -> list[float]:
    out = []
    for lv in levels:
        src = lv if kind is None else lv["by_kind"].get(kind)
        out.append(src[side][key] if src is not None else math.nan)
    return out


def _band(levels: list[dict], kind: str | None, key: str,
          field: str = "band95") -> tuple[list[float], list[float]]:
    """Per level, the [low, high] pair ``field`` holds for ``key`` (the model's band, or with
    ``field="measured_ci95"`` the measurement's bootstrap interval); NaN where there is none."""
    lo, hi = [], []
    for lv in levels:
        src = lv if kind is None else lv["by_kind"].get(kind)
        b = ((src or {}).get(field) or {}).get(key, [math.nan, math.nan])
        lo.append(b[0] if b[0] is not None else math.nan)
        hi.append(b[1] if b[1] is not None else math.nan)
    return lo, hi


def write_plots(report: dict, folder: str | Path) -> list[Path]:
    """Write the two PNGs into ``folder`` (created); returns their paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    levels = sorted(report["levels"], key=lambda lv: lv["rate_per_s"])
    rates = [lv["rate_per_s"] for lv in levels]
    held = [lv["held_out"] for lv in levels]
    kinds = sorted({k for lv in levels for k in lv["by_kind"]})
    paths = []

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharex=True)
    for ax, key in zip(axes, ("p50_s", "p95_s"), strict=True):
        for i, kind in enumerate(kinds):
            color = f"C{i}"
            ax.plot(rates, _series(levels, kind, "predicted", key), color=color, label=f"{kind} model")
            lo, hi = _band(levels, kind, key)
            ax.fill_between(rates, lo, hi, color=color, alpha=0.2)
            meas = _series(levels, kind, "measured", key)
            ci_lo, ci_hi = _band(levels, kind, key, "measured_ci95")
            err = [[max(m - x, 0.0) for m, x in zip(meas, ci_lo, strict=True)],
                   [max(x - m, 0.0) for m, x in zip(meas, ci_hi, strict=True)]]
            ax.errorbar(rates, meas, yerr=err, color=color, fmt="o", markersize=3.5, elinewidth=0.8,
                        capsize=2, label=f"{kind} measured (bootstrap 95%)")
            ax.scatter([r for r, h in zip(rates, held, strict=True) if h],
                       [m for m, h in zip(meas, held, strict=True) if h],
                       facecolors="none", edgecolors="k", s=70, linewidths=0.8)
        ax.set_xlabel("arrival rate (/s)")
        ax.set_ylabel(f"{key[:3]} latency (s)")
        ax.set_yscale("log")
        ax.set_title(f"{key[:3]} latency vs load (ringed: held out)")
    axes[0].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    paths.append(folder / "latency_load.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    ax.plot(rates, _series(levels, None, "predicted", "throughput_per_s"), color="C0", label="model (DES)")
    lo, hi = _band(levels, None, "throughput_per_s")
    ax.fill_between(rates, lo, hi, color="C0", alpha=0.2)
    ax.scatter(rates, _series(levels, None, "measured", "throughput_per_s"), color="C1", label="measured")
    u = report.get("usl") or {}
    if math.isfinite(u.get("gamma", math.nan)):
        n = _series(levels, None, "measured", "concurrency")
        ax.plot(rates, [float(usl_x(x, u["sigma"], u["kappa"], u["gamma"])) if math.isfinite(x) else math.nan
                        for x in n], color="C2", linestyle="--", label="USL at measured concurrency")
    ax.plot(rates, rates, color="0.7", linewidth=0.8, label="arrival rate")
    ax.set_xlabel("arrival rate (/s)")
    ax.set_ylabel("replies per second")
    ax.set_title("throughput vs load")
    ax.legend(fontsize=8)
    fig.tight_layout()
    paths.append(folder / "throughput_load.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)
    return paths
