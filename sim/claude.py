"""Claude as the bot meets it: the org-wide API (rate limits, 529s, latency) and each process's client.

API (one per organisation): token buckets for RPM, input TPM (uncached input + cache writes; cache reads
are not counted, as Anthropic documents) and output TPM, where ``max_tokens`` is reserved when the
request is admitted and the unused part given back when it ends. A request that does not fit all three
gets 429 with retry-after (whole seconds until it would fit; one larger than a bucket, until that bucket
is full: it is retried like any 429 and never admitted). 529 overloaded_error at
``faults.overloaded_rate`` per attempt and always inside ``faults.outages`` (wall-clock windows,
repeated daily). A 429 or 529 costs one round trip. Latency of an admitted request = RTT + time to
first token + output tokens / tokens per second; past ``timeout_s`` the client gives up (retryable).

Client (one per process): the semaphore (``concurrency_per_instance``), then the circuit breaker
around the SDK call, whose retries (``retry.max_attempts`` attempts in all, the anthropic SDK's backoff
and jitter, retry-after honoured) hold the semaphore. The buckets, the retries and the breaker are
``botcap.policy``'s, the same objects the staging bot and the fakes use (decisions: docs/policy.md).
Token usage follows the API's usage fields: ``input`` excludes cache reads and writes; with a prompt
cache hit rate h > 0 a share h of the prompt is read from the cache and the rest written to it, when
the prompt reaches the model's minimum cacheable prefix (``costmodel/model_facts.yaml``, as the fake and
the cost model read it): a shorter one is processed uncached.
"""

from __future__ import annotations

import numpy as np
import simpy
from botcap.costmodel.model_facts import min_cacheable_tokens
from botcap.sim.record import Request
from botcap.sim.resources import Semaphore
from botcap.sim.workload import KindPlan, draws

from botcap.policy import Breaker, ClientPolicy, RetryPolicy, per_minute, refusal_wait_s, retry_after_s

__all__ = ["ClaudeApi", "ClaudeClient", "OK", "HTTP_429", "HTTP_529"]

OK, HTTP_429, HTTP_529 = 200, 429, 529


class ClaudeApi:
    def __init__(self, env: simpy.Environment, claude, *, rtt_s: float, outages_s: list[tuple[float, float]],
                 rng: np.random.Generator, counters: dict):
        self.env, self.rtt_s, self.counters = env, rtt_s, counters
        lim = claude.rate_limits
        self.rpm, self.itpm, self.otpm = per_minute(lim.rpm), per_minute(lim.itpm), per_minute(lim.otpm)
        self.buckets = (self.rpm, self.itpm, self.otpm)
        self.overloaded_rate = claude.faults.overloaded_rate
        self.outages_s = outages_s
        self.timeout_s = claude.timeout_s
        self._rng = rng
        self._u = np.empty(0)
        self._ui = 0
        self.ttft_s = {k: draws(m.ttft_s, rng) for k, m in claude.models.items()}
        self.tokens_per_s = {k: m.output_tokens_per_s for k, m in claude.models.items()}

    def _random(self) -> float:
        if self._ui >= len(self._u):
            self._u, self._ui = self._rng.random(4096), 0
        u = self._u[self._ui]
        self._ui += 1
        return u

    def _in_outage(self, now: float) -> bool:
        return any(a <= now < b for a, b in self.outages_s)

    def admit(self, input_counted: int, max_tokens: int) -> tuple[int, float]:
        """(status, retry_after_s) for an attempt arriving now; on 200 the tokens are taken."""
        now = self.env._now  # env._now: see sim.resources
        if (self.outages_s and self._in_outage(now)) or \
                (self.overloaded_rate and self._random() < self.overloaded_rate):
            self.counters["http_529"] += 1
            return HTTP_529, 0.0
        rpm, itpm, otpm = self.buckets
        # INLINED FOR PERFORMANCE (every attempt): the admitted branch of botcap.policy.take_all(now,
        # self.buckets, (1, input_counted, max_tokens)); tests/policy/test_inlined.py keeps them equal.
        for bucket in self.buckets:
            if now > bucket.stamp_s:  # TokenBucket.level_at(now)
                level = bucket.level + (now - bucket.stamp_s) * bucket.refill_per_s
                bucket.level = level if level < bucket.capacity else bucket.capacity  # min() without a call
                bucket.stamp_s = now
        if rpm.level >= 1 and itpm.level >= input_counted and otpm.level >= max_tokens:
            rpm.level -= 1
            itpm.level -= input_counted
            otpm.level -= max_tokens
            return OK, 0.0
        wait = refusal_wait_s(now, self.buckets, (1, input_counted, max_tokens))
        self.counters["http_429"] += 1
        return HTTP_429, float(retry_after_s(wait))

    def latency_s(self, model: str, output_tokens: int) -> float:
        return self.rtt_s + self.ttft_s[model]() + output_tokens / self.tokens_per_s[model]

    def true_up_output(self, reserved: int, output_tokens: int) -> None:
        """The output reservation corrected to what was generated."""
        self.otpm.give_back(self.env._now, reserved - output_tokens)


