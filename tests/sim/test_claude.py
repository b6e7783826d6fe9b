import numpy as np
import simpy
from botcap.sim.claude import ClaudeApi, ClaudeClient
from botcap.sim.record import Request
from botcap.sim.workload import KindPlan

from botcap.sampling import Sampler
from botcap.scenario import load_scenario


def _claude(*sets):
    return load_scenario(sets=[f"platform.claude.{s}" for s in sets]).platform.claude


def _plan(input_tokens=1000, output_tokens=100, max_tokens=500):
    rng = np.random.default_rng(0)
    return KindPlan("chat", Sampler(0.01, rng), 0, "haiku", Sampler(input_tokens, rng),
                    Sampler(output_tokens, rng), max_tokens, 0, 1)


def _counters(models=("haiku", "sonnet")):
    return {"calls": 0, "http_429": 0, "http_529": 0, "retries": 0, "breaker_open_s": 0.0,
            "tokens": {m: {"input": 0, "output": 0, "cache_read": 0, "cache_write": 0} for m in models}}


def _setup(claude, outages=(), horizon_s=1e6):
    env = simpy.Environment()
    api = ClaudeApi(env, claude, rtt_s=0.1, outages_s=list(outages), rng=np.random.default_rng(1),
                    counters=_counters())
    client = ClaudeClient(env, api, claude, rng=np.random.default_rng(2), horizon_s=horizon_s)
    return env, api, client


def _calls(env, client, plan, times):
    reqs = [Request(i, "chat", t) for i, t in enumerate(times)]
    errors = [None] * len(reqs)

    def one(req):
        yield env.timeout(req.arrival_s)
        errors[req.id] = yield from client.call(req, plan)
        req.done_s = env.now

    for req in reqs:
        env.process(one(req))
    return reqs, errors


def test_latency_is_rtt_plus_ttft_plus_output_over_speed_and_output_reservation_is_corrected():
    env, api, client = _setup(_claude("rate_limits.otpm=600"))     # 10 output tokens/s refill
    reqs, errors = _calls(env, client, _plan(output_tokens=120, max_tokens=500), [0.0])
    env.run()
    assert errors == [""]
    assert abs(reqs[0].done_s - (0.1 + 0.4 + 120 / 120)) < 1e-9           # haiku: ttft 0.4, 120 tok/s
    # OTPM: 500 reserved at the start (600 -> 100), 15 refilled in 1.5 s, 380 given back at the end
    assert abs(api.otpm.level - (600 - 500 + 15 + 380)) < 1e-6
    assert api.counters["tokens"]["haiku"] == {"input": 1000, "output": 120, "cache_read": 0,
                                               "cache_write": 0}


def test_429_retry_after_is_honoured_and_the_retry_fits():
    # RPM 60: one request per second refills; two at once -> the second gets 429 retry-after 1 s
    env, api, client = _setup(_claude("rate_limits.rpm=1", "retry.max_attempts=3"))
    reqs, errors = _calls(env, client, _plan(), [0.0, 0.0])
    env.run()
    assert errors == ["", ""]
    c = api.counters
    assert c["http_429"] == 1 and c["retries"] == 1 and c["calls"] == 3
    # 429 after 0.1 s, sleeps the 60 s retry-after (RPM 1 refills one request per minute), then fits
    assert reqs[1].claude_attempts == 2 and reqs[1].wait_rate_limit_s == 60.0


def test_outage_529s_exhaust_retries_open_the_breaker_which_fails_fast():
    claude = _claude("retry.max_attempts=2", "retry.jitter=false", "breaker.failure_threshold=2",
                     "breaker.cooldown_s=30")
    env, api, client = _setup(claude, outages=[(0.0, 100.0)])
    # two calls fail (2 attempts each), the next ones fail fast; after the cooldown (outage over) one
    # trial goes out (1.43 s), a call during the trial still fails fast, then the closed breaker lets all by
    reqs, errors = _calls(env, client, _plan(), [0.0, 5.0, 10.0, 11.0, 200.0, 200.5, 205.0])
    env.run()
    # the failed calls are named by their last attempt's outcome: 529s (claude_overloaded)
    assert errors == ["claude_overloaded", "claude_overloaded", "claude_breaker_open", "claude_breaker_open",
                      "", "claude_breaker_open", ""]
    c = api.counters
    assert c["http_529"] == 4 and c["retries"] == 2
    assert reqs[0].wait_claude_backoff_s == 0.5          # backoff_s without jitter
    assert reqs[2].claude_attempts == 0
    assert c["breaker_open_s"] == 30.0


def test_prompt_cache_splits_input_into_reads_and_writes_and_reads_skip_itpm():
    env, api, client = _setup(_claude("prompt_cache_hit_rate=0.8"))
    _calls(env, client, _plan(input_tokens=5000), [0.0])   # above Haiku 4.5's 4,096-token minimum
    env.run(until=0.0001)  # admitted at t=0; nothing refilled yet
    assert api.itpm.capacity - api.itpm.level < 1000.01    # only the 1,000 written tokens count
    env.run()
    assert api.counters["tokens"]["haiku"] == {"input": 0, "output": 100, "cache_read": 4000,
                                               "cache_write": 1000}


def test_a_prompt_below_the_models_cacheable_minimum_is_processed_uncached():
    env, api, client = _setup(_claude("prompt_cache_hit_rate=0.8"))
    _calls(env, client, _plan(input_tokens=1000), [0.0])   # Haiku 4.5 caches nothing under 4,096
    env.run()
    assert api.counters["tokens"]["haiku"] == {"input": 1000, "output": 100, "cache_read": 0,
                                               "cache_write": 0}


def test_semaphore_caps_concurrent_calls_per_process():
    env, api, client = _setup(_claude("concurrency_per_instance=2"))
    reqs, _ = _calls(env, client, _plan(output_tokens=120), [0.0] * 5)
    env.run()
    done = sorted(r.done_s for r in reqs)
    assert [round(d, 6) for d in done] == [1.5, 1.5, 3.0, 3.0, 4.5]
    assert client.semaphore.peak_in_use == 2 and client.semaphore.peak_queue == 3
