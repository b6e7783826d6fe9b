"""Retries with exponential backoff, jitter and ``retry-after``: the anthropic SDK's policy, once.

The reference is the real ``anthropic`` Python SDK (``_base_client._calculate_retry_timeout`` and
``_should_retry``, constants ``DEFAULT_MAX_RETRIES = 2``, ``INITIAL_RETRY_DELAY = 0.5``,
``MAX_RETRY_DELAY = 8.0``), because the bot under test calls Claude through it:

* retried: 408, 409, 429, every 5xx (529 overloaded included), connection errors and timeouts
  (``status=None`` here); anything else (400, 401, 404, 413 ...) is final;
* before retry ``k`` (k = 0 for the first retry) it sleeps ``retry-after`` when the response carried
  one > 0 (``retry-after-ms`` first, then ``retry-after``), NOT capped (the SDK in use does not cap
  it; ``retry_after_cap_s`` exists for a bot that does, default None = no cap); else
  ``min(base_s * 2**k, cap_s) * (1 - jitter * U)`` with U uniform in [0, 1) and ``jitter = 0.25``
  (the SDK's: the delay is 75-100 % of the exponential step, never more).

Decisions where botcap's former copies disagreed: the sim drew full jitter U(0, step) and the staging
bot 50-100 %; the staging bot capped retry-after at max_backoff_s. Both now follow the SDK as above.
The scenario's ``retry`` block maps onto this with ``RetryPolicy.from_scenario`` (``max_attempts``
counts the first attempt, so ``max_retries = max_attempts - 1``; ``jitter: true`` = the SDK's 0.25).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["RetryPolicy", "retryable"]

_SDK_SLEEP_LIMIT_S = 4_294_967.0  # the SDK's own ceiling on a retry-after (a platform limit of sleep)


def retryable(status: int | None) -> bool:
    """Would the SDK retry this outcome? ``None`` = no HTTP answer (connection error or timeout)."""
    return status is None or status == 429 or status >= 500 or status in (408, 409)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many retries and how long between them; ``delay_s`` is the whole decision."""

    max_retries: int = 2
    base_s: float = 0.5
    cap_s: float = 8.0
    jitter: float = 0.25
    honour_retry_after: bool = True
    retry_after_cap_s: float | None = None

    def __post_init__(self):
        if not isinstance(self.max_retries, int) or self.max_retries < 0:
            raise ValueError(f'"max_retries" must be an integer >= 0 (got {self.max_retries!r})')
        for name in ("base_s", "cap_s"):
            v = getattr(self, name)
            if not (v > 0 and math.isfinite(v)):
                raise ValueError(f'"{name}" must be finite and > 0 (got {v!r})')
        if not 0 <= self.jitter <= 1:
            raise ValueError(f'"jitter" must be in [0, 1] (got {self.jitter!r})')
        if self.retry_after_cap_s is not None and not self.retry_after_cap_s > 0:
            raise ValueError(f'"retry_after_cap_s" must be > 0 or None (got {self.retry_after_cap_s!r})')

    @classmethod
    def from_scenario(cls, retry) -> RetryPolicy:
        """From a scenario's ``platform.claude.retry`` (max_attempts, backoff_s, max_backoff_s, jitter)."""
        return cls(max_retries=retry.max_attempts - 1, base_s=retry.backoff_s, cap_s=retry.max_backoff_s,
                   jitter=0.25 if retry.jitter else 0.0)

    def backoff_s(self, retries_done: int, u: float) -> float:
        """The exponential step before retry ``retries_done`` (0-based), scaled by the jitter draw ``u``."""
        step = self.base_s * 2.0 ** min(retries_done, 1000)
        if step > self.cap_s:
            step = self.cap_s
        return step * (1.0 - self.jitter * u) if self.jitter else step

    def delay_s(self, retries_done: int, status: int | None, retry_after_s: float | None,
                rng) -> float | None:
        """Seconds to wait before the next attempt, or None = give up (not retryable, or retries spent).

        ``retries_done``: retries already made for this call (0 after the first attempt failed).
        ``rng``: anything with ``random()`` (``random.Random`` or a numpy ``Generator``); it is drawn
        from only when the backoff (not retry-after) decides and jitter is on.
        """
        if retries_done >= self.max_retries or not retryable(status):
            return None
        if self.honour_retry_after and retry_after_s is not None and retry_after_s > 0:
            cap = _SDK_SLEEP_LIMIT_S if self.retry_after_cap_s is None else self.retry_after_cap_s
            return retry_after_s if retry_after_s < cap else cap
        return self.backoff_s(retries_done, rng.random() if self.jitter else 0.0)
