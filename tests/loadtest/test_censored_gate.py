"""The measured side keeps failures inside the latency story: ``p*_censored_s`` counts every failed
or unanswered request at +inf, and the gate judges an infinite value instead of calling it no data.

Bundles are synthetic (the same writer as test_gate.py) so that each value is known exactly.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from botcap.loadtest.harness.bundle import REQUESTS
from botcap.loadtest.harness.gate import evaluate, parse_gates
from botcap.loadtest.harness.percentiles import censored_quantiles, metrics
from hypothesis import given
from hypothesis import strategies as st
from test_gate import gates, make_bundle


def test_without_failures_the_censored_percentiles_are_the_plain_ones():
    a = np.linspace(0.01, 3.0, 97)
    got = censored_quantiles(a, 0)
    want = np.quantile(a, [0.5, 0.95, 0.99])
    assert [got["p50_censored_s"], got["p95_censored_s"], got["p99_censored_s"]] == pytest.approx(want)


@given(st.lists(st.floats(0.0, 1e4), min_size=0, max_size=60), st.integers(0, 60))
def test_censored_percentiles_never_fall_below_the_successes_and_reach_inf_with_enough_failures(lats, failed):
    a = np.asarray(lats, dtype=float)
    got = censored_quantiles(a, failed)
    n = a.size + failed
    if n == 0:
        assert all(math.isnan(v) for v in got.values())
        return
    for name, q in (("p50_censored_s", 0.5), ("p95_censored_s", 0.95), ("p99_censored_s", 0.99)):
        if a.size:
            assert got[name] >= np.quantile(a, q) - 1e-9     # failures only push a percentile up
        # the interpolation reaches a failure exactly when ceil((n-1)q) indexes past the successes
        assert math.isinf(got[name]) == (math.ceil((n - 1) * q) >= a.size)


def test_slow_work_that_times_out_cannot_pass_a_censored_gate(tmp_path: Path):
    # 90 fast commands answered, 10 slow ones timed out: the successes' p95 is fast, the truth is not
    run = make_bundle(tmp_path / "run", latencies={"command": [0.05] * 90}, failed=10)
    m = metrics(pd.read_parquet(run / REQUESTS), 10.0)
    assert m["p95_s{kind=command}"] == pytest.approx(0.05)
    assert math.isinf(m["p95_censored_s{kind=command}"])
    result = evaluate(parse_gates('thresholds: ["p95_s{kind=command} < 1", '
                                  '"p95_censored_s{kind=command} < 1"]'), run)
    by_metric = {r["metric"]: r for r in result["results"]}
    assert by_metric["p95_s{kind=command}"]["verdict"] == "pass"
    censored = by_metric["p95_censored_s{kind=command}"]
    assert censored["verdict"] == "fail" and censored["note"].startswith("inf")   # judged, not "no data"
    assert result["passed"] is False


def test_the_ci_gate_file_judges_latency_on_the_censored_family(tmp_path: Path):
    ci = Path(__file__).resolve().parents[2] / "loadtest" / "gates" / "ci.yaml"
    latency = [t for t in parse_gates(ci.read_text(), "ci.yaml") if t.metric.startswith("p")]
    assert latency and all(t.metric == "p95_censored_s" for t in latency)
    # and a bundle whose failures are few enough keeps the same p95 either way
    run = make_bundle(tmp_path / "r", latencies={"command": [i / 1000 for i in range(1, 201)]}, failed=1)
    g = gates(tmp_path, "p95_censored_s{kind=command} < 1")
    assert evaluate(parse_gates(g.read_text()), run)["passed"] is True
