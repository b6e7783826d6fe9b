"""Webhook delivery to a real receiver started in the test: secret header, the max_connections cap,
redelivery after non-2xx, and replies given in the webhook response (aiogram, handle_in_background off).
"""

from __future__ import annotations

import asyncio
import functools

import aiohttp
from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web
from botcap.loadtest.fakes.telegram import TelegramFakeConfig
from botcap.loadtest.fakes.telegram.server import running

TOKEN = "555:" + "D" * 35
FAST_RETRY = TelegramFakeConfig(webhook_retry_base_s=0.05, webhook_retry_max_s=0.2, webhook_timeout_s=5)


def aio(fn):
    @functools.wraps(fn)
    def run(*args, **kwargs):
        return asyncio.run(fn(*args, **kwargs))
    return run


class Receiver:
    """A webhook endpoint that records what arrives, holds requests until released, fails on demand."""

    def __init__(self, fail_first: int = 0, hold: bool = False):
        self.fail_first = fail_first  # answer 500 to the first N attempts of every update
        self.release = asyncio.Event()
        if not hold:
            self.release.set()
        self.in_flight = 0
        self.peak = 0
        self.attempts: dict[int, int] = {}
        self.secrets: list[str | None] = []
        self.done: list[int] = []

    async def handle(self, request: web.Request) -> web.Response:
        update = await request.json()
        uid = update["update_id"]
        self.secrets.append(request.headers.get("X-Telegram-Bot-Api-Secret-Token"))
        self.attempts[uid] = self.attempts.get(uid, 0) + 1
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await self.release.wait()
            if self.attempts[uid] <= self.fail_first:
                return web.Response(status=500)
            self.done.append(uid)
            return web.Response()
        finally:
            self.in_flight -= 1


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"


def receiver_app(rx: Receiver) -> web.Application:
    app = web.Application()
    app.router.add_post("/hook", rx.handle)
    return app


async def wait_until(cond, timeout_s: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not cond():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def inject_batch(http, url, n: int) -> list[int]:
    updates = [{"message": {"chat": {"id": 100 + i}, "text": f"u{i}"}} for i in range(n)]
    async with http.post(f"{url}/_fake/bot{TOKEN}/updates/batch", json=updates) as r:
        body = await r.json()
        assert body["ok"], body
        return body["update_ids"]


async def stats(http, url) -> dict:
    async with http.get(f"{url}/_fake/bot{TOKEN}/stats") as r:
        return (await r.json())["result"]


@aio
async def test_delivery_with_secret_and_never_more_than_max_connections_in_flight():
    rx = Receiver(hold=True)
    runner, rx_url = await serve(receiver_app(rx))
    try:
        async with running(FAST_RETRY) as srv, aiohttp.ClientSession() as http:
            bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(srv.url)))
            await bot.set_webhook(f"{rx_url}/hook", secret_token="tok_EN-1", max_connections=3)
            await bot.session.close()
            ids = await inject_batch(http, srv.url, 12)
            await wait_until(lambda: rx.in_flight == 3)
            await asyncio.sleep(0.3)  # give the fake every chance to exceed the cap
            assert rx.peak == 3
            st = await stats(http, srv.url)
            assert st["webhook_in_flight"] == 3 and st["pending_update_count"] == 12
            rx.release.set()
            await wait_until(lambda: len(rx.done) == 12)
            assert sorted(rx.done) == ids and rx.peak == 3
            assert set(rx.secrets) == {"tok_EN-1"}
            st = await stats(http, srv.url)
            assert st["webhook_in_flight_peak"] == 3 and st["updates_delivered"] == 12
            assert st["redeliveries"] == 0
            assert (await stats(http, srv.url))["pending_update_count"] == 0
    finally:
        await runner.cleanup()


@aio
async def test_non_2xx_is_redelivered_with_backoff():
    rx = Receiver(fail_first=2)
    runner, rx_url = await serve(receiver_app(rx))
    try:
        async with running(FAST_RETRY) as srv, aiohttp.ClientSession() as http:
            async with http.post(f"{srv.url}/bot{TOKEN}/setWebhook", data={"url": f"{rx_url}/hook"}) as r:
                assert (await r.json())["description"] == "Webhook was set"
            ids = await inject_batch(http, srv.url, 3)
            await wait_until(lambda: len(rx.done) == 3)
            assert sorted(rx.done) == ids
            assert rx.attempts == {uid: 3 for uid in ids}
            assert all(s is None for s in rx.secrets)  # no secret set, no header
            st = await stats(http, srv.url)
            assert st["webhook_attempts"] == 9 and st["redeliveries"] == 6 and st["webhook_failures"] == 6
            async with http.get(f"{srv.url}/bot{TOKEN}/getWebhookInfo") as r:
                info = (await r.json())["result"]
            assert info["pending_update_count"] == 0
            assert info["last_error_message"] == "Wrong response from the webhook: 500 Internal Server Error"
    finally:
        await runner.cleanup()


@aio
async def test_aiogram_webhook_bot_replies_both_in_background_and_in_the_response():
    for in_background in (True, False):
        async with running(FAST_RETRY) as srv, aiohttp.ClientSession() as http:
            bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(srv.url)))
            dp = Dispatcher()

            @dp.message()
            async def echo(message: Message):
                # returned unawaited: aiogram answers the webhook with it when not in background
                return message.answer(f"echo: {message.text}")

            app = web.Application()
            SimpleRequestHandler(dp, bot, handle_in_background=in_background,
                                 secret_token="abc").register(app, path="/hook")
            runner, rx_url = await serve(app)
            try:
                await bot.set_webhook(f"{rx_url}/hook", secret_token="abc")
                async with http.post(f"{srv.url}/_fake/bot{TOKEN}/updates",
                                     json={"message": {"chat": {"id": 9}, "text": "ping"}}) as r:
                    after = (await r.json())["last_sent_id"]
                async with http.get(f"{srv.url}/_fake/bot{TOKEN}/sent/wait",
                                    params={"chat_id": "9", "after_id": str(after), "timeout_s": "5"}) as r:
                    body = await r.json()
                assert body["ok"], (in_background, body)
                assert body["result"]["text"] == "echo: ping"
                # in background aiogram calls sendMessage itself; otherwise the fake runs the method
                # found in the webhook's answer (multipart), as Telegram does
                assert (await stats(http, srv.url))["webhook_reply_methods"] == (0 if in_background else 1)
            finally:
                await runner.cleanup()
                await bot.session.close()
