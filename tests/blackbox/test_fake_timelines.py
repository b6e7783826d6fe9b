"""What the fakes record for black-box measurement (in-process servers, real HTTP on loopback).

The fake Telegram API: every method that puts text in a chat is a send (and a reply the generator can
match), sendChatAction is an action and never a reply, takes are logged by getUpdates and by webhook
delivery (with the bot's HTTP answer), a public webhook URL is accepted but delivered only through
the loopback rewrite. The fake Claude API: every call with its marker, tokens, first byte and status.
"""

from __future__ import annotations

import asyncio
import functools
import json

import aiohttp
import anthropic
import pytest
from aiohttp import web
from botcap.loadtest.fakes.claude import ClaudeFakeConfig
from botcap.loadtest.fakes.claude.calls import find_marker
from botcap.loadtest.fakes.claude.server import running as claude_running
from botcap.loadtest.fakes.telegram import TelegramFakeConfig
from botcap.loadtest.fakes.telegram.server import running

from botcap.scenario import load_scenario

TOKEN = "9002:" + "G" * 35
FAST = dict(send_rate_per_s=10_000, send_burst=10_000, per_chat_rate_per_s=1000, per_chat_burst=1000)


def aio(fn):
    @functools.wraps(fn)
    def run(*args, **kwargs):
        return asyncio.run(fn(*args, **kwargs))
    return run


async def api(http, base, method: str, **params) -> dict:
    async with http.post(f"{base}/bot{TOKEN}/{method}", json=params) as r:
        return await r.json()


async def inject(http, url, chat_id: int, text: str) -> dict:
    async with http.post(f"{url}/_fake/bot{TOKEN}/updates",
                         json={"message": {"chat": {"id": chat_id}, "text": text}}) as r:
        return await r.json()


async def log(http, url, after: int = 0) -> list[dict]:
    async with http.get(f"{url}/_fake/bot{TOKEN}/log", params={"after": str(after)}) as r:
        return (await r.json())["result"]


@aio
async def test_every_text_method_is_a_send_and_a_chat_action_is_not():
    async with running(TelegramFakeConfig(**FAST)) as srv, aiohttp.ClientSession() as http:
        user_msg = (await inject(http, srv.url, 5, "hello"))
        assert user_msg["ok"]
        found = await api(http, srv.url, "getUpdates", timeout=0)
        mid = found["result"][0]["message"]["message_id"]
        assert (await api(http, srv.url, "sendChatAction", chat_id=5, action="typing"))["ok"]
        sent = await api(http, srv.url, "sendMessage", chat_id=5, text="one")
        copy = await api(http, srv.url, "copyMessage", chat_id=5, from_chat_id=5, message_id=mid)
        fwd = await api(http, srv.url, "forwardMessage", chat_id=5, from_chat_id=5, message_id=mid)
        photo = await api(http, srv.url, "sendPhoto", chat_id=5, photo="file-1", caption="a cat")
        edit = await api(http, srv.url, "editMessageCaption", chat_id=5,
                         message_id=photo["result"]["message_id"], caption="two cats")
        bad = await api(http, srv.url, "sendPhoto", chat_id=5, caption="no photo")
        assert all(x["ok"] for x in (sent, copy, fwd, photo, edit)) and not bad["ok"]
        assert copy["result"] == {"message_id": sent["result"]["message_id"] + 1}
        assert fwd["result"]["text"] == "hello" and "forward_origin" in fwd["result"]
        rows = await log(http, srv.url)
        assert [(r["event"], r["method"]) for r in rows] == [
            ("take", "getUpdates"), ("action", "sendChatAction"), ("send", "sendMessage"),
            ("send", "copyMessage"), ("send", "forwardMessage"), ("send", "sendPhoto"),
            ("edit", "editMessageCaption"), ("send", "sendPhoto")]
        assert rows[0]["via"] == "getUpdates" and rows[0]["message_id"] == mid and rows[0]["chat_id"] == 5
        assert [r["text_len"] for r in rows[2:7]] == [3, None, 5, 5, 8]
        assert rows[-1]["http_status"] == 400 and rows[2]["http_status"] == 200
        # the generator's record (what it matches replies in) holds the sends, not the chat action
        async with http.get(f"{srv.url}/_fake/bot{TOKEN}/sent", params={"chat_id": "5"}) as r:
            methods = [rec["method"] for rec in (await r.json())["result"]]
        assert methods == ["sendMessage", "copyMessage", "forwardMessage", "sendPhoto", "editMessageCaption"]
        # paging by absolute position
        assert [r["method"] for r in await log(http, srv.url, after=6)] == ["editMessageCaption", "sendPhoto"]


