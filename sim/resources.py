"""A counting semaphore for SimPy that measures itself: time-integrals of units in use and of queue length.

Why not ``simpy.Resource``: every request there is an event even when a unit is free, and it keeps no
time-weighted statistics. This one grants a free unit without any event (``acquire`` returns None),
queues FIFO otherwise, supports an acquire timeout (asyncpg's ``acquire(timeout=…)``), and keeps the
areas under ``in_use`` and ``queue_len`` so that utilisation and Little's law can be checked per
resource. ``Gauge`` is the same bookkeeping for a count that never queues (open DB connections).

The model's hot path (here and in the components) reads the clock as ``env._now``, the attribute behind
SimPy's ``Environment.now`` property, as SimPy's own code does: the property is a Python call, and the
model read it ~25 times per simulated request (~4% of a default day's CPU time).
"""

from __future__ import annotations

import math
from collections import deque

import simpy

__all__ = ["Gauge", "DelayedGauge", "Semaphore", "DelayedSemaphore", "Start", "timeout_at"]


def timeout_at(env: simpy.Environment, t: float) -> simpy.Timeout:
    """A timeout at exactly ``t`` (>= now): ``now + (t - now)`` can round one ulp away from ``t``, and a
    wait folded from several (``a + b`` then ``+ c``) must end where the separate waits would have."""
    now = env._now
    delay = t - now
    while now + delay < t:
        delay = math.nextafter(delay, math.inf)
    while now + delay > t:
        delay = math.nextafter(delay, -math.inf)
    return env.timeout(delay)


class Gauge:
    """A level that moves up and down over time, with its time-integral and peak."""

    __slots__ = ("env", "name", "capacity", "in_use", "queue_len", "busy_area", "queue_area",
                 "_last_t", "peak_in_use", "peak_queue")

    def __init__(self, env: simpy.Environment, name: str, capacity: int):
        self.env, self.name, self.capacity = env, name, capacity
        self.in_use = self.queue_len = 0
        self.busy_area = self.queue_area = 0.0
        self._last_t = env._now
        self.peak_in_use = self.peak_queue = 0

    def _advance(self) -> None:
        self._advance_to(self.env._now)

    def _advance_to(self, t: float) -> None:
        """The time-integrals of ``in_use`` and ``queue_len`` carried up to ``t`` (nothing if ``t`` is not
        later than the last update). The hot paths below inline this; the rest call it."""
        dt = t - self._last_t
        if dt > 0.0:
            self.busy_area += self.in_use * dt
            self.queue_area += self.queue_len * dt
            self._last_t = t

    def add(self, n: int = 1) -> None:
        now = self.env._now  # _advance() inlined: twice per Telegram send
        dt = now - self._last_t
        if dt > 0.0:
            self.busy_area += self.in_use * dt
            self.queue_area += self.queue_len * dt
            self._last_t = now
        self.in_use += n
        if self.in_use > self.peak_in_use:
            self.peak_in_use = self.in_use

    def add_queue(self, n: int = 1) -> None:
        self._advance()
        self.queue_len += n
        if self.queue_len > self.peak_queue:
            self.peak_queue = self.queue_len

    def areas(self) -> tuple[float, float]:
        """(busy area, queue area) up to now."""
        self.settle()
        self._advance()
        return self.busy_area, self.queue_area

    def settle(self) -> None:
        """Apply the changes due by now that are kept lazily (none here: see ``DelayedSemaphore``); call
        before reading ``in_use``/``queue_len`` from outside."""


