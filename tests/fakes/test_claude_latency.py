"""The latency model: ttft + output_tokens / tokens_per_s, scaled by time_scale, measured through the SDK.

Tolerances: never early by more than 10 ms (asyncio timers fire late, not early), at most 250 ms late
(the machine is shared with other test runs; a loaded event loop adds delay, never removes it).
"""

from __future__ import annotations

import asyncio
import time

import anthropic
from botcap.loadtest.fakes.claude import ClaudeFakeConfig, ModelSpec
from botcap.loadtest.fakes.claude.server import running

from botcap.scenario import Lognormal

HAIKU = "claude-haiku-4-5"
USER = [{"role": "user", "content": "hello"}]
EARLY, LATE = 0.01, 0.25


def fake_with(ttft, tps: float, out: int, time_scale: float = 1.0):
    model = ModelSpec(api_model=HAIKU, ttft_s=ttft, output_tokens_per_s=tps, output_tokens=out)
    return running(ClaudeFakeConfig(models={"haiku": model}, time_scale=time_scale, seed=2))


def timed_create(fake) -> float:
    c = anthropic.Anthropic(base_url=fake.url, api_key="k", max_retries=0)
    c.messages.create(model=HAIKU, max_tokens=1000, messages=USER)  # warm the connection
    t0 = time.perf_counter()
    c.messages.create(model=HAIKU, max_tokens=1000, messages=USER)
    return time.perf_counter() - t0


def test_non_streamed_answer_takes_ttft_plus_generation():
    with fake_with(ttft=0.2, tps=200, out=40) as fake:  # 0.2 + 40/200 = 0.4 s
        took = timed_create(fake)
    assert 0.4 - EARLY <= took <= 0.4 + LATE


def test_time_scale_multiplies_the_latency():
    with fake_with(ttft=0.8, tps=50, out=40, time_scale=0.25) as fake:  # (0.8 + 0.8) * 0.25 = 0.4 s
        took = timed_create(fake)
    assert 0.4 - EARLY <= took <= 0.4 + LATE


def test_stream_first_token_at_ttft_and_last_at_ttft_plus_generation():
    with fake_with(ttft=0.3, tps=100, out=40) as fake:  # first delta at 0.3 s, stream done at 0.7 s
        c = anthropic.Anthropic(base_url=fake.url, api_key="k", max_retries=0)
        c.messages.create(model=HAIKU, max_tokens=1000, messages=USER)
        t0 = time.perf_counter()
        first = None
        with c.messages.stream(model=HAIKU, max_tokens=1000, messages=USER) as stream:
            for _ in stream.text_stream:
                first = first or time.perf_counter() - t0
        total = time.perf_counter() - t0
    assert 0.3 + 0.04 - EARLY <= first <= 0.3 + 0.04 + LATE  # the first delta carries 4 tokens (40 ms)
    assert 0.7 - EARLY <= total <= 0.7 + LATE


def test_ttft_distribution_mean_is_the_scenarios():
    # 40 concurrent calls, ttft lognormal(mean 0.3, cv 0.5), one token each: the mean latency is
    # 0.3 + 0.001 s; the sample mean of 40 draws has sd 0.024 s, so +-0.1 s is > 4 sd. A first round
    # opens the 40 connections, so that the measured round times the fake, not TCP and SDK set-up.
    with fake_with(ttft=Lognormal(dist="lognormal", mean=0.3, cv=0.5), tps=1000, out=1) as fake:
        async def go():
            async with anthropic.AsyncAnthropic(base_url=fake.url, api_key="k", max_retries=0) as c:
                async def one():
                    t0 = time.perf_counter()
                    await c.messages.create(model=HAIKU, max_tokens=10, messages=USER)
                    return time.perf_counter() - t0
                await asyncio.gather(*(one() for _ in range(40)))
                return await asyncio.gather(*(one() for _ in range(40)))
        took = asyncio.run(go())
    mean = sum(took) / len(took)
    assert 0.3 - 0.1 <= mean <= 0.3 + 0.1 + LATE / 2
    assert max(took) - min(took) > 0.1  # the draws vary: it is a distribution, not a constant
