"""A circuit breaker (closed → open → half-open) for Claude and for the MCP lookup.

Why: when a dependency is down, waiting for its timeouts and retries ties up the semaphore and the
users' patience; after ``failure_threshold`` consecutive failures the breaker answers "no" at once for
``cooldown_s``, then lets one trial call through (half-open): success closes it, failure re-opens it.
"""

from __future__ import annotations

import time

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


class BreakerOpen(Exception):
    """Raised instead of calling a dependency whose breaker is open."""


class CircuitBreaker:
    def __init__(self, name: str, failure_threshold: int, cooldown_s: float, clock=time.monotonic):
        if failure_threshold < 1:
            raise ValueError(f'"failure_threshold" must be >= 1 (got {failure_threshold})')
        self.name = name
        self.failure_threshold = failure_threshold
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_in_flight = False
        self.opened_count = 0

    @property
    def state(self) -> str:
        if self._opened_at is None:
            return CLOSED
        if self._clock() - self._opened_at >= self.cooldown_s:
            return HALF_OPEN
        return OPEN

    def before_call(self) -> None:
        """Raise BreakerOpen unless a call may go through now (one trial at a time when half-open)."""
        state = self.state
        if state == OPEN or (state == HALF_OPEN and self._trial_in_flight):
            raise BreakerOpen(f"{self.name} circuit breaker is open")
        if state == HALF_OPEN:
            self._trial_in_flight = True

    def on_success(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._trial_in_flight = False

    def on_failure(self) -> None:
        self._failures += 1
        if self._trial_in_flight or self._failures >= self.failure_threshold:
            if self._opened_at is None or self._trial_in_flight:
                self.opened_count += 1
            self._opened_at = self._clock()
        self._trial_in_flight = False

    def release_trial(self) -> None:
        """A call was abandoned (cancelled) without an outcome: let the next one be the trial."""
        self._trial_in_flight = False
