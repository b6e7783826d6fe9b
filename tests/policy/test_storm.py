"""A 429/529 storm measured on the bot's Claude client is predicted by the model (issue 14).

Measured: the staging bot's ``ClaudeClient`` (the real ``anthropic`` SDK, the policy objects) against
the fake Claude API on loopback (its own process, so that the two share a busy machine's cores as a
bot and an API would), at a low RPM whose bucket is drained first, with 20 % of attempts
answered 529 overloaded, under open Poisson arrivals of two kinds (a short Haiku call, a longer Sonnet
call) for ``LOAD_S`` seconds. Predicted: the sim's ``ClaudeApi`` + ``ClaudeClient`` fed the measured
start times and kinds (the measured trace replayed, as calibration does), ``REPLICATIONS`` times with
fresh seeds for the 529 draws, the latencies and the jitter, pooled. One figure is taken from the
measurement, as calibration would: the per-attempt overhead beyond the fake's own latency (loopback,
the SDK, the event loop on a shared machine), the model's ``rtt_s``, estimated from the calls answered
at the first attempt: the client's time minus the fake's own time for that call (its call log, linked
by the ``#r`` marker each prompt carries). Not the scenario's mean service: the ~130 calls per kind
drawn from a lognormal with cv 0.8 have a sample mean ~0.03 s off the scenario's, more than the
overhead itself, and the p50 moves ~0.2 s per 0.02 s of ``rtt_s`` here (retry-after is whole seconds,
so a late attempt misses the refill). Nothing the retry policy, the buckets or the 529s decide is
fitted.

Compared per kind, within ``TOL`` = 10 %: the error rate (calls failed after their retries), the
retries per request, and the p50 and p95 of the time from arrival to outcome (failures stay inside
the percentiles, at the time they failed). A percentile that lands where the distribution is thin
(the simple kind's p50 sits just below the ~47 % atom of calls that failed after three attempts at
~2.0 s, so ±3 % of mass moves it ±0.2 s) may instead agree in probability: the measured value's
rank in the predicted distribution within the 99 % sampling band of a quantile of n measurements.
The breaker is set out of reach (its decisions are checked event by event in test_same_decisions.py;
a 60 s open spell would make a 40 s run one coin toss), and the semaphore does not bind (a saturated
semaphore has no steady state to compare).
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time

import aiohttp
import numpy as np
import pytest
import simpy
from botcap.loadtest.fakes.claude import ClaudeFakeConfig, ModelSpec, RateLimitSpec
from botcap.loadtest.fakes.claude.config import FaultSpec
from botcap.loadtest.staging.claude_client import ClaudeClient as BotClient
from botcap.loadtest.staging.claude_client import ClaudeUnavailable
from botcap.sim.build import new_counters
from botcap.sim.claude import ClaudeApi
from botcap.sim.claude import ClaudeClient as ModelClient
from botcap.sim.record import Request
from botcap.sim.workload import KindPlan, draws

from botcap.sampling import Sampler
from botcap.scenario import load_scenario
from botcap.scenario.dists import Constant

TOL = 0.10
RPM = 720                 # 12 attempts/s admitted once the bucket is drained
ARRIVALS_PER_S = 24.0     # twice the RPM: a standing 429 storm
OVERLOADED = 0.2
LOAD_S = 45.0
REPLICATIONS = 16
SEED = 14
KINDS = {  # kind: (model, output tokens, max_tokens)
    "simple": ("haiku", 40, 256),
    "deep": ("sonnet", 120, 512),
}
SETS = [f"platform.claude.rate_limits.rpm={RPM}", "platform.claude.rate_limits.itpm=100000000",
        "platform.claude.rate_limits.otpm=100000000", f"platform.claude.faults.overloaded_rate={OVERLOADED}",
        "platform.claude.concurrency_per_instance=1000", "platform.claude.breaker.failure_threshold=10000",
        "platform.claude.retry.max_attempts=3", "platform.claude.timeout_s=30",
        "platform.claude.models.haiku.ttft_s={dist: lognormal, mean: 0.5, cv: 0.8}",
        "platform.claude.models.haiku.output_tokens_per_s=200",
        "platform.claude.models.sonnet.ttft_s={dist: lognormal, mean: 1.0, cv: 0.6}",
        "platform.claude.models.sonnet.output_tokens_per_s=100"]


# the fake in a child process, from the test's config (printed: {"url": ...}); SIGTERM stops it
_FAKE_CHILD = """
import asyncio, json, signal, sys
from botcap.loadtest.fakes.claude.config import ClaudeFakeConfig
from botcap.loadtest.fakes.claude.server import start

async def main():
    runner, url = await start(ClaudeFakeConfig.model_validate_json(sys.argv[1]))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print(json.dumps({"url": url}), flush=True)
    await stop.wait()
    await runner.cleanup()

