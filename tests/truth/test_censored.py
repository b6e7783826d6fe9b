"""Censored percentiles: failures as +inf can only push a percentile up, never hide in it."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from botcap.sim import metrics
from hypothesis import given, settings
from hypothesis import strategies as st

latencies = st.lists(st.floats(min_value=0.001, max_value=1e4), min_size=1, max_size=60)


@settings(max_examples=200, deadline=None)
@given(latencies, st.integers(min_value=0, max_value=60), st.sampled_from([50, 90, 95, 99]))
def test_adding_failures_never_lowers_a_percentile(ok, n_failed, q):
    censored = np.concatenate([ok, np.full(n_failed, math.inf)])
    assert metrics.percentile(censored, q) >= metrics.percentile(ok, q)
    # once failures reach the percentile's rank it is infinite, and never NaN
    value = metrics.percentile(censored, q)
    assert not math.isnan(value)
    if n_failed / len(censored) > 1 - q / 100:
        assert value == math.inf


def _rows(ok, done, error, arrival=0.0):
    n = len(ok)
    return pd.DataFrame({"ok": ok, "arrival_s": [arrival] * n, "done_s": done, "error": error})


def test_censored_latency_of_each_outcome():
    rows = _rows([True, False, False, False], [12.0, 13.0, math.nan, math.nan],
                 ["", "claude_timeout", "unfinished", ""], arrival=10.0)
    out = metrics.censored_latency_s(rows, end_s=100.0)
    # replied after 2 s; failed (a graceful reply at 3 s is still a failure); in flight: 90 s old at the end
    assert out.tolist() == [2.0, math.inf, 90.0, 90.0]


def test_failed_by_reason_is_disjoint_and_leaves_in_flight_out():
    rows = _rows([True, False, False, False, False], [1.0] * 5,
                 ["", "claude_timeout", "claude_timeout", "db_acquire_timeout", "unfinished"])
    assert metrics.failed_by_reason(rows) == {"claude_timeout": 2, "db_acquire_timeout": 1}
    assert int(metrics.failed(rows).sum()) == 3 and int(metrics.in_flight(rows).sum()) == 1
