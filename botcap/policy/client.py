"""One Claude call's decisions, as the bot's client makes them: breaker, attempts, retries.

The concurrency semaphore is the caller's (an ``asyncio.Semaphore`` in the bot, a SimPy resource in
the model); the decision is that it is HELD from the first attempt to the last, backoffs included,
because the bot holds it around ``client.messages.create`` and the SDK retries inside that call
(formerly the staging bot released it between attempts and the model held it). The loop every client
runs, with ``p = ClientPolicy(retry, breaker, rng)``::

    acquire the semaphore
    attempt = 1
    while True:
        if not p.before(now, attempt): fail "breaker_open"
        status, retry_after_s = <one HTTP attempt>        # status None: connection error / timeout
        delay = p.after(now, attempt, status, retry_after_s)
        if delay is None: break                            # success (status 2xx) or given up
        sleep(delay); attempt += 1
    release the semaphore

``before`` and ``after`` carry the breaker (asked once per call or per attempt, see ``Breaker.counts``)
and the retry policy; so the model and the bot, fed the same outcomes and the same random numbers,
decide the same delays and the same failures (tests/policy/test_same_decisions.py).
"""

from __future__ import annotations

from botcap.policy.breaker import CLOSED, Breaker
from botcap.policy.retry import RetryPolicy

__all__ = ["ClientPolicy"]


class ClientPolicy:
    __slots__ = ("retry", "breaker", "rng", "_per_attempt")

    def __init__(self, retry: RetryPolicy, breaker: Breaker, rng):
        self.retry, self.breaker, self.rng = retry, breaker, rng
        self._per_attempt = breaker.counts == "attempts"

    def before(self, now: float, attempt: int) -> bool:
        """May attempt ``attempt`` (1-based) go out at ``now``? False = fail fast, breaker open."""
        breaker = self.breaker
        if breaker.state == CLOSED or (attempt > 1 and not self._per_attempt):
            return True
        return breaker.allow(now)

    def after(self, now: float, attempt: int, status: int | None,
              retry_after_s: float | None) -> float | None:
        """After attempt ``attempt`` ended at ``now`` with ``status`` (None = no HTTP answer): None when the
        call is over (``200 <= status < 300``: success; else failed for good), or the seconds to wait
        before the next attempt."""
        breaker = self.breaker
        if status is not None and 200 <= status < 300:
            if breaker.state != CLOSED or breaker.failures:  # closed with no failures: nothing to record
                breaker.record(now, True)
            return None
        delay = self.retry.delay_s(attempt - 1, status, retry_after_s, self.rng)
        if self._per_attempt or delay is None:
            breaker.record(now, False)
        return delay

    def abandon(self) -> None:
        """The call was cancelled mid-way (no outcome): a half-open probe's place is freed."""
        self.breaker.abandon()
