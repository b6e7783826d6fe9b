"""Continuous-refill token buckets: Anthropic's org-wide RPM/ITPM/OTPM limits and Telegram's send limits.

Anthropic documents its limits as token buckets that refill continuously up to the per-minute limit
(not a fixed window reset each minute): capacity = limit, refill = limit / 60 per second. A request that
does not fit is answered 429 with ``retry-after`` in whole seconds: the time until it would fit,
rounded up. Nothing here knows SimPy: callers pass the simulated time ``now``.
"""

from __future__ import annotations

import math

__all__ = ["TokenBucket", "retry_after_s", "per_minute"]


class TokenBucket:
    """Up to ``capacity`` tokens, refilled at ``rate_per_s``; starts full."""

    __slots__ = ("capacity", "rate_per_s", "level", "_t")

    def __init__(self, capacity: float, rate_per_s: float, now: float = 0.0):
        if capacity <= 0 or rate_per_s <= 0:
            raise ValueError(f'"capacity" and "rate_per_s" must be > 0 (got {capacity}, {rate_per_s})')
        self.capacity, self.rate_per_s = float(capacity), float(rate_per_s)
        self.level = self.capacity
        self._t = now

    def _refill(self, now: float) -> None:
        if now > self._t:
            self.level = min(self.capacity, self.level + (now - self._t) * self.rate_per_s)
            self._t = now

    def wait_s(self, n: float, now: float) -> float:
        """Seconds until ``n`` tokens are available (0 = now; inf = never, more than the capacity)."""
        if now > self._t:  # _refill(now), inlined: the hot path of every send and Claude call
            self.level = min(self.capacity, self.level + (now - self._t) * self.rate_per_s)
            self._t = now
        if n <= self.level:
            return 0.0
        if n > self.capacity:
            return math.inf
        return (n - self.level) / self.rate_per_s

    def take(self, n: float, now: float) -> None:
        if now > self._t:
            self._refill(now)
        self.level -= n

    def give_back(self, n: float, now: float) -> None:
        """Return unused tokens (Anthropic's output reservation corrected to the real output)."""
        self._refill(now)
        self.level = min(self.capacity, self.level + n)


def per_minute(limit: float, now: float = 0.0) -> TokenBucket:
    """A bucket for a per-minute limit: holds up to the limit, refills limit/60 per second."""
    return TokenBucket(limit, limit / 60.0, now)


def retry_after_s(wait_s: float) -> float:
    """The retry-after header for a wait: whole seconds, rounded up, at least 1."""
    return float(max(1, math.ceil(wait_s - 1e-9)))
