"""The sent record (query, long-poll wait, SSE stream), control routes, and the command-line server."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import signal
import subprocess
import sys
import time

import aiohttp
from botcap.loadtest.fakes.telegram import TelegramFakeConfig
from botcap.loadtest.fakes.telegram.server import running

TOKEN = "9001:" + "F" * 35
UNLIMITED = TelegramFakeConfig(send_rate_per_s=10_000, send_burst=10_000, per_chat_rate_per_s=1000,
                               per_chat_burst=1000)


def aio(fn):
    @functools.wraps(fn)
    def run(*args, **kwargs):
        return asyncio.run(fn(*args, **kwargs))
    return run


async def send(http, url, chat_id: int, text: str, reply_to: int | None = None) -> dict:
    body = {"chat_id": chat_id, "text": text}
    if reply_to is not None:
        body["reply_parameters"] = {"message_id": reply_to}
    async with http.post(f"{url}/bot{TOKEN}/sendMessage", json=body) as r:
        out = await r.json()
        assert out["ok"], out
        return out["result"]


async def inject(http, url, chat_id: int, text: str) -> dict:
    async with http.post(f"{url}/_fake/bot{TOKEN}/updates",
                         json={"message": {"chat": {"id": chat_id}, "text": text}}) as r:
        return await r.json()


async def control_get(http, url, path: str, **params) -> dict:
    async with http.get(f"{url}/_fake/bot{TOKEN}/{path}", params={k: str(v) for k, v in params.items()}) as r:
        assert r.status == 200
        return await r.json()


@aio
async def test_wait_returns_the_first_matching_record_after_the_mark():
    async with running(UNLIMITED) as srv, aiohttp.ClientSession() as http:
        await send(http, srv.url, 1, "old reply")
        mark = (await inject(http, srv.url, 1, "question"))["last_sent_id"]
        assert mark == 1
        waiter = asyncio.create_task(control_get(http, srv.url, "sent/wait", chat_id=1, after_id=mark,
                                                 timeout_s=5))
        await asyncio.sleep(0.2)
        assert not waiter.done()
        await send(http, srv.url, 2, "someone else's reply")
        await asyncio.sleep(0.1)
        assert not waiter.done()
        t0 = time.time()
        msg = await send(http, srv.url, 1, "the answer", reply_to=2)
        got = await asyncio.wait_for(waiter, 5)
        rec = got["result"]
        assert got["ok"] and rec["text"] == "the answer" and rec["id"] == 3
        assert rec == {"id": 3, "method": "sendMessage", "chat_id": 1, "text": "the answer",
                       "message_id": msg["message_id"], "reply_to_message_id": 2,
                       "at_unix_s": rec["at_unix_s"]}
        assert abs(rec["at_unix_s"] - t0) < 1.0
        # already there: answered at once; reply filter; timeout
        again = await control_get(http, srv.url, "sent/wait", chat_id=1, after_id=0, timeout_s=5)
        assert again["result"]["text"] == "old reply"
        by_reply = await control_get(http, srv.url, "sent/wait", chat_id=1, after_id=0, reply_to_message_id=2)
        assert by_reply["result"]["id"] == 3
        t1 = time.monotonic()
        none = await control_get(http, srv.url, "sent/wait", chat_id=1, after_id=3, timeout_s=0.3)
        assert none == {"ok": False, "error": "timeout"} and 0.25 <= time.monotonic() - t1 < 2.0
        listing = await control_get(http, srv.url, "sent", chat_id=1, after_id=1)
        assert [r["id"] for r in listing["result"]] == [3]
        assert [r["id"] for r in (await control_get(http, srv.url, "sent"))["result"]] == [1, 2, 3]


@aio
async def test_many_concurrent_waiters_each_get_their_own_chat():
    async with running(UNLIMITED) as srv, aiohttp.ClientSession() as http:
        chats = list(range(100, 150))
        waiters = [asyncio.create_task(control_get(http, srv.url, "sent/wait", chat_id=c, timeout_s=10))
                   for c in chats]
        await asyncio.sleep(0.3)
        for c in reversed(chats):
            await send(http, srv.url, c, f"for {c}")
        results = await asyncio.wait_for(asyncio.gather(*waiters), 10)
        assert [r["result"]["text"] for r in results] == [f"for {c}" for c in chats]


@aio
async def test_stream_sends_one_event_per_record_with_chat_filter():
    async with running(UNLIMITED) as srv, aiohttp.ClientSession() as http:
        await send(http, srv.url, 5, "before")
        events: list[dict] = []

        async def listen():
            async with http.get(f"{srv.url}/_fake/bot{TOKEN}/sent/stream",
                                params={"chat_id": "5", "after_id": "0"}) as r:
                assert r.headers["Content-Type"].startswith("text/event-stream")
                async for line in r.content:
                    if line.startswith(b"data: "):
                        events.append(json.loads(line[6:]))
                        if len(events) == 3:
                            return

        task = asyncio.create_task(listen())
        await asyncio.sleep(0.3)
        await send(http, srv.url, 6, "other chat")
        await send(http, srv.url, 5, "one")
        await send(http, srv.url, 5, "two")
        await asyncio.wait_for(task, 5)
        assert [e["text"] for e in events] == ["before", "one", "two"]
        assert [e["id"] for e in events] == [1, 3, 4]


@aio
async def test_batch_injection_stats_config_and_reset():
    async with running() as srv, aiohttp.ClientSession() as http:
        batch = [{"message": {"chat": {"id": i}, "text": "hi"}} for i in range(1, 6)]
        async with http.post(f"{srv.url}/_fake/bot{TOKEN}/updates/batch", json=batch) as r:
            body = await r.json()
        assert body == {"ok": True, "update_ids": [1, 2, 3, 4, 5], "last_sent_id": 0}
        stale = {"update_id": 3, "message": {}}
        async with http.post(f"{srv.url}/_fake/bot{TOKEN}/updates", json=stale) as r:
            assert r.status == 400 and "update_id" in (await r.json())["error"]
        async with http.post(f"{srv.url}/_fake/config", json={"per_chat_burst": 0}) as r:
            assert r.status == 400 and "per_chat_burst" in (await r.json())["error"]
        async with http.post(f"{srv.url}/_fake/config", json={"per_chat_burst": 1, "latency_s": 0.01}) as r:
            assert (await r.json())["result"]["per_chat_burst"] == 1
        await send(http, srv.url, 1, "a")
        async with http.post(f"{srv.url}/bot{TOKEN}/sendMessage", json={"chat_id": 1, "text": "b"}) as r:
            assert r.status == 429  # the new burst applies at once
        st = (await control_get(http, srv.url, "stats"))["result"]
        assert (st["updates_injected"], st["pending_update_count"], st["sent_count"], st["http_429_count"]) \
            == (5, 5, 1, 1)
        async with http.post(f"{srv.url}/_fake/reset") as r:
            assert (await r.json())["ok"]
        st = (await control_get(http, srv.url, "stats"))["result"]
        assert (st["updates_injected"], st["sent_count"], st["last_sent_id"]) == (0, 0, 0)


def test_command_line_server_prints_its_url_and_stops_on_sigterm():
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "botcap.loadtest.fakes.telegram", "--port", "0",
                             "--send-rate-per-s", "500"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, text=True)
    try:
        line = proc.stdout.readline()
        url = json.loads(line)["url"]
        assert url.startswith("http://127.0.0.1:")

        async def probe():
            async with aiohttp.ClientSession() as http:
                async with http.get(f"{url}/bot{TOKEN}/getMe") as r:
                    assert (await r.json())["result"]["id"] == 9001
                async with http.get(f"{url}/_fake/config") as r:
                    cfg = (await r.json())["result"]
                    assert cfg["send_rate_per_s"] == 500 and cfg["per_chat_rate_per_s"] == 1
                # a long poll in progress must not hold up the shutdown
                poll = asyncio.create_task(http.get(f"{url}/bot{TOKEN}/getUpdates", params={"timeout": "30"}))
                await asyncio.sleep(0.3)
                t0 = time.monotonic()
                proc.send_signal(signal.SIGTERM)
                resp = await asyncio.wait_for(poll, 10)
                assert (await resp.json())["result"] == []
                return time.monotonic() - t0

        assert asyncio.run(probe()) < 5
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_command_line_refuses_a_non_loopback_host():
    out = subprocess.run([sys.executable, "-m", "botcap.loadtest.fakes.telegram", "--host", "0.0.0.0"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.count("\n") == 1 and "--allow-non-loopback" in out.stderr
    bad = subprocess.run([sys.executable, "-m", "botcap.loadtest.fakes.telegram", "--send-rate-per-s", "-1"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "send-rate-per-s" in bad.stderr and "Traceback" not in bad.stderr
