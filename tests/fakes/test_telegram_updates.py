"""Polling and webhook registration through real aiogram: getUpdates offsets and long poll, 409s,
setWebhook / getWebhookInfo / deleteWebhook.
"""

from __future__ import annotations

import asyncio
import functools

import aiohttp
import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest, TelegramConflictError
from botcap.loadtest.fakes.telegram.server import running

TOKEN = "4242:" + "C" * 35


def aio(fn):
    @functools.wraps(fn)
    def run(*args, **kwargs):
        return asyncio.run(fn(*args, **kwargs))
    return run


def make_bot(url: str) -> Bot:
    return Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(url)))


async def inject(http, url, text: str, chat_id: int = 10) -> int:
    async with http.post(f"{url}/_fake/bot{TOKEN}/updates",
                         json={"message": {"chat": {"id": chat_id}, "text": text}}) as r:
        return (await r.json())["update_id"]


@aio
async def test_get_updates_offset_confirms_and_limit_caps():
    async with running() as srv, aiohttp.ClientSession() as http:
        bot = make_bot(srv.url)
        try:
            ids = [await inject(http, srv.url, f"m{i}") for i in range(5)]
            assert ids == [1, 2, 3, 4, 5]
            first = await bot.get_updates(limit=2, timeout=0)
            assert [u.update_id for u in first] == [1, 2]
            assert first[0].message.text == "m0" and first[0].message.chat.id == 10
            again = await bot.get_updates(limit=2, timeout=0)  # nothing confirmed yet: same two
            assert [u.update_id for u in again] == [1, 2]
            rest = await bot.get_updates(offset=3, timeout=0)  # confirms 1 and 2
            assert [u.update_id for u in rest] == [3, 4, 5]
            assert [u.update_id for u in await bot.get_updates(offset=-1, timeout=0)] == [5]
            assert await bot.get_updates(offset=6, timeout=0) == []
            info = await bot.get_webhook_info()
            assert info.url == "" and info.pending_update_count == 0
        finally:
            await bot.session.close()


@aio
async def test_long_poll_returns_as_soon_as_an_update_arrives():
    async with running() as srv, aiohttp.ClientSession() as http:
        bot = make_bot(srv.url)
        try:
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            assert await bot.get_updates(timeout=1) == []  # waits the whole timeout when nothing comes
            assert 0.9 <= loop.time() - t0 < 3.0
            poll = asyncio.create_task(bot.get_updates(timeout=10))
            await asyncio.sleep(0.3)
            assert not poll.done()
            t1 = loop.time()
            await inject(http, srv.url, "wake up")
            updates = await asyncio.wait_for(poll, 5)
            assert [u.message.text for u in updates] == ["wake up"]
            assert loop.time() - t1 < 1.0  # not the 10 s timeout
        finally:
            await bot.session.close()


@aio
async def test_second_poller_terminates_the_first_with_409():
    async with running() as srv:
        bot = make_bot(srv.url)
        try:
            first = asyncio.create_task(bot.get_updates(timeout=10))
            await asyncio.sleep(0.3)
            second = asyncio.create_task(bot.get_updates(timeout=1))
            with pytest.raises(TelegramConflictError, match="terminated by other getUpdates request"):
                await asyncio.wait_for(first, 5)
            assert await asyncio.wait_for(second, 5) == []
        finally:
            await bot.session.close()


@aio
async def test_webhook_registration_and_getupdates_conflict():
    async with running() as srv, aiohttp.ClientSession() as http:
        bot = make_bot(srv.url)
        try:
            poll = asyncio.create_task(bot.get_updates(timeout=10))
            await asyncio.sleep(0.3)
            # the port is closed: deliveries fail and updates stay pending
            url = "http://127.0.0.1:9/hook"
            assert await bot.set_webhook(url, secret_token="s3cret", max_connections=7,
                                         allowed_updates=["message", "callback_query"]) is True
            with pytest.raises(TelegramConflictError, match="terminated by setWebhook request"):
                await asyncio.wait_for(poll, 5)
            with pytest.raises(TelegramConflictError, match="can't use getUpdates method while webhook"):
                await bot.get_updates(timeout=0)
            info = await bot.get_webhook_info()
            assert (info.url, info.max_connections, info.pending_update_count) == (url, 7, 0)
            assert info.allowed_updates == ["message", "callback_query"]
            await inject(http, srv.url, "queued")
            await asyncio.sleep(0.3)
            info = await bot.get_webhook_info()
            assert info.pending_update_count == 1
            assert info.last_error_message == "Connection refused" and info.last_error_date is not None
            with pytest.raises(TelegramBadRequest, match="max_connections"):
                await bot.set_webhook(url, max_connections=101)
            # a public URL is accepted (aiogram's echo_bot_webhook.py must start) but never delivered to
            assert await bot.set_webhook("https://example.com/hook") is True
            info = await bot.get_webhook_info()
            assert info.url == "https://example.com/hook" and "loopback" in info.last_error_message
            assert info.pending_update_count == 1
            assert await bot.delete_webhook() is True
            info = await bot.get_webhook_info()
            assert info.url == "" and info.pending_update_count == 1
            assert [u.message.text for u in await bot.get_updates(timeout=0)] == ["queued"]
            assert await bot.delete_webhook(drop_pending_updates=True) is True
            assert await bot.get_updates(timeout=0) == []
        finally:
            await bot.session.close()


@aio
async def test_default_allowed_updates_drop_reactions():
    async with running() as srv, aiohttp.ClientSession() as http:
        bot = make_bot(srv.url)
        try:
            async with http.post(f"{srv.url}/_fake/bot{TOKEN}/updates", json={"message_reaction": {
                    "chat": {"id": 1, "type": "private"}, "message_id": 1, "date": 0,
                    "old_reaction": [], "new_reaction": []}}) as r:
                assert (await r.json())["ok"]
            await inject(http, srv.url, "kept")
            assert [u.update_id for u in await bot.get_updates(timeout=0)] == [2]
        finally:
            await bot.session.close()