@aio
async def test_webhook_takes_carry_the_bots_answer_and_a_public_url_goes_to_the_rewrite():
    seen: list[dict] = []

    async def hook(request: web.Request) -> web.Response:
        body = await request.json()
        seen.append({"path": request.path, "body": body})
        await asyncio.sleep(0.05)
        return web.Response(status=200 if body["message"]["text"] == "first" else 500)

    app = web.Application()
    app.router.add_post("/tg/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        config = TelegramFakeConfig(**FAST, webhook_rewrite=f"http://127.0.0.1:{port}",
                                    webhook_retry_base_s=30)
        async with running(config) as srv, aiohttp.ClientSession() as http:
            assert (await api(http, srv.url, "setWebhook", url="https://bot.example.com/tg/hook"))["ok"]
            await inject(http, srv.url, 8, "first")
            await inject(http, srv.url, 8, "second")
            for _ in range(50):
                if len(await log(http, srv.url)) >= 3:
                    break
                await asyncio.sleep(0.05)
            takes = [r for r in await log(http, srv.url) if r["event"] == "take"]
    finally:
        await runner.cleanup()
    assert [s["path"] for s in seen] == ["/tg/hook", "/tg/hook"]
    assert [t["via"] for t in takes] == ["webhook", "webhook"]
    assert sorted(t["http_status"] for t in takes) == [200, 500]
    assert all(t["done_at"] - t["at"] >= 0.04 for t in takes)


def test_rewrite_garbage_is_one_line_exit_2(capsys):
    from botcap.loadtest.fakes.telegram.__main__ import main as fake_main
    assert fake_main(["--webhook-rewrite", "http://example.com:80"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "--webhook-rewrite: must be a loopback base URL like http://127.0.0.1:8080 (got 'http://example.com:80')"]
    for garbage in ("http://127.0.0.1:99999", "ftp://127.0.0.1:21", "http://127.0.0.1:8080/path",
                    "127.0.0.1:8080", "http://[::1", "x" * 300):
        with pytest.raises(ValueError, match="must be a loopback base URL like http://127.0.0.1:8080"):
            TelegramFakeConfig(webhook_rewrite=garbage)
    assert TelegramFakeConfig(webhook_rewrite="http://localhost:8080/").webhook_rewrite


def test_marker_is_the_last_one_in_the_body():
    assert find_marker(b'{"content":"old #r0abc12 then new #r0def34"}') == "#r0def34"
    assert find_marker(b'{"content":"no marker #rzz #r12"}') is None
    assert find_marker(b'"#r0abc12f"') == "#r0abc12f"


def test_claude_calls_log_marker_tokens_stream_and_errors():
    scenario = load_scenario()
    config = ClaudeFakeConfig.from_scenario(scenario, time_scale=0.02, seed=3)
    model = next(iter(scenario.platform.claude.models.values())).api_model
    with claude_running(config) as fake:
        client = anthropic.Anthropic(base_url=fake.url, api_key="sk-test", max_retries=0)
        client.messages.create(model=model, max_tokens=50,
                               messages=[{"role": "user", "content": "hi there #r1f2e3d4c"}])
        with client.messages.stream(model=model, max_tokens=50,
                                    messages=[{"role": "user", "content": "no marker here"}]) as s:
            streamed = s.get_final_message()
        with pytest.raises(anthropic.NotFoundError):
            client.messages.create(model="gpt-nothing", max_tokens=5,
                                   messages=[{"role": "user", "content": "x"}])
        rows = json.loads(_get(f"{fake.url}/_fake/calls?after=0"))["result"]
        later = json.loads(_get(f"{fake.url}/_fake/calls?after=2"))
    assert [r["marker"] for r in rows] == ["#r1f2e3d4c", None, None]
    assert [r["stream"] for r in rows] == [False, True, False]
    assert [r["status"] for r in rows] == [200, 200, 404]
    assert rows[2]["error_type"] == "not_found_error" and rows[0]["error_type"] is None
    assert rows[1]["output_tokens"] == streamed.usage.output_tokens and rows[0]["input_tokens"] > 0
    for r in rows:
        assert r["arrived_at"] <= r["first_byte_at"] <= r["ended_at"]
    assert rows[1]["first_byte_at"] < rows[1]["ended_at"]
    assert later["next_after"] == 3 and len(later["result"]) == 1


def _get(url: str) -> bytes:
    import urllib.request
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read()


@aio
async def test_log_route_garbage_is_a_400_naming_the_parameter():
    async with running(TelegramFakeConfig(**FAST)) as srv, aiohttp.ClientSession() as http:
        cases = [({"after": "x"}, "after: must be an integer"), ({"limit": "0"}, "limit: must be"),
                 ({"limit": "99999999"}, "limit: must be")]
        for query, says in cases:
            async with http.get(f"{srv.url}/_fake/bot{TOKEN}/log", params=query) as r:
                body = await r.json()
            assert r.status == 400 and body["ok"] is False and body["error"].startswith(says)
        async with http.get(f"{srv.url}/_fake/botNOTATOKEN/log") as r:
            assert r.status == 401
        async with http.get(f"{srv.url}/_fake/bot{TOKEN}/log", params={"after": "-5"}) as r:
            assert (await r.json())["result"] == []


def test_calls_route_garbage_is_a_400():
    scenario = load_scenario()
    with claude_running(ClaudeFakeConfig.from_scenario(scenario, time_scale=0)) as fake:
        import urllib.error
        for query in ("after=x", "after=-1", "limit=0", "limit=abc"):
            with pytest.raises(urllib.error.HTTPError) as e:
                _get(f"{fake.url}/_fake/calls?{query}")
            assert e.value.code == 400
        assert json.loads(_get(f"{fake.url}/_fake/calls")) == {"result": [], "next_after": 0}