asyncio.run(main())
"""


def _arrivals() -> list[tuple[float, str]]:
    rng = np.random.default_rng(SEED)
    t, out, names = 0.0, [], list(KINDS)
    while True:
        t += float(rng.exponential(1.0 / ARRIVALS_PER_S))
        if t >= LOAD_S:
            return out
        out.append((t, names[int(rng.integers(0, len(names)))]))


def _fake_config(claude) -> ClaudeFakeConfig:
    models = {}
    for model, out_tokens, _ in KINDS.values():
        m = claude.models[model]
        models[model] = ModelSpec(api_model=m.api_model, ttft_s=m.ttft_s,
                                  output_tokens_per_s=m.output_tokens_per_s,
                                  output_tokens=Constant(mean=out_tokens))
    return ClaudeFakeConfig(models=models, rate_limits=RateLimitSpec(rpm=RPM, itpm=10**8, otpm=10**8),
                            faults=FaultSpec(overloaded_rate=OVERLOADED), time_scale=1.0, seed=SEED)


async def _drain(url: str, session: aiohttp.ClientSession) -> list[asyncio.Task]:
    """Empty the key's request bucket: many senders until the first 429, which returns at once (the
    load starts with the bucket at zero, as the model's); the senders still in flight are returned."""
    headers = {"x-api-key": "sk-ant-storm", "anthropic-version": "2023-06-01"}
    body = {"model": "claude-haiku-4-5", "max_tokens": 1, "messages": [{"role": "user", "content": "x"}]}
    empty = asyncio.Event()

    async def sender() -> None:
        while not empty.is_set():
            async with session.post(f"{url}/v1/messages", json=body, headers=headers) as r:
                await r.read()
                if r.status == 429:
                    empty.set()

    senders = [asyncio.create_task(sender()) for _ in range(200)]
    await asyncio.wait_for(empty.wait(), 60)
    return senders


async def _measure(url: str, scenario, arrivals) -> list[tuple[str, bool, int, float, float, str]]:
    """(kind, ok, retries, seconds from start to outcome, start, marker) per request, on the bot's
    client; the marker ends the prompt, so that the fake's call log names the request."""
    client = BotClient(scenario, url, "sk-ant-storm", rng=np.random.default_rng(SEED))
    results = []

    async def one(kind: str, t0: float, marker: str) -> None:
        model, _, max_tokens = KINDS[kind]
        t_start = time.perf_counter()
        try:
            reply = await client.complete(model, f"Tell me something about the weather. {marker}", max_tokens)
            ok, attempts = True, reply.attempts
        except ClaudeUnavailable as e:
            ok, attempts = False, int(str(e).split("after ")[1].split(" ")[0])
        results.append((kind, ok, attempts - 1, time.perf_counter() - t_start, t_start - t0, marker))

    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    try:
        senders = await _drain(url, session)
        tasks, t0 = [], time.perf_counter()
        for i, (at, kind) in enumerate(arrivals):
            delay = t0 + at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(kind, t0, f"#r{i:08x}")))
        await asyncio.gather(*tasks, *senders)
    finally:
        await client.close()
        await session.close()
    return results


def _overhead_s(measured, calls: list[dict]) -> float:
    """Mean time of a call answered at its first attempt minus the fake's own time for that call."""
    served = {c["marker"]: c["ended_at"] - c["arrived_at"] for c in calls if c["status"] == 200}
    excess = [took - served[marker] for _, ok, retries, took, _, marker in measured
              if ok and retries == 0 and marker in served]
    assert len(excess) > 100, f"only {len(excess)} first-attempt calls linked to the fake's log"
    return max(0.001, float(np.mean(excess)))


def _predict(scenario, measured, rtt_s: float) -> list[tuple[str, bool, int, float, float]]:
    claude, results = scenario.platform.claude, []
    arrivals = sorted((start, kind) for kind, _, _, _, start, _ in measured)
    for rep in range(REPLICATIONS):
        env = simpy.Environment()
        counters = new_counters(claude.models)["claude"]
        api = ClaudeApi(env, claude, rtt_s=rtt_s, outages_s=[], rng=np.random.default_rng(100 + rep),
                        counters=counters)
        api.rpm.take(0.0, api.rpm.capacity)  # drained, as the measured run's bucket
        client = ModelClient(env, api, claude, rng=np.random.default_rng(200 + rep), horizon_s=1e9)
        rng = np.random.default_rng(300 + rep)
        plans = {kind: KindPlan(kind, Sampler(0.0, rng), 0, model, Sampler(10, rng),
                                draws(Constant(mean=out), rng), max_tokens, 0, 1)
                 for kind, (model, out, max_tokens) in KINDS.items()}

        def one(i: int, at: float, kind: str, env=env, client=client, plans=plans):
            yield env.timeout(at)
            req = Request(i, kind, at)
            error = yield from client.call(req, plans[kind])
            results.append((kind, error == "", req.claude_attempts - 1, env.now - at, at))

        for i, (at, kind) in enumerate(arrivals):
            env.process(one(i, at, kind))
        env.run()
    return results


