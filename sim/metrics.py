"""Per-request results as a DataFrame, and the few statistics every report is built from.

Why a module of its own: the summary, the plots, the theory tests and the capacity search all ask
the same questions of the same table (who is a user request, what is its latency, what is a
percentile, what does Little's law predict), and they must get one answer. Pure functions over
``botcap.sim.record.FIELDS`` columns; nothing here knows SimPy.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd
from botcap.sim.record import FIELDS
from scipy import stats

__all__ = [
    "WAIT_COLUMNS", "frame", "cut_warmup", "user_rows", "digest_rows", "latency_s", "lateness_s",
    "describe", "percentile", "censored_latency_s", "censored_lateness_s", "describe_censored",
    "failed_by_reason", "timed_out", "failed", "in_flight", "completed", "batch_means", "t_interval",
    "erlang_c", "mmc_wait_s", "little_l",
]

# resource name (as in RawRun.counters["resources"]) -> the per-request column holding its queueing wait
WAIT_COLUMNS = {
    "webhook_connections": "wait_webhook_s",
    "handlers": "wait_handler_s",
    "cpu": "wait_cpu_s",
    "db_pool": "wait_db_pool_s",
    "db_server": "wait_db_server_s",
    "claude_semaphore": "wait_claude_semaphore_s",
    "telegram_send": "wait_telegram_send_s",
}

PERCENTILES = (50, 95, 99)


def frame(records: Iterable) -> pd.DataFrame:
    """The per-request DataFrame from ``botcap.sim.record.Request`` objects (or their ``as_tuple()``)."""
    rows = [r if isinstance(r, tuple) else r.as_tuple() for r in records]
    df = pd.DataFrame.from_records(rows, columns=list(FIELDS))
    return df


def cut_warmup(df: pd.DataFrame, warmup_s: float) -> pd.DataFrame:
    """Rows that arrived at or after the warm-up (the engine returns all rows; results skip the rest)."""
    return df[df["arrival_s"] >= warmup_s]


def user_rows(df: pd.DataFrame) -> pd.DataFrame:
    """User messages only (digest sends are scheduled work, reported apart as lateness)."""
    return df[~df["is_digest"].astype(bool)]


def digest_rows(df: pd.DataFrame, *, duplicates: bool = True) -> pd.DataFrame:
    """Digest sends; ``duplicates=False`` keeps each digest's first send only (see is_duplicate)."""
    rows = df[df["is_digest"].astype(bool)]
    if not duplicates and "is_duplicate" in rows:
        rows = rows[~rows["is_duplicate"].astype(bool)]
    return rows


def completed(df: pd.DataFrame) -> pd.DataFrame:
    return df[df["ok"].astype(bool)]


UNFINISHED = "unfinished"  # the engine's error for a request still in flight when the run ends


def in_flight(df: pd.DataFrame) -> pd.Series:
    """Still in flight at the end of the run: neither a reply nor a failure (yet)."""
    error = df["error"].astype(str)
    return ~df["ok"].astype(bool) & ((error == UNFINISHED) | (error == ""))


def failed(df: pd.DataFrame) -> pd.Series:
    """Finished with an error (not a request merely still in flight at the end)."""
    return ~df["ok"].astype(bool) & ~in_flight(df)


def timed_out(df: pd.DataFrame) -> pd.Series:
    """Failed because something timed out (pool acquire, Claude call, webhook): error names a timeout."""
    return failed(df) & df["error"].astype(str).str.contains("timeout", case=False, regex=False)


def latency_s(df: pd.DataFrame) -> np.ndarray:
    """Arrival → reply sent, for the completed rows of ``df`` (seconds)."""
    ok = completed(df)
    return (ok["done_s"] - ok["arrival_s"]).to_numpy(dtype=float)


def lateness_s(df: pd.DataFrame) -> np.ndarray:
    """Digest sent minus the time the user asked for (seconds; negative = early, e.g. auto-shift)."""
    ok = completed(df)
    return (ok["done_s"] - ok["preferred_s"]).to_numpy(dtype=float)


def slot_lateness_s(df: pd.DataFrame) -> np.ndarray:
    """Digest sent minus the time the scheduler planned (its slot): the delay the platform itself adds.

    Apart from ``lateness_s`` because a slot policy moves users on purpose: under suggest_next the
    user agreed to the new slot, so the platform's promise is the planned time, not the preferred one.
    """
    ok = completed(df)
    return (ok["done_s"] - ok["planned_s"]).to_numpy(dtype=float)


def percentile(values, q: float) -> float:
    """The q-th percentile (linear interpolation), NaN for no values; +inf values (failures, see
    ``censored_latency_s``) sort last and a percentile that reaches them is +inf."""
    a = np.asarray(values, dtype=float)
    if not a.size:
        return math.nan
    inf = np.isposinf(a)
    if not inf.any():
        return float(np.percentile(a, q))
    if inf.all():
        return math.inf
    big = np.where(inf, _INF_STANDIN, a)  # interpolating towards inf gives NaN: a finite stand-in
    v = float(np.percentile(big, q))
    return math.inf if v > a[~inf].max() else v  # any share of an infinite neighbour: infinite


_INF_STANDIN = 1e300


