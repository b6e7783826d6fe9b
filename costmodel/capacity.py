"""Capacity cross-check: can the configured plans carry the load the cost model pays for?

Why here and not only in sim/: the cost of a plan is only meaningful if the plan holds. This is
a peak-minute arithmetic check (no queueing): user messages peak in the busiest hour of the
diurnal profile; digests burst at the most popular preferred time, throttled by the scheduler's
concurrency (or its per-slot cap). Batch API calls do not count against the Messages API limits;
prompt-cache reads do not count against input TPM. Limits are compared with all models summed,
as the sim's organisation-wide token bucket does.
"""

from __future__ import annotations

import numpy as np
from botcap.costmodel.unit import Built
from botcap.costmodel.volumes import DIGEST_KIND

__all__ = ["cross_check"]


def _digest_call_s(scenario) -> float:
    d = scenario.workload.digests
    m = scenario.platform.claude.models[d.model]
    return m.ttft_s.mean + d.output_tokens.mean / m.output_tokens_per_s


def cross_check(scenario, built: Built, neon_price: dict, max_connections_per_cu: float) -> dict:
    """Peak requests and tokens per minute vs rate limits; DB connections vs Neon limits; flags."""
    ln = built.lines
    users = built.users[ln.tier]
    calls_day = users * ln.calls_per_user_day * (1 - ln.content_hit) * (1 - ln.batch_share)
    uncached_in = ln.input_tokens * (1 - ln.effective_cached_share()[:, 0] * ln.prompt_hit)
    digest = np.array([k == DIGEST_KIND for k in ln.kind], dtype=bool)

    weights = scenario.workload.arrivals.hourly_weights
    peak_hour_share = max(weights) / sum(weights)
    chat_per_min = calls_day[~digest].sum() * peak_hour_share / 60.0

    dg = scenario.workload.digests
    burst = calls_day[digest].sum() * max(list(dg.preferred_times.values()) + [0.0])
    sched = scenario.scheduler
    by_concurrency = sched.concurrency * 60.0 / max(_digest_call_s(scenario), 1e-9)
    by_cap = sched.cap_per_slot / sched.slot_minutes if sched.cap_per_slot else np.inf
    digest_per_min = min(burst, by_concurrency, by_cap)

    def peak(per_call: np.ndarray) -> float:
        chat = (calls_day[~digest] * per_call[~digest]).sum() * peak_hour_share / 60.0
        dig_calls = calls_day[digest].sum()
        dig = (calls_day[digest] * per_call[digest]).sum() / dig_calls * digest_per_min if dig_calls else 0.0
        return float(chat + dig)

    limits = scenario.platform.claude.rate_limits
    need = {"requests_per_min": float(chat_per_min + digest_per_min),
            "input_tokens_per_min": peak(uncached_in), "output_tokens_per_min": peak(ln.output_tokens)}
    have = {"requests_per_min": limits.rpm, "input_tokens_per_min": limits.itpm,
            "output_tokens_per_min": limits.otpm}
    flags = [f"claude {k}: peak {need[k]:,.0f} > limit {have[k]:,} (platform.claude.rate_limits)"
             for k in need if need[k] > have[k]]

    db = scenario.platform.db
    pools = scenario.platform.instances + (1 if sched.placement == "separate" else 0)
    clients = pools * db.pool_size_per_instance
    neon_cu = scenario.costs.infra.neon.compute_cu
    neon_max = int(max_connections_per_cu * neon_cu)
    server_cap = min(db.max_connections, neon_max)
    if db.pooler == "pgbouncer":
        pooled = int(neon_price["pooled_client_connections"])
        db_out = {"client_connections": clients, "pooled_client_limit": pooled,
                  "server_connections": db.pooler_server_connections, "server_limit": server_cap}
        if clients > pooled:
            flags.append(f"neon pooled connections: {clients} clients > {pooled} (Neon PgBouncer limit)")
        if db.pooler_server_connections > server_cap:
            flags.append(f"postgres connections: pooler_server_connections {db.pooler_server_connections} > "
                         f"{server_cap} (platform.db.max_connections / Neon {neon_cu:g} CU)")
    else:
        db_out = {"client_connections": clients, "server_limit": server_cap}
        if clients > server_cap:
            flags.append(f"postgres connections: {pools} pools x {db.pool_size_per_instance} = {clients} > "
                         f"{server_cap} (platform.db.max_connections / Neon {neon_cu:g} CU; "
                         f"set platform.db.pooler=pgbouncer)")
    if neon_cu > float(neon_price.get("max_cu", np.inf)):
        flags.append(f"neon compute: {neon_cu:g} CU > the plan's {neon_price['max_cu']} CU")

    return {"peak": need, "limits": have,
            "utilisation": {k: need[k] / have[k] for k in need},
            "peak_hour_share": peak_hour_share,
            "digest_burst_per_min": float(burst), "digest_per_min_after_scheduler": float(digest_per_min),
            "db": db_out, "ok": not flags, "flags": flags}
