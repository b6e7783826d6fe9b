"""Anthropic's rate limits per API key: continuous-refill token buckets and their response headers.

Anthropic documents its limits as token buckets refilled continuously up to the per-minute limit (not
fixed one-minute windows). Three buckets per key: requests, input tokens (uncached input plus cache
writes; cache reads are free) and output tokens (``max_tokens`` is reserved when a request starts and
the unused part is given back when it ends). The buckets and the admission are ``botcap.policy``'s,
the very code the sim's Claude API runs, so the fake and the model disagree only where the real API
does something neither knows. A request larger than a bucket is answered 429 with retry-after = the
time until that bucket is full (at least 1 s), as in the model (docs/policy.md).
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from functools import lru_cache

from botcap.loadtest.fakes.claude.config import RateLimitSpec

from botcap.policy import per_minute, refusal_wait_s, retry_after_s, take_all

_LIMIT_NAMES = ("requests", "input tokens", "output tokens")


class KeyLimits:
    """The three buckets of one API key (requests, input tokens, output tokens per minute)."""

    __slots__ = ("requests", "input", "output", "buckets")

    def __init__(self, spec: RateLimitSpec, now: float):
        self.requests = per_minute(spec.rpm, now)
        self.input = per_minute(spec.itpm, now)
        self.output = per_minute(spec.otpm, now)
        self.buckets = (self.requests, self.input, self.output)


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
        amounts = (1, input_tokens, max_tokens)
        wait = take_all(now, lim.buckets, amounts)
        if wait == 0.0:
            return 0.0, ""
        # which limit refused it (for the error message): the one with the longest wait
        waits = [refusal_wait_s(now, (b,), (a,)) for b, a in zip(lim.buckets, amounts, strict=True)]
        return wait, _LIMIT_NAMES[waits.index(max(waits))]

    def true_up_output(self, key: str, reserved: int, actual: int) -> None:
        """Give back the unused part of an output reservation (``reserved - actual``)."""
        if self.spec is None:
            return
        self._limits(key, now := self.clock()).output.give_back(now, reserved - actual)

    def headers(self, key: str | None) -> dict[str, str]:
        """The ``anthropic-ratelimit-*`` headers for ``key`` as of now."""
        if self.spec is None or key is None:
            return {}
        now = self.clock()
        wall = time.time()
        lim = self._limits(key, now)
        req, inp, out = lim.requests, lim.input, lim.output
        r_level, i_level, o_level = req.level_at(now), inp.level_at(now), out.level_at(now)
        i_vals = (self._limit_text[1], str(_thousands(i_level)), _rfc3339(wall + inp.full_in_s(now)))
        o_vals = (self._limit_text[2], str(_thousands(o_level)), _rfc3339(wall + out.full_in_s(now)))
        # tokens-*: the most restrictive of the token limits currently in effect (Anthropic's docs)
        t_vals = i_vals if i_level / inp.capacity <= o_level / out.capacity else o_vals
        return {
            "anthropic-ratelimit-requests-limit": self._limit_text[0],
            "anthropic-ratelimit-requests-remaining": str(int(max(r_level, 0))),
            "anthropic-ratelimit-requests-reset": _rfc3339(wall + req.full_in_s(now)),
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
    """Whole seconds, rounded up, at least 1 (the API sends an integer; the SDK also accepts floats)."""
    return str(retry_after_s(wait_s))
