"""One event sequence, fed to the model's Claude client (sim, SimPy time) and to the bot's (staging, the
real anthropic SDK over loopback HTTP), gives identical decisions: the same delay before every retry,
the same number of attempts, the same outcome of every call, the same breaker state after it.

The outcomes are scripted: a tiny HTTP server answers the bot's attempts in order (200, 429 with
retry-after, 529, 500, 400, or a stall past the client's timeout), and a scripted API answers the
model's in the same order. Both clients draw their jitter from numpy generators with one seed. Time
on the bot's side is a test clock moved by its backoff sleeps and the script's pauses (no waiting).
"""

from __future__ import annotations

import asyncio
import json

import numpy as np
import simpy
from aiohttp import web
from botcap.loadtest.fakes.claude import payloads
from botcap.loadtest.fakes.claude.cache import CacheUsage
from botcap.loadtest.staging.claude_client import ClaudeClient as BotClient
from botcap.loadtest.staging.claude_client import ClaudeUnavailable
from botcap.sim.build import new_counters
from botcap.sim.claude import OK
from botcap.sim.claude import ClaudeClient as ModelClient
from botcap.sim.record import Request
from botcap.sim.workload import KindPlan
from policy_helpers import serve_messages

from botcap.sampling import Sampler
from botcap.scenario import load_scenario

SEED = 20261130
TIMEOUT_S = 0.4
SETS = ["platform.claude.retry.max_attempts=3", "platform.claude.retry.backoff_s=0.5",
        "platform.claude.retry.max_backoff_s=8", "platform.claude.retry.jitter=true",
        "platform.claude.breaker.failure_threshold=2", "platform.claude.breaker.cooldown_s=30",
        f"platform.claude.timeout_s={TIMEOUT_S}", "platform.claude.concurrency_per_instance=1"]

# Calls in order; each is the list of answers its attempts get ("pause" entries move the clock).
# (status, retry_after_s): status "timeout" = no answer before the client's timeout.
SCRIPT = [
    [(429, 2), (200, None)],                     # retry-after honoured as sent
    [(529, None), (529, None), (529, None)],     # backoff with jitter, retries spent: failure 1
    [(500, None), ("timeout", None), (200, None)],  # a 500 and a timeout are retried; success resets
    [(529, None), (429, 12), (529, None)],       # retry-after above the backoff cap: not capped; failure 1
    [(400, None)],                               # final at once, not retried: failure 2, the breaker opens
    [],                                          # open: fails fast, nothing sent
    "pause 31",
    [(429, 1), (529, None), (200, None)],        # the half-open trial, retried inside the call: closes
    [(409, None), (200, None)],
    [(200, None)],
]


def _scenario():
    return load_scenario(sets=SETS)


def _plan():
    rng = np.random.default_rng(0)
    return KindPlan("chat", Sampler(0.01, rng), 0, "haiku", Sampler(300, rng), Sampler(20, rng), 64, 0, 1)


class ScriptedApi:
    """The model's Claude API answering from the script (no rate limits, no latency)."""

    def __init__(self, env, answers):
        self.env, self.answers, self.timeout_s, self.rtt_s = env, answers, TIMEOUT_S, 0.0
        self.counters = new_counters(["haiku"])["claude"]
        self.tokens_per_s = {"haiku": 100.0}
        self.stall = False
        self.times: list[float] = []

    def admit(self, input_counted, max_tokens):
        status, retry_after = self.answers.pop(0)
        self.times.append(self.env.now)
        self.stall = status == "timeout"
        return (OK, 0.0) if status in (200, "timeout") else (status, float(retry_after or 0.0))

    def latency_s(self, model, output_tokens):
        return TIMEOUT_S + 1.0 if self.stall else 0.0

    def true_up_output(self, reserved, output_tokens):
        pass


def _model_decisions() -> list[tuple]:
    scenario = _scenario()
    env = simpy.Environment()
    answers = [a for call in SCRIPT if call != "pause 31" for a in call]
    api = ScriptedApi(env, answers)
    client = ModelClient(env, api, scenario.platform.claude, rng=np.random.default_rng(SEED), horizon_s=1e9)
    plan, out = _plan(), []

    def run():
        for i, call in enumerate(SCRIPT):
            if call == "pause 31":
                yield env.timeout(31)
                continue
            req = Request(i, "chat", env.now)
            start = len(api.times)
            error = yield from client.call(req, plan)
            times = api.times[start:]
            stalls = [a[0] == "timeout" for a in call]
            delays = [round(b - a - (TIMEOUT_S if stalled else 0.0), 9)
                      for a, b, stalled in zip(times, times[1:], stalls, strict=False)]
            # the model names why a call failed (claude_overloaded, claude_timeout ...); the bot raises
            outcome = "ok" if error == "" else "breaker_open" if error == "claude_breaker_open" else "failed"
            out.append((outcome, req.claude_attempts, delays, client.breaker.state))

    env.process(run())
    env.run()
    assert not api.answers
    return out


async def _bot_decisions() -> list[tuple]:
    answers = [a for call in SCRIPT if call != "pause 31" for a in call]

    async def messages(request: web.Request) -> web.StreamResponse:
        await request.read()
        status, retry_after = answers.pop(0)
        if status == "timeout":
            await asyncio.sleep(TIMEOUT_S * 5)
            status = 200
        if status == 200:
            body = payloads.message("msg_1", "claude-haiku-4-5", "hi", "end_turn", CacheUsage(10), 1)
            return web.json_response(body)
        headers = {"retry-after": str(retry_after)} if retry_after else {}
        return web.Response(status=status, body=payloads.error(status, "scripted"), headers=headers,
                            content_type="application/json")

    runner, url = await serve_messages(messages)
    now = [1000.0]
    delays: list[float] = []

    async def sleep(seconds: float) -> None:
        delays.append(round(seconds, 9))
        now[0] += seconds

    client = BotClient(_scenario(), url, "sk-ant-test", rng=np.random.default_rng(SEED),
                       clock=lambda: now[0], sleep=sleep)
    out = []
    try:
        for call in SCRIPT:
            if call == "pause 31":
                now[0] += 31
                continue
            delays.clear()
            try:
                reply = await client.complete("haiku", "hello", 64)
                outcome, attempts = "ok", reply.attempts
            except ClaudeUnavailable as e:
                outcome = "breaker_open" if "open" in str(e) else "failed"
                attempts = int(str(e).split("after ")[1].split(" ")[0]) if outcome == "failed" else 0
            out.append((outcome, attempts, list(delays), client.breaker.policy.state))
    finally:
        await client.close()
        await runner.cleanup()
    assert not answers
    return out


def test_the_model_and_the_bot_decide_the_same_for_one_event_sequence():
    model = _model_decisions()
    bot = asyncio.run(_bot_decisions())
    assert bot == model
    # and the decisions are the policy's, not two equal mistakes
    outcomes = [m[0] for m in model]
    assert outcomes == ["ok", "failed", "ok", "failed", "failed", "breaker_open", "ok", "ok", "ok"]
    assert model[0][2] == [2.0]                        # retry-after as sent
    assert all(0.375 <= d <= 0.5 for d in (model[1][2][0], model[2][2][0]))  # 0.5 s step, 75-100 %
    assert 0.75 <= model[1][2][1] <= 1.0               # the second step doubles
    assert model[3][2][1] == 12.0                      # not capped at max_backoff_s
    assert model[4][1] == 1 and model[4][3] == "open"  # a 400 is not retried; 2 failed calls open it
    assert model[5][1] == 0                            # fails fast
    assert model[6][3] == "closed"                     # the trial's success closes it
    json.dumps(model)  # plain data
