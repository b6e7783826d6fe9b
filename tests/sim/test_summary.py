"""The summary object and the runner's bookkeeping, on synthetic rows whose answers are known exactly.

No SimPy here: the engine is replaced by hand-made tables (or a fake ``botcap.sim.engine`` module), so a
wrong percentile, a count pooled instead of summed or a warm-up row leaking in shows up exactly.
"""

from __future__ import annotations

import math
import sys
import types

import numpy as np
import pandas as pd
import pytest
from botcap.sim import metrics
from botcap.sim.record import FIELDS
from botcap.sim.runner import Replication, SimResult, check_options, replication_seeds, run
from botcap.sim.summary import CONTRACT_KEYS, summarize
from scipy import stats

from botcap.errors import BadInput
from botcap.scenario import load_scenario


def rows(kind, arrivals, latencies, *, ok=True, error="", is_digest=False, preferred=None, **cols):
    """A FIELDS-shaped frame: one row per arrival; extra columns as scalars or sequences."""
    n = len(arrivals)
    df = pd.DataFrame({f: [0.0] * n for f in FIELDS})
    df["id"] = range(n)
    df["kind"] = kind
    df["instance"] = 0
    df["chat_id"] = range(n)
    df["is_digest"] = is_digest
    df["arrival_s"] = np.asarray(arrivals, dtype=float)
    df["done_s"] = df["arrival_s"] + np.asarray(latencies, dtype=float)
    df["ok"] = ok
    df["error"] = error
    df["preferred_s"] = np.nan if preferred is None else np.asarray(preferred, dtype=float)
    df["planned_s"] = df["preferred_s"]
    for col, value in cols.items():
        df[col] = value
    return df


def counters(**over):
    base = {
        "claude": {"calls": 10, "http_429": 2, "http_529": 1, "retries": 3, "breaker_open_s": 5.0,
                   "tokens": {"sonnet": {"input": 100, "output": 50, "cache_read": 7, "cache_write": 3}}},
        "db": {"peak_server_connections": 12, "acquire_timeouts": 1, "too_many_connections": 0},
        "digests": {"scheduled": 4, "moved": 2, "moved_by_s_mean": 30.0, "duplicate_sends": 0,
                    "max_per_slot": 3},
        "telegram": {"http_429": 0},
        "resources": {"handlers": {"capacity": 10, "busy_s": 500.0, "queue_s": 20.0, "peak_in_use": 10,
                                   "peak_queue": 4}},
    }
    base.update(over)
    return base


def replication(index, df, *, simulated_s=1100.0, warmup_s=100.0, ctr=None):
    """A replication whose digest counter agrees with its rows (each first send was scheduled once):
    the summary refuses books that do not balance."""
    ctr = ctr or counters()
    firsts = df[df["is_digest"].astype(bool) & ~df["is_duplicate"].astype(bool)] if len(df) else df
    ctr["digests"]["scheduled"] = len(firsts)
    return Replication(index=index, seed=index, requests=df, simulated_s=simulated_s, warmup_s=warmup_s,
                       counters=ctr, timeseries=pd.DataFrame())


@pytest.fixture(scope="module")
def scenario():
    return load_scenario(None, ["slo.p95_s={command: 1.0, chat_deep: 15.0}", "slo.max_error_rate=0.1",
                                "slo.digest_max_lateness_s=300"])


