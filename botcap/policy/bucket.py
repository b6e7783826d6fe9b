"""Continuous-refill token buckets: the one implementation of every rate limit botcap models or fakes.

Used for Anthropic's per-organisation RPM / input-TPM / output-TPM limits (by the sim's Claude API and
by the fake Claude) and for Telegram's bot-wide and per-chat send limits (by the sim and by the fake
Telegram). Anthropic documents its limits as buckets refilled continuously up to the per-minute limit,
not as fixed one-minute windows; Telegram's FAQ gives rates without a window, so a one-second burst is
assumed there. Pure and synchronous: the caller passes its clock's ``now`` (simulated or monotonic
seconds) to every method, so the same object serves SimPy time and wall time.

Decisions (where the three former copies disagreed):

* A request is admitted only when every bucket it draws from holds enough; then all are charged at
  once (``take_all``). A refused request charges nothing, so a client that waits ``retry-after`` and
  asks again fits (unless others took the tokens meanwhile).
* A request larger than a bucket's capacity can never fit. The API still answers it 429 (Anthropic's
  rate_limit_error), with ``retry-after`` = the time until that bucket is full again, at least 1 s:
  the client cannot tell "never" from "later", so it retries as for any 429 and fails when its retries
  run out. (Formerly the model gave up at once and the fake asked for a full minute.)
* ``retry-after`` is whole seconds rounded up, at least 1 (what the API and the Bot API send).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["TokenBucket", "per_minute", "per_second", "take_all", "refusal_wait_s", "retry_after_s"]


class TokenBucket:
    """Up to ``capacity`` tokens, refilled at ``refill_per_s`` per second; starts full at ``now``."""

    __slots__ = ("capacity", "refill_per_s", "level", "stamp_s")

    def __init__(self, capacity: float, refill_per_s: float, now: float = 0.0):
        if not (capacity > 0 and refill_per_s > 0) or math.isinf(capacity) or math.isinf(refill_per_s):
            raise ValueError(f'"capacity" and "refill_per_s" must be finite and > 0 '
                             f'(got {capacity!r}, {refill_per_s!r})')
        self.capacity, self.refill_per_s = float(capacity), float(refill_per_s)
        self.level = self.capacity
        self.stamp_s = float(now)

    def level_at(self, now: float) -> float:
        """The tokens held at ``now`` (refilled up to then; time never runs backwards here)."""
        if now > self.stamp_s:
            level = self.level + (now - self.stamp_s) * self.refill_per_s
            self.level = level if level < self.capacity else self.capacity
            self.stamp_s = now
        return self.level

    def wait_s(self, now: float, amount: float) -> float:
        """Seconds from ``now`` until ``amount`` tokens are there: 0 = now, inf = never (> capacity)."""
        level = self.level_at(now)
        if amount <= level:
            return 0.0
        if amount > self.capacity:
            return math.inf
        return (amount - level) / self.refill_per_s

    def full_in_s(self, now: float) -> float:
        """Seconds from ``now`` until the bucket is full."""
        return (self.capacity - self.level_at(now)) / self.refill_per_s

    def take(self, now: float, amount: float) -> None:
        """Remove ``amount`` (the level may go below 0: a reservation corrected later)."""
        self.level_at(now)
        self.level -= amount

    def give_back(self, now: float, amount: float) -> None:
        """Return ``amount`` unused tokens, never above the capacity (an output reservation corrected)."""
        level = self.level_at(now) + amount
        self.level = level if level < self.capacity else self.capacity

    def retune(self, now: float, capacity: float, refill_per_s: float) -> None:
        """New limits from ``now`` on (a fake reconfigured at run time): refill at the old rate first."""
        if capacity == self.capacity and refill_per_s == self.refill_per_s:
            return
        if not (capacity > 0 and refill_per_s > 0):
            raise ValueError(f'"capacity" and "refill_per_s" must be > 0 '
                             f'(got {capacity!r}, {refill_per_s!r})')
        self.level_at(now)
        self.capacity, self.refill_per_s = float(capacity), float(refill_per_s)
        self.level = min(self.level, self.capacity)


def per_minute(limit: float, now: float = 0.0) -> TokenBucket:
    """A bucket for a per-minute limit: holds up to the limit, refills limit / 60 per second."""
    return TokenBucket(limit, limit / 60.0, now)


def per_second(rate_per_s: float, now: float = 0.0) -> TokenBucket:
    """A bucket for a limit given as a rate without a window (Telegram's bot-wide and per-chat send
    limits): one second's worth, at least one message, refilled at the rate. The model and the fake
    Telegram (``TelegramFakeConfig.from_scenario``) both size their buckets with ``burst_of``."""
    return TokenBucket(burst_of(rate_per_s), rate_per_s, now)


def burst_of(rate_per_s: float) -> float:
    """The burst assumed for a windowless rate: one second's worth, at least 1."""
    return rate_per_s if rate_per_s > 1.0 else 1.0


def refusal_wait_s(now: float, buckets: Sequence[TokenBucket], amounts: Sequence[float]) -> float:
    """How long the API tells a refused request to wait: the longest of the buckets' waits, where a
    bucket the request can never fit answers with the time until it is full (see the module's
    decisions). 0 when the request fits now."""
    wait = 0.0
    for bucket, amount in zip(buckets, amounts, strict=True):
        w = bucket.wait_s(now, amount)
        if w == math.inf:
            w = bucket.full_in_s(now)
            if w == 0.0:  # full and still too small: retry-after rounds this up to 1 s
                w = 1e-9
        if w > wait:
            wait = w
    return wait


def take_all(now: float, buckets: Sequence[TokenBucket], amounts: Sequence[float]) -> float:
    """Admit a request drawing ``amounts[i]`` from ``buckets[i]``: 0.0 and every bucket charged, or the
    wait before it could fit (> 0) and nothing charged."""
    for bucket, amount in zip(buckets, amounts, strict=True):
        if bucket.level_at(now) < amount:
            return refusal_wait_s(now, buckets, amounts)
    for bucket, amount in zip(buckets, amounts, strict=True):
        bucket.take(now, amount)
    return 0.0


def retry_after_s(wait_s: float) -> int:
    """The ``retry-after`` header for a wait: whole seconds, rounded up, at least 1."""
    if not wait_s < math.inf:
        raise ValueError(f"wait_s: must be finite (got {wait_s!r})")
    return max(1, math.ceil(wait_s - 1e-9))
