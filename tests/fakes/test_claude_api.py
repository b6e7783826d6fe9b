"""The fake Claude API through the real anthropic SDK (sync and async): create, stream, count_tokens, errors.

Instant latency (time_scale 0) and constant answer lengths, so every count here is exact.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

import anthropic
import pytest
from botcap.loadtest.fakes.claude import ClaudeFakeConfig, ModelSpec
from botcap.loadtest.fakes.claude.server import running

from botcap.scenario import load_scenario

HAIKU = "claude-haiku-4-5"
OUT = 40  # every answer is 40 tokens unless max_tokens cuts it


@pytest.fixture(scope="module")
def fake():
    config = ClaudeFakeConfig(
        models={"haiku": ModelSpec(api_model=HAIKU, ttft_s=0.4, output_tokens_per_s=120, output_tokens=OUT),
                "sonnet": ModelSpec(api_model="claude-sonnet-4-6", ttft_s=0.9, output_tokens_per_s=60,
                                    output_tokens=OUT)},
        time_scale=0, seed=7)
    with running(config) as f:
        yield f


def client(fake, **kw) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=fake.url, api_key="test-key", max_retries=0, **kw)


def aclient(fake) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=fake.url, api_key="test-key", max_retries=0)


USER = [{"role": "user", "content": "x" * 400}]  # 400 characters = 100 tokens


def test_create_sync_gives_a_message_with_consistent_usage(fake):
    msg = client(fake).messages.create(model=HAIKU, max_tokens=1000, messages=USER, system="s" * 80)
    assert msg.type == "message" and msg.role == "assistant" and msg.model == HAIKU
    assert msg.id.startswith("msg_")
    assert msg.stop_reason == "end_turn"
    assert msg.usage.input_tokens == 100 + 20
    assert msg.usage.output_tokens == OUT
    assert msg.usage.cache_read_input_tokens == 0 and msg.usage.cache_creation_input_tokens == 0
    assert len(msg.content) == 1 and msg.content[0].type == "text"
    assert len(msg.content[0].text) == 4 * OUT  # 4 characters per token, counted back exactly


def test_max_tokens_cuts_the_answer(fake):
    msg = client(fake).messages.create(model=HAIKU, max_tokens=7, messages=USER)
    assert msg.stop_reason == "max_tokens" and msg.usage.output_tokens == 7


def test_model_matched_by_family_and_echoed(fake):
    before = fake.fake.stats.tokens.get("sonnet", {}).get("requests", 0)
    msg = client(fake).messages.create(model="claude-sonnet-4-7", max_tokens=100, messages=USER)
    assert msg.model == "claude-sonnet-4-7"  # an id not in the scenario finds the sonnet entry
    stats = json.loads(urllib.request.urlopen(fake.url + "/_fake/stats").read())
    assert stats["tokens"]["sonnet"]["requests"] == before + 1


def test_create_async(fake):
    async def go():
        async with aclient(fake) as c:
            return await asyncio.gather(*(c.messages.create(model=HAIKU, max_tokens=1000, messages=USER)
                                          for _ in range(5)))
    msgs = asyncio.run(go())
    assert len({m.id for m in msgs}) == 5
    assert all(m.usage.input_tokens == 100 and m.usage.output_tokens == OUT for m in msgs)


def test_stream_helper_sync_accumulates_the_same_message(fake):
    with client(fake).messages.stream(model=HAIKU, max_tokens=1000, messages=USER) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == final.content[0].text and len(text) == 4 * OUT
    assert final.stop_reason == "end_turn"
    assert final.usage.input_tokens == 100 and final.usage.output_tokens == OUT


def test_stream_true_events_come_in_the_api_order(fake):
    events = list(client(fake).messages.create(model=HAIKU, max_tokens=1000, messages=USER, stream=True))
    kinds = [e.type for e in events]
    # ping is consumed by the SDK; the rest is the documented order
    assert kinds[:2] == ["message_start", "content_block_start"]
    assert set(kinds[2:-3]) == {"content_block_delta"}
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert events[0].message.usage.input_tokens == 100 and events[0].message.usage.output_tokens == 1
    assert events[-2].usage.output_tokens == OUT and events[-2].delta.stop_reason == "end_turn"
    assert len("".join(e.delta.text for e in events if e.type == "content_block_delta")) == 4 * OUT


def test_raw_stream_has_ping_after_content_block_start(fake):
    req = urllib.request.Request(
        fake.url + "/v1/messages", method="POST",
        data=json.dumps({"model": HAIKU, "max_tokens": 10, "messages": USER, "stream": True}).encode(),
        headers={"x-api-key": "raw", "anthropic-version": "2023-06-01", "content-type": "application/json"})
    with urllib.request.urlopen(req) as resp:
        assert resp.headers["content-type"].startswith("text/event-stream")
        body = resp.read().decode()
    names = [line[7:] for line in body.splitlines() if line.startswith("event: ")]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]


def test_stream_async_helper(fake):
    async def go():
        async with aclient(fake) as c:
            async with c.messages.stream(model=HAIKU, max_tokens=1000, messages=USER) as stream:
                chunks = [t async for t in stream.text_stream]
                return chunks, await stream.get_final_message()
    chunks, final = asyncio.run(go())
    assert len(chunks) == OUT // 4  # 4 tokens per delta by default
    assert final.usage.output_tokens == OUT


def test_count_tokens_matches_usage_total(fake):
    c = client(fake)
    tools = [{"name": "lookup", "description": "find a note", "input_schema": {"type": "object"}}]
    counted = c.messages.count_tokens(model=HAIKU, messages=USER, system="s" * 80, tools=tools)
    msg = c.messages.create(model=HAIKU, max_tokens=10, messages=USER, system="s" * 80, tools=tools)
    u = msg.usage
    assert counted.input_tokens == u.input_tokens + u.cache_read_input_tokens + u.cache_creation_input_tokens
    assert counted.input_tokens > 120  # the tool definition counts too


def test_count_tokens_async(fake):
    async def go():
        async with aclient(fake) as c:
            return await c.messages.count_tokens(model=HAIKU, messages=USER)
    assert asyncio.run(go()).input_tokens == 100


def test_unknown_model_is_404_not_found_error(fake):
    with pytest.raises(anthropic.NotFoundError) as err:
        client(fake).messages.create(model="gpt-4o", max_tokens=10, messages=USER)
    assert err.value.status_code == 404
    assert err.value.body["error"] == {"type": "not_found_error", "message": "model: gpt-4o"}
    assert err.value.request_id and err.value.request_id.startswith("req_")


@pytest.mark.parametrize("body, message", [
    ({"model": HAIKU, "messages": USER}, "max_tokens: Field required"),
    ({"model": HAIKU, "max_tokens": 0, "messages": USER},
     "max_tokens: Input should be greater than or equal to 1"),
    ({"model": HAIKU, "max_tokens": 10, "messages": []}, "messages: at least one message is required"),
    ({"model": HAIKU, "max_tokens": 10, "messages": [{"role": "system", "content": "x"}]},
     "messages.0.role: Input should be 'user' or 'assistant'"),
    ({"model": HAIKU, "max_tokens": 100_000, "messages": USER}, "max_tokens: 100000 > 64000"),
])
def test_bad_body_is_400_invalid_request_error(fake, body, message):
    with pytest.raises(anthropic.BadRequestError) as err:
        client(fake).post("/v1/messages", body=body, cast_to=object)
    assert err.value.body["type"] == "error"
    assert err.value.body["error"]["type"] == "invalid_request_error"
    assert err.value.body["error"]["message"].startswith(message)


def _raw(fake, path: str, body: bytes, headers: dict) -> tuple[int, dict]:
    req = urllib.request.Request(fake.url + path, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_no_credentials_is_401_and_bearer_or_x_api_key_both_work(fake):
    body = json.dumps({"model": HAIKU, "max_tokens": 5, "messages": USER}).encode()
    version = {"anthropic-version": "2023-06-01", "content-type": "application/json"}
    status, data = _raw(fake, "/v1/messages", body, version)
    assert status == 401 and data["error"]["type"] == "authentication_error"
    assert _raw(fake, "/v1/messages", body, {**version, "x-api-key": "k"})[0] == 200
    assert _raw(fake, "/v1/messages", body, {**version, "authorization": "Bearer k"})[0] == 200


def test_missing_version_invalid_json_and_unknown_route(fake):
    body = json.dumps({"model": HAIKU, "max_tokens": 5, "messages": USER}).encode()
    status, data = _raw(fake, "/v1/messages", body, {"x-api-key": "k"})
    assert status == 400 and data["error"]["message"] == "anthropic-version: header is required"
    status, data = _raw(fake, "/v1/messages", b"{nope", {"x-api-key": "k", "anthropic-version": "2023-06-01"})
    assert status == 400 and data["error"]["type"] == "invalid_request_error"
    status, data = _raw(fake, "/v1/complete-me", body, {"x-api-key": "k"})
    assert status == 404
    assert data == {"type": "error", "error": {"type": "not_found_error", "message": "Not Found"},
                    "request_id": data["request_id"]}


def test_from_scenario_uses_the_scenario_models():
    config = ClaudeFakeConfig.from_scenario(load_scenario(), time_scale=0, seed=1)
    assert {m.api_model for m in config.models.values()} == {"claude-haiku-4-5", "claude-sonnet-5-5"}
    assert config.models["haiku"].output_tokens.mean == 250  # chat_simple's reply length
    assert config.models["haiku"].min_cacheable_tokens == 4096
    assert config.rate_limits.rpm == 4000
    with pytest.raises(ValueError):
        ClaudeFakeConfig(models=config.models, bogus=1)
