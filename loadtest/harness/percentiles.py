"""Exact latency statistics from per-request records (never Locust's rounded buckets).

Locust's own percentiles come from response times rounded to two significant digits; that is fine
for a glance but not for a gate or for calibration. Every figure here is computed from the raw
``latency_s`` column of ``requests.parquet`` with numpy's linear-interpolation quantile, so the
same records always give the same numbers, whichever tool reads them.

``metrics(requests, duration_s, dropped)`` returns the flat ``{name: value}`` map that the gate
compares thresholds against: ``p95_s`` overall and ``p95_s{kind=chat_simple}`` per kind.

Two families of percentiles, named apart: ``p95_s`` and its siblings are over successful requests
(a reply time exists), ``p95_censored_s`` and its siblings over every request, a failed or unanswered
one counted as +inf (censored: it never answered, so it is slower than any reply). A gate on the
censored family cannot be passed by a build whose slow requests time out instead of answering.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd

QUANTILES = {"p50_s": 0.50, "p90_s": 0.90, "p95_s": 0.95, "p99_s": 0.99}
CENSORED = {"p50_censored_s": 0.50, "p95_censored_s": 0.95, "p99_censored_s": 0.99}
LATENCY_STATS = ("mean_s", *QUANTILES, "max_s", *CENSORED)
# every metric a gate may name; those in PER_KIND may also carry {kind=...}
METRICS = (*LATENCY_STATS, "error_rate", "throughput_per_s", "requests", "failed", "dropped",
           "dropped_rate")
PER_KIND = (*LATENCY_STATS, "error_rate", "throughput_per_s", "requests", "failed")


def latency_stats(latencies: Iterable[float], failed: int = 0) -> dict[str, float]:
    """mean, p50, p90, p95, p99 and max of the given latencies (NaN when there are none), and the
    censored p50/p95/p99 with ``failed`` more requests counted at +inf (NaN when there are none)."""
    a = np.asarray(list(latencies) if not isinstance(latencies, np.ndarray | pd.Series) else latencies,
                   dtype=float)
    a = a[np.isfinite(a)]
    out = {name: math.nan for name in LATENCY_STATS}
    if a.size:
        qs = np.quantile(a, list(QUANTILES.values()))
        out["mean_s"] = float(a.mean())
        out.update({name: float(q) for name, q in zip(QUANTILES, qs, strict=True)})
        out["max_s"] = float(a.max())
    out.update(censored_quantiles(a, failed))
    return out


def censored_quantiles(finite: np.ndarray, failed: int) -> dict[str, float]:
    """The CENSORED quantiles of ``finite`` plus ``failed`` values at +inf, by the same linear
    interpolation as numpy's default: a quantile whose interpolation touches a failure is +inf (no
    finite stand-in), one that does not equals the plain quantile."""
    n = int(finite.size) + int(failed)
    if n == 0:
        return {name: math.nan for name in CENSORED}
    s = np.sort(finite)
    out = {}
    for name, q in CENSORED.items():
        h = (n - 1) * q
        lo, hi = math.floor(h), math.ceil(h)
        if hi >= s.size:
            out[name] = math.inf
        else:
            out[name] = float(s[lo] + (h - lo) * (s[hi] - s[lo]))
    return out


def _group_metrics(df: pd.DataFrame, duration_s: float) -> dict[str, float]:
    n = int(len(df))
    ok = df["ok"].astype(bool) if n else pd.Series([], dtype=bool)
    out = latency_stats(df.loc[ok, "latency_s"], int((~ok).sum())) if n else latency_stats([])
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

    ``p*_s`` use successful requests only (a timed-out request has no reply time); ``p*_censored_s``
    count every failure at +inf; failures also show up in ``error_rate``. Throughput is successful
    replies per second of load.
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
