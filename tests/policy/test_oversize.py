"""A request larger than a bucket can never fit: the fake API and the model both answer it 429 with
retry-after = the time until that bucket is full (at least 1 s), and the client, which cannot tell
"never" from "later", retries it like any 429 until its retries run out (docs/policy.md)."""

from __future__ import annotations

import anthropic
import numpy as np
import simpy
from botcap.loadtest.fakes.claude import ClaudeFakeConfig, ModelSpec, RateLimitSpec
from botcap.loadtest.fakes.claude.server import running
from botcap.sim.build import new_counters
from botcap.sim.claude import HTTP_429, ClaudeApi, ClaudeClient
from botcap.sim.record import Request
from botcap.sim.workload import KindPlan

from botcap.sampling import Sampler
from botcap.scenario import load_scenario

ITPM = 6000  # a 100-token-per-second input bucket


def test_the_fake_answers_an_oversized_request_429_with_the_time_until_full():
    model = ModelSpec(api_model="claude-haiku-4-5", ttft_s=0.1, output_tokens_per_s=1000.0, output_tokens=5)
    limits = RateLimitSpec(rpm=1000, itpm=ITPM, otpm=10**6)
    config = ClaudeFakeConfig(models={"haiku": model}, rate_limits=limits, time_scale=0.0, seed=1)
    with running(config) as fake:
        sdk = anthropic.Anthropic(base_url=fake.url, api_key="k", max_retries=0)
        big = [{"role": "user", "content": "x" * (4 * 7000)}]  # 7000 tokens > 6000 per minute
        for _ in range(2):
            try:
                sdk.messages.create(model="claude-haiku-4-5", max_tokens=16, messages=big)
                raise AssertionError("an oversized request was admitted")
            except anthropic.RateLimitError as e:
                assert e.response.headers["retry-after"] == "1"  # the bucket is full: 1 s, not 60
        small = [{"role": "user", "content": "x" * (4 * 3000)}]
        sdk.messages.create(model="claude-haiku-4-5", max_tokens=16, messages=small)  # nothing was charged
        try:
            sdk.messages.create(model="claude-haiku-4-5", max_tokens=16, messages=big)
        except anthropic.RateLimitError as e:
            assert 29 <= int(e.response.headers["retry-after"]) <= 31  # ~3000 tokens to refill at 100/s


def test_the_model_answers_it_alike_and_the_client_spends_its_retries_on_it():
    sets = [f"rate_limits.itpm={ITPM}", "retry.max_attempts=3", "faults.overloaded_rate=0"]
    claude = load_scenario(sets=[f"platform.claude.{s}" for s in sets]).platform.claude
    env = simpy.Environment()
    api = ClaudeApi(env, claude, rtt_s=0.01, outages_s=[], rng=np.random.default_rng(1),
                    counters=new_counters(claude.models)["claude"])
    assert api.admit(7000, 16) == (HTTP_429, 1.0)
    client = ClaudeClient(env, api, claude, rng=np.random.default_rng(2), horizon_s=1e9)
    rng = np.random.default_rng(0)
    plan = KindPlan("chat", Sampler(0.0, rng), 0, "haiku", Sampler(7000, rng), Sampler(5, rng), 16, 0, 1)
    req = Request(0, "chat", 0.0)
    reason = []

    def go():
        reason.append((yield from client.call(req, plan)))

    env.process(go())
    env.run()
    assert reason == ["claude_rate_limited"] and req.claude_attempts == 3
    assert req.wait_rate_limit_s == 2.0  # two retries, each told 1 s (the bucket stays full)
