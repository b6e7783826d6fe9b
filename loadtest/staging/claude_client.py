"""Claude through the real ``anthropic.AsyncAnthropic`` SDK: semaphore, circuit breaker, retries.

The decisions are ``botcap.policy``'s (``ClientPolicy``: the SDK's retry policy and the breaker), the
same objects the sim runs in simulated time, so the model predicts this client (docs/policy.md). The
loop is written here (the SDK is built with ``max_retries=0``) only so that every attempt reaches the
per-update record (``claude_attempts``) and the attempt counter; it decides exactly what the SDK's own
loop would: 408/409/429/5xx (529 included), connection errors and timeouts are retried,
``retry-after-ms`` / ``retry-after`` honoured as sent, else 0.5 s x 2^k capped at 8 s (the scenario's
backoff_s / max_backoff_s) times 75-100 % jitter. As in a bot that wraps ``messages.create`` (whose
retries run inside it): the semaphore is held from the first attempt to the last, backoffs included,
and the breaker is asked once per call and counts failed calls, not attempts.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass

import anthropic
from botcap.loadtest.staging.breaker import CircuitBreaker
from botcap.loadtest.staging.timings import CLAUDE_ATTEMPTS, current_record

from botcap.policy import CLOSED, ClientPolicy, RetryPolicy
from botcap.scenario import Scenario


class ClaudeUnavailable(Exception):
    """Claude could not answer (breaker open, retries exhausted, or a non-retryable error)."""


@dataclass
class Reply:
    text: str
    input_tokens: int
    output_tokens: int
    attempts: int


def _retry_after(exc: Exception) -> float | None:
    """The wait the response asked for, as the SDK reads it: retry-after-ms, else retry-after (seconds)."""
    response = getattr(exc, "response", None)
    if response is None:
        return None
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = response.headers.get(name)
        if value:
            try:
                return float(value) * scale
            except ValueError:
                pass
    return None


def _status(exc: Exception) -> int | None:
    """The HTTP status of a failed attempt; None = no HTTP answer (connection error, timeout)."""
    if isinstance(exc, anthropic.APIStatusError):
        return exc.status_code
    if isinstance(exc, anthropic.APIConnectionError):  # APITimeoutError included
        return None
    return 0  # not an API error (a bug, a bad argument): final, never retried


class ClaudeClient:
    def __init__(self, scenario: Scenario, base_url: str, api_key: str, rng: random.Random | None = None,
                 *, clock=time.monotonic, sleep=asyncio.sleep):
        """``rng``: anything with ``random()`` (the jitter); ``clock``/``sleep``: the breaker's time and the
        backoff's wait (a test replaces both to replay an event sequence without waiting)."""
        c = scenario.platform.claude
        self.models = {key: m.api_model for key, m in c.models.items()}
        self.retry = RetryPolicy.from_scenario(c.retry)
        self.semaphore = asyncio.Semaphore(c.concurrency_per_instance)
        self.breaker = CircuitBreaker("claude", c.breaker.failure_threshold, c.breaker.cooldown_s,
                                      clock=clock)
        self._clock, self._sleep = clock, sleep
        self.policy = ClientPolicy(self.retry, self.breaker.policy, rng or random.Random())
        self.sdk = anthropic.AsyncAnthropic(base_url=base_url, api_key=api_key, max_retries=0,
                                            timeout=c.timeout_s)

    async def complete(self, model_key: str, prompt: str, max_tokens: int) -> Reply:
        """One answer from ``model_key`` (a scenario model key); ClaudeUnavailable when there is none."""
        rec = current_record()
        model = self.models[model_key]
        policy, clock = self.policy, self._clock
        t_wait = time.perf_counter()
        async with self.semaphore:
            if rec is not None:
                rec.claude_semaphore_wait_s += time.perf_counter() - t_wait
            attempt, last = 1, None
            probe = self.breaker.policy.state != CLOSED  # admitted now, this call is a half-open trial
            while True:
                if not policy.before(clock(), attempt):
                    CLAUDE_ATTEMPTS.labels(model_key, "breaker_open").inc()
                    raise ClaudeUnavailable(f"{self.breaker.name} circuit breaker is open") from last
                t_call = time.perf_counter()
                if rec is not None:
                    rec.claude_attempts += 1
                try:
                    msg = await self.sdk.messages.create(
                        model=model, max_tokens=max_tokens, messages=[{"role": "user", "content": prompt}])
                    failed = None
                except asyncio.CancelledError:
                    if probe:
                        policy.abandon()
                    raise
                except Exception as e:  # noqa: BLE001 - API errors and anything unexpected are failed attempts
                    failed = e
                finally:
                    if rec is not None:
                        rec.claude_call_s += time.perf_counter() - t_call
                if failed is None:
                    policy.after(clock(), attempt, 200, None)
                    break
                status = _status(failed)
                outcome = type(failed).__name__ if status == 0 else "connection" if status is None else status
                CLAUDE_ATTEMPTS.labels(model_key, str(outcome)).inc()
                delay = policy.after(clock(), attempt, status, _retry_after(failed))
                if delay is None:
                    raise ClaudeUnavailable(f"claude failed after {attempt} attempt(s): "
                                            f"{type(failed).__name__}") from failed
                try:
                    await self._sleep(delay)
                except asyncio.CancelledError:
                    if probe:
                        policy.abandon()
                    raise
                attempt, last = attempt + 1, failed
        CLAUDE_ATTEMPTS.labels(model_key, "ok").inc()
        if rec is not None:
            rec.claude_input_tokens += msg.usage.input_tokens
            rec.claude_output_tokens += msg.usage.output_tokens
        text = "".join(getattr(b, "text", "") for b in msg.content)
        return Reply(text=text, input_tokens=msg.usage.input_tokens,
                     output_tokens=msg.usage.output_tokens, attempts=attempt)

    async def close(self) -> None:
        await self.sdk.close()