class ClaudeClient:
    def __init__(self, env: simpy.Environment, api: ClaudeApi, claude, *, rng: np.random.Generator,
                 horizon_s: float):
        self.env, self.api, self.counters = env, api, api.counters
        self.semaphore = Semaphore(env, "claude_semaphore", claude.concurrency_per_instance)
        self.retry = RetryPolicy.from_scenario(claude.retry)
        self.cache_hit = claude.prompt_cache_hit_rate
        self.min_cached = {k: min_cacheable_tokens(m.api_model) for k, m in claude.models.items()}
        self._rng = rng
        cooldown = claude.breaker.cooldown_s

        self.open_intervals_s: list[tuple[float, float]] = []  # per process: wall clock (sim.build)

        def opened(now: float) -> None:
            self.counters["breaker_open_s"] += min(cooldown, max(0.0, horizon_s - now))
            self.open_intervals_s.append((now, min(now + cooldown, horizon_s)))  # failing fast

        self.breaker = Breaker(claude.breaker.failure_threshold, cooldown, on_open=opened)
        self.policy = ClientPolicy(self.retry, self.breaker, rng)

    def call(self, req: Request, plan: KindPlan, model: str | None = None):
        """One messages.create with the SDK's retries. Returns "" or an error reason."""
        env, api, counters = self.env, self.api, self.counters
        model = model or plan.model
        t0 = env._now
        ev = self.semaphore.acquire()
        if ev is not None:
            yield ev
            req.wait_claude_semaphore_s += env._now - t0
        policy = self.policy
        if not policy.before(env._now, 1):
            self.semaphore.release()
            return "claude_breaker_open"
        prompt = max(1, round(plan.input_tokens()))
        max_tokens = plan.max_tokens
        output = min(max_tokens, max(1, round(plan.output_tokens())))
        if self.cache_hit > 0 and prompt >= self.min_cached[model]:
            read = round(prompt * self.cache_hit)
            write, uncached = prompt - read, 0
        else:
            read = write = 0
            uncached = prompt
        attempt = 1
        while True:  # the loop of botcap.policy.client, in simulated time
            counters["calls"] += 1
            req.claude_attempts += 1
            status, retry_after = api.admit(uncached + write, max_tokens)
            if status == OK:
                latency = api.latency_s(model, output)
                if latency <= api.timeout_s:
                    yield env.timeout(latency)
                    req.service_claude_s += latency
                    api.true_up_output(max_tokens, output)
                    policy.after(env._now, attempt, OK, None)
                    break
                yield env.timeout(api.timeout_s)  # the client gives up; the server stops generating
                req.service_claude_s += api.timeout_s
                api.true_up_output(max_tokens, 0)
                status = None  # a timeout: no HTTP answer
                # billed for nothing: the prompt, and what was generated until the client hung up
                tps = api.tokens_per_s[model]
                wasted = counters["wasted_tokens"][model]
                wasted["input"] += uncached
                wasted["cache_read"] += read
                wasted["cache_write"] += write
                wasted["output"] += int(min(output, max(0.0, api.timeout_s - latency + output / tps) * tps))
            else:
                if api.rtt_s:
                    yield env.timeout(api.rtt_s)
                req.service_claude_s += api.rtt_s
            pause = policy.after(env._now, attempt, status, retry_after or None)
            if pause is None:
                self.semaphore.release()  # the reason names the last attempt's outcome (disjoint labels)
                return "claude_timeout" if status is None else "claude_overloaded" if status == HTTP_529 \
                    else "claude_rate_limited" if status == HTTP_429 else "claude_failed"
            counters["retries"] += 1
            yield env.timeout(pause)
            if status == HTTP_429:
                req.wait_rate_limit_s += pause
            else:
                req.wait_claude_backoff_s += pause
            attempt += 1
            if not policy.before(env._now, attempt):  # only a breaker counting attempts says no here
                self.semaphore.release()
                return "claude_breaker_open"
        self.semaphore.release()
        req.claude_input_tokens += uncached
        req.claude_output_tokens += output
        req.claude_cache_read_tokens += read
        req.claude_cache_write_tokens += write
        t = counters["tokens"][model]
        t["input"] += uncached
        t["output"] += output
        t["cache_read"] += read
        t["cache_write"] += write
        return ""
