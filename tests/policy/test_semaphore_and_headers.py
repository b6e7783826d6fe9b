"""Two decisions of the client checked on both sides: the semaphore is held through a backoff (the SDK
retries inside ``messages.create``), and the bot reads ``retry-after-ms`` / ``retry-after`` as the SDK
does (garbage or a non-positive value falls back to the backoff)."""

from __future__ import annotations

import asyncio
import math

import anthropic
import httpx
import numpy as np
import pytest
import simpy
from aiohttp import web
from botcap.loadtest.fakes.claude import payloads
from botcap.loadtest.fakes.claude.cache import CacheUsage
from botcap.loadtest.staging.claude_client import ClaudeClient as BotClient
from botcap.loadtest.staging.claude_client import _retry_after
from botcap.sim.build import new_counters
from botcap.sim.claude import HTTP_529, OK
from botcap.sim.claude import ClaudeClient as ModelClient
from botcap.sim.record import Request
from botcap.sim.workload import KindPlan
from policy_helpers import serve_messages

from botcap.policy import RetryPolicy
from botcap.sampling import Sampler
from botcap.scenario import load_scenario

SETS = ["platform.claude.concurrency_per_instance=1", "platform.claude.retry.max_attempts=3",
        "platform.claude.retry.jitter=false", "platform.claude.retry.backoff_s=0.5"]


def test_the_model_holds_the_semaphore_through_a_backoff():
    claude = load_scenario(sets=SETS).platform.claude
    env = simpy.Environment()

    class Api:  # A's first attempt 529, everything else 200 at once
        rtt_s, timeout_s, tokens_per_s = 0.0, 60.0, {"haiku": 1.0}
        counters = new_counters(["haiku"])["claude"]
        answers = [HTTP_529]

        def admit(self, *_):
            return (self.answers.pop(0) if self.answers else OK), 0.0

        def latency_s(self, *_):
            return 0.1

        def true_up_output(self, *_):
            pass

    client = ModelClient(env, Api(), claude, rng=np.random.default_rng(1), horizon_s=1e9)
    rng = np.random.default_rng(0)
    plan = KindPlan("chat", Sampler(0.0, rng), 0, "haiku", Sampler(10, rng), Sampler(5, rng), 16, 0, 1)
    a, b = Request(0, "chat", 0.0), Request(1, "chat", 0.0)
    env.process(client.call(a, plan))
    env.process(client.call(b, plan))
    env.run()
    # A: 529 (no time), backoff 0.5 s, 0.1 s answer; B waited for all of it, not just A's attempts
    assert a.wait_claude_backoff_s == 0.5 and a.claude_attempts == 2
    assert b.wait_claude_semaphore_s == pytest.approx(0.6)


def test_the_bot_holds_the_semaphore_through_a_backoff():
    order: list[str] = []

    async def main():
        async def messages(request: web.Request) -> web.StreamResponse:
            who = (await request.json())["messages"][0]["content"]
            order.append(who)
            if order == ["A"]:
                return web.Response(status=529, body=payloads.error(529, "Overloaded"),
                                    content_type="application/json")
            body = payloads.message("msg_1", "claude-haiku-4-5", "hi", "end_turn", CacheUsage(3), 1)
            return web.json_response(body)

        runner, url = await serve_messages(messages)
        slept: list[float] = []

        async def sleep(s: float) -> None:  # the backoff yields to the loop, as asyncio.sleep does
            slept.append(s)
            await asyncio.sleep(0.05)

        client = BotClient(load_scenario(sets=SETS), url, "sk-ant-test", rng=np.random.default_rng(1),
                           sleep=sleep)
        try:
            first = asyncio.create_task(client.complete("haiku", "A", 16))
            await asyncio.sleep(0)  # A takes the semaphore first
            second = asyncio.create_task(client.complete("haiku", "B", 16))
            replies = await asyncio.gather(first, second)
        finally:
            await client.close()
            await runner.cleanup()
        return replies, slept

    (a, b), slept = asyncio.run(main())
    assert slept == [0.5] and (a.attempts, b.attempts) == (2, 1)
    assert order == ["A", "A", "B"]  # B got no slot while A was backing off


def _error(status: int, headers: dict) -> anthropic.APIStatusError:
    response = httpx.Response(status, headers=headers,
                              request=httpx.Request("POST", "http://127.0.0.1:9/v1/messages"))
    return anthropic.APIStatusError("x", response=response, body=None)


@pytest.mark.parametrize("headers,expected", [
    ({"retry-after": "3"}, 3.0), ({"retry-after-ms": "250", "retry-after": "3"}, 0.25),
    ({"retry-after": "1.5"}, 1.5), ({"retry-after": "soon"}, None), ({}, None),
    ({"retry-after-ms": "x", "retry-after": "2"}, 2.0),
])
def test_the_bot_reads_retry_after_as_the_sdk_does(headers, expected):
    assert _retry_after(_error(429, headers)) == expected
    assert _retry_after(ValueError("no response")) is None


@pytest.mark.parametrize("given", [0.0, -5.0, math.nan, None])
def test_a_useless_retry_after_falls_back_to_the_backoff(given):
    assert RetryPolicy(jitter=0.0).delay_s(1, 429, given, None) == 1.0


def test_an_endless_retry_after_is_bounded_as_the_sdk_bounds_it():
    assert RetryPolicy().delay_s(0, 429, math.inf, None) == 4_294_967.0