def _figures(rows, kind: str) -> dict[str, float]:
    mine = [r for r in rows if r[0] == kind]
    t = np.array([r[3] for r in mine])
    return {"error_rate": float(np.mean([not r[1] for r in mine])),
            "retries_per_request": float(np.mean([r[2] for r in mine])),
            "p50_s": float(np.percentile(t, 50)), "p95_s": float(np.percentile(t, 95)), "n": len(mine)}


BUSY_OVERHEAD_S = 0.08  # per attempt; quiet: 0.003-0.004 s; 0.18 s at load 8.7 put the p95 27 % off


def _measure_once(scenario, arrivals):
    """One measured storm against a fresh fake: (rows, the fake's status counts, its call log)."""
    config = _fake_config(scenario.platform.claude).model_dump_json()
    child = subprocess.Popen([sys.executable, "-c", _FAKE_CHILD, config], stdout=subprocess.PIPE, text=True)
    try:
        url = json.loads(child.stdout.readline())["url"]
        measured = asyncio.run(_measure(url, scenario, arrivals))
        return measured, asyncio.run(_stats(url))["by_status"], asyncio.run(_calls(url))
    finally:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


@pytest.fixture(scope="module")
def storm():
    """Measured once; measured again (after a pause) if the client could not keep time: the overhead
    is a mean, and a busy machine's overhead has a tail the model's constant ``rtt_s`` does not carry.
    Still busy the second time, the test fails as "machine too busy", never with a verdict."""
    scenario = load_scenario(sets=SETS)
    arrivals = _arrivals()
    for _ in range(2):
        measured, by_status, calls = _measure_once(scenario, arrivals)
        overhead = _overhead_s(measured, calls)
        if overhead < BUSY_OVERHEAD_S:
            break
        print(f"storm: overhead {overhead:.3f} s per attempt (machine busy), measuring again")
        time.sleep(20)
    predicted = _predict(scenario, measured, overhead)
    return measured, predicted, {"overhead_s": overhead, **{f"http_{k}": v for k, v in by_status.items()}}


async def _stats(url: str) -> dict:
    async with aiohttp.ClientSession() as s, s.get(f"{url}/_fake/stats") as r:
        return await r.json()


async def _calls(url: str) -> list[dict]:
    """The fake's call log, every row (one page holds this run's few thousand)."""
    async with aiohttp.ClientSession() as s, s.get(f"{url}/_fake/calls", params={"limit": "1000000"}) as r:
        return (await r.json())["result"]


@pytest.mark.parametrize("kind", list(KINDS))
def test_the_model_predicts_the_bots_claude_client_under_a_429_529_storm(storm, kind):
    measured, predicted, fake = storm
    m, p = _figures(measured, kind), _figures(predicted, kind)
    print(f"\n{kind}: measured {m}\n{kind}: predicted {p}\nfake: {fake}")
    assert m["n"] > 400 and len(measured) == len(_arrivals())  # every arrival got an outcome
    assert fake["http_429"] > 500 and fake["http_529"] > 200  # the fake's own books: both storms
    # the one figure taken from the measurement must stay an overhead: beyond that the machine is too
    # busy for the client to keep time (0.003-0.004 s quiet; 0.18 s at load 8.7 on 2 cores)
    assert fake["overhead_s"] < BUSY_OVERHEAD_S, f"machine too busy: {fake['overhead_s']:.2f} s per attempt"
    assert 0.05 < m["error_rate"] < 0.9 and m["retries_per_request"] > 0.5  # a storm, not a calm
    for key in ("error_rate", "retries_per_request"):
        assert m[key] == pytest.approx(p[key], rel=TOL), (key, m, p)
    predicted_s = np.sort([r[3] for r in predicted if r[0] == kind])
    for key, q in (("p50_s", 0.50), ("p95_s", 0.95)):
        # within TOL, or (a quantile that falls where the distribution has little mass, e.g. the p50
        # here, just below the atom of calls failed after their retries at ~2.0 s) the measured value
        # sits at the predicted distribution's q-th quantile within the 99 % sampling band of a
        # quantile from m["n"] measurements: |rank - q| <= 2.58 sqrt(q (1 - q) / n)
        rank = float(np.searchsorted(predicted_s, m[key], side="right")) / len(predicted_s)
        band = 2.58 * float(np.sqrt(q * (1 - q) / m["n"]))
        print(f"{kind} {key}: measured {m[key]:.3f} s = the predicted {rank:.3f} quantile "
              f"(q {q} +- {band:.3f})")
        assert m[key] == pytest.approx(p[key], rel=TOL) or abs(rank - q) <= band, (key, rank, m, p)
