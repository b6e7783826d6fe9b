"""sim/resources.py, the hot path every queue of the model goes through, checked on its own.

Time integrals by hand, Little's law as a sample-path identity per resource class (area under the
queue = the sum of the waits; area under in-use = the sum of the holding times), the cancel paths
(acquire timeouts, a timeout after the grant, waiters skipped by release) and the after-the-fact
shortcuts (``acquire_since``, ``held_between``, ``release_at``, ``hold_until``) against the plain calls.
"""

from __future__ import annotations

import numpy as np
import pytest
import simpy
from botcap.sim.resources import DelayedGauge, DelayedSemaphore, Gauge, Semaphore, timeout_at
from hypothesis import given
from hypothesis import strategies as st


def _at(env, t):
    env.run(until=t) if t > env.now else None


# ------------------------------------------------------------------------------------- integrals
def test_a_gauges_areas_and_peak_by_hand():
    env = simpy.Environment()
    g = Gauge(env, "g", 10)
    g.add(2)
    _at(env, 3)
    g.add(1)
    g.add_queue(2)
    _at(env, 5)
    g.add(-2)
    g.add_queue(-2)
    _at(env, 10)
    # in use: 2 for 3 s, 3 for 2 s, 1 for 5 s; queue: 2 for 2 s
    assert g.areas() == (pytest.approx(2 * 3 + 3 * 2 + 1 * 5), pytest.approx(4.0))
    assert (g.peak_in_use, g.peak_queue, g.in_use, g.queue_len) == (3, 2, 1, 0)


def test_a_delayed_gauge_splits_its_area_at_each_due_time():
    env = simpy.Environment()
    g = DelayedGauge(env, "sends", 30)
    g.hold_until(2.0)
    _at(env, 1)
    g.hold_until(4.0)
    _at(env, 10)
    assert g.areas()[0] == pytest.approx(2.0 + 3.0)      # [0, 2) and [1, 4)
    assert g.in_use == 0 and g.peak_in_use == 2


def test_a_semaphore_by_hand_with_a_queue_and_a_timeout():
    env = simpy.Environment()
    sem = Semaphore(env, "pool", 1)
    got: dict[str, tuple[float, bool]] = {}

    def user(name, start, hold, timeout_s=None):
        yield env.timeout(start)
        ev = sem.acquire(timeout_s)
        ok = True if ev is None else (yield ev)
        got[name] = (env.now, ok)
        if ok:
            yield env.timeout(hold)
            sem.release()

    env.process(user("a", 0, 4))
    env.process(user("b", 1, 2))
    env.process(user("c", 2, 1, timeout_s=1.0))
    env.run(until=10)
    assert got == {"a": (0, True), "b": (4, True), "c": (3, False)}
    busy, queue = sem.areas()
    assert busy == pytest.approx(6.0)                    # one unit held 0 -> 6
    assert queue == pytest.approx(3.0 + 1.0)             # b waited 1 -> 4, c waited 2 -> 3
    assert (sem.in_use, sem.queue_len, sem.peak_queue) == (0, 0, 2)


def test_capacity_below_one_is_refused_with_the_resources_name():
    with pytest.raises(ValueError, match='"capacity" of db_pool must be >= 1'):
        Semaphore(simpy.Environment(), "db_pool", 0)


# ------------------------------------------------------------------------------- Little's law
def _mmc(sem_cls, seed, lam=2.5, mean_service=1.0, stop=400.0, timeout_s=None):
    """Poisson arrivals until ``stop``, exponential holding; run until empty. Returns the books."""
    env = simpy.Environment()
    sem = sem_cls(env, "res", 3)
    rng = np.random.default_rng(seed)
    waits, holds, gave_up = [], [], []

    def customer():
        t0 = env.now
        ev = sem.acquire(timeout_s)
        ok = True if ev is None else (yield ev)
        if not ok:
            gave_up.append(env.now - t0)
            return
        waits.append(env.now - t0)
        hold = rng.exponential(mean_service)
        holds.append(hold)
        yield env.timeout(hold)
        sem.release()

    def source():
        while True:
            yield env.timeout(rng.exponential(1 / lam))
            if env.now > stop:
                return
            env.process(customer())

    env.process(source())
    env.run()
    busy, queue = sem.areas()
    return env.now, busy, queue, waits, holds, gave_up, sem


@pytest.mark.parametrize("sem_cls", [Semaphore, DelayedSemaphore])
def test_littles_law_holds_exactly_on_every_sample_path(sem_cls):
    end, busy, queue, waits, holds, gave_up, sem = _mmc(sem_cls, seed=3)
    assert len(waits) > 800 and not gave_up
    # L = lambda W as areas: the area under the queue is the sum of the waits, the area under in-use
    # the sum of the holding times (everyone who came has left by the end)
    assert queue == pytest.approx(sum(waits), rel=1e-9)
    assert busy == pytest.approx(sum(holds), rel=1e-9)
    assert (sem.in_use, sem.queue_len) == (0, 0)
    # and the time average agrees with theory: utilisation rho = lambda / (c mu) = 2.5 / 3
    assert busy / (3 * end) == pytest.approx(2.5 / 3, abs=0.06)


