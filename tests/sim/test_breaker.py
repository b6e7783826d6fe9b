from botcap.sim.breaker import CLOSED, HALF_OPEN, OPEN, Breaker


def test_opens_after_threshold_fails_fast_then_half_open_trial_closes():
    opened = []
    b = Breaker(3, 60.0, opened.append)
    for t in (1.0, 2.0):
        assert b.allow(t)
        b.failure(t)
    assert b.state == CLOSED
    b.success(2.5)            # a success resets the consecutive count
    for t in (3.0, 4.0, 5.0):
        b.failure(t)
    assert b.state == OPEN and opened == [5.0]
    assert not b.allow(5.0) and not b.allow(64.9)   # fails fast during the cooldown
    assert b.allow(65.0) and b.state == HALF_OPEN   # the one trial
    assert not b.allow(65.1)                        # others still fail fast
    b.success(66.0)
    assert b.state == CLOSED and b.allow(66.0)


def test_a_failed_trial_opens_it_again():
    opened = []
    b = Breaker(1, 10.0, opened.append)
    b.failure(0.0)
    assert b.allow(10.0) and b.state == HALF_OPEN
    b.failure(12.0)
    assert b.state == OPEN and opened == [0.0, 12.0]
    assert not b.allow(21.9) and b.allow(22.0)