def censored_latency_s(df: pd.DataFrame, end_s: float) -> np.ndarray:
    """Arrival → reply over EVERY row of ``df``: completed rows their latency, failed rows +inf (the
    reply never came), rows still in flight at ``end_s`` their age then (a lower bound). Percentiles of
    it judge everything that arrived: failures and unfinished work can only push them up."""
    ok = df["ok"].to_numpy(dtype=bool)
    arrival = df["arrival_s"].to_numpy(dtype=float)
    out = np.where(ok, df["done_s"].to_numpy(dtype=float) - arrival, math.inf)
    flying = in_flight(df).to_numpy(dtype=bool)
    out[flying] = end_s - arrival[flying]
    return out


def censored_lateness_s(df: pd.DataFrame, end_s: float, promised_s: np.ndarray | None = None) -> np.ndarray:
    """Digest sent minus the time promised (``promised_s``, default ``preferred_s``) over every row:
    failed = +inf, in flight at ``end_s`` = ``end_s`` - promised (a lower bound)."""
    ok = df["ok"].to_numpy(dtype=bool)
    promised = df["preferred_s"].to_numpy(dtype=float) if promised_s is None else promised_s
    out = np.where(ok, df["done_s"].to_numpy(dtype=float) - promised, math.inf)
    flying = in_flight(df).to_numpy(dtype=bool)
    out[flying] = end_s - promised[flying]
    return out


def describe_censored(values, *, count: bool = False) -> dict:
    """{"p50", "p95", "p99", "max"} of censored values (+inf where failures reach the percentile)."""
    a = np.asarray(values, dtype=float)
    out: dict = {"count": int(a.size)} if count else {}
    out.update({f"p{q}": percentile(a, q) for q in PERCENTILES})
    out["max"] = float(a.max()) if a.size else math.nan
    return out


def failed_by_reason(df: pd.DataFrame) -> dict[str, int]:
    """Failed rows counted by their error (disjoint: each failure has exactly one reason)."""
    rows = df[failed(df)]
    if not len(rows):
        return {}
    counts = rows["error"].astype(str).value_counts()
    return {str(k): int(v) for k, v in sorted(counts.items()) if v}


def describe(values, *, count: bool = False) -> dict:
    """{"mean", "p50", "p95", "p99"} of ``values`` (NaN when there are none), optionally "count" first."""
    a = np.asarray(values, dtype=float)
    out: dict = {"count": int(a.size)} if count else {}
    if a.size == 0:
        out.update({"mean": math.nan, **{f"p{q}": math.nan for q in PERCENTILES}})
        return out
    qs = np.percentile(a, PERCENTILES)
    out["mean"] = float(a.mean())
    out.update({f"p{q}": float(v) for q, v in zip(PERCENTILES, qs, strict=True)})
    return out


# ---------------------------------------------------------------------------------------------
# statistics for confidence intervals
def batch_means(values, batches: int = 20) -> tuple[float, float]:
    """(mean, standard error) by non-overlapping batch means over ``values`` in time order.

    Why: successive waits in a queue are correlated, so the naive s/sqrt(n) understates the error;
    means of long batches are nearly independent (batches must be much longer than the relaxation
    time of the queue, which the caller ensures by choosing the run length).
    """
    a = np.asarray(values, dtype=float)
    n = a.size // batches
    if n == 0:
        raise ValueError(f'"values" must hold at least {batches} samples (got {a.size})')
    means = a[: n * batches].reshape(batches, n).mean(axis=1)
    return float(means.mean()), float(means.std(ddof=1) / math.sqrt(batches))


def t_interval(values, confidence: float = 0.95) -> list[float]:
    """Student-t confidence interval [lo, hi] of the mean of independent replications' values."""
    a = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if a.size < 2:
        return [math.nan, math.nan]
    half = stats.t.ppf(0.5 + confidence / 2, a.size - 1) * a.std(ddof=1) / math.sqrt(a.size)
    return [float(a.mean() - half), float(a.mean() + half)]


# ---------------------------------------------------------------------------------------------
# queueing theory, for checks and for explaining results
def erlang_c(servers: int, offered_load: float) -> float:
    """Probability that an arrival waits in an M/M/c queue (Erlang C); offered_load = lambda / mu < c.

    Computed through the Erlang B recursion, which is stable for large ``servers``.
    """
    if servers < 1:
        raise ValueError(f'"servers" must be >= 1 (got {servers})')
    if not 0 <= offered_load < servers:
        raise ValueError(f'"offered_load" must be in [0, servers) (got {offered_load})')
    b = 1.0
    for k in range(1, servers + 1):
        b = offered_load * b / (k + offered_load * b)
    rho = offered_load / servers
    return b / (1 - rho + rho * b)


def mmc_wait_s(rate_per_s: float, mean_service_s: float, servers: int) -> float:
    """Mean time in queue Wq of an M/M/c queue: C(c, a) / (c*mu - lambda)."""
    a = rate_per_s * mean_service_s
    return erlang_c(servers, a) / (servers / mean_service_s - rate_per_s)


def little_l(rate_per_s: float, mean_time_s: float) -> float:
    """Little's law: the time-average number L = lambda * W."""
    return rate_per_s * mean_time_s
