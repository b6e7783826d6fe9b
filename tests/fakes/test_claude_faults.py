"""Injected faults through the real SDK: 529 overloaded, 500s, outages, latency spikes, control routes."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import anthropic
import pytest
from botcap.loadtest.fakes.claude import ClaudeFakeConfig, FaultSpec, ModelSpec
from botcap.loadtest.fakes.claude.server import running

HAIKU = "claude-haiku-4-5"
USER = [{"role": "user", "content": "hello"}]


def config(**faults) -> ClaudeFakeConfig:
    model = ModelSpec(api_model=HAIKU, ttft_s=0.05, output_tokens_per_s=10_000, output_tokens=10)
    return ClaudeFakeConfig(models={"haiku": model}, faults=FaultSpec(**faults), time_scale=0, seed=5)


def control(fake, path: str, body: dict | None = None) -> tuple[int, dict]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(fake.url + path, data=data, method="GET" if body is None else "POST",
                                 headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def call(fake, **kw):
    c = anthropic.Anthropic(base_url=fake.url, api_key="k", max_retries=0)
    return c.messages.create(model=HAIKU, max_tokens=50, messages=USER, **kw)


@pytest.fixture
def fake():
    with running(config()) as f:
        yield f


def test_injected_529_is_the_sdks_overloaded_error(fake):
    assert control(fake, "/_fake/faults", {"overloaded_rate": 1.0})[0] == 200
    with pytest.raises(anthropic.InternalServerError) as err:
        call(fake)
    e = err.value
    assert isinstance(e, anthropic.APIStatusError) and e.status_code == 529
    assert e.body["type"] == "error" and e.body["error"]["type"] == "overloaded_error"
    with pytest.raises(anthropic.APIStatusError) as err:  # streams too: refused before the first event
        call(fake, stream=True)
    assert err.value.status_code == 529


def test_injected_500_is_api_error(fake):
    control(fake, "/_fake/faults", {"error_500_rate": 1.0})
    with pytest.raises(anthropic.InternalServerError) as err:
        call(fake)
    assert err.value.status_code == 500 and err.value.body["error"]["type"] == "api_error"


def test_outage_window_ends_by_itself(fake):
    control(fake, "/_fake/faults", {"outage_s": 0.4})
    with pytest.raises(anthropic.InternalServerError):
        call(fake)
    time.sleep(0.5)
    assert call(fake).usage.output_tokens == 10


def test_latency_spike_adds_to_every_request_while_it_lasts():
    with running(config().model_copy(update={"time_scale": 1.0})) as fake:
        control(fake, "/_fake/faults", {"latency_spike": {"extra_s": 0.4, "duration_s": 2.0}})
        t0 = time.perf_counter()
        call(fake)
        spiked = time.perf_counter() - t0
        control(fake, "/_fake/faults", {"latency_spike": {"extra_s": 0.0, "duration_s": 0.0}})
        t0 = time.perf_counter()
        call(fake)
        normal = time.perf_counter() - t0
    # model latency 0.05 + 10/10000 s; the spike adds 0.4 s (generous upper bounds: a shared machine)
    assert 0.45 <= spiked < 0.45 + 0.3
    assert 0.05 <= normal < 0.05 + 0.3


def test_overloaded_rate_from_config_is_a_seeded_share():
    with running(config(overloaded_rate=0.2)) as fake:
        c = anthropic.Anthropic(base_url=fake.url, api_key="k", max_retries=0)
        overloaded = 0
        for _ in range(200):
            try:
                c.messages.create(model=HAIKU, max_tokens=50, messages=USER)
            except anthropic.InternalServerError as e:
                assert e.status_code == 529
                overloaded += 1
        stats = control(fake, "/_fake/stats")[1]
    # binomial(200, 0.2): sd 5.7; +-4 sd (and the seed fixes the draw anyway)
    assert 40 - 23 <= overloaded <= 40 + 23
    assert stats["by_status"] == {"200": 200 - overloaded, "529": overloaded}


def test_sdk_retries_a_529_and_the_fake_sees_each_attempt(fake):
    control(fake, "/_fake/faults", {"overloaded_rate": 1.0})
    c = anthropic.Anthropic(base_url=fake.url, api_key="k", max_retries=1)
    with pytest.raises(anthropic.InternalServerError):
        c.messages.create(model=HAIKU, max_tokens=50, messages=USER)
    assert control(fake, "/_fake/stats")[1]["by_status"] == {"529": 2}


def test_stats_and_reset(fake):
    call(fake)
    control(fake, "/_fake/faults", {"overloaded_rate": 1.0})
    with pytest.raises(anthropic.InternalServerError):
        call(fake)
    status, stats = control(fake, "/_fake/stats")
    assert status == 200
    assert stats["requests"] == 2 and stats["in_flight"] == 0
    assert stats["by_status"] == {"200": 1, "529": 1}
    assert stats["tokens"]["haiku"] == {"requests": 1, "input": 2, "output": 10, "cache_read": 0,
                                        "cache_write": 0}
    assert stats["faults"]["overloaded_rate"] == 1.0
    assert control(fake, "/_fake/reset", {})[0] == 200
    status, stats = control(fake, "/_fake/stats")
    assert stats["requests"] == 0 and stats["faults"]["overloaded_rate"] == 0.0
    assert call(fake).usage.output_tokens == 10


@pytest.mark.parametrize("body, fragment", [
    ({"overloaded_rate": 2}, "overloaded_rate: must be a number in [0, 1] (got 2)"),
    ({"outage": 5}, "outage: unknown fault"),
    ({"latency_spike": {"extra_s": 1}}, "latency_spike: must be {extra_s, duration_s}"),
])
def test_bad_fault_bodies_are_400_naming_the_key(fake, body, fragment):
    status, data = control(fake, "/_fake/faults", body)
    assert status == 400 and data["error"]["type"] == "invalid_request_error"
    assert fragment in data["error"]["message"]
