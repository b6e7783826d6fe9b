"""The fake Bot API seen through real aiogram 3: method results, shapes and Telegram's errors.

No mocks: each test starts the fake on a free loopback port and talks to it over HTTP with
``aiogram.Bot`` (``AiohttpSession(api=TelegramAPIServer.from_base(url))``) or plain aiohttp.
"""

from __future__ import annotations

import asyncio
import functools
import json

import aiohttp
import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest, TelegramNotFound, TelegramUnauthorizedError
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, ReplyParameters
from botcap.loadtest.fakes.telegram import TelegramFakeConfig
from botcap.loadtest.fakes.telegram.server import running

TOKEN = "123456:" + "A" * 35
OTHER = "777:" + "b" * 35
UNLIMITED = TelegramFakeConfig(per_chat_rate_per_s=1000, per_chat_burst=1000)


def aio(fn):
    @functools.wraps(fn)
    def run(*args, **kwargs):
        return asyncio.run(fn(*args, **kwargs))
    return run


def make_bot(url: str, token: str = TOKEN) -> Bot:
    return Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(url)))


async def inject(http: aiohttp.ClientSession, url: str, update: dict, token: str = TOKEN) -> dict:
    async with http.post(f"{url}/_fake/bot{token}/updates", json=update) as r:
        body = await r.json()
        assert r.status == 200, body
        return body


@aio
async def test_get_me_is_the_bot_of_the_token():
    async with running() as srv:
        bot = make_bot(srv.url)
        other = make_bot(srv.url, OTHER)
        try:
            me = await bot.get_me()
            assert (me.id, me.is_bot, me.username) == (123456, True, "fake_123456_bot")
            assert (await other.get_me()).id == 777
        finally:
            await bot.session.close()
            await other.session.close()


@aio
async def test_send_message_replies_with_reply_parameters_and_per_chat_ids():
    async with running() as srv, aiohttp.ClientSession() as http:
        bot = make_bot(srv.url)
        try:
            await inject(http, srv.url, {"message": {"chat": {"id": 42, "first_name": "Ann"}, "text": "hi"}})
            kb = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="ok", callback_data="k")]])
            sent = await bot.send_message(42, "hello <b>Ann</b>", parse_mode="HTML",
                                          reply_parameters=ReplyParameters(message_id=1), reply_markup=kb)
            assert sent.message_id == 2  # the user's message was 1 in this chat
            assert sent.chat.id == 42 and sent.chat.type == "private" and sent.chat.first_name == "Ann"
            assert sent.from_user.id == 123456 and sent.from_user.is_bot
            assert sent.text == "hello <b>Ann</b>"
            assert sent.reply_to_message.message_id == 1 and sent.reply_to_message.text == "hi"
            assert sent.reply_markup.inline_keyboard[0][0].callback_data == "k"
            assert (await bot.send_message(43, "x")).message_id == 1  # ids are per chat
            old_style = await bot.send_message(42, "again", reply_to_message_id=2)
            assert old_style.reply_to_message.message_id == 2
        finally:
            await bot.session.close()


@aio
async def test_bad_requests_carry_telegrams_descriptions():
    async with running(TelegramFakeConfig(known_chats_only=True)) as srv, aiohttp.ClientSession() as http:
        bot = make_bot(srv.url)
        try:
            with pytest.raises(TelegramBadRequest, match="Bad Request: chat not found"):
                await bot.send_message(99, "nobody wrote to me")
            await inject(http, srv.url, {"message": {"chat": {"id": 99}, "text": "/start"}})
            with pytest.raises(TelegramBadRequest, match="Bad Request: message to be replied not found"):
                await bot.send_message(99, "x", reply_parameters=ReplyParameters(message_id=50))
            with pytest.raises(TelegramBadRequest, match="Bad Request: message is too long"):
                await bot.send_message(99, "x" * 4097)
            with pytest.raises(TelegramBadRequest, match="Bad Request: message text is empty"):
                await bot.send_message(99, "   ")
            with pytest.raises(TelegramBadRequest, match="wrong parameter action"):
                await bot.send_chat_action(99, "dancing")
            assert await bot.send_chat_action(99, "typing") is True
        finally:
            await bot.session.close()


@aio
async def test_unknown_method_is_404_and_malformed_token_is_401():
    async with running() as srv, aiohttp.ClientSession() as http:
        async with http.get(f"{srv.url}/bot{TOKEN}/sendTelepathy") as r:
            assert r.status == 404
            assert await r.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
        async with http.get(f"{srv.url}/nothing/here") as r:
            assert r.status == 404 and (await r.json())["error_code"] == 404
        bad = make_bot(srv.url, "123:short")
        bad_long = make_bot(srv.url, "123:" + "x" * 36)
        try:
            with pytest.raises(TelegramUnauthorizedError, match="Unauthorized"):
                await bad.get_me()
            with pytest.raises(TelegramUnauthorizedError):
                await bad_long.get_me()
        finally:
            await bad.session.close()
            await bad_long.session.close()
        bot = make_bot(srv.url)
        try:
            with pytest.raises(TelegramNotFound):
                await bot.session.make_request(bot, _FakeMethod())
        finally:
            await bot.session.close()


