"""Sanity of the full platform model: changes that can only help never hurt, and the books balance.

Short runs of the embedded default scenario in constant-rate (poisson) mode, digests off unless the
check needs them, so that load is fixed and known. Each "never worse" comparison allows for sampling
noise: the statistic's standard error (SE) comes from 10 equal sections of the run (p95) or 20
batch means (mean waits), and "never worse" means "not worse by more than 4 combined SE"
(sqrt(SE_a^2 + SE_b^2)); fixed seeds make every check deterministic. Each test also asserts the
real effect at the loaded end (a drop larger than its 4-SE band), so it cannot pass vacuously.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from botcap.sim import metrics
from botcap.sim.runner import run
from botcap.sim.summary import summarize

from botcap.scenario import load_scenario

POISSON = ["workload.arrivals.process=poisson", "workload.digests.subscribers_share=0",
           "horizon.warmup_s=120"]
SECTIONS = 10


def simulate(sets: list[str], hours: float, seed: int = 1):
    result = run(load_scenario(None, sets), seed=seed, replications=1, hours=hours)
    return result, summarize(result)


def p95_and_se(rows) -> tuple[float, float]:
    """p95 of latency and its SE from SECTIONS consecutive sections (by arrival) of the run."""
    done = rows[rows["ok"].astype(bool)].sort_values("arrival_s")
    lat = (done["done_s"] - done["arrival_s"]).to_numpy()
    parts = [np.percentile(p, 95) for p in np.array_split(lat, SECTIONS)]
    return float(np.percentile(lat, 95)), float(np.std(parts, ddof=1) / math.sqrt(SECTIONS))


def band(se_a: float, se_b: float) -> float:
    return 4 * math.hypot(se_a, se_b)


def test_more_instances_never_increase_p95_at_fixed_load():
    # 3.5 msg/s of the default mix needs ~9 Claude calls in flight: one instance's semaphore of 10 is
    # nearly saturated, two or more are not
    p95 = {}
    for n in (1, 2, 3, 5):
        result, _ = simulate([*POISSON, "workload.arrivals.rate_per_s=3.5", f"platform.instances={n}"], 0.4)
        users = metrics.user_rows(result.requests)
        p95[n] = {"all": p95_and_se(users)}
        for kind in ("chat_simple", "chat_deep"):
            p95[n][kind] = p95_and_se(users[users["kind"] == kind])
    counts = sorted(p95)
    for fewer, more in zip(counts, counts[1:], strict=False):
        for key, (p_more, se_more) in p95[more].items():
            p_fewer, se_fewer = p95[fewer][key]
            assert p_more <= p_fewer + band(se_fewer, se_more), (key, fewer, more, p_fewer, p_more)
    (p1, se1), (p2, se2) = p95[1]["chat_simple"], p95[2]["chat_simple"]
    assert p1 - p2 > band(se1, se2), "one instance should be clearly slower at this load"


def test_raising_max_connections_never_increases_db_waits():
    # PgBouncer: server connections = min(pooler_server_connections, max_connections); 10 commands/s
    # x 2 queries x ~0.2 s keep ~4 server connections busy, so a cap of 5 queues and 16 does not
    common = [*POISSON, "workload.arrivals.rate_per_s=10", "workload.mix={command: 1}",
              "platform.db.query_s={dist: exponential, mean: 0.2}"]
    waits = {}
    for cap in (5, 6, 8, 16):
        result, _ = simulate([*common, "platform.db.pooler=pgbouncer", f"platform.db.max_connections={cap}"],
                             0.25)
        rows = result.requests.sort_values("arrival_s")
        waits[cap] = metrics.batch_means(rows["wait_db_pool_s"] + rows["wait_db_server_s"], 20)
    caps = sorted(waits)
    for lo, hi in zip(caps, caps[1:], strict=False):
        assert waits[hi][0] <= waits[lo][0] + band(waits[lo][1], waits[hi][1]), (lo, hi, waits)
    assert waits[5][0] - waits[16][0] > band(waits[5][1], waits[16][1]), waits
    # Direct connections: the pools (5 x min 10) open what the cap allows and the rest are refused
    # ("too many connections"); a higher cap never refuses more and never makes anyone wait longer
    errors, pool_waits = {}, {}
    for cap in (8, 30, 100):
        result, s = simulate([*common, f"platform.db.max_connections={cap}"], 0.1)
        errors[cap] = s["db"]["too_many_connections"]
        rows = result.requests.sort_values("arrival_s")
        pool_waits[cap] = metrics.batch_means(rows["wait_db_pool_s"], 20)
    assert errors[8] >= errors[30] >= errors[100] == 0 and errors[8] > 0, errors
    for lo, hi in ((8, 30), (30, 100)):
        assert pool_waits[hi][0] <= pool_waits[lo][0] + band(pool_waits[lo][1], pool_waits[hi][1])


def saturated(s: dict) -> bool:
    """Completions fall behind arrivals. A stable run completes all but the requests in flight at the
    end (~ W / span = 15 s / 600 s = 2.5% here); a saturated one leaves a growing backlog (>= 20% at
    1.25x capacity). 10% sits between the two with a wide margin on both sides."""
    return s["requests"]["completed"] < 0.9 * s["requests"]["arrived"]


def test_polling_saturates_before_webhook_with_the_same_instances():
    # Polling: one getUpdates loop, so instance 0 handles every update with its own Claude semaphore
    # (10) -> capacity ~ 10 / 2.5 s of Claude per message ~ 4/s. Webhook: 5 instances -> ~20/s.
    rates = (2.0, 5.0, 12.0, 25.0)
    first = {}
    for mode in ("polling", "webhook"):
        verdicts = []
        for rate in rates:
            _, s = simulate([*POISSON, f"platform.mode={mode}", f"workload.arrivals.rate_per_s={rate}"],
                            0.2, seed=3)
            verdicts.append(saturated(s))
        assert verdicts == sorted(verdicts), (mode, verdicts)  # once saturated, stays saturated
        first[mode] = verdicts.index(True) if True in verdicts else len(rates)
    assert first["polling"] < first["webhook"], first
    assert rates[first["polling"]] == 5.0 and rates[first["webhook"]] == 25.0, first  # the expected knees


# which rows' column measures each resource's queue (digests run on the separate scheduler worker:
# their wait for a scheduler slot is recorded as wait_handler_s)
def _little_rows(name: str, rows):
    if name == "scheduler":
        return metrics.digest_rows(rows), "wait_handler_s"
    if name == "handlers":
        return metrics.user_rows(rows), "wait_handler_s"
    return rows, metrics.WAIT_COLUMNS[name]


def test_littles_law_on_every_resource_of_the_full_model():
    """Time-average queue length L_q (engine's integral) = sum of recorded waits / span = lambda Wq.

    Around the 10:00 digest rush with every resource made scarce enough to queue. On one sample path
    Little's law is exact up to work in progress at the two ends of the window (a handful of requests
    against ~16,000), so 1% is ample; there is no sampling error because both sides are the same run.
    Digests run on the separate worker: with placement every_instance the instances that lose the
    lock also queue, but only the winner's send is a row.
    """
    sets = ["horizon.start=09:30", "horizon.warmup_s=300", "scheduler.placement=separate",
            "platform.db.pooler=pgbouncer", "platform.db.pooler_server_connections=2",
            "platform.db.query_s={dist: exponential, mean: 0.02}", "platform.db.pool_size_per_instance=3",
            "platform.telegram.send_rate_per_s=5", "platform.telegram.webhook_handle_in_background=false",
            "platform.telegram.webhook_max_connections=7", "platform.handlers_per_instance=2"]
    result, _ = simulate(sets, 2.0, seed=3)
    rep = result.replications[0]
    resources = rep.counters["resources"]
    expected = {"webhook_connections", "handlers", "cpu", "db_pool", "db_server", "claude_semaphore",
                "telegram_send", "scheduler"}
    assert expected <= set(resources)
    for name, counts in resources.items():
        rows, col = _little_rows(name, rep.requests)
        l_q = counts["queue_s"] / rep.measured_s
        assert l_q > 0, f"{name} never queued: the check would be vacuous"
        assert l_q == pytest.approx(rows[col].sum() / rep.measured_s, rel=0.01), name
