"""The whole pipeline (scenario → engine → runner → summary) against queueing theory, on mmc.yaml.

M/M/c with mu = 1/s over a grid c in {1, 4} x rho in {0.5, 0.7, 0.9}: mean wait Wq and the probability
of waiting vs Erlang C, W = Wq + 1/mu, utilisation = rho; Little's law on every resource; the same seed
gives the same summary.

Tolerances: successive waits are correlated, so each estimate's standard error (SE) comes from 20
non-overlapping batch means (batches of >= 2,000 customers, far longer than the queue's relaxation
time 1/(c mu (1 - sqrt(rho))^2) <= 380 s); an estimate must lie within 4 SE of theory (a normal
deviate beyond 4 has probability 6e-5, and the seeds are fixed, so this cannot flake). A 4-SE band
is only meaningful if SE is small: each case also asserts SE < 10% of the theoretical value, so a
model error of ~40% or more cannot pass. Run lengths (customers per case) were chosen for that:
heavier traffic needs longer runs. Total: ~650K simulated customers, ~20 s on one free core.
"""

from __future__ import annotations

import math
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from botcap.sim import metrics
from botcap.sim.runner import run
from botcap.sim.summary import summarize

from botcap.cliutil import dumps
from botcap.scenario import load_scenario

MMC = Path(__file__).resolve().parents[2] / "sim" / "scenarios" / "mmc.yaml"
MEAN_SERVICE_S = 1.0  # mmc.yaml: work.service_s is exponential with mean 1 s
WARMUP_S = 1000.0     # > 2.5 relaxation times of the slowest case (c=1, rho=0.9: ~380 s)
BATCHES = 20

# (servers c, utilisation rho, customers after warm-up)
GRID = [(1, 0.5, 40_000), (1, 0.7, 80_000), (1, 0.9, 250_000),
        (4, 0.5, 40_000), (4, 0.7, 60_000), (4, 0.9, 150_000)]
IDS = [f"c{c}-rho{rho}" for c, rho, _ in GRID]


def mmc_scenario(c: int, rate_per_s: float):
    return load_scenario(MMC, [f"platform.handlers_per_instance={c}", f"platform.cpu_cores_per_instance={c}",
                               f"workload.arrivals.rate_per_s={rate_per_s}", f"horizon.warmup_s={WARMUP_S}"])


@cache
def mmc_run(c: int, rho: float, customers: int):
    """One seeded replication of M/M/c (cached: several tests read the same run)."""
    rate = rho * c / MEAN_SERVICE_S
    hours = (customers / rate + WARMUP_S) / 3600.0
    result = run(mmc_scenario(c, rate), seed=20_240 + c, replications=1, hours=hours)
    rows = result.requests.sort_values("arrival_s", kind="stable")  # batch means need time order
    return result, summarize(result), rows, rate


@pytest.mark.parametrize(("c", "rho", "customers"), GRID, ids=IDS)
def test_mean_wait_and_probability_of_waiting_match_erlang_c(c, rho, customers):
    result, s, rows, rate = mmc_run(c, rho, customers)
    assert abs(s["requests"]["arrived"] - customers) < 5 * math.sqrt(customers)  # Poisson count, 5 sd

    wq_theory = metrics.mmc_wait_s(rate, MEAN_SERVICE_S, c)
    wq, se = metrics.batch_means(rows["wait_handler_s"], BATCHES)
    assert s["wait_s"]["handler"]["mean"] == pytest.approx(rows["wait_handler_s"].mean())  # the summary's Wq
    assert se < 0.10 * wq_theory, "run too short for a meaningful check"
    assert abs(wq - wq_theory) < 4 * se, f"Wq {wq:.4f} vs Erlang C {wq_theory:.4f} (SE {se:.4f})"

    p_theory = metrics.erlang_c(c, rate * MEAN_SERVICE_S)
    p, se_p = metrics.batch_means((rows["wait_handler_s"] > 0).astype(float), BATCHES)
    assert se_p < 0.10 * p_theory
    assert abs(p - p_theory) < 4 * se_p, f"P(wait) {p:.4f} vs Erlang C {p_theory:.4f} (SE {se_p:.4f})"


@pytest.mark.parametrize(("c", "rho", "customers"), GRID, ids=IDS)
def test_sojourn_is_wait_plus_service_and_utilisation_is_rho(c, rho, customers):
    result, s, rows, rate = mmc_run(c, rho, customers)
    done = rows[rows["ok"]]
    w, se = metrics.batch_means(done["done_s"] - done["arrival_s"], BATCHES)
    w_theory = metrics.mmc_wait_s(rate, MEAN_SERVICE_S, c) + MEAN_SERVICE_S
    assert s["latency_s"]["mean"] == pytest.approx((done["done_s"] - done["arrival_s"]).mean())
    assert se < 0.10 * w_theory
    assert abs(w - w_theory) < 4 * se, f"W {w:.4f} vs {w_theory:.4f} (SE {se:.4f})"
    # utilisation = (arrivals x mean service) / (c x span): both factors are means of ~N independent
    # draws (Poisson count, exponential times), relative SE ~ sqrt(2/N); allow 4 of those
    tol = 4 * math.sqrt(2 / customers) * rho
    assert s["utilization"]["handlers"] == pytest.approx(rho, abs=tol)
    assert s["wait_s"]["cpu"]["mean"] == 0.0  # c cores for c handlers: the CPU itself never queues


