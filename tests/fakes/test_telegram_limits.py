"""Send limits: token buckets checked on a simulated clock (exact), then through the server in real time
(aiogram's TelegramRetryAfter, and the bot-wide rate measured from the sent record's timestamps).
"""

from __future__ import annotations

import asyncio
import functools

import aiohttp
import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramRetryAfter
from botcap.loadtest.fakes.telegram import TelegramFakeConfig
from botcap.loadtest.fakes.telegram.limits import SendLimiter
from botcap.loadtest.fakes.telegram.server import running

TOKEN = "31337:" + "E" * 35


def aio(fn):
    @functools.wraps(fn)
    def run(*args, **kwargs):
        return asyncio.run(fn(*args, **kwargs))
    return run


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_per_chat_bucket_allows_a_burst_then_one_per_second():
    clock = Clock()
    lim = SendLimiter(clock)
    cfg = TelegramFakeConfig()  # 1/s per chat, burst 3; 30/s per bot
    assert [lim.check(7, cfg) for _ in range(4)] == [0, 0, 0, 1]
    clock.t += 0.5
    assert lim.check(7, cfg) == 1  # half a token: retry after ceil(0.5) = 1 s
    clock.t += 0.5
    assert lim.check(7, cfg) == 0
    assert lim.check(8, cfg) == 0  # other chats are not affected


def test_bot_wide_bucket_over_ten_simulated_seconds_is_exact():
    clock = Clock()
    lim = SendLimiter(clock)
    cfg = TelegramFakeConfig(send_rate_per_s=30, send_burst=30, per_chat_rate_per_s=1000, per_chat_burst=1000)
    sent = refused = 0
    for i in range(10_000):  # one attempt per simulated millisecond, each to a new chat
        if lim.check(i, cfg) == 0:
            sent += 1
        else:
            refused += 1
        clock.t = 1000.0 + (i + 1) / 1000
    # the burst of 30, then 30 tokens per second until the last attempt at 9.999 s: floor(30 + 299.97)
    assert sent == 329
    assert refused == 10_000 - sent


def test_retry_after_is_whole_seconds_and_covers_the_wait():
    clock = Clock()
    lim = SendLimiter(clock)
    cfg = TelegramFakeConfig(per_chat_rate_per_s=0.25, per_chat_burst=1)
    assert lim.check(1, cfg) == 0
    retry = lim.check(1, cfg)
    assert retry == 4
    clock.t += retry
    assert lim.check(1, cfg) == 0


@aio
async def test_burst_to_one_chat_gets_429_and_telegram_retry_after():
    async with running() as srv, aiohttp.ClientSession() as http:
        bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(srv.url)))
        try:
            for i in range(3):
                await bot.send_message(5, f"burst {i}")
            with pytest.raises(TelegramRetryAfter) as caught:
                await bot.send_message(5, "one too many")
            assert caught.value.retry_after == 1
            assert "Too Many Requests: retry after 1" in caught.value.message
            raw = {"chat_id": 5, "text": "raw"}
            async with http.post(f"{srv.url}/bot{TOKEN}/sendMessage", json=raw) as r:
                assert r.status == 429
                assert await r.json() == {"ok": False, "error_code": 429,
                                          "description": "Too Many Requests: retry after 1",
                                          "parameters": {"retry_after": 1}}
            await asyncio.sleep(caught.value.retry_after)
            await bot.send_message(5, "after waiting")  # honouring retry_after works
            async with http.get(f"{srv.url}/_fake/bot{TOKEN}/stats") as r:
                st = (await r.json())["result"]
            assert st["http_429_count"] == 2 and st["sent_count"] == 4
        finally:
            await bot.session.close()


@aio
async def test_bot_wide_rate_over_three_seconds_is_about_30_per_s():
    """Three senders try new chats for 3 s against 30/s (burst 1). A token is taken by the first attempt
    after it refills, so the rate lies between 30/s and 1 / (1/30 s + the gap between attempts): the test
    measures the attempt gaps (p95, so that a shared CPU widens the bound instead of failing the test)
    and asserts  0.95 × that bound ≤ rate ≤ 30.5/s."""
    cfg = TelegramFakeConfig(send_rate_per_s=30, send_burst=1, per_chat_rate_per_s=1000, per_chat_burst=1000)
    async with running(cfg) as srv, aiohttp.ClientSession() as http:
        url = f"{srv.url}/bot{TOKEN}/sendMessage"
        loop = asyncio.get_running_loop()
        end = loop.time() + 3.0
        attempts: list[float] = []
        counts = {200: 0, 429: 0}
        chat_ids = iter(range(1, 10**9))

        async def sender():
            while loop.time() < end:
                attempts.append(loop.time())
                async with http.post(url, json={"chat_id": next(chat_ids), "text": "x"}) as r:
                    counts[r.status] += 1
                await asyncio.sleep(0.005)

        await asyncio.gather(sender(), sender(), sender())
        async with http.get(f"{srv.url}/_fake/bot{TOKEN}/sent") as r:
            stamps = [rec["at_unix_s"] for rec in (await r.json())["result"]]
        assert len(stamps) == counts[200] and counts[429] > counts[200]
        rate = (len(stamps) - 1) / (stamps[-1] - stamps[0])
        attempts.sort()
        gaps = sorted(b - a for a, b in zip(attempts, attempts[1:], strict=False))
        gap_p95 = gaps[int(0.95 * (len(gaps) - 1))]
        lower = 1 / (1 / 30 + gap_p95)
        assert 0.95 * lower <= rate <= 30.5, (rate, lower, gap_p95)


def test_config_from_the_default_scenario():
    from botcap.scenario import load_scenario

    cfg = TelegramFakeConfig.from_scenario(load_scenario(), latency_s=0.05)
    assert (cfg.send_rate_per_s, cfg.send_burst, cfg.per_chat_rate_per_s) == (30, 30, 1)
    assert (cfg.webhook_max_connections, cfg.webhook_timeout_s, cfg.latency_s) == (40, 60, 0.05)