class DelayedGauge(Gauge):
    """A ``Gauge`` that can also hold one unit until a later time, ``hold_until(t)``, without an event.

    A Telegram reply is on the wire for one round trip; for the last reply of a request nothing else
    waits for it, so its end is kept as a due time (they never decrease: one RTT after sends made in time
    order) and applied, the time-integrals split there, when the gauge is next moved or read.
    """

    __slots__ = ("_due",)

    def __init__(self, env: simpy.Environment, name: str, capacity: int):
        super().__init__(env, name, capacity)
        self._due: deque[float] = deque()

    def hold_until(self, t: float) -> None:
        """One unit more in use from now until ``t`` (>= now and >= every earlier ``hold_until``)."""
        due, now = self._due, self.env._now
        if due and due[0] <= now:
            self.settle()
        dt = now - self._last_t  # Gauge.add(self, 1) inlined: once per request
        if dt > 0.0:
            self.busy_area += self.in_use * dt
            self.queue_area += self.queue_len * dt
            self._last_t = now
        self.in_use += 1
        if self.in_use > self.peak_in_use:
            self.peak_in_use = self.in_use
        due.append(t)

    def add(self, n: int = 1) -> None:
        due = self._due
        if due and due[0] <= self.env._now:
            self.settle()
        Gauge.add(self, n)

    def add_queue(self, n: int = 1) -> None:
        self.settle()
        super().add_queue(n)

    def settle(self) -> None:
        due, now = self._due, self.env._now
        while due and due[0] <= now:
            t = due.popleft()
            dt = t - self._last_t
            if dt > 0.0:
                self.busy_area += self.in_use * dt
                self.queue_area += self.queue_len * dt
                self._last_t = t
            self.in_use -= 1


class Start:
    """A waiter of ``Semaphore.then``: a function call instead of an event, run holding the unit when
    ``release()`` passes it on. Queuing one costs a small object, not a SimPy process waiting on an event
    (the 10:00 digest burst at 100K DAU queues 150,000 jobs)."""

    __slots__ = ("fn", "args")
    triggered = False  # never times out: release() always hands it the unit

    def __init__(self, fn, args: tuple):
        self.fn, self.args = fn, args

    def succeed(self, _value=None) -> None:
        self.fn(*self.args)


class Semaphore(Gauge):
    """``capacity`` units; FIFO waiters; optional timeout per waiter.

    Use::

        ev = sem.acquire()            # None: granted at once
        if ev is not None:
            granted = yield ev        # True, or False when timeout_s ran out first
        ...
        sem.release()
    """

    __slots__ = ("_waiters", "_starting")

    def __init__(self, env: simpy.Environment, name: str, capacity: int):
        if capacity < 1:
            raise ValueError(f'"capacity" of {name} must be >= 1 (got {capacity})')
        super().__init__(env, name, capacity)
        self._waiters: deque[simpy.Event | Start] = deque()
        self._starting: deque[Start] | None = None  # Start calls due while one runs (see _hand_to)

    def acquire(self, timeout_s: float | None = None) -> simpy.Event | None:
        # _advance() inlined in acquire/release: they run several times per simulated request
        now = self.env._now
        dt = now - self._last_t
        if dt > 0.0:
            self.busy_area += self.in_use * dt
            self.queue_area += self.queue_len * dt
            self._last_t = now
        if self.in_use < self.capacity and not self.queue_len:
            self.in_use += 1
            if self.in_use > self.peak_in_use:
                self.peak_in_use = self.in_use
            return None
        ev = simpy.Event(self.env)
        self._waiters.append(ev)
        self.queue_len += 1
        if self.queue_len > self.peak_queue:
            self.peak_queue = self.queue_len
        if timeout_s is not None:
            self.env.timeout(timeout_s).callbacks.append(lambda _t, ev=ev: self._expire(ev))
        return ev

    def acquire_since(self, t: float) -> None:
        """Grant a unit from ``t`` (<= now) on, after the fact: what ``acquire()`` at ``t`` would have done,
        for a caller that knows a unit was free at ``t`` with nobody queued, and that nothing has moved
        this semaphore since (see ``Node``'s early deliveries)."""
        self._advance_to(t)
        self.in_use += 1
        if self.in_use > self.peak_in_use:
            self.peak_in_use = self.in_use

    def held_between(self, t0: float, t1: float) -> None:
        """A unit held from ``t0`` to ``t1`` (<= now), after the fact: ``acquire()`` at ``t0`` and
        ``release()`` at ``t1`` as they would have been, for a caller that knows a unit was free at ``t0``,
        that nobody queued meanwhile and that nothing else has moved this semaphore since ``t0``."""
        self.acquire_since(t0)
        self._advance_to(t1)
        self.in_use -= 1

    def then(self, fn, *args) -> None:
        """Call ``fn(*args)`` holding a unit: now if one is free, else when ``release()`` passes one to it
        (FIFO with the other waiters, counted in the queue as they are). Once per digest job, not per
        request: the plain ``_advance()`` call, not the inlined copy of acquire/release."""
        self._advance()
        if self.in_use < self.capacity and not self.queue_len:
            self.in_use += 1
            if self.in_use > self.peak_in_use:
                self.peak_in_use = self.in_use
            fn(*args)
            return
        self._waiters.append(Start(fn, args))
        self.queue_len += 1
        if self.queue_len > self.peak_queue:
            self.peak_queue = self.queue_len

    def _expire(self, ev: simpy.Event) -> None:
        if not ev.triggered:
            self._advance()
            self.queue_len -= 1
            ev.succeed(False)  # left in the deque; release() skips triggered waiters

    def release(self) -> None:
        now = self.env._now
        dt = now - self._last_t
        if dt > 0.0:
            self.busy_area += self.in_use * dt
            self.queue_area += self.queue_len * dt
            self._last_t = now
        waiters = self._waiters
        if not waiters:
            self.in_use -= 1
            return
        while waiters:
            ev = waiters.popleft()
            if not ev.triggered:
                self.queue_len -= 1
                if ev.__class__ is Start:
                    self._hand_to(ev)
                else:
                    ev.succeed(True)  # the unit passes straight to the waiter: in_use unchanged
                return
        self.in_use -= 1

    def _hand_to(self, start: Start) -> None:
        """Run a ``then`` waiter holding the released unit. A waiter that gives its unit straight back
        (a digest job that finds its digest sent) releases again, which would call the next waiter from
        inside this one: thousands deep in a burst (RecursionError). So a call due while another runs
        waits in ``_starting`` and runs when that one returns: same calls, same FIFO order, flat stack."""
        if self._starting is not None:
            self._starting.append(start)
            return
        self._starting = pending = deque((start,))
        try:
            while pending:
                s = pending.popleft()
                s.fn(*s.args)
        finally:
            self._starting = None


