"""Prompt caching through the real SDK: a cache_control prefix is written once, then read within its TTL."""

from __future__ import annotations

import time

import anthropic
import pytest
from botcap.loadtest.fakes.claude import ClaudeFakeConfig, ModelSpec
from botcap.loadtest.fakes.claude.server import running

SONNET = "claude-sonnet-4-6"  # minimum cacheable prefix 1,024 tokens
HAIKU = "claude-haiku-4-5"    # minimum cacheable prefix 4,096 tokens
TTL_S = 0.5                   # the "5m" TTL, shortened so that expiry can be watched


@pytest.fixture(scope="module")
def fake():
    models = {"sonnet": ModelSpec(api_model=SONNET, ttft_s=0.9, output_tokens_per_s=60, output_tokens=20,
                                  min_cacheable_tokens=1024),
              "haiku": ModelSpec(api_model=HAIKU, ttft_s=0.4, output_tokens_per_s=120, output_tokens=20,
                                 min_cacheable_tokens=4096)}
    with running(ClaudeFakeConfig(models=models, time_scale=0, seed=3, cache_ttl_s=TTL_S)) as f:
        yield f


def system(tokens: int, ttl: str | None = None, tag: str = "") -> list[dict]:
    mark = {"type": "ephemeral"} if ttl is None else {"type": "ephemeral", "ttl": ttl}
    text = (tag + "You are a helpful note-keeping bot. ")[:36].ljust(36)
    return [{"type": "text", "text": (text * (tokens * 4 // 36 + 1))[:tokens * 4], "cache_control": mark}]


USER = [{"role": "user", "content": "q" * 40}]  # 10 tokens


def split(u) -> tuple[int, int, int]:
    """(cache writes, cache reads, plain input) of a usage."""
    return u.cache_creation_input_tokens, u.cache_read_input_tokens, u.input_tokens


def create(fake, key="cache-key", model=SONNET, **kw):
    c = anthropic.Anthropic(base_url=fake.url, api_key=key, max_retries=0)
    return c.messages.create(model=model, max_tokens=100, messages=kw.pop("messages", USER), **kw)


def test_write_then_read_within_ttl(fake):
    sys_ = system(5000, tag="a")
    first = create(fake, system=sys_).usage
    assert split(first) == (5000, 0, 10)
    assert first.cache_creation.ephemeral_5m_input_tokens == 5000
    second = create(fake, system=sys_).usage
    assert split(second) == (0, 5000, 10)


def test_cache_is_per_api_key_and_per_model(fake):
    sys_ = system(5000, tag="b")
    create(fake, key="k1", system=sys_)
    assert create(fake, key="k2", system=sys_).usage.cache_creation_input_tokens == 5000
    assert create(fake, key="k1", model="claude-sonnet-4-7", system=sys_).usage.cache_read_input_tokens == 0


def test_one_hour_ttl_is_reported_apart(fake):
    u = create(fake, system=system(2000, ttl="1h", tag="c")).usage
    assert u.cache_creation.ephemeral_1h_input_tokens == 2000
    assert u.cache_creation.ephemeral_5m_input_tokens == 0


def test_prefix_below_the_model_minimum_is_not_cached(fake):
    sys_ = system(2000, tag="d")  # above Sonnet's 1,024 but below Haiku's 4,096
    for _ in range(2):
        u = create(fake, model=HAIKU, system=sys_).usage
        assert split(u) == (0, 0, 2010)


def test_expired_prefix_is_written_again(fake):
    sys_ = system(3000, tag="e")
    create(fake, system=sys_)
    assert create(fake, system=sys_).usage.cache_read_input_tokens == 3000
    time.sleep(TTL_S + 0.2)
    u = create(fake, system=sys_).usage
    assert (u.cache_creation_input_tokens, u.cache_read_input_tokens) == (3000, 0)


def test_longest_live_prefix_is_read_and_the_rest_written(fake):
    sys_ = system(2000, tag="f")
    turn1 = [{"role": "user", "content": [{"type": "text", "text": "m" * 8000,
                                           "cache_control": {"type": "ephemeral"}}]}]
    u1 = create(fake, system=sys_, messages=turn1).usage
    assert (u1.cache_creation_input_tokens, u1.input_tokens) == (4000, 0)
    turn2 = turn1 + [{"role": "assistant", "content": "a" * 400},
                     {"role": "user", "content": [{"type": "text", "text": "n" * 4000,
                                                   "cache_control": {"type": "ephemeral"}}]},
                     {"role": "user", "content": "z" * 40}]
    u2 = create(fake, system=sys_, messages=turn2).usage
    assert split(u2) == (1100, 4000, 10)


def test_stream_reports_cache_usage_in_message_start(fake):
    sys_ = system(1500, tag="g")
    create(fake, system=sys_)
    c = anthropic.Anthropic(base_url=fake.url, api_key="cache-key", max_retries=0)
    events = list(c.messages.create(model=SONNET, max_tokens=100, messages=USER, system=sys_, stream=True))
    assert events[0].message.usage.cache_read_input_tokens == 1500
    assert events[-2].usage.cache_read_input_tokens == 1500


def test_too_many_breakpoints_is_400(fake):
    blocks = [{"type": "text", "text": "x" * 8, "cache_control": {"type": "ephemeral"}} for _ in range(5)]
    with pytest.raises(anthropic.BadRequestError, match="maximum of 4 blocks"):
        create(fake, system=blocks)
