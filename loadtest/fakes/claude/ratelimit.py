"""Anthropic's rate limits per API key: continuous-refill token buckets and their response headers.

Anthropic documents its limits as token buckets refilled continuously up to the per-minute limit (not
fixed one-minute windows). Three buckets per key: requests, input tokens (uncached input plus cache
writes; cache reads are free) and output tokens (``max_tokens`` is reserved when a request starts and
the unused part is given back when it ends). The same model lives in the sim's Claude component, so
the fake and the model disagree only where the real API does something neither knows.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from functools import lru_cache

from botcap.loadtest.fakes.claude.config import RateLimitSpec


class Bucket:
    """A token bucket of ``capacity`` refilled at ``capacity / 60`` per second (full after a minute)."""

    __slots__ = ("capacity", "rate", "level", "stamp")

    def __init__(self, capacity: float, now: float):
        self.capacity = float(capacity)
        self.rate = self.capacity / 60.0
        self.level = self.capacity
        self.stamp = now

    def refill(self, now: float) -> float:
        if now > self.stamp:
            self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
            self.stamp = now
        return self.level

    def wait_for(self, amount: float, now: float) -> float:
        """Seconds until ``amount`` is available (0 = now); a need above capacity waits a full refill."""
        level = self.refill(now)
        if amount <= level:
            return 0.0
        if amount > self.capacity:
            return (self.capacity - level) / self.rate or 60.0
        return (amount - level) / self.rate

    def full_in(self, now: float) -> float:
        return (self.capacity - self.refill(now)) / self.rate


class KeyLimits:
    """The three buckets of one API key."""

    __slots__ = ("requests", "input", "output")

    def __init__(self, spec: RateLimitSpec, now: float):
        self.requests = Bucket(spec.rpm, now)
        self.input = Bucket(spec.itpm, now)
        self.output = Bucket(spec.otpm, now)


@lru_cache(maxsize=1024)
def _rfc3339_at(second: int) -> str:
    return datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _rfc3339(wall: float) -> str:
    # whole seconds, rounded up: formatted once per second, not once per header (hot path)
    return _rfc3339_at(math.ceil(wall))


def _thousands(value: float) -> int:
    # Anthropic: token "remaining" headers are rounded to the nearest thousand.
    return int(round(max(value, 0.0) / 1000.0)) * 1000


class RateLimiter:
    """Admits or refuses a request for a key; ``None`` spec = unlimited (no headers, never 429)."""

    def __init__(self, spec: RateLimitSpec | None, clock=time.monotonic):
        self.spec = spec
        self.clock = clock
        self._limit_text = (str(spec.rpm), str(spec.itpm), str(spec.otpm)) if spec else ("", "", "")
        self._keys: dict[str, KeyLimits] = {}

    def reset(self) -> None:
        self._keys.clear()

    def _limits(self, key: str, now: float) -> KeyLimits:
        limits = self._keys.get(key)
        if limits is None:
            limits = self._keys[key] = KeyLimits(self.spec, now)
        return limits

    def acquire(self, key: str, input_tokens: int, max_tokens: int) -> tuple[float, str]:
        """(0, "") and the buckets charged, or (retry_after_s, which limit) and nothing charged."""
        if self.spec is None:
            return 0.0, ""
        now = self.clock()
        lim = self._limits(key, now)
        waits = (
            (lim.requests.wait_for(1, now), "requests"),
            (lim.input.wait_for(input_tokens, now), "input tokens"),
            (lim.output.wait_for(max_tokens, now), "output tokens"),
        )
        wait, which = max(waits)
        if wait > 0:
            return wait, which
        lim.requests.level -= 1
        lim.input.level -= input_tokens
        lim.output.level -= max_tokens
        return 0.0, ""

    def settle(self, key: str, reserved: int, actual: int) -> None:
        """Give back the unused part of an output reservation (``reserved - actual``)."""
        if self.spec is None:
            return
        lim = self._limits(key, self.clock())
        out = lim.output
        out.level = min(out.capacity, out.level + (reserved - actual))

    def headers(self, key: str | None) -> dict[str, str]:
        """The ``anthropic-ratelimit-*`` headers for ``key`` as of now."""
        if self.spec is None or key is None:
            return {}
        now = self.clock()
        wall = time.time()
        lim = self._limits(key, now)
        req, inp, out = lim.requests, lim.input, lim.output
        r_level, i_level, o_level = req.refill(now), inp.refill(now), out.refill(now)
        i_vals = (self._limit_text[1], str(_thousands(i_level)), _rfc3339(wall + inp.full_in(now)))
        o_vals = (self._limit_text[2], str(_thousands(o_level)), _rfc3339(wall + out.full_in(now)))
        # tokens-*: the most restrictive of the token limits currently in effect (Anthropic's docs)
        t_vals = i_vals if i_level / inp.capacity <= o_level / out.capacity else o_vals
        return {
            "anthropic-ratelimit-requests-limit": self._limit_text[0],
            "anthropic-ratelimit-requests-remaining": str(int(max(r_level, 0))),
            "anthropic-ratelimit-requests-reset": _rfc3339(wall + req.full_in(now)),
            "anthropic-ratelimit-input-tokens-limit": i_vals[0],
            "anthropic-ratelimit-input-tokens-remaining": i_vals[1],
            "anthropic-ratelimit-input-tokens-reset": i_vals[2],
            "anthropic-ratelimit-output-tokens-limit": o_vals[0],
            "anthropic-ratelimit-output-tokens-remaining": o_vals[1],
            "anthropic-ratelimit-output-tokens-reset": o_vals[2],
            "anthropic-ratelimit-tokens-limit": t_vals[0],
            "anthropic-ratelimit-tokens-remaining": t_vals[1],
            "anthropic-ratelimit-tokens-reset": t_vals[2],
        }


def retry_after_header(wait_s: float) -> str:
    """Whole seconds, rounded up (the API sends an integer; the SDK also accepts floats)."""
    return str(max(1, math.ceil(wait_s)))
