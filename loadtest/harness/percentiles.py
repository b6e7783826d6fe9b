"""Exact latency statistics from per-request records (never Locust's rounded buckets).

Locust's own percentiles come from response times rounded to two significant digits; that is fine
for a glance but not for a gate or for calibration. Every figure here is computed from the raw
``latency_s`` column of ``requests.parquet`` with numpy's linear-interpolation quantile, so the
same records always give the same numbers, whichever tool reads them.

``metrics(requests, duration_s, dropped)`` returns the flat ``{name: value}`` map that the gate
compares thresholds against: ``p95_s`` overall and ``p95_s{kind=chat_simple}`` per kind.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd

QUANTILES = {"p50_s": 0.50, "p90_s": 0.90, "p95_s": 0.95, "p99_s": 0.99}
LATENCY_STATS = ("mean_s", *QUANTILES, "max_s")
# every metric a gate may name; those in PER_KIND may also carry {kind=...}
METRICS = (*LATENCY_STATS, "error_rate", "throughput_per_s", "requests", "failed", "dropped",
           "dropped_rate")
PER_KIND = (*LATENCY_STATS, "error_rate", "throughput_per_s", "requests", "failed")


def latency_stats(latencies: Iterable[float]) -> dict[str, float]:
    """mean, p50, p90, p95, p99 and max of the given latencies (NaN when there are none)."""
    a = np.asarray(list(latencies) if not isinstance(latencies, np.ndarray | pd.Series) else latencies,
                   dtype=float)
    a = a[np.isfinite(a)]
    if a.size == 0:
        return {name: math.nan for name in LATENCY_STATS}
    qs = np.quantile(a, list(QUANTILES.values()))
    out = {"mean_s": float(a.mean())}
    out.update({name: float(q) for name, q in zip(QUANTILES, qs, strict=True)})
    out["max_s"] = float(a.max())
    return out


def _group_metrics(df: pd.DataFrame, duration_s: float) -> dict[str, float]:
    n = int(len(df))
    ok = df["ok"].astype(bool) if n else pd.Series([], dtype=bool)
    out = latency_stats(df.loc[ok, "latency_s"]) if n else latency_stats([])
    out["requests"] = n
    out["failed"] = int((~ok).sum())
    out["error_rate"] = (out["failed"] / n) if n else math.nan
    # replies to requests sent inside the load's window that came before its end (a reply after the
    # load stopped is not throughput: it would let a saturated bot pass a throughput threshold)
    served = ok & df["in_window"].fillna(False).astype(bool) if n and "in_window" in df.columns else ok
    out["throughput_per_s"] = (int(served.sum()) / duration_s) if duration_s > 0 else math.nan
    return out


def metrics(requests: pd.DataFrame, duration_s: float, dropped: int = 0) -> dict[str, float]:
    """The gate's view of a run: overall metrics, then ``name{kind=K}`` for every kind seen.

    Latency statistics use successful requests only (a timed-out request has no reply time);
    failures show up in ``error_rate``. Throughput is successful replies per second of load.
    """
    out = _group_metrics(requests, duration_s)
    arrivals = out["requests"] + dropped
    out["dropped"] = int(dropped)
    out["dropped_rate"] = (dropped / arrivals) if arrivals else 0.0
    if len(requests):
        for kind, group in requests.groupby("kind", sort=True):
            for name, value in _group_metrics(group, duration_s).items():
                out[f"{name}{{kind={kind}}}"] = value
    return out


def summary_by_kind(requests: pd.DataFrame, duration_s: float) -> dict[str, dict[str, float]]:
    """``{"all": {...}, KIND: {...}}`` for reports, the live view and ``--json`` output."""
    result = {"all": _group_metrics(requests, duration_s)}
    if len(requests):
        for kind, group in requests.groupby("kind", sort=True):
            result[str(kind)] = _group_metrics(group, duration_s)
    return result
