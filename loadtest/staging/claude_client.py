"""Claude through the real ``anthropic.AsyncAnthropic`` SDK: semaphore, retries, circuit breaker.

Retries are this module's own loop (the SDK is built with ``max_retries=0``), not the SDK's, because
(1) the scenario's retry policy (max_attempts, backoff_s, max_backoff_s, jitter) must be the one
measured, (2) every attempt must reach the circuit breaker and the per-update record
(``claude_attempts``), and (3) the semaphore is released between attempts, as a careful bot does,
so a backing-off call does not hold a concurrency slot. ``retry-after`` from a 429/529 is honoured
(capped at max_backoff_s). Retried: 429, 5xx (incl. 529 overloaded), connection errors and timeouts.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass

import anthropic
from botcap.loadtest.staging.breaker import BreakerOpen, CircuitBreaker
from botcap.loadtest.staging.timings import CLAUDE_ATTEMPTS, current_record

from botcap.scenario import Scenario


class ClaudeUnavailable(Exception):
    """Claude could not answer (breaker open, retries exhausted, or a non-retryable error)."""


@dataclass
class Reply:
    text: str
    input_tokens: int
    output_tokens: int
    attempts: int


def _retry_after(exc: anthropic.APIStatusError) -> float | None:
    headers = exc.response.headers
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value:
            try:
                return float(value) * scale
            except ValueError:
                pass
    return None


def _retryable(exc: Exception) -> bool:
    if isinstance(exc, anthropic.APIStatusError):
        return exc.status_code == 429 or exc.status_code >= 500
    return isinstance(exc, anthropic.APIConnectionError)


class ClaudeClient:
    def __init__(self, scenario: Scenario, base_url: str, api_key: str, rng: random.Random | None = None):
        c = scenario.platform.claude
        self.models = {key: m.api_model for key, m in c.models.items()}
        self.retry = c.retry
        self.semaphore = asyncio.Semaphore(c.concurrency_per_instance)
        self.breaker = CircuitBreaker("claude", c.breaker.failure_threshold, c.breaker.cooldown_s)
        self.sdk = anthropic.AsyncAnthropic(base_url=base_url, api_key=api_key, max_retries=0,
                                            timeout=c.timeout_s)
        self._rng = rng or random.Random()

    def backoff_s(self, attempt: int, exc: Exception) -> float:
        """Wait before attempt ``attempt + 1``: retry-after if given, else capped exponential (+ jitter)."""
        hinted = _retry_after(exc) if isinstance(exc, anthropic.APIStatusError) else None
        if hinted is not None:
            return min(hinted, self.retry.max_backoff_s)
        base = min(self.retry.backoff_s * 2 ** (attempt - 1), self.retry.max_backoff_s)
        return base * (0.5 + 0.5 * self._rng.random()) if self.retry.jitter else base

    async def complete(self, model_key: str, prompt: str, max_tokens: int) -> Reply:
        """One answer from ``model_key`` (a scenario model key); ClaudeUnavailable when there is none."""
        rec = current_record()
        model = self.models[model_key]
        last: Exception | None = None
        for attempt in range(1, self.retry.max_attempts + 1):
            try:
                self.breaker.before_call()
            except BreakerOpen as e:
                CLAUDE_ATTEMPTS.labels(model_key, "breaker_open").inc()
                raise ClaudeUnavailable(str(e)) from last
            t_wait = time.perf_counter()
            try:
                async with self.semaphore:
                    t_call = time.perf_counter()
                    if rec is not None:
                        rec.claude_semaphore_wait_s += t_call - t_wait
                        rec.claude_attempts += 1
                    try:
                        msg = await self.sdk.messages.create(
                            model=model, max_tokens=max_tokens,
                            messages=[{"role": "user", "content": prompt}])
                    finally:
                        if rec is not None:
                            rec.claude_call_s += time.perf_counter() - t_call
            except asyncio.CancelledError:
                self.breaker.release_trial()
                raise
            except Exception as e:  # noqa: BLE001 - API errors and anything unexpected count as failures
                last = e
                self.breaker.on_failure()
                outcome = getattr(e, "status_code", None) or (
                    "connection" if isinstance(e, anthropic.APIConnectionError) else type(e).__name__)
                CLAUDE_ATTEMPTS.labels(model_key, str(outcome)).inc()
                if not _retryable(e) or attempt == self.retry.max_attempts:
                    break
                await asyncio.sleep(self.backoff_s(attempt, e))
                continue
            self.breaker.on_success()
            CLAUDE_ATTEMPTS.labels(model_key, "ok").inc()
            if rec is not None:
                rec.claude_input_tokens += msg.usage.input_tokens
                rec.claude_output_tokens += msg.usage.output_tokens
            text = "".join(getattr(b, "text", "") for b in msg.content)
            return Reply(text=text, input_tokens=msg.usage.input_tokens,
                         output_tokens=msg.usage.output_tokens, attempts=attempt)
        raise ClaudeUnavailable(f"claude failed after {attempt} attempt(s): {type(last).__name__}") from last

    async def close(self) -> None:
        await self.sdk.close()