def test_littles_law_counts_the_waiters_who_gave_up():
    end, busy, queue, waits, holds, gave_up, sem = _mmc(Semaphore, seed=5, lam=3.5, timeout_s=0.5)
    assert gave_up and all(w == pytest.approx(0.5) for w in gave_up)   # reneged exactly at the timeout
    assert queue == pytest.approx(sum(waits) + sum(gave_up), rel=1e-9)
    assert busy == pytest.approx(sum(holds), rel=1e-9)
    assert (sem.in_use, sem.queue_len) == (0, 0)


# ----------------------------------------------------------------------------------- cancel paths
def test_release_skips_a_waiter_whose_timeout_fired_and_a_late_timeout_does_nothing():
    env = simpy.Environment()
    sem = Semaphore(env, "pool", 1)
    assert sem.acquire() is None                        # held 0 -> 5
    gone = sem.acquire(timeout_s=2.0)                   # gives up at 2
    _at(env, 1)
    stays = sem.acquire()                               # queued behind it, no timeout
    late = sem.acquire(timeout_s=20.0)                  # granted before its timeout fires
    _at(env, 5)
    sem.release()                                       # passes the unit over `gone` to `stays`
    assert gone.value is False and stays.triggered and stays.value is True and not late.triggered
    _at(env, 6)
    sem.release()
    assert late.triggered and late.value is True
    _at(env, 7)
    sem.release()
    _at(env, 30)                                        # late's timeout fires after its grant: no-op
    assert (sem.in_use, sem.queue_len) == (0, 0)
    busy, queue = sem.areas()
    assert busy == pytest.approx(7.0)                   # 0 -> 7: three holders back to back
    assert queue == pytest.approx(2.0 + 4.0 + 5.0)      # gone 0 -> 2, stays 1 -> 5, late 1 -> 6


def test_then_runs_a_queued_job_in_fifo_order_with_the_events():
    env = simpy.Environment()
    sem = Semaphore(env, "scheduler", 1)
    order = []
    sem.then(order.append, "first")                     # free: runs now, holding the unit
    ev = sem.acquire()
    sem.then(order.append, "job")
    assert order == ["first"] and sem.queue_len == 2
    _at(env, 2)
    sem.release()
    assert ev.triggered and order == ["first"]
    sem.release()                                       # the event's holder gives it to the job
    assert order == ["first", "job"] and sem.queue_len == 0 and sem.in_use == 1


# ---------------------------------------------------------------------- after-the-fact shortcuts
def test_a_delayed_release_hands_the_unit_to_a_waiter_exactly_at_its_time():
    env = simpy.Environment()
    sem = DelayedSemaphore(env, "webhook", 1)
    assert sem.acquire() is None
    sem.release_at(4.0)
    _at(env, 1)
    ev = sem.acquire()
    granted = []
    ev.callbacks.append(lambda _e: granted.append(env.now))
    env.run(until=10)
    assert granted == [4.0]
    assert sem.areas() == (pytest.approx(10.0), pytest.approx(3.0))


def test_a_delayed_release_nobody_waits_for_is_applied_when_the_semaphore_is_read():
    env = simpy.Environment()
    sem = DelayedSemaphore(env, "webhook", 2)
    sem.acquire()
    sem.release_at(3.0)
    _at(env, 8)
    assert sem.areas()[0] == pytest.approx(3.0) and sem.in_use == 0


@given(st.lists(st.tuples(st.floats(0, 50), st.floats(0, 10)), min_size=1, max_size=25))
def test_held_between_is_acquire_then_release_at_those_times(spans):
    # non-overlapping holds so that "a unit was free and nobody queued" is true, as the callers ensure
    plain_env, fast_env = simpy.Environment(), simpy.Environment()
    plain, fast = Semaphore(plain_env, "a", 1), Semaphore(fast_env, "b", 1)
    t = 0.0
    for gap, hold in spans:
        t0, t1 = t + gap, t + gap + hold
        _at(plain_env, t0)
        assert plain.acquire() is None
        _at(plain_env, t1)
        plain.release()
        _at(fast_env, t1)
        fast.held_between(t0, t1)
        t = t1
    _at(plain_env, t + 1)
    _at(fast_env, t + 1)
    assert fast.areas() == pytest.approx(plain.areas(), rel=1e-12, abs=1e-12)
    assert (fast.in_use, fast.peak_in_use) == (plain.in_use, plain.peak_in_use)


def test_acquire_since_counts_the_unit_from_the_past_time_and_settles_earlier_releases_first():
    env = simpy.Environment()
    sem = DelayedSemaphore(env, "webhook", 1)
    sem.acquire()
    sem.release_at(2.0)
    _at(env, 5)
    sem.acquire_since(3.0)                              # the unit given back at 2 is taken at 3
    _at(env, 6)
    sem.release()
    assert sem.areas()[0] == pytest.approx(2.0 + 3.0) and sem.in_use == 0 and sem.peak_in_use == 1


@given(st.floats(0, 1e6, allow_nan=False), st.floats(0, 1e3, allow_nan=False))
def test_timeout_at_fires_at_exactly_the_time_asked(now, ahead):
    env = simpy.Environment(initial_time=now)
    t = now + ahead
    fired = []
    timeout_at(env, t).callbacks.append(lambda _e: fired.append(env.now))
    env.run()
    assert fired == [t]
