import math

import numpy as np
import pytest
from botcap.sim.ratelimit import TokenBucket, per_minute, retry_after_s


def _greedy(bucket: TokenBucket, sizes, horizon_s: float) -> float:
    """Take each request as soon as it fits; return the tokens admitted within the horizon."""
    now, admitted = 0.0, 0.0
    for n in sizes:
        wait = bucket.wait_s(n, now)
        now += wait
        if now > horizon_s:
            break
        bucket.take(n, now)
        admitted += n
    return admitted


def test_long_run_throughput_is_limit_per_60_s():
    limit, horizon_s = 6_000, 3_600.0
    sizes = np.random.default_rng(3).exponential(40.0, 100_000).round() + 1
    admitted = _greedy(per_minute(limit), sizes, horizon_s)
    # Exact up to two things: the initial full bucket (<= limit tokens of burst) and the last request
    # (< one request, < 1000 tokens). So admitted is in [rate*T, rate*T + limit + 1000).
    expected = limit / 60 * horizon_s
    assert expected - 1_000 <= admitted <= expected + limit + 1_000
    # i.e. the long-run rate is limit/60 within 2%
    assert admitted / horizon_s == pytest.approx(limit / 60, rel=0.02)


def test_a_request_retried_after_retry_after_fits():
    b = per_minute(600)
    b.take(600, 0.0)                      # empty at t=0
    wait = b.wait_s(25, 0.0)              # 25 tokens at 10/s: 2.5 s
    assert wait == pytest.approx(2.5)
    assert retry_after_s(wait) == 3.0     # whole seconds, rounded up
    assert b.wait_s(25, 0.0 + retry_after_s(wait)) == 0.0


def test_retry_after_rounding():
    assert [retry_after_s(w) for w in (0.01, 1.0, 1.0001, 59.2)] == [1.0, 1.0, 2.0, 60.0]


def test_more_than_the_capacity_never_fits_and_give_back_is_capped():
    b = TokenBucket(10, 1)
    assert math.isinf(b.wait_s(11, 0.0))
    b.take(4, 0.0)
    b.give_back(100, 0.0)
    assert b.level == 10
    with pytest.raises(ValueError, match="capacity"):
        TokenBucket(0, 1)