class DelayedSemaphore(Semaphore):
    """A ``Semaphore`` whose units can be given back at a later time, ``release_at(t)``, without an event.

    The webhook gives its connection back half a round trip after delivery: one timeout per request
    only to decrement a counter. Those times never decrease, so they wait in a deque and are applied
    (with the time-integrals split at each one) when the semaphore is next used or read; a real timer
    is set only while someone queues, so that a waiter gets the unit exactly when it is given back.
    """

    __slots__ = ("_due", "_timer")

    def __init__(self, env: simpy.Environment, name: str, capacity: int):
        super().__init__(env, name, capacity)
        self._due: deque[float] = deque()
        self._timer = False

    def release_at(self, t: float) -> None:
        """Give a unit back at ``t`` (>= now and >= every earlier ``release_at``)."""
        self._due.append(t)
        if self.queue_len and not self._timer:
            self._set_timer()

    def acquire(self, timeout_s: float | None = None) -> simpy.Event | None:
        due = self._due
        if due and due[0] <= self.env._now:
            self.settle()
        ev = Semaphore.acquire(self, timeout_s)  # not super(): one object less, twice per request
        if ev is not None and due and not self._timer:
            self._set_timer()
        return ev

    def release(self) -> None:
        self.settle()
        super().release()

    def acquire_since(self, t: float) -> None:
        due = self._due
        if due and due[0] <= t:
            self.settle(t)  # the units given back by t first, as acquire() at t would have
        dt = t - self._last_t  # Semaphore.acquire_since inlined: once per request
        if dt > 0.0:
            self.busy_area += self.in_use * dt
            self.queue_area += self.queue_len * dt
            self._last_t = t
        self.in_use += 1
        if self.in_use > self.peak_in_use:
            self.peak_in_use = self.in_use

    def settle(self, now: float | None = None) -> None:
        """Apply the releases due by ``now`` (default: the current time)."""
        due = self._due
        if now is None:
            now = self.env._now
        while due and due[0] <= now:
            t = due.popleft()
            dt = t - self._last_t
            if dt > 0.0:
                self.busy_area += self.in_use * dt
                self.queue_area += self.queue_len * dt
                self._last_t = t
            if self.queue_len:  # t == now: the timer set for it, or an acquire at the same instant
                super().release()
            else:
                self.in_use -= 1

    def _set_timer(self) -> None:
        self._timer = True
        self.env.timeout(self._due[0] - self.env._now).callbacks.append(self._on_timer)

    def _on_timer(self, _event) -> None:
        self._timer = False
        self.settle()
        if self.queue_len and self._due:
            self._set_timer()
