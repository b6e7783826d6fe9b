"""Open-workload schedules: exact counts per level, ramp shape, Poisson-like gaps, kind mix."""

from __future__ import annotations

import numpy as np
import pytest
from botcap.loadtest.users.arrivals import KindPicker, arrivals, format_schedule, parse_schedule, scaled


def test_constant_level_has_exactly_rate_times_duration_arrivals_in_order():
    times = [t for t, _ in arrivals(parse_schedule("12.5@40"), np.random.default_rng(1))]
    assert len(times) == 500 and times == sorted(times) and 0 <= times[0] and times[-1] < 40
    gaps = np.diff(times)
    assert gaps.std() / gaps.mean() == pytest.approx(1.0, abs=0.15)  # exponential gaps: cv ≈ 1


def test_ramp_puts_three_times_more_arrivals_in_the_second_half():
    # rate 0 -> 20 over 100 s: ∫ = 1000; first half 250, second 750 (seeded: deterministic)
    events = list(arrivals(parse_schedule("0-20@100"), np.random.default_rng(2)))
    first = sum(1 for t, _ in events if t < 50)
    assert len(events) == 1000 and 200 < first < 300


def test_levels_follow_one_another():
    events = list(arrivals(parse_schedule("1@10,3@10"), np.random.default_rng(3)))
    assert [lvl for _, lvl in events] == [0] * 10 + [1] * 30
    assert all(10 <= t < 20 for t, lvl in events if lvl == 1)


def test_schedule_round_trip_and_split():
    segs = parse_schedule(" 2@20 , 2-10@30 ")
    assert format_schedule(segs) == "2@20,2-10@30"
    assert format_schedule(scaled(segs, 0.5)) == "1@20,1-5@30"


@pytest.mark.parametrize("bad", ["", "10", "x@10", "5@0", "5-@10"])
def test_bad_schedule_names_the_segment(bad):
    with pytest.raises(ValueError, match="RATE@SECONDS"if bad != "5@0" else "duration"):
        parse_schedule(bad)


def test_kind_picker_follows_the_mix():
    pick = KindPicker({"command": 0.45, "note": 0.15, "chat_simple": 0.25, "chat_deep": 0.15, "x": 0},
                      np.random.default_rng(4))
    kinds = [pick() for _ in range(20000)]
    assert "x" not in kinds
    assert kinds.count("command") / 20000 == pytest.approx(0.45, abs=0.02)