def test_latency_percentiles_counts_and_rates_of_one_replication(scenario):
    lat = np.arange(1, 101) / 100.0  # 0.01 .. 1.00 s: p50 = 0.505, p95 = 0.9505 (linear interpolation)
    df = pd.concat([
        rows("command", np.linspace(100, 1000, 100), lat, wait_handler_s=0.5),
        rows("chat_deep", [200, 300], [5.0, 0.0], ok=False, error="claude_timeout"),
        rows("chat_deep", [400], [0.0], ok=False, error="unfinished"),  # still in flight at the end
        rows("digest", [600, 700], [400.0, 20.0], is_digest=True, preferred=[500, 690]),
    ], ignore_index=True)
    s = summarize(SimResult(scenario, 42, [replication(0, df)]))
    assert [k for k in s if k in CONTRACT_KEYS] == list(CONTRACT_KEYS)  # all there, in the contract's order
    assert "ci95" not in s and "calibrated_from" not in s and "calibration" not in s
    assert s["requests"] == {"arrived": 103, "completed": 100, "failed": 2, "timed_out": 2, "in_flight": 1,
                             "missed": 0, "failed_by_reason": {"claude_timeout": 2}}
    assert s["requests_by_kind"]["chat_deep"] == {"arrived": 3, "completed": 0, "failed": 2, "in_flight": 1,
                                                  "missed": 0, "failed_by_reason": {"claude_timeout": 2},
                                                  "error_rate": 1.0}
    # censored: failures are +inf, the one in flight is its age at the end (1100 - 400 s)
    assert s["latency_censored_by_kind_s"]["chat_deep"]["p50"] == math.inf
    assert s["latency_censored_by_kind_s"]["chat_deep"]["count"] == 3
    assert s["throughput_per_s"] == pytest.approx(100 / 1000.0)  # measured span = 1100 - 100 s
    assert s["latency_s"] == pytest.approx({"mean": 0.505, "p50": 0.505, "p95": 0.9505, "p99": 0.9901})
    assert s["latency_by_kind_s"]["command"]["count"] == 100
    assert s["latency_by_kind_s"]["chat_deep"]["count"] == 0  # failures have no latency
    assert "digest" not in s["latency_by_kind_s"]
    assert s["wait_s"]["handler"]["mean"] == pytest.approx(100 * 0.5 / 103)
    assert s["error_rate"] == pytest.approx(2 / 102)
    # digests: lateness = done - preferred = 600+400-500 = 500 and 700+20-690 = 30
    assert s["digests"]["sent"] == 2 and s["digests"]["scheduled"] == 2
    assert s["digests"]["lateness_s"]["max"] == pytest.approx(500.0)
    assert s["digests"]["lateness_s"]["p50"] == pytest.approx(265.0)
    assert s["utilization"]["handlers"] == pytest.approx(500.0 / (10 * 1000.0))
    assert s["resources"]["handlers"]["mean_queue_len"] == pytest.approx(20.0 / 1000.0)
    assert math.isnan(s["utilization"]["db_connections"])  # not modelled in these counters
    # SLO: chat_deep's censored p95 is inf and all its finished requests failed; the overall error
    # rate 0.0196 < 0.1; digest 500 s > 300 s
    assert s["slo"]["met"] is False
    assert [v["text"] for v in s["slo"]["violations"]] == [
        "latency_censored_by_kind_s.chat_deep.p95: inf s > 15 s (100.0% failed)",
        "requests_by_kind.chat_deep.error_rate: 1 > 0.1",
        "digests.lateness_censored_s.max_not_failed: 500 s > 300 s",
    ]
    assert s["slo"]["violations"][2] == {"what": "digests.lateness_censored_s.max_not_failed",
                                         "value": pytest.approx(500.0), "limit": 300.0,
                                         "text": "digests.lateness_censored_s.max_not_failed: 500 s > 300 s"}


def test_slot_lateness_is_measured_from_the_planned_slot_not_the_preferred_time(scenario):
    # preferred 600 s, moved by the slot policy to 900 s, sent at 950 s: 350 s from the user's first
    # choice, but only 50 s after the slot the user was moved to
    moved = rows("digest", [900, 1000], [50.0, 5.0], is_digest=True, preferred=[600, 1000])
    moved["planned_s"] = [900.0, 1000.0]
    d = summarize(SimResult(scenario, 1, [replication(0, moved)]))["digests"]
    assert d["lateness_s"]["max"] == pytest.approx(350.0)
    assert d["slot_lateness_s"]["max"] == pytest.approx(50.0)
    assert d["slot_lateness_s"]["p50"] == pytest.approx(27.5)


def test_a_duplicate_digest_send_is_not_counted_as_sent_twice(scenario):
    sends = rows("digest", [600, 600, 900], [30.0, 45.0, 10.0], is_digest=True, preferred=[600, 600, 900],
                 is_duplicate=[False, True, False])
    s = summarize(SimResult(scenario, 1, [replication(0, sends)]))
    assert s["digests"]["sent"] == 2
    assert s["digests"]["lateness_s"]["max"] == pytest.approx(30.0)  # the duplicate's 45 s is not a lateness


