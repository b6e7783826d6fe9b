"""The bot's resilience policies, written once: token buckets, retries, the circuit breaker.

Pure, synchronous decision objects parameterised by a clock (every method takes ``now``) and a random
generator (anything with ``random()``): no asyncio and no SimPy inside, so the sim (simulated time),
the staging bot (``time.monotonic``) and the fakes of the Claude and Telegram APIs share them. The
decisions where botcap's former copies disagreed are written in each module's docstring and in
docs/policy.md.
"""

from botcap.policy.breaker import CLOSED, HALF_OPEN, OPEN, Breaker
from botcap.policy.bucket import (
    TokenBucket,
    burst_of,
    per_minute,
    per_second,
    refusal_wait_s,
    retry_after_s,
    take_all,
)
from botcap.policy.client import ClientPolicy
from botcap.policy.retry import RetryPolicy, retryable

__all__ = ["Breaker", "CLOSED", "OPEN", "HALF_OPEN", "TokenBucket", "per_minute", "per_second", "burst_of",
           "take_all", "refusal_wait_s", "retry_after_s", "RetryPolicy", "retryable", "ClientPolicy"]