class _FakeMethod:
    """A method name Telegram does not have, sent through aiogram's real request path."""

    __api_method__ = "sendTelepathy"
    __returning__ = bool

    def model_dump(self, warnings=False):
        return {"chat_id": 1}


@aio
async def test_parameters_accepted_as_json_form_multipart_and_query():
    async with running(UNLIMITED) as srv, aiohttp.ClientSession() as http:
        base = f"{srv.url}/bot{TOKEN}/sendMessage"
        markup = {"inline_keyboard": [[{"text": "a", "callback_data": "b"}]]}
        form = aiohttp.FormData({"chat_id": "5", "text": "form", "reply_markup": json.dumps(markup)})
        multipart = aiohttp.FormData({"chat_id": "5", "text": "multi"})
        multipart.add_field("document", b"\x00bytes", filename="f.bin")  # forces multipart/form-data
        calls = [
            http.post(base, json={"chat_id": 5, "text": "json", "reply_markup": markup}),
            http.post(base, data=form),
            http.post(base, data=multipart),
            http.get(base, params={"chat_id": "5", "text": "query"}),
            http.post(base + "?chat_id=5", data={"text": "mixed"}),
        ]
        texts = []
        for call in calls:
            async with call as r:
                body = await r.json()
                assert r.status == 200 and body["ok"], body
                texts.append(body["result"]["text"])
        assert texts == ["json", "form", "multi", "query", "mixed"]
        async with http.get(f"{srv.url}/_fake/bot{TOKEN}/sent", params={"chat_id": "5"}) as r:
            assert [rec["message_id"] for rec in (await r.json())["result"]] == [1, 2, 3, 4, 5]
        async with http.post(base, data=b"{not json", headers={"Content-Type": "application/json"}) as r:
            assert r.status == 400 and (await r.json())["description"].startswith("Bad Request:")
        async with http.get(f"{srv.url}/bot{TOKEN}/GETME") as r:  # method names are case-insensitive
            assert r.status == 200


@aio
async def test_edit_message_text_and_answer_callback_query():
    async with running() as srv, aiohttp.ClientSession() as http:
        bot = make_bot(srv.url)
        try:
            sent = await bot.send_message(8, "thinking…")
            edited = await bot.edit_message_text("the answer", chat_id=8, message_id=sent.message_id)
            assert edited.text == "the answer" and edited.edit_date is not None
            with pytest.raises(TelegramBadRequest, match="message is not modified"):
                await bot.edit_message_text("the answer", chat_id=8, message_id=sent.message_id)
            with pytest.raises(TelegramBadRequest, match="message to edit not found"):
                await bot.edit_message_text("x", chat_id=8, message_id=999)
            body = await inject(http, srv.url, {"callback_query": {
                "id": "cb1", "from": {"id": 8, "is_bot": False, "first_name": "U"}, "data": "k"}})
            assert body["update_id"] == 1
            assert await bot.answer_callback_query("cb1", text="done") is True
            with pytest.raises(TelegramBadRequest, match="query is too old"):
                await bot.answer_callback_query("cb1")  # answered already
            async with http.get(f"{srv.url}/_fake/bot{TOKEN}/sent", params={"chat_id": "8"}) as r:
                recs = (await r.json())["result"]
            assert [(r["method"], r["text"]) for r in recs] == [("sendMessage", "thinking…"),
                                                                ("editMessageText", "the answer")]
        finally:
            await bot.session.close()


@aio
async def test_each_token_has_its_own_state():
    async with running() as srv, aiohttp.ClientSession() as http:
        a, b = make_bot(srv.url), make_bot(srv.url, OTHER)
        try:
            await a.send_message(1, "from a")
            assert (await b.send_message(1, "from b")).message_id == 1
            await inject(http, srv.url, {"message": {"chat": {"id": 3}, "text": "to a"}})
            assert len(await a.get_updates(timeout=0)) == 1
            assert await b.get_updates(timeout=0) == []
        finally:
            await a.session.close()
            await b.session.close()


@aio
async def test_latency_is_added_to_every_call():
    async with running(TelegramFakeConfig(latency_s=0.2)) as srv:
        bot = make_bot(srv.url)
        try:
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            await bot.get_me()
            assert loop.time() - t0 >= 0.2
        finally:
            await bot.session.close()
