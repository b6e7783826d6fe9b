"""Rate limits per API key through the real SDK: token buckets, headers, 429 with retry-after."""

from __future__ import annotations

import asyncio

import anthropic
import pytest
from botcap.loadtest.fakes.claude import ClaudeFakeConfig, ModelSpec, RateLimitSpec
from botcap.loadtest.fakes.claude.server import running

HAIKU = "claude-haiku-4-5"
USER = [{"role": "user", "content": "x" * 400}]  # 100 tokens


def config(rpm=1000, itpm=1_000_000, otpm=100_000, time_scale=0.0, output_tokens=40, tps=1000.0):
    model = ModelSpec(api_model=HAIKU, ttft_s=0.2, output_tokens_per_s=tps, output_tokens=output_tokens,
                      min_cacheable_tokens=1024)
    return ClaudeFakeConfig(models={"haiku": model}, rate_limits=RateLimitSpec(rpm=rpm, itpm=itpm, otpm=otpm),
                            time_scale=time_scale, seed=11)


def sdk(fake, key="k") -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=fake.url, api_key=key, max_retries=0)


def test_burst_beyond_rpm_gets_429_with_retry_after_and_remaining_counts_down():
    with running(config(rpm=5)) as fake:
        c = sdk(fake)
        remaining = []
        for _ in range(5):
            raw = c.messages.with_raw_response.create(model=HAIKU, max_tokens=100, messages=USER)
            assert raw.headers["anthropic-ratelimit-requests-limit"] == "5"
            remaining.append(int(raw.headers["anthropic-ratelimit-requests-remaining"]))
        assert remaining == [4, 3, 2, 1, 0]
        with pytest.raises(anthropic.RateLimitError) as err:
            c.messages.create(model=HAIKU, max_tokens=100, messages=USER)
        e = err.value
        assert e.status_code == 429 and e.body["error"]["type"] == "rate_limit_error"
        # one request refills in 60 / 5 = 12 s; retry-after is whole seconds, rounded up
        assert 1 <= int(e.response.headers["retry-after"]) <= 12
        assert e.response.headers["anthropic-ratelimit-requests-remaining"] == "0"
        # another key has its own buckets
        assert sdk(fake, key="other").messages.create(model=HAIKU, max_tokens=100, messages=USER)
        assert fake.fake.stats.by_status[429] == 1


def test_output_reserved_from_max_tokens_then_corrected_to_the_actual():
    # otpm 40k; each request asks max_tokens 21k (the SDK's ceiling for a non-streamed call) but
    # writes 40 tokens over ~0.4 s
    with running(config(otpm=40_000, time_scale=1.0, output_tokens=40, tps=200.0)) as fake:
        async def go():
            async with anthropic.AsyncAnthropic(base_url=fake.url, api_key="k", max_retries=0) as c:
                async with c.messages.stream(model=HAIKU, max_tokens=21_000, messages=USER) as stream:
                    reserved_left = stream.response.headers["anthropic-ratelimit-output-tokens-remaining"]
                    # while the first holds its 21k reservation, a second 21k request does not fit
                    with pytest.raises(anthropic.RateLimitError) as err:
                        await c.messages.create(model=HAIKU, max_tokens=21_000, messages=USER)
                    final = await stream.get_final_message()
                # corrected to the 40 tokens written: the same request now fits
                raw = c.messages.with_raw_response
                after = await raw.create(model=HAIKU, max_tokens=21_000, messages=USER)
                return reserved_left, err.value, final, after
        reserved_left, refused, final, after = asyncio.run(go())
    assert reserved_left == "19000"  # 40k - 21k reserved (token headers are rounded to thousands)
    assert "output tokens" in refused.body["error"]["message"]
    assert final.usage.output_tokens == 40
    assert after.http_response.status_code == 200
    assert after.headers["anthropic-ratelimit-output-tokens-remaining"] == "40000"  # 40k - 80 rounds up


def test_input_limit_counts_cache_writes_but_not_cache_reads():
    with running(config(itpm=20_000)) as fake:
        c = sdk(fake)
        # a 16k-token system prompt marked for caching
        system = [{"type": "text", "text": "s" * 64_000, "cache_control": {"type": "ephemeral"}}]
        first = c.messages.create(model=HAIKU, max_tokens=100, messages=USER, system=system)
        assert first.usage.cache_creation_input_tokens == 16_000
        # ~3.9k input tokens left: a 16k cache read is free, so the same prompt still fits
        second = c.messages.create(model=HAIKU, max_tokens=100, messages=USER, system=system)
        assert second.usage.cache_read_input_tokens == 16_000
        # ...but the same text without the cache mark is 16.1k uncached input tokens: refused
        with pytest.raises(anthropic.RateLimitError) as err:
            c.messages.create(model=HAIKU, max_tokens=100, messages=USER, system="s" * 64_000)
        assert "input tokens" in err.value.body["error"]["message"]
        assert err.value.response.headers["anthropic-ratelimit-input-tokens-limit"] == "20000"


def test_no_rate_limits_configured_means_no_headers_and_no_429():
    cfg = config().model_copy(update={"rate_limits": None})
    with running(cfg) as fake:
        raw = sdk(fake).messages.with_raw_response.create(model=HAIKU, max_tokens=100, messages=USER)
        assert not any(h.startswith("anthropic-ratelimit") for h in raw.headers)
        assert raw.headers["request-id"].startswith("req_")
