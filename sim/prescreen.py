"""The analytic pre-screen of ``sim optimize``: utilisation and Erlang C bounds per resource, no DES.

Why: a configuration whose busiest resource is loaded past 100% in the busiest hour of the window,
or whose digest rush cannot drain within the lateness SLO even with every slot busy, cannot meet
the SLO, and saying so costs microseconds instead of a simulation. The screen is one-sided on
purpose: every demand is a LOWER bound (mean stage times with no waiting, no retries, no digest
traffic where it is unsure), so a pruned point is one the DES would also fail; the margins below are
checked on a grid by tests/sweep/test_optimize.py (a pruned point never meets the SLO in the DES).

Resources (capacity = servers x 1/hold): CPU (instances x cores, the kinds' service_s), handlers
(instances x handlers, the sum of a request's stages), DB pool (pool size x instances, per query),
Claude semaphore (concurrency x instances, per call), the org-wide rate limits (requests, input and
output tokens per minute), Telegram's bot-wide send rate. Input tokens count against the input-TPM
limit as the API (and the DES) counts them: uncached input plus cache writes, the prompt cache saving
only on calls whose prompt reaches the model's minimum cacheable prefix (``counted_input_tokens``: the
cost model's own rule, not a second one). The Erlang C p95 wait (M/M/c) is reported
per resource as the estimate people know; it prunes only at ``ERLANG_FACTOR`` x the kind's limit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache, reduce

import numpy as np
from botcap.costmodel.model_facts import min_cacheable_tokens
from botcap.costmodel.volumes import cacheable_share

from botcap.scenario import Scenario, hhmm_to_s

__all__ = ["Demands", "demands", "knobs", "screen", "counted_input_tokens", "RHO_PRUNE", "ERLANG_FACTOR",
           "LATENCY_FLOOR_SHARE", "DIGEST_FLOOR_SHARE", "KNOB_PATHS"]

RHO_PRUNE = 1.10            # busiest resource over this in the busiest hour: queues grow all hour
ERLANG_FACTOR = 2.0         # Erlang C p95 wait > 2 x the kind's p95 limit (M/M/c overstates lognormal waits)
LATENCY_FLOOR_SHARE = 0.8   # p95 of a kind >= 0.8 x the sum of its stages' means (no waits)
DIGEST_FLOOR_SHARE = 0.8    # max lateness >= 0.8 x (rush size / best drain rate)

KNOB_PATHS = (
    "platform.instances", "platform.handlers_per_instance", "platform.cpu_cores_per_instance",
    "platform.db.pool_size_per_instance", "platform.db.pooler", "platform.db.max_connections",
    "platform.db.pooler_server_connections", "platform.claude.concurrency_per_instance",
    "platform.claude.rate_limits.rpm", "platform.claude.rate_limits.itpm", "platform.claude.rate_limits.otpm",
    "platform.telegram.send_rate_per_s", "scheduler.cap_per_slot", "scheduler.policy",
    "scheduler.concurrency", "scheduler.placement",
    "workload.dau",
)


def _mean(d) -> float:
    if d is None:
        return 0.0
    if isinstance(d, int | float):
        return float(d)
    if getattr(d, "samples", None) is not None:
        return sum(d.samples) / len(d.samples)
    return float(d.mean)


def counted_input_tokens(tokens, hit_rate: float, api_model: str) -> float:
    """Mean input tokens per call that count against the input-TPM limit: uncached input + cache writes.

    In the DES (``sim.claude``) a call whose prompt reaches the model's minimum cacheable prefix
    (``costmodel/model_facts.yaml``) reads ``hit_rate`` of it from the cache (not counted) and writes
    the rest; a shorter prompt is processed uncached, all of it counted. The expected share of prompt
    tokens in calls long enough is the cost model's ``cacheable_share`` (the prompt lognormal, moment-
    matched to the kind's distribution; all or nothing for a constant), so the screen, the cost model
    and the DES apply one rule. ``tokens``: the kind's input-token distribution (or a number).
    """
    mean = _mean(tokens)
    if hit_rate <= 0 or mean <= 0:
        return mean
    cv = float(getattr(tokens, "cv", 0.0) or 0.0)
    share = float(cacheable_share(np.array(mean), np.array(cv), np.array(min_cacheable_tokens(api_model))))
    return mean * (1.0 - hit_rate * share)


@dataclass(frozen=True)
class Demands:
    """Per-kind mean stage times (no waiting) and the load shape of a scenario, for any knob values."""

    kinds: dict              # kind -> {share, cpu_s, db_queries, query_s, claude_s, calls, in_tokens,
    #                                   out_tokens, sends, path_s}
    messages_per_dau_per_s: float   # user messages per second per DAU in the window's busiest hour
    constant_rate_per_s: float | None
    digest_rush_per_dau: float      # digests due at one instant inside the window, per DAU
    digest_call_s: float
    digest_in_tokens: float         # counted against the input-TPM limit (``counted_input_tokens``)
    digest_out_tokens: float
    slo: dict
    digest_limit_s: float


def demands(sc: Scenario, *, start: str | None = None, hours: float | None = None) -> Demands:
    """The per-request demands of ``sc`` and its busiest hour inside [start, start + hours)."""
    wl, pf = sc.workload, sc.platform
    rtt = pf.network_rtt_s
    start_s = hhmm_to_s(start or sc.horizon.start)
    span_h = hours or sc.horizon.hours
    weights = wl.arrivals.hourly_weights
    first_h = (start_s + sc.horizon.warmup_s) / 3600
    hours_in = {int(first_h + k) % 24 for k in range(max(1, math.ceil(span_h)))}
    peak_share = max(weights[h] for h in hours_in) / sum(weights)
    per_dau = wl.sessions_per_user * wl.messages_per_session * peak_share / 3600.0
    kinds = {}
    for name, share in wl.mix.items():
        k = wl.kinds[name]
        claude_s = in_t = out_t = 0.0
        if k.model is not None:
            m = pf.claude.models[k.model]
            out_t = _mean(k.output_tokens)
            in_t = counted_input_tokens(k.input_tokens, pf.claude.prompt_cache_hit_rate, m.api_model)
            claude_s = _mean(m.ttft_s) + out_t / m.output_tokens_per_s
        query_s = _mean(pf.db.query_s) + rtt.db
        path = (_mean(k.service_s) + k.db_queries * query_s + (claude_s + rtt.claude if k.model else 0.0)
                + k.mcp_calls * (_mean(pf.mcp.latency_s) + rtt.mcp) + k.telegram_sends * rtt.telegram)
        kinds[name] = {"share": share, "cpu_s": _mean(k.service_s), "db_queries": k.db_queries,
                       "query_s": query_s, "claude_s": claude_s, "calls": 1.0 if k.model else 0.0,
                       "in_tokens": in_t, "out_tokens": out_t, "sends": k.telegram_sends, "path_s": path}
    dg = wl.digests
    window = (start_s + sc.horizon.warmup_s, start_s + span_h * 3600.0)
    rush = 0.0
    for hhmm, share in dg.preferred_times.items():
        t = hhmm_to_s(hhmm)
        if any(window[0] <= t + day <= window[1] for day in (0.0, 86_400.0)):
            rush = max(rush, share)
    dm = pf.claude.models.get(dg.model)
    digest_call_s = _mean(dm.ttft_s) + _mean(dg.output_tokens) / dm.output_tokens_per_s if dm else math.inf
    constant = wl.arrivals.rate_per_s if wl.arrivals.process == "poisson" else None
    digest_in = counted_input_tokens(dg.input_tokens, pf.claude.prompt_cache_hit_rate, dm.api_model) if dm \
        else _mean(dg.input_tokens)
    return Demands(kinds, per_dau, constant, dg.subscribers_share * rush, digest_call_s,
                   digest_in, _mean(dg.output_tokens), dict(sc.slo.p95_s),
                   sc.slo.digest_max_lateness_s)


def knobs(sc: Scenario, overrides: dict | None = None, start: dict | None = None) -> dict:
    """The values the screen reads: the scenario's (or ``start``, a earlier ``knobs(sc)``), then
    ``overrides`` ({dotted path: value}; a dict value such as ``platform.claude.rate_limits: {rpm:
    ...}`` sets its sub-keys)."""
    out = dict(start) if start is not None else {p: reduce(getattr, p.split("."), sc) for p in KNOB_PATHS}
    for path, value in (overrides or {}).items():
        if isinstance(value, dict):
            for sub, v in value.items():
                out[f"{path}.{sub}"] = v
        else:
            out[path] = value
    return out


@lru_cache(maxsize=65_536)
def _erlang_p95_wait_s(rate: float, hold_s: float, servers: int) -> float:
    """M/M/c: P(W > t) = C e^{-(c mu - lambda) t}; the t where that is 5% (0 if C <= 5%).

    Memoised: the optimizer screens every configuration of its space (~90K for the default) and
    they share a few hundred (rate, hold, servers) triples; the recursion is O(servers) each."""
    if rate <= 0 or hold_s <= 0:
        return 0.0
    a = rate * hold_s
    if a >= servers:
        return math.inf
    b = 1.0
    for k in range(1, servers + 1):  # Erlang B recursion, stable for large c
        b = a * b / (k + a * b)
    c = servers * b / (servers - a * (1 - b))
    return math.log(c / 0.05) / (servers / hold_s - rate) if c > 0.05 else 0.0


def screen(d: Demands, kv: dict) -> dict:
    """{"pruned", "reasons", "utilisation": {resource: rho}, "erlang_p95_wait_s", "score"} at the knobs."""
    n = kv["platform.instances"]
    rate = d.constant_rate_per_s
    if rate is None:
        rate = kv["workload.dau"] * d.messages_per_dau_per_s
    ks = d.kinds.values()
    per = {  # (total arrival rate of work, mean hold per unit, servers, kinds that pass through it)
        "cpu": (rate, sum(k["share"] * k["cpu_s"] for k in ks), n * kv["platform.cpu_cores_per_instance"],
                [k for k, v in d.kinds.items() if v["cpu_s"] > 0]),
        "handlers": (rate, sum(k["share"] * k["path_s"] for k in ks),
                     n * kv["platform.handlers_per_instance"], list(d.kinds)),
    }
    q_rate = rate * sum(k["share"] * k["db_queries"] for k in ks)
    if q_rate > 0:
        q_hold = sum(k["share"] * k["db_queries"] * k["query_s"] for k in ks) * rate / q_rate
        per["db_pool"] = (q_rate, q_hold, n * kv["platform.db.pool_size_per_instance"],
                          [k for k, v in d.kinds.items() if v["db_queries"]])
        if kv["platform.db.pooler"] == "pgbouncer":
            per["db_server"] = (q_rate, q_hold, min(kv["platform.db.pooler_server_connections"],
                                                    kv["platform.db.max_connections"]), per["db_pool"][3])
    c_rate = rate * sum(k["share"] * k["calls"] for k in ks)
    claude_kinds = [k for k, v in d.kinds.items() if v["calls"]]
    if c_rate > 0:
        c_hold = sum(k["share"] * k["calls"] * k["claude_s"] for k in ks) * rate / c_rate
        per["claude_semaphore"] = (c_rate, c_hold, n * kv["platform.claude.concurrency_per_instance"],
                                   claude_kinds)
    util = {name: r * h / s if s else math.inf for name, (r, h, s, _) in per.items()}
    minute = 60.0
    util["rate_limit_rpm"] = c_rate * minute / kv["platform.claude.rate_limits.rpm"]
    util["rate_limit_itpm"] = rate * sum(k["share"] * k["in_tokens"] for k in ks) * minute / \
        kv["platform.claude.rate_limits.itpm"]
    util["rate_limit_otpm"] = rate * sum(k["share"] * k["out_tokens"] for k in ks) * minute / \
        kv["platform.claude.rate_limits.otpm"]
    util["telegram_send"] = rate * sum(k["share"] * k["sends"] for k in ks) / \
        kv["platform.telegram.send_rate_per_s"]
    reasons = [f"{name}: utilisation {rho:.2f} > {RHO_PRUNE:g} in the busiest hour"
               for name, rho in util.items() if rho > RHO_PRUNE]
    erlang = {}
    for name, (r, h, s, through) in per.items():
        w = _erlang_p95_wait_s(r, h, int(s))
        erlang[name] = w
        for kind in through:
            limit = d.slo.get(kind)
            if limit is not None and math.isfinite(w) and w > ERLANG_FACTOR * limit:
                reasons.append(f"{name}: Erlang C p95 wait {w:.3g} s > {ERLANG_FACTOR:g} x {kind}'s "
                               f"{limit:g} s")
                break
    for kind, v in d.kinds.items():
        limit = d.slo.get(kind)
        if limit is not None and LATENCY_FLOOR_SHARE * v["path_s"] > limit:
            reasons.append(f"{kind}: stages alone take {v['path_s']:.3g} s (p95 limit {limit:g} s)")
    digest_floor = 0.0
    rush = d.digest_rush_per_dau * kv["workload.dau"]
    if rush >= 1 and kv["scheduler.cap_per_slot"] is None and kv["scheduler.policy"] == "none":
        # the rush drains no faster than its senders' slots (scheduler concurrency, each capped by its
        # process's Claude semaphore; one worker, or every instance) and the rate limits allow
        slots = min(kv["scheduler.concurrency"], kv["platform.claude.concurrency_per_instance"])
        if kv["scheduler.placement"] == "every_instance":
            slots *= n
        drain = min(slots / d.digest_call_s,
                    kv["platform.claude.rate_limits.rpm"] / minute,
                    kv["platform.claude.rate_limits.otpm"] / minute / max(d.digest_out_tokens, 1e-9),
                    kv["platform.claude.rate_limits.itpm"] / minute / max(d.digest_in_tokens, 1e-9))
        digest_floor = DIGEST_FLOOR_SHARE * rush / drain
        if digest_floor > d.digest_limit_s:
            reasons.append(f"digests: a rush of {rush:,.0f} drains in >= {digest_floor:.4g} s "
                           f"(max lateness limit {d.digest_limit_s:g} s)")
    score = max([*util.values(), digest_floor / d.digest_limit_s if d.digest_limit_s else 0.0])
    return {"pruned": bool(reasons), "reasons": reasons, "utilisation": util, "erlang_p95_wait_s": erlang,
            "digest_lateness_floor_s": digest_floor, "score": score}
