"""A1's capacity rules and GROWTH's simulate-or-extrapolate rule move when a number crosses a threshold.

No simulation here: the rules are pure functions of the capacities and timings the sections measure.
"""

from __future__ import annotations

import math

import pytest
from botcap.sim.space import load_space

from botcap.report import rules
from botcap.report.capacity import MIN_SCALING, instances_needed, relaxed_limits, scaling_efficiency
from botcap.report.growth import scaled_space, simulate_next

LIMITS = {"command": 1.0, "chat_simple": 5.0, "chat_deep": 15.0}
EDGE = 1 - rules.HEADROOM  # 0.7


def test_a_kind_is_relaxed_only_when_its_lowest_p95_passes_the_headroom_line():
    below = relaxed_limits({"command": 0.1, "chat_simple": 0.99 * EDGE * 5.0, "chat_deep": 10.0}, LIMITS)
    assert below == LIMITS  # everything within 70% of its limit: the stated SLO is kept
    above = relaxed_limits({"command": 0.1, "chat_simple": 1.01 * EDGE * 5.0, "chat_deep": 23.6}, LIMITS)
    assert above["command"] == 1.0
    assert above["chat_simple"] == math.ceil(1.01 * EDGE * 5.0 / EDGE)  # 6 s: 3.535 s / 0.7 rounded up
    assert above["chat_deep"] == 34.0  # 23.6 / 0.7 = 33.7 -> 34: the same 30% headroom as elsewhere
    # no data for a kind (None, nan, inf) never moves its limit
    assert relaxed_limits({"chat_deep": None, "chat_simple": math.inf}, LIMITS) == LIMITS


def test_instances_needed_moves_with_the_headroom_on_capacity():
    caps = {2: 1000, 5: 2500, 8: 4000}
    # 5 instances carry 2,500 DAU; with 30% headroom they plan for 1,750
    assert instances_needed(caps, 1750) == (5, "simulated")
    assert instances_needed(caps, 1751) == (8, "simulated")


def test_extrapolation_needs_capacity_to_scale_with_instances():
    linear = {2: 1000, 8: 4000}  # efficiency 1.0
    assert scaling_efficiency(linear) == pytest.approx(1.0)
    n, how = instances_needed(linear, 10_000)
    assert how == "extrapolated" and n == math.ceil(10_000 / (EDGE * 500))  # 500 DAU per instance -> 29
    # move the capacity at 8 instances just below / above the 0.8-of-linear threshold
    just_below = {2: 1000, 8: int(4000 * MIN_SCALING) - 1}
    just_above = {2: 1000, 8: int(4000 * MIN_SCALING) + 1}
    assert instances_needed(just_below, 10_000)[0] is None
    assert "not by instances" in instances_needed(just_below, 10_000)[1]
    assert instances_needed(just_above, 10_000)[1] == "extrapolated"


def test_no_capacity_is_no_answer():
    assert instances_needed({2: None, 5: None}, 1000)[0] is None
    n, how = instances_needed({5: 1305}, 10_000)  # one count: no scaling measured, no guess
    assert n is None and "one count" in how
    assert scaling_efficiency({5: 1305}) is None


def test_a_level_is_simulated_only_when_its_estimate_fits_the_budget():
    assert simulate_next(None, 1000, 1000, 12, 240.0) == (True, None)  # the first level always
    # 2 s per replication at 10K: 100K with 12 replications is estimated at 240 s -> simulated
    assert simulate_next(2.0, 10_000, 100_000, 12, 240.0) == (True, pytest.approx(240.0))
    go, est = simulate_next(2.01, 10_000, 100_000, 12, 240.0)
    assert not go and est == pytest.approx(241.2)


def test_larger_levels_search_proportionally_larger_fleets():
    space = load_space(None)
    base = space.dimensions["platform.instances"]
    assert scaled_space(space, 1000).dimensions["platform.instances"] == base  # never below the space's
    big = scaled_space(space, 100_000).dimensions["platform.instances"]
    assert big == sorted(set(base) | {10 * n for n in base})  # small fleets stay searchable
    assert space.dimensions["platform.instances"] == base  # the space itself is untouched


def test_a_capacity_search_that_raises_is_a_row_without_a_number():
    from botcap.report.capacity import _binding, _outcome

    def boom():
        raise RuntimeError("capacity search did not converge in 60 runs")

    row = _outcome(boom)
    assert row["capacity"] is None and "RuntimeError" in _binding(row)
    assert instances_needed({5: row["capacity"]}, 1000)[0] is None
