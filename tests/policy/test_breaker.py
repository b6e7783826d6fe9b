"""The one circuit breaker: consecutive failures open it, cool-down, half-open probes, calls vs attempts."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from botcap.policy import CLOSED, HALF_OPEN, OPEN, Breaker, ClientPolicy, RetryPolicy


def test_opens_after_threshold_fails_fast_then_a_half_open_trial_closes_it():
    opened = []
    b = Breaker(3, 60.0, on_open=opened.append)
    for t in (1.0, 2.0):
        assert b.allow(t)
        b.record(t, False)
    assert b.state == CLOSED
    b.record(2.5, True)  # a success resets the consecutive count
    for t in (3.0, 4.0, 5.0):
        b.record(t, False)
    assert b.state == OPEN and opened == [5.0] and b.opened_count == 1
    assert not b.allow(5.0) and not b.allow(64.9)  # fails fast during the cool-down
    assert b.state_at(64.9) == OPEN and b.state_at(65.0) == HALF_OPEN
    assert b.allow(65.0) and b.state == HALF_OPEN  # the one trial
    assert not b.allow(65.1)  # others still fail fast
    b.record(66.0, True)
    assert b.state == CLOSED and b.allow(66.0)


def test_a_failed_trial_opens_it_again_for_a_whole_cool_down():
    opened = []
    b = Breaker(1, 10.0, on_open=opened.append)
    b.record(0.0, False)
    assert b.allow(10.0) and b.state == HALF_OPEN
    b.record(12.0, False)
    assert b.state == OPEN and opened == [0.0, 12.0]
    assert not b.allow(21.9) and b.allow(22.0)


def test_a_late_failure_while_open_does_not_push_the_reopening_further():
    b = Breaker(1, 10.0)
    b.record(0.0, False)
    b.record(5.0, False)  # a call admitted before it opened, failing late
    assert b.opened_at == 0.0 and b.allow(10.0)


def test_an_abandoned_trial_frees_its_place():
    b = Breaker(1, 1.0)
    b.record(0.0, False)
    assert b.allow(1.0) and not b.allow(1.0)
    b.abandon()
    assert b.allow(1.0)


def test_several_probes_must_all_succeed():
    b = Breaker(1, 1.0, half_open_probes=2)
    b.record(0.0, False)
    assert b.allow(1.0) and b.allow(1.0) and not b.allow(1.0)
    b.record(1.5, True)
    assert b.state == HALF_OPEN and not b.allow(1.5)
    b.record(1.6, True)
    assert b.state == CLOSED


def _fail_once(policy: ClientPolicy, now: float) -> str:
    """One call whose every attempt gets 529; the outcome ('breaker_open' or 'failed') and attempts."""
    attempt = 1
    while True:
        if not policy.before(now, attempt):
            return f"breaker_open@{attempt}"
        if policy.after(now, attempt, 529, None) is None:
            return f"failed@{attempt}"
        attempt += 1


def test_counting_calls_one_failed_call_with_its_retries_is_one_failure():
    b = Breaker(3, 60.0, counts="calls")
    p = ClientPolicy(RetryPolicy(max_retries=2, jitter=0.0), b, rng=None)
    assert [_fail_once(p, 0.0) for _ in range(4)] == ["failed@3"] * 3 + ["breaker_open@1"]


def test_counting_attempts_the_breaker_can_stop_a_call_between_its_attempts():
    b = Breaker(3, 60.0, counts="attempts")
    p = ClientPolicy(RetryPolicy(max_retries=5, jitter=0.0), b, rng=None)
    assert _fail_once(p, 0.0) == "breaker_open@4"


@pytest.mark.parametrize("kwargs,field", [({"failure_threshold": 0}, "failure_threshold"),
                                          ({"cool_down_s": -1}, "cool_down_s"),
                                          ({"half_open_probes": 0}, "half_open_probes"),
                                          ({"counts": "requests"}, "counts")])
def test_bad_settings_name_the_field(kwargs, field):
    args = {"failure_threshold": 3, "cool_down_s": 1.0, **kwargs}
    with pytest.raises(ValueError, match=f'"{field}"'):
        Breaker(args.pop("failure_threshold"), args.pop("cool_down_s"), **args)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 3), st.booleans(), st.booleans()), max_size=80))
def test_never_admits_while_open_and_never_more_probes_than_allowed(events):
    b, t, out = Breaker(2, 5.0, half_open_probes=1), 0.0, 0
    for dt, ask, ok in events:
        t += dt
        if ask:
            state = b.state_at(t)
            allowed = b.allow(t)
            if state == OPEN:
                assert not allowed
            if allowed and b.state == HALF_OPEN:
                out += 1
                assert out <= 1
        else:
            was = b.state
            b.record(t, ok)
            if was == HALF_OPEN:
                out = 0 if b.state != HALF_OPEN else max(0, out - 1)
        assert b.state in (CLOSED, OPEN, HALF_OPEN)