def test_slo_met_and_p95_violation_message(scenario):
    fast = summarize(SimResult(scenario, 1, [replication(0, rows("command", [200] * 20, [0.5] * 20))]))
    assert fast["slo"] == {"met": True, "violations": [], "not_judged": [
        "latency_censored_by_kind_s.chat_deep.p95: no chat_deep request arrived"]}
    slow = summarize(SimResult(scenario, 1, [replication(0, rows("command", [200] * 20, [2.0] * 20))]))
    assert [v["text"] for v in slow["slo"]["violations"]] == [
        "latency_censored_by_kind_s.command.p95: 2 s > 1 s"]


def test_counts_are_summed_peaks_maxed_and_rates_pooled_over_replications(scenario):
    a = replication(0, rows("command", [200] * 10, [0.1] * 10))
    b_ctr = counters(db={"peak_server_connections": 30, "acquire_timeouts": 4, "too_many_connections": 2},
                     resources={"handlers": {"capacity": 10, "busy_s": 1500.0, "queue_s": 0.0,
                                             "peak_in_use": 7, "peak_queue": 0}})
    b = replication(1, rows("command", [200] * 30, [0.3] * 30), ctr=b_ctr)
    s = summarize(SimResult(scenario, 9, [a, b]))
    assert s["replications"] == 2 and s["measured_s"] == pytest.approx(2000.0)
    assert s["requests"]["completed"] == 40
    assert s["throughput_per_s"] == pytest.approx(40 / 2000.0)
    # pooled rows, not the mean of the replications' means
    assert s["latency_s"]["mean"] == pytest.approx((10 * 0.1 + 30 * 0.3) / 40)
    assert s["claude"]["calls"] == 20 and s["claude"]["breaker_open_s"] == pytest.approx(10.0)
    assert s["claude"]["tokens"]["sonnet"] == {"input": 200, "output": 100,
                                               "cache_read": 14, "cache_write": 6}
    assert s["db"] == {"peak_server_connections": 30, "acquire_timeouts": 5, "too_many_connections": 2}
    assert s["digests"]["max_per_slot"] == 3 and s["digests"]["moved"] == 4
    assert s["utilization"]["handlers"] == pytest.approx((500.0 + 1500.0) / (10 * 2000.0))
    assert s["resources"]["handlers"]["peak_in_use"] == 10


def test_ci95_is_student_t_across_replications(scenario):
    p95s = [0.2, 0.3, 0.7]
    reps = [replication(i, rows("command", [200] * 50, [v] * 50)) for i, v in enumerate(p95s)]
    s = summarize(SimResult(scenario, 3, reps))
    half = stats.t.ppf(0.975, 2) * np.std(p95s, ddof=1) / math.sqrt(3)  # t(0.975, 2 df) = 4.303
    assert s["ci95"]["latency_s.p95"] == pytest.approx([np.mean(p95s) - half, np.mean(p95s) + half])
    assert s["ci95"]["throughput_per_s"] == pytest.approx([0.05, 0.05])  # 50 per 1000 s in each
    assert "latency_by_kind_s.command.p95" in s["ci95"]


def test_calibrated_from_names_the_runs():
    sc = load_scenario(None, ["calibration={runs: [runs/a, runs/b], created_utc: '2025-01-01T00:00:00Z'}"])
    s = summarize(SimResult(sc, 1, [replication(0, rows("command", [200], [0.1]))]))
    assert s["calibrated_from"] == ["runs/a", "runs/b"]
    assert s["calibration"]["runs"] == ["runs/a", "runs/b"]
    assert s["calibration"]["created_utc"] == "2025-01-01T00:00:00Z"
    assert s["calibration"]["max_holdout_error"] is None and s["calibration"]["claude_time_scale"] == 1.0


def test_empty_run_gives_nan_not_a_crash(scenario):
    s = summarize(SimResult(scenario, 1, [replication(0, pd.DataFrame(columns=list(FIELDS)))]))
    assert s["requests"]["arrived"] == 0 and math.isnan(s["latency_s"]["p95"])
    # no data is never a pass
    assert s["slo"]["met"] is False and s["throughput_per_s"] == 0.0
    assert s["slo"]["violations"][0]["what"] == "requests.arrived"


