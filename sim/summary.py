"""The ``botcap sim run --json`` object (CONTRACTS.md) from a ``SimResult``, and its SLO verdict.

Why one function builds it: the CLI prints it, ``--out`` writes it, the capacity search and the
gates read it, so it must be computed once, the same way. Counts are summed over replications,
rates and percentiles are computed on the pooled rows, peaks are maxima; with several
replications ``ci95`` gives Student-t intervals of the per-replication values.

Populations (where the contract is silent): ``latency_s``, ``latency_by_kind_s``, ``wait_s``,
``requests`` and ``throughput_per_s`` are about user messages (``is_digest`` false); digest sends
are reported under ``digests`` (lateness = done_s - preferred_s; each digest counted once: a
duplicate send, from schedulers without a lock, is counted in ``duplicate_sends`` only).
Latency percentiles use completed requests only; failures count in ``error_rate`` =
failed / (completed + failed). A calibrated scenario adds ``calibrated_from`` (its runs) and
``calibration`` (``botcap.provenance.calibration_facts``); an uncalibrated one adds neither.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from botcap.sim import metrics as m
from botcap.sim.record import FIELDS

from botcap.provenance import calibration_facts

__all__ = ["summarize", "slo_check", "CONTRACT_KEYS", "WAIT_KEYS", "UTILIZATION_KEYS"]

CONTRACT_KEYS = ("scenario", "seed", "replications", "simulated_s", "throughput_per_s", "requests",
                 "latency_s", "latency_by_kind_s", "wait_s", "utilization", "claude", "digests",
                 "db", "slo")
# wait_s key -> per-request column: the contract's five, then the other queues the model has
# (webhook connections, the event loop's CPU, PgBouncer's server connections, Claude retry backoff)
WAIT_KEYS = {"handler": "wait_handler_s", "db_pool": "wait_db_pool_s",
             "claude_semaphore": "wait_claude_semaphore_s", "rate_limit": "wait_rate_limit_s",
             "telegram_send": "wait_telegram_send_s", "webhook": "wait_webhook_s", "cpu": "wait_cpu_s",
             "db_server": "wait_db_server_s", "claude_backoff": "wait_claude_backoff_s"}
# utilization key -> resource name in RawRun.counters["resources"]; the contract's three first
UTILIZATION_KEYS = {"handlers": "handlers", "db_connections": "db_pool",
                    "claude_concurrency": "claude_semaphore", "cpu": "cpu", "db_server": "db_server",
                    "telegram_send": "telegram_send", "webhook_connections": "webhook_connections"}
TOKEN_KEYS = ("input", "output", "cache_read", "cache_write")


def summarize(result) -> dict:
    """The summary object of a ``botcap.sim.runner.SimResult`` (plain JSON-able data; NaN = no data)."""
    sc = result.scenario
    reps = result.replications
    out = {"scenario": sc.name, "seed": int(result.seed), "replications": len(reps),
           "simulated_s": float(reps[0].simulated_s) if reps else 0.0,
           "warmup_s": float(reps[0].warmup_s) if reps else 0.0,
           "measured_s": float(result.measured_s)}
    out.update(_measures(reps, result.requests, sc))
    out["slo"] = slo_check(sc, out)
    if len(reps) > 1:
        out["ci95"] = _ci95(reps, sc)
    facts = calibration_facts(sc)
    if facts is not None:  # a calibrated scenario says so (botcap.provenance); nothing otherwise
        out["calibrated_from"] = list(facts["runs"])
        out["calibration"] = facts
    return out


# ---------------------------------------------------------------------------------------------
def _measures(reps, pooled: pd.DataFrame, sc) -> dict:
    """Everything but identity, SLO and CI, for the given replications (their rows pooled)."""
    measured_s = sum(r.measured_s for r in reps)
    if "is_digest" not in pooled:  # no replication, or no rows at all
        pooled = pd.DataFrame(columns=list(FIELDS))
    users = m.user_rows(pooled)
    n_ok = int(users["ok"].astype(bool).sum())
    n_failed = int(m.failed(users).sum())
    out: dict = {
        "throughput_per_s": n_ok / measured_s if measured_s > 0 else math.nan,
        "requests": {"arrived": len(users), "completed": n_ok, "failed": n_failed,
                     "timed_out": int(m.timed_out(users).sum()),
                     "in_flight": int(m.in_flight(users).sum())},
        "error_rate": n_failed / (n_ok + n_failed) if n_ok + n_failed else 0.0,
        "latency_s": _drop_count(m.describe(m.latency_s(users))),
        "latency_by_kind_s": {str(kind): m.describe(m.latency_s(rows), count=True)
                              for kind, rows in users.groupby("kind", sort=True, observed=True)},
        "wait_s": {key: _mean_p95(users.get(col)) for i, (key, col) in enumerate(WAIT_KEYS.items())
                   if i < 5 or col in users},  # the contract's five always, the others if recorded
    }
    resources = _resources(reps)
    out["utilization"] = {key: resources.get(name, {}).get("utilization", math.nan)
                          for i, (key, name) in enumerate(UTILIZATION_KEYS.items())
                          if i < 3 or name in resources}  # the contract's three always, others if modelled
    out["resources"] = resources
    out["claude"] = _claude(reps)
    out["digests"] = _digests(reps, m.digest_rows(pooled, duplicates=False))
    db = [r.counters.get("db", {}) for r in reps]
    out["db"] = {"peak_server_connections": int(max((d.get("peak_server_connections", 0) for d in db),
                                                    default=0)),
                 "acquire_timeouts": int(sum(d.get("acquire_timeouts", 0) for d in db)),
                 "too_many_connections": int(sum(d.get("too_many_connections", 0) for d in db))}
    out["telegram"] = {"http_429": int(sum(r.counters.get("telegram", {}).get("http_429", 0)
                                           for r in reps))}
    return out


def _drop_count(d: dict) -> dict:
    return {k: v for k, v in d.items() if k != "count"}


def _mean_p95(col: pd.Series | None) -> dict:
    a = np.empty(0) if col is None else col.to_numpy(dtype=float)
    return {"mean": float(a.mean()) if a.size else math.nan, "p95": m.percentile(a, 95)}


def _resources(reps) -> dict:
    """Per resource: time-average use and queue over the measured span, peaks (pooled over reps)."""
    names: list[str] = []
    for r in reps:
        names += [n for n in r.counters.get("resources", {}) if n not in names]
    out = {}
    for name in names:
        rows = [(r.counters["resources"][name], r.measured_s) for r in reps
                if name in r.counters.get("resources", {})]
        span = sum(s for _, s in rows)
        busy = sum(c.get("busy_s", 0.0) for c, _ in rows)
        queue = sum(c.get("queue_s", 0.0) for c, _ in rows)
        capacity_s = sum(c.get("capacity", 0) * s for c, s in rows)
        out[name] = {
            "capacity": int(max(c.get("capacity", 0) for c, _ in rows)),
            "utilization": busy / capacity_s if capacity_s > 0 else math.nan,
            "mean_in_use": busy / span if span > 0 else math.nan,
            "mean_queue_len": queue / span if span > 0 else math.nan,
            "peak_in_use": int(max(c.get("peak_in_use", 0) for c, _ in rows)),
            "peak_queue_len": int(max(c.get("peak_queue", 0) for c, _ in rows)),
        }
    return out


def _claude(reps) -> dict:
    cs = [r.counters.get("claude", {}) for r in reps]
    out = {key: int(sum(c.get(key, 0) for c in cs)) for key in ("calls", "http_429", "http_529", "retries")}
    out["breaker_open_s"] = float(sum(c.get("breaker_open_s", 0.0) for c in cs))
    tokens: dict = {}
    for c in cs:
        for model, t in c.get("tokens", {}).items():
            acc = tokens.setdefault(model, dict.fromkeys(TOKEN_KEYS, 0))
            for key in TOKEN_KEYS:
                acc[key] += int(t.get(key, 0))
    out["tokens"] = tokens
    return out


def _digests(reps, rows: pd.DataFrame) -> dict:
    ds = [r.counters.get("digests", {}) for r in reps]
    moved = int(sum(d.get("moved", 0) for d in ds))
    moved_by = sum(d.get("moved_by_s_mean", 0.0) * d.get("moved", 0) for d in ds)
    late = m.lateness_s(rows) if len(rows) else np.empty(0)
    late = late[np.isfinite(late)]
    slot_late = m.slot_lateness_s(rows) if len(rows) else np.empty(0)
    slot_late = slot_late[np.isfinite(slot_late)]
    return {
        "scheduled": int(sum(d.get("scheduled", 0) for d in ds)),
        "sent": int(rows["ok"].astype(bool).sum()) if len(rows) else 0,
        "failed": int(m.failed(rows).sum()) if len(rows) else 0,
        "max_per_slot": int(max((d.get("max_per_slot", 0) for d in ds), default=0)),
        "moved": moved,
        "moved_by_s_mean": moved_by / moved if moved else 0.0,
        "duplicate_sends": int(sum(d.get("duplicate_sends", 0) for d in ds)),
        "lateness_s": {"p50": m.percentile(late, 50), "p95": m.percentile(late, 95),
                       "max": float(late.max()) if late.size else math.nan},
        # vs the planned slot: what a slot policy (A7) promises once users are moved
        "slot_lateness_s": {"p50": m.percentile(slot_late, 50), "p95": m.percentile(slot_late, 95),
                            "max": float(slot_late.max()) if slot_late.size else math.nan},
    }


# ---------------------------------------------------------------------------------------------
def slo_check(sc, summary: dict) -> dict:
    """{"met", "violations"}: each kind's p95 vs slo.p95_s, the error rate, the digests' max lateness.

    A kind with an SLO that had arrivals but no completed request is a violation (its latency is
    unbounded as far as this run can tell); a kind that never arrived is not judged.
    """
    violations = []
    by_kind = summary["latency_by_kind_s"]
    for kind, limit_s in sc.slo.p95_s.items():
        stats = by_kind.get(kind)
        if stats is None:
            continue
        p95 = stats["p95"]
        if not math.isfinite(p95):
            violations.append(f"latency_by_kind_s.{kind}.p95: no completed requests (limit {limit_s:g} s)")
        elif p95 > limit_s:
            violations.append(f"latency_by_kind_s.{kind}.p95: {p95:.3g} s > {limit_s:g} s")
    if summary["error_rate"] > sc.slo.max_error_rate:
        violations.append(f"error_rate: {summary['error_rate']:.3g} > {sc.slo.max_error_rate:g}")
    late_max = summary["digests"]["lateness_s"]["max"]
    if math.isfinite(late_max) and late_max > sc.slo.digest_max_lateness_s:
        violations.append(f"digests.lateness_s.max: {late_max:.4g} s > {sc.slo.digest_max_lateness_s:g} s")
    return {"met": not violations, "violations": violations}


def _ci95(reps, sc) -> dict:
    """Student-t 95% intervals across replications (each replication summarised on its own)."""
    per = [_measures([r], r.requests, sc) for r in reps]
    ci = {"latency_s.p95": m.t_interval([p["latency_s"]["p95"] for p in per]),
          "latency_s.mean": m.t_interval([p["latency_s"]["mean"] for p in per]),
          "throughput_per_s": m.t_interval([p["throughput_per_s"] for p in per])}
    kinds = sorted({k for p in per for k in p["latency_by_kind_s"]})
    for kind in kinds:
        ci[f"latency_by_kind_s.{kind}.p95"] = m.t_interval(
            [p["latency_by_kind_s"].get(kind, {}).get("p95", math.nan) for p in per])
    return ci
