"""A circuit breaker as the seed bot wraps its Claude and MCP clients: closed, open, half-open.

Closed: calls pass; ``failure_threshold`` consecutive failed calls open it. Open: calls fail fast for
``cooldown_s``. Then the first call is let through as a trial (half-open) while the others still fail
fast; the trial's success closes it, its failure opens it again. One breaker per process (in memory).
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["Breaker", "CLOSED", "OPEN", "HALF_OPEN"]

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


class Breaker:
    __slots__ = ("threshold", "cooldown_s", "state", "failures", "opened_at", "_on_open")

    def __init__(self, threshold: int, cooldown_s: float, on_open: Callable[[float], None] | None = None):
        self.threshold, self.cooldown_s = threshold, cooldown_s
        self.state, self.failures, self.opened_at = CLOSED, 0, -1.0
        self._on_open = on_open  # called with the time it opens (counts open time)

    def allow(self, now: float) -> bool:
        """May a call go out now? (half-open: only the single trial)"""
        if self.state == CLOSED:
            return True
        if self.state == OPEN and now >= self.opened_at + self.cooldown_s:
            self.state = HALF_OPEN  # this caller is the trial
            return True
        return False

    def success(self, now: float) -> None:
        self.state, self.failures = CLOSED, 0

    def failure(self, now: float) -> None:
        self.failures += 1
        if self.state == HALF_OPEN or self.failures >= self.threshold:
            self.state, self.opened_at, self.failures = OPEN, now, 0
            if self._on_open is not None:
                self._on_open(now)
