"""The bot's circuit breakers (Claude, the MCP lookup): ``botcap.policy.Breaker`` on the wall clock.

Why: when a dependency is down, waiting for its timeouts and retries ties up the semaphore and the
users' patience; after ``failure_threshold`` consecutive failed calls the breaker answers "no" at once
for ``cooldown_s``, then lets one trial call through (half-open): success closes it, failure re-opens
it. The decisions are the policy object's (the sim runs the same one in simulated time); this module
only binds it to ``time.monotonic`` and turns "no" into the ``BreakerOpen`` exception the handlers use.
"""

from __future__ import annotations

import time

from botcap.policy import CLOSED, HALF_OPEN, OPEN, Breaker

__all__ = ["BreakerOpen", "CircuitBreaker", "CLOSED", "OPEN", "HALF_OPEN"]


class BreakerOpen(Exception):
    """Raised instead of calling a dependency whose breaker is open."""


class CircuitBreaker:
    """A named ``Breaker`` read on ``clock`` (monotonic seconds)."""

    def __init__(self, name: str, failure_threshold: int, cooldown_s: float, clock=time.monotonic,
                 counts: str = "calls"):
        self.name = name
        self.policy = Breaker(failure_threshold, cooldown_s, counts=counts)
        self._clock = clock

    @property
    def state(self) -> str:
        return self.policy.state_at(self._clock())

    @property
    def opened_count(self) -> int:
        return self.policy.opened_count

    def before_call(self) -> None:
        """Raise BreakerOpen unless a call may go through now (one trial at a time when half-open)."""
        if not self.policy.allow(self._clock()):
            raise BreakerOpen(f"{self.name} circuit breaker is open")

    def on_success(self) -> None:
        self.policy.record(self._clock(), True)

    def on_failure(self) -> None:
        self.policy.record(self._clock(), False)

    def release_trial(self) -> None:
        """A call was abandoned (cancelled) without an outcome: let the next one be the trial."""
        self.policy.abandon()
