"""A counting semaphore for SimPy that measures itself: time-integrals of units in use and of queue length.

Why not ``simpy.Resource``: every request there is an event even when a unit is free, and it keeps no
time-weighted statistics. This one grants a free unit without any event (``acquire`` returns None),
queues FIFO otherwise, supports an acquire timeout (asyncpg's ``acquire(timeout=…)``), and keeps the
areas under ``in_use`` and ``queue_len`` so that utilisation and Little's law can be checked per
resource. ``Gauge`` is the same bookkeeping for a count that never queues (open DB connections).
"""

from __future__ import annotations

from collections import deque

import simpy

__all__ = ["Gauge", "Semaphore", "Start"]


class Gauge:
    """A level that moves up and down over time, with its time-integral and peak."""

    __slots__ = ("env", "name", "capacity", "in_use", "queue_len", "busy_area", "queue_area",
                 "_last_t", "peak_in_use", "peak_queue")

    def __init__(self, env: simpy.Environment, name: str, capacity: int):
        self.env, self.name, self.capacity = env, name, capacity
        self.in_use = self.queue_len = 0
        self.busy_area = self.queue_area = 0.0
        self._last_t = env.now
        self.peak_in_use = self.peak_queue = 0

    def _advance(self) -> None:
        now = self.env.now
        dt = now - self._last_t
        if dt > 0.0:
            self.busy_area += self.in_use * dt
            self.queue_area += self.queue_len * dt
            self._last_t = now

    def add(self, n: int = 1) -> None:
        self._advance()
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
        self._advance()
        return self.busy_area, self.queue_area


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

    __slots__ = ("_waiters",)

    def __init__(self, env: simpy.Environment, name: str, capacity: int):
        if capacity < 1:
            raise ValueError(f'"capacity" of {name} must be >= 1 (got {capacity})')
        super().__init__(env, name, capacity)
        self._waiters: deque[simpy.Event | Start] = deque()

    def acquire(self, timeout_s: float | None = None) -> simpy.Event | None:
        # _advance() inlined in acquire/release: they run several times per simulated request
        now = self.env.now
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

    def then(self, fn, *args) -> None:
        """Call ``fn(*args)`` holding a unit: now if one is free, else when ``release()`` passes one to it
        (FIFO with the other waiters, counted in the queue as they are)."""
        now = self.env.now
        dt = now - self._last_t
        if dt > 0.0:
            self.busy_area += self.in_use * dt
            self.queue_area += self.queue_len * dt
            self._last_t = now
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
        now = self.env.now
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
                ev.succeed(True)  # the unit passes straight to the waiter: in_use unchanged
                return
        self.in_use -= 1
