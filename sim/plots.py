"""The three pictures of a run, as PNG files: latency CDF per kind, queues over time, the digest rush.

Why these three: they answer at a glance "how slow, for whom", "where does work wait and when",
and "what happens at 10:00". matplotlib's Agg backend (no display); every function writes a file
even when there is nothing to draw (a labelled empty plot), so ``--out`` always has the same files.
A picture of a calibrated scenario carries a footnote naming the load-test runs behind it
(``botcap.provenance``), since a PNG travels without its summary.json.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from botcap.sim import metrics  # noqa: E402

from botcap.provenance import footnote  # noqa: E402
from botcap.scenario import hhmm_to_s  # noqa: E402

__all__ = ["PLOT_FILES", "write_plots", "latency_cdf", "queues_over_time", "digest_rush"]

PLOT_FILES = ("latency_cdf.png", "queues.png", "digests_per_minute.png")
DAY_S = 86_400.0


def write_plots(result, out_dir: Path) -> list[Path]:
    """All plots of a ``SimResult`` into ``out_dir``; returns the paths written."""
    out_dir = Path(out_dir)
    paths = [out_dir / name for name in PLOT_FILES]
    start_s = hhmm_to_s(result.scenario.horizon.start)
    provenance = result.scenario
    latency_cdf(result.requests, paths[0], provenance=provenance)
    queues_over_time(result.replications[0].timeseries if result.replications else pd.DataFrame(),
                     paths[1], start_s=start_s, provenance=provenance)
    digest_rush(result.requests, paths[2], start_s=start_s,
                replications=max(len(result.replications), 1), provenance=provenance)
    return paths


def _empty(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="grey")


def _save(fig, path: Path, provenance=None) -> None:
    """Lay out (leaving room for the calibration footnote, if any), write, close."""
    fig.tight_layout(rect=(0, footnote(fig, provenance), 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def latency_cdf(requests: pd.DataFrame, path: Path, *, provenance=None) -> None:
    """Empirical CDF of arrival → reply latency for each kind of user message (log time axis), as a
    share of EVERY request of the kind that arrived: failed and unfinished ones never count, so a curve
    tops out at the kind's completed share and the gap to 1 is what a successes-only CDF would hide.

    ``provenance`` (here and below): the scenario or its ``calibration_facts``, for the footnote.
    """
    fig, ax = plt.subplots(figsize=(7, 4.5))
    users = metrics.user_rows(requests) if "is_digest" in requests else requests
    drawn = False
    for kind, rows in users.groupby("kind", sort=True, observed=True) if len(users) else []:
        lat = np.sort(metrics.latency_s(rows))
        lat = lat[lat > 0]
        if lat.size:
            unanswered = 1 - lat.size / len(rows)
            label = f"{kind} (n={len(rows)}" + (f", {unanswered:.1%} failed or unfinished)" if unanswered
                                                else ")")
            ax.step(lat, np.arange(1, lat.size + 1) / len(rows), where="post", label=label)
            drawn = True
    if drawn:
        ax.set_xscale("log")
        ax.axhline(0.95, color="grey", lw=0.7, ls=":")
        ax.legend(loc="lower right", fontsize=8)
    else:
        _empty(ax, "no completed user requests")
    ax.set_xlabel("latency, arrival → reply sent (s)")
    ax.set_ylabel("share of all arrived requests")
    ax.set_title("Latency CDF per kind (failed and unfinished requests never reach the curve)")
    _save(fig, path, provenance)


def queues_over_time(timeseries: pd.DataFrame, path: Path, *, start_s: float = 0.0,
                     provenance=None) -> None:
    """Queue length (solid) and units in use (dotted) per resource over the day, one panel each."""
    names = sorted(timeseries["resource"].unique()) if len(timeseries) else []
    fig, axes = plt.subplots(max(len(names), 1), 1, figsize=(8, 1.6 + 1.5 * max(len(names), 1)),
                             sharex=True, squeeze=False)
    if not names:
        _empty(axes[0][0], "no resource time series")
    for ax, name in zip(axes[:, 0], names, strict=False):
        ts = timeseries[timeseries["resource"] == name].sort_values("t_s")
        hours = ((ts["t_s"].to_numpy(dtype=float) + start_s) / 3600.0)
        ax.plot(hours, ts["queue_len"].to_numpy(dtype=float), lw=1, label="queue")
        ax.plot(hours, ts["in_use"].to_numpy(dtype=float), lw=0.8, ls=":", label="in use")
        ax.set_ylabel(name, fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0][0].set_title("Queue length (solid) and units in use (dotted), replication 1")
    axes[-1][0].set_xlabel("simulated clock (hours)")
    _save(fig, path, provenance)


def digest_rush(requests: pd.DataFrame, path: Path, *, start_s: float = 0.0, replications: int = 1,
                around: str = "10:00", window_s: float = 3600.0, provenance=None) -> None:
    """Digest sends per minute (mean over replications) in the hour around ``around`` (10:00)."""
    fig, ax = plt.subplots(figsize=(7, 4))
    digests = metrics.digest_rows(requests) if "is_digest" in requests else requests.iloc[0:0]
    sent = metrics.completed(digests)["done_s"].to_numpy(dtype=float) if len(digests) else np.empty(0)
    centre = (hhmm_to_s(around) - start_s) % DAY_S  # simulated seconds of the first 10:00
    lo, hi = centre - window_s / 2, centre + window_s / 2
    in_window = sent[(sent >= lo) & (sent < hi)]
    if in_window.size:
        edges = np.arange(lo, hi + 60.0, 60.0)
        counts, _ = np.histogram(in_window, bins=edges)
        minutes = (edges[:-1] - centre) / 60.0
        ax.bar(minutes, counts / replications, width=1.0, align="edge")
        ax.axvline(0, color="grey", lw=0.7, ls=":")
    else:
        _empty(ax, f"no digest sends within ±{window_s / 120:g} min of {around}")
    ax.set_xlabel(f"minutes from {around}")
    ax.set_ylabel("digests sent per minute")
    ax.set_title(f"Digest sends around {around}")
    _save(fig, path, provenance)