# ---------------------------------------------------------------------------------------------
# runner: seeds, warm-up cut, options
def test_replication_seeds_are_independent_of_the_count_and_distinct():
    assert replication_seeds(42, 5)[:3] == replication_seeds(42, 3)
    assert len(set(replication_seeds(42, 100))) == 100
    assert replication_seeds(42, 3) != replication_seeds(43, 3)
    assert all(0 <= s < 2**63 for s in replication_seeds(7, 10))


@pytest.fixture
def fake_engine(monkeypatch):
    """A ``botcap.sim.engine`` whose rows are 0..99 s arrivals, seeded, so the runner can be checked alone."""
    calls = []

    def simulate(scenario, seed, *, hours=None, progress=None):
        calls.append((seed, hours))
        for f in (0.25, 0.5, 1.0):  # the engine reports the simulated clock in seconds
            if progress:
                progress(f * (hours or 1) * 3600.0)
        df = rows("command", np.arange(100.0), np.full(100, seed % 7 + 1.0))
        return types.SimpleNamespace(requests=df, simulated_s=(hours or 1) * 3600.0, warmup_s=50.0,
                                     counters=counters(), timeseries=pd.DataFrame())

    monkeypatch.setitem(sys.modules, "botcap.sim.engine", types.SimpleNamespace(simulate=simulate))
    return calls


def test_run_cuts_warmup_and_uses_derived_seeds_in_order(scenario, fake_engine):
    seen = []
    result = run(scenario, seed=5, replications=3, hours=2.0, progress=lambda f, label: seen.append(f))
    assert [c[0] for c in fake_engine] == replication_seeds(5, 3)
    assert all(c[1] == 2.0 for c in fake_engine)
    assert [r.index for r in result.replications] == [0, 1, 2]
    assert all(r.requests["arrival_s"].min() == 50.0 and len(r.requests) == 50 for r in result.replications)
    assert len(result.requests) == 150 and set(result.requests["replication"]) == {0, 1, 2}
    assert seen == sorted(seen) and seen[-1] == 1.0  # progress never goes back
    assert seen[2] == pytest.approx(0.5 / 3)  # half of the first of 3 replications: a share of the whole


def test_run_defaults_to_the_scenarios_seed_and_replications(scenario, fake_engine):
    result = run(scenario)
    assert result.seed == scenario.seed
    assert len(result.replications) == scenario.horizon.replications


@pytest.mark.parametrize(("options", "line"), [
    ({"replications": 0}, "--replications: must be in 1..1000 (got 0)"),
    ({"hours": -1.0}, "--hours: must be > 0 and <= 744 (got -1)"),
    ({"hours": 0.1}, "--hours: must be longer than horizon.warmup_s = 600 s (got 0.1 h)"),
    ({"seed": -3}, f"--seed: must be in 0..{2**63 - 1} (got -3)"),
])
def test_bad_run_options_raise_one_line_each(scenario, options, line):
    with pytest.raises(BadInput) as e:
        check_options(scenario, **options)
    assert e.value.lines == [line]


def test_erlang_c_matches_known_values():
    assert metrics.erlang_c(1, 0.7) == pytest.approx(0.7)  # M/M/1: P(wait) = rho
    # textbook value: c = 2, a = 1 (rho 0.5) -> C = 1/3
    assert metrics.erlang_c(2, 1.0) == pytest.approx(1 / 3)
    assert metrics.mmc_wait_s(0.9, 1.0, 1) == pytest.approx(9.0)  # rho/(mu - lambda)
    with pytest.raises(ValueError):
        metrics.erlang_c(2, 2.0)


def test_batch_means_standard_error_of_independent_values():
    x = np.random.default_rng(3).normal(10.0, 2.0, 40_000)
    mean, se = metrics.batch_means(x, batches=20)
    # for independent values the batch-means SE estimates 2/sqrt(40000) = 0.01; with 19 df its own
    # relative spread is ~16%, so [0.5x, 1.5x] cannot fail for a fixed seed yet catches a wrong formula
    assert 0.005 < se < 0.015
    assert abs(mean - 10.0) < 4 * 0.01