# what a request holds each resource for, from its row (handlers: its whole life after the slot)
HOLD_S = {
    "handlers": lambda df: df["done_s"] - df["arrival_s"] - df["wait_handler_s"],
    "cpu": lambda df: df["service_cpu_s"],
}


@pytest.mark.parametrize(("c", "rho", "customers"), GRID, ids=IDS)
def test_littles_law_holds_on_every_resource(c, rho, customers):
    """L (time-average from the engine's integrals) = lambda x W (from the rows), per resource.

    On one sample path Little's law is exact up to edge effects: work in progress at the warm-up
    cut and at the end (at most a few dozen customers x their time) against ~N x W in total, far
    below the 1% allowed here; both sides come from the same run, so there is no sampling error.
    """
    result, s, rows, rate = mmc_run(c, rho, customers)
    rep = result.replications[0]
    span = rep.measured_s
    resources = rep.counters["resources"]
    assert {"handlers", "cpu"} <= set(resources)
    for name, counts in resources.items():
        if name in HOLD_S:
            hold = HOLD_S[name](rows[rows["ok"]]).sum() / span  # = lambda_hat x mean holding time
            assert counts["busy_s"] / span == pytest.approx(hold, rel=0.01), name
            wait = rows[metrics.WAIT_COLUMNS[name]].sum() / span  # = lambda_hat x mean wait
            assert counts["queue_s"] / span == pytest.approx(wait, rel=0.01, abs=1e-9), name
        else:  # the M/M/c reduction uses nothing else: nothing may be held or queued there
            assert counts["busy_s"] == pytest.approx(0.0, abs=1e-9) and counts["queue_s"] == 0.0, name
    assert s["resources"]["handlers"]["mean_queue_len"] == pytest.approx(
        rate * rows["wait_handler_s"].mean(), rel=0.02)  # L_q = lambda Wq with lambda the set rate


def test_same_seed_same_summary_and_another_seed_differs():
    sc = mmc_scenario(4, 3.2)
    first = dumps(summarize(run(sc, seed=7, replications=2, hours=0.5)))
    again = dumps(summarize(run(sc, seed=7, replications=2, hours=0.5)))
    other = dumps(summarize(run(sc, seed=8, replications=2, hours=0.5)))
    assert first == again
    assert first != other


def test_replications_give_a_ci_that_covers_the_theory():
    """ci95 of mean latency over 5 replications (Student t, 4 df) should cover W; with a fixed seed it
    is a deterministic check that the interval is centred and scaled right (width < 30% of W)."""
    sc = mmc_scenario(4, 2.8)  # rho = 0.7: W = 1.357 s
    s = summarize(run(sc, seed=11, replications=5, hours=1.0))
    lo, hi = s["ci95"]["latency_s.mean"]
    w_theory = metrics.mmc_wait_s(2.8, 1.0, 4) + 1.0
    assert lo < w_theory < hi
    assert hi - lo < 0.3 * w_theory
    assert np.isclose(s["throughput_per_s"], 2.8, rtol=0.03)  # 5 x ~9,000 Poisson arrivals: SE 0.5%


def test_capacity_search_finds_the_mm1_rate_whose_p95_meets_the_slo():
    """M/M/1 sojourn time is exponential with rate mu - lambda, so p95 = ln(20) / (mu - lambda) and the
    largest lambda with p95 <= 10 s is 1 - ln(20)/10 = 0.7004/s. Each run's p95 (~20K customers, ~3,500
    effectively independent at rho 0.7) has a relative SE of ~3%; near the answer
    dp95/dlambda = p95/(mu - lambda) = 33 s per 1/s, so 4 SE of p95 (1.2 s) move the crossing by
    ~0.036/s: the search must land within 0.04 of the theory."""
    from botcap.sim.capacity import find_capacity

    sc = load_scenario(MMC, ["platform.handlers_per_instance=1", "platform.cpu_cores_per_instance=1",
                             "workload.arrivals.rate_per_s=0.5", "slo.p95_s={work: 10.0}",
                             f"horizon.warmup_s={WARMUP_S}"])
    found = find_capacity(sc, seed=1, replications=1, hours=8.0, rel_tol=0.01)
    theory = 1 - math.log(20) / 10
    assert abs(found["capacity"] - theory) < 0.04, found["evaluations"]
    assert found["capacity"] < found["failed_at"] <= found["capacity"] * 1.01 + 1e-12
    assert found["summary"]["slo"]["met"] is True


def test_replications_in_worker_processes_give_the_same_summary():
    sc = mmc_scenario(4, 3.2)
    sequential = dumps(summarize(run(sc, seed=3, replications=2, hours=0.4)))
    parallel = dumps(summarize(run(sc, seed=3, replications=2, hours=0.4, workers=2)))
    assert parallel == sequential  # each replication depends on its own seed only
