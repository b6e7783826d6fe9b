"""The ``botcap sim run --json`` object (docs/contracts.md) from a ``SimResult``, and its SLO verdict.

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
from botcap.sim import spend
from botcap.sim.record import FIELDS
from botcap.sim.summary_rows import pooled_rows
from botcap.sim.verdict import slo_verdict

from botcap.provenance import calibration_facts

__all__ = ["summarize", "slo_check", "slo_verdict", "check_books", "mechanisms", "BooksDoNotBalance",
           "CONTRACT_KEYS",
           "WAIT_KEYS", "UTILIZATION_KEYS"]

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
# the per-request columns the summary reads (a streamed 1M-DAU day reads back only these)
SUMMARY_COLUMNS = [f for f in FIELDS if f not in ("id", "chat_id") and not f.startswith("service_")]


def summarize(result) -> dict:
    """The summary object of a ``botcap.sim.runner.SimResult`` (plain JSON-able data; NaN = no data)."""
    sc = result.scenario
    reps = result.replications
    out = {"scenario": sc.name, "seed": int(result.seed), "replications": len(reps),
           "simulated_s": float(reps[0].simulated_s) if reps else 0.0,
           "warmup_s": float(reps[0].warmup_s) if reps else 0.0,
           "measured_s": float(result.measured_s)}
    out.update(_measures(reps, pooled_rows(reps, lambda: result.requests), sc))
    check_books(out)
    out["slo"] = slo_verdict(out, sc.slo)
    out["mechanisms"] = mechanisms(out, sc)
    if len(reps) > 1:
        out["ci95"] = _ci95(reps, sc)
    facts = calibration_facts(sc)
    if facts is not None:  # a calibrated scenario says so (botcap.provenance); nothing otherwise
        out["calibrated_from"] = list(facts["runs"])
        out["calibration"] = facts
    return out


# ---------------------------------------------------------------------------------------------
def _measures(reps, src, sc) -> dict:
    """Everything but identity, SLO and CI, for the given replications (``src``: their rows,
    ``botcap.sim.summary_rows.pooled_rows``)."""
    measured_s = sum(r.measured_s for r in reps)
    users = src.users()
    end_s = float(reps[0].simulated_s) if reps else 0.0
    books = _books(users)
    n_ok, n_failed = books["completed"], books["failed"]
    censored = m.censored_latency_s(users, end_s)
    kinds = users["kind"].astype(str).to_numpy() if len(users) else np.empty(0, dtype=str)
    out: dict = {
        "throughput_per_s": n_ok / measured_s if measured_s > 0 else math.nan,
        "requests": {**books, "timed_out": int(m.timed_out(users).sum())},
        "error_rate": n_failed / (n_ok + n_failed) if n_ok + n_failed else 0.0,
        "latency_s": _drop_count(m.describe(m.latency_s(users))),
        "latency_by_kind_s": {str(kind): m.describe(m.latency_s(rows), count=True)
                              for kind, rows in users.groupby("kind", sort=True, observed=True)},
        "latency_censored_s": m.describe_censored(censored),
        "latency_censored_by_kind_s": {kind: m.describe_censored(censored[kinds == kind], count=True)
                                       for kind in sorted(set(kinds.tolist()))},
        "requests_by_kind": {str(kind): _books(rows, rate=True)
                             for kind, rows in users.groupby("kind", sort=True, observed=True)},
        # the contract's five always, the others if recorded
        "wait_s": {key: _mean_p95(src.user_column(users, col))
                   for i, (key, col) in enumerate(WAIT_KEYS.items()) if i < 5 or src.has(col)},
    }
    resources = _resources(reps)
    out["utilization"] = {key: resources.get(name, {}).get("utilization", math.nan)
                          for i, (key, name) in enumerate(UTILIZATION_KEYS.items())
                          if i < 3 or name in resources}  # the contract's three always, others if modelled
    if "db_server" in resources:  # two gauges, two names: connections open vs connections running a query
        out["utilization"].update(_db_server(out["utilization"].pop("db_server"), resources, sc))
    out["resources"] = resources
    out["by_instance"] = _by_instance(reps, users, sc)
    out["claude"] = _claude(reps)
    out["claude"]["spend_usd"] = spend.usd(out["claude"]["tokens"], sc)
    out["claude"]["wasted_usd"] = spend.usd(out["claude"]["wasted_tokens"], sc)
    out["claude"]["outages"] = spend.outages(users, sc, end_s) if sc.platform.claude.faults.outages else []
    out["digests"] = _digests(reps, src.digests(), sc, end_s)
    db = [r.counters.get("db", {}) for r in reps]
    out["db"] = {"peak_server_connections": int(max((d.get("peak_server_connections", 0) for d in db),
                                                    default=0)),
                 "acquire_timeouts": int(sum(d.get("acquire_timeouts", 0) for d in db)),
                 "too_many_connections": int(sum(d.get("too_many_connections", 0) for d in db))}
    out["telegram"] = {"http_429": int(sum(r.counters.get("telegram", {}).get("http_429", 0)
                                           for r in reps))}
    return out


def mechanisms(summary: dict, sc) -> list[dict]:
    """What pushed back in this run, each named with its count: [{"what", "count", "text"}].

    Why: more capacity can make a run worse (more pools than the server accepts, more concurrent calls
    than the rate limits allow); the output must then say which mechanism did it, not leave an
    inverted trend unexplained. ``what`` is the summary key the count comes from."""
    pf, db, c = sc.platform, summary["db"], summary["claude"]
    dg = summary["digests"]
    found = []

    def note(what: str, count: int, text: str) -> None:
        if count:
            found.append({"what": what, "count": int(count), "text": f"{text}: {count:,}"})

    extra = " + the scheduler's lock queries" if sc.scheduler.placement == "every_instance" else ""
    note("db.too_many_connections", db["too_many_connections"],
         f"{pf.instances} pools x {pf.db.pool_size_per_instance}{extra} exceed max_connections "
         f"{pf.db.max_connections}: connections refused")
    note("db.acquire_timeouts", db["acquire_timeouts"],
         f"pool acquire waits past acquire_timeout_s {pf.db.acquire_timeout_s:g}")
    note("digests.lock_retries", dg.get("lock_retries", 0),
         "digest lock queries failed and retried a tick later")
    note("digests.waiting", dg.get("waiting", 0),
         f"digests still queued for the scheduler's {sc.scheduler.concurrency} slots at the end")
    shared = "each process's Claude semaphore and " if sc.scheduler.placement == "every_instance" else ""
    note("digests.sent", dg["sent"],
         f"digests written in the window, sharing {shared}the rate limits with users")
    lim = pf.claude.rate_limits
    note("claude.http_429", c["http_429"],
         f"Claude 429s (rpm {lim.rpm:g}, itpm {lim.itpm:g}, otpm {lim.otpm:g})")
    note("claude.http_529", c["http_529"], "Claude 529s (overloaded or outage)")
    note("claude.breaker_openings", c.get("breaker_openings", 0), "Claude breaker openings")
    note("telegram.http_429", summary["telegram"]["http_429"], "Telegram 429s (send rate limits)")
    return found


def _books(rows: pd.DataFrame, rate: bool = False) -> dict:
    """arrived = completed + failed + in_flight + missed, each counted on its own (see check_books)."""
    n_ok = int(rows["ok"].astype(bool).sum())
    by_reason = m.failed_by_reason(rows)
    out = {"arrived": len(rows), "completed": n_ok, "failed": sum(by_reason.values()),
           "in_flight": int(m.in_flight(rows).sum()), "missed": 0, "failed_by_reason": by_reason}
    if rate:
        done = out["completed"] + out["failed"]
        out["error_rate"] = out["failed"] / done if done else 0.0
    return out


class BooksDoNotBalance(AssertionError):
    """A summary whose counts do not add up: a bug in the model, never a result to print."""


def check_books(summary: dict) -> None:
    """Raise ``BooksDoNotBalance`` unless, for users (overall and per kind) and digests, what entered
    equals what left with a reason: arrived = completed + failed + in_flight + missed, scheduled =
    sent + failed + in_flight + missed, and failed = the sum of failed_by_reason."""
    def check(name: str, d: dict, entered: str, done: str) -> None:
        parts = d[done] + d["failed"] + d["in_flight"] + d["missed"]
        if d[entered] != parts:
            raise BooksDoNotBalance(f"{name}: {entered} {d[entered]} != {done} {d[done]} + failed "
                                    f"{d['failed']} + in_flight {d['in_flight']} + missed {d['missed']}")
        if d["failed"] != sum(d["failed_by_reason"].values()):
            raise BooksDoNotBalance(f"{name}: failed {d['failed']} != sum of failed_by_reason "
                                    f"{d['failed_by_reason']}")
        if min(d[done], d["failed"], d["in_flight"], d["missed"]) < 0:
            raise BooksDoNotBalance(f"{name}: a negative count in {d}")

    check("requests", summary["requests"], "arrived", "completed")
    for kind, d in summary["requests_by_kind"].items():
        check(f"requests_by_kind.{kind}", d, "arrived", "completed")
    if summary["requests"]["arrived"] != sum(d["arrived"] for d in summary["requests_by_kind"].values()):
        raise BooksDoNotBalance("requests.arrived != the sum of requests_by_kind's")
    check("digests", summary["digests"], "scheduled", "sent")


def _drop_count(d: dict) -> dict:
    return {k: v for k, v in d.items() if k != "count"}


def _mean_p95(col: pd.Series | None) -> dict:
    """Over every user request: "mean", "p95" (0 when fewer than 5% wait); and of those who waited at
    all: "share_waited" and "p95_of_waiting" (the p95 alone hides a queue most requests never meet)."""
    a = np.empty(0) if col is None else col.to_numpy(dtype=float)
    waited = a[a > 0]
    return {"mean": float(a.mean()) if a.size else math.nan, "p95": m.percentile(a, 95),
            "share_waited": waited.size / a.size if a.size else math.nan,
            "p95_of_waiting": m.percentile(waited, 95)}


def _db_server(db_server: float, resources: dict, sc) -> dict:
    """``db_server_open``: open connections / max_connections (without a pooler an open, idle pool
    connection counts: what refuses new ones); ``db_server_busy``: connections running a query /
    max_connections (without a pooler, the pools' held connections; with PgBouncer its server pool)."""
    if sc.platform.db.pooler == "pgbouncer":
        return {"db_server_open": db_server, "db_server_busy": db_server}
    pool = resources.get("db_pool", {})
    busy = pool.get("mean_in_use", math.nan) / sc.platform.db.max_connections
    return {"db_server_open": db_server, "db_server_busy": busy}


PER_PROCESS = ("handlers", "cpu", "db_pool", "claude_semaphore")


def _by_instance(reps, users: pd.DataFrame, sc) -> dict:
    """Per instance 0..instances-1: user requests handled and the utilisation of its own resources
    (``utilization``: busy / capacity over the measured span, pooled over replications). Averages over
    instances hide an imbalance; these lists show it."""
    n = sc.platform.instances
    handled = users["instance"].to_numpy(dtype=np.int64) if len(users) else np.empty(0, dtype=np.int64)
    counts = np.bincount(handled[(handled >= 0) & (handled < n)], minlength=n)
    out = {"requests": [int(c) for c in counts[:n]], "utilization": {}}
    for name in PER_PROCESS:
        busy, cap_s = np.zeros(n), np.zeros(n)
        for r in reps:
            res = r.counters.get("resources", {}).get(name)
            if not res or "busy_s_by_process" not in res:
                continue
            b, c = res["busy_s_by_process"][:n], res["capacity_by_process"][:n]
            if len(b) < n:  # not one per instance (e.g. a shared gauge): not a per-instance figure
                continue
            busy += np.asarray(b, dtype=float)
            cap_s += np.asarray(c, dtype=float) * r.measured_s
        if cap_s.any():
            out["utilization"][name] = [float(x / y) if y > 0 else math.nan for x, y in zip(busy, cap_s,
                                                                                             strict=True)]
    return out


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
    # wall clock with at least one process's breaker open (failing fast), and per process (sim.build)
    out["breaker_open_s"] = float(sum(c.get("breaker_open_s", 0.0) for c in cs))
    out["breaker_openings"] = int(sum(c.get("breaker_openings", 0) for c in cs))
    per = [c.get("breaker_open_s_by_instance", []) for c in cs]
    out["breaker_open_s_by_instance"] = [float(sum(p[i] for p in per if i < len(p)))
                                         for i in range(max((len(p) for p in per), default=0))]
    tokens: dict = {}
    for c in cs:
        for model, t in c.get("tokens", {}).items():
            acc = tokens.setdefault(model, dict.fromkeys(TOKEN_KEYS, 0))
            for key in TOKEN_KEYS:
                acc[key] += int(t.get(key, 0))
    out["tokens"] = tokens
    wasted: dict = {}
    for c in cs:
        for model, t in c.get("wasted_tokens", {}).items():
            acc = wasted.setdefault(model, dict.fromkeys(TOKEN_KEYS, 0))
            for key in TOKEN_KEYS:
                acc[key] += int(t.get(key, 0))
    out["wasted_tokens"] = wasted  # of timed-out attempts: billed, never delivered (sim.spend)
    return out


def _digests(reps, rows: pd.DataFrame, sc, end_s: float) -> dict:
    """The digests' books and lateness. Lateness is measured against the time promised: the user's
    preferred time, or under ``suggest_next`` the slot a moved user accepted (``slot_lateness_s``: vs
    the planned slot, what the platform itself adds). ``lateness_censored_s`` covers every digest of
    the window: failed +inf, unsent at the end (in flight, or moved past the horizon) at the lateness
    they have at least."""
    ds = [r.counters.get("digests", {}) for r in reps]
    total = {key: int(sum(d.get(key, 0) for d in ds))
             for key in ("scheduled", "moved", "duplicate_sends", "lock_retries", "waiting", "missed",
                         "shifted_past_horizon", "lock_lost", "found_sent")}
    moved_by = sum(d.get("moved_by_s_mean", 0.0) * d.get("moved", 0) for d in ds)
    accepted = sc.scheduler.policy == "suggest_next"
    slot_s = sc.scheduler.slot_minutes * 60.0

    def promised(pref, planned):
        pref, planned = np.asarray(pref, dtype=float), np.asarray(planned, dtype=float)
        if not accepted:
            return pref
        d = planned - pref  # own slot: (-slot_s, 0]; moved later: > 0; moved earlier: <= -slot_s
        return np.where((d > 1e-6) | (d <= -slot_s + 1e-6), planned, pref)

    if len(rows):
        prom = promised(rows["preferred_s"], rows["planned_s"])
        ok = rows["ok"].to_numpy(dtype=bool)
        late = rows["done_s"].to_numpy(dtype=float)[ok] - prom[ok]
        slot_late = m.slot_lateness_s(rows)
        censored = m.censored_lateness_s(rows, end_s, prom)
        books = _books(rows)
    else:
        late = slot_late = censored = np.empty(0)
        books = _books(pd.DataFrame(columns=list(FIELDS)))
    unsent = []
    for d in ds:  # not begun at the end (no row), and moved past the horizon: sent no earlier than this
        for pref_key, plan_key in (("waiting_preferred_s", "waiting_planned_s"),
                                   ("shifted_preferred_s", "shifted_planned_s")):
            planned = np.asarray(d.get(plan_key, []), dtype=float)
            unsent.append(np.maximum(end_s, planned) - promised(d.get(pref_key, []), planned))
    unsent_late = np.concatenate(unsent) if unsent else np.empty(0)
    all_late = np.concatenate([censored, unsent_late])
    not_failed = all_late[np.isfinite(all_late)]
    in_flight = books["in_flight"] + total["waiting"]
    return {
        "scheduled": total["scheduled"], "sent": books["completed"], "failed": books["failed"],
        "in_flight": in_flight, "missed": total["missed"], "failed_by_reason": books["failed_by_reason"],
        "sent_share": books["completed"] / total["scheduled"] if total["scheduled"] else math.nan,
        # in_flight = sending at the end + waiting (queued for a scheduler slot or retrying the lock)
        "waiting": total["waiting"], "lock_retries": total["lock_retries"],
        # jobs of other instances for a digest: lock held by its sender / already sent when they got to it
        "lock_lost": total["lock_lost"], "found_sent": total["found_sent"],
        "shifted_past_horizon": total["shifted_past_horizon"],
        "max_per_slot": int(max((d.get("max_per_slot", 0) for d in ds), default=0)),
        "moved": total["moved"],
        "moved_by_s_mean": moved_by / total["moved"] if total["moved"] else 0.0,
        "duplicate_sends": total["duplicate_sends"],
        "lateness_s": {"p50": m.percentile(late, 50), "p95": m.percentile(late, 95),
                       "max": float(late.max()) if late.size else math.nan},
        "lateness_censored_s": {"count": int(all_late.size), "p50": m.percentile(all_late, 50),
                                "p95": m.percentile(all_late, 95),
                                "max": float(all_late.max()) if all_late.size else math.nan,
                                "max_not_failed": float(not_failed.max()) if not_failed.size else math.nan},
        # vs the planned slot: what a slot policy (A7) promises once users are moved
        "slot_lateness_s": {"p50": m.percentile(slot_late, 50), "p95": m.percentile(slot_late, 95),
                            "max": float(slot_late.max()) if slot_late.size else math.nan},
    }


# ---------------------------------------------------------------------------------------------
def slo_check(sc, summary: dict) -> dict:
    """The verdict of ``botcap.sim.verdict.slo_verdict`` for the scenario's SLO (kept for callers)."""
    return slo_verdict(summary, sc.slo)


def _ci95(reps, sc) -> dict:
    """Student-t 95% intervals across replications (each replication summarised on its own)."""
    per = [_measures([r], pooled_rows([r], lambda r=r: r.requests), sc) for r in reps]
    ci = {"latency_s.p95": m.t_interval([p["latency_s"]["p95"] for p in per]),
          "latency_s.mean": m.t_interval([p["latency_s"]["mean"] for p in per]),
          "throughput_per_s": m.t_interval([p["throughput_per_s"] for p in per])}
    kinds = sorted({k for p in per for k in p["latency_by_kind_s"]})
    for kind in kinds:
        ci[f"latency_by_kind_s.{kind}.p95"] = m.t_interval(
            [p["latency_by_kind_s"].get(kind, {}).get("p95", math.nan) for p in per])
    return ci
