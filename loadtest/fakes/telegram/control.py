"""Control routes (``/_fake/...``): inject updates, read/await/stream the sent record, stats, config.

These are the fake's own API for the load generator and the tests, not Telegram's; they answer only
to loopback clients. Errors here are ``{"ok": false, "error": "..."}`` (400), success ``{"ok": true, ...}``.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import time

from aiohttp import web
from botcap.loadtest.fakes.telegram.config import TelegramFakeConfig
from botcap.loadtest.fakes.telegram.errors import ApiError
from botcap.loadtest.fakes.telegram.records import matcher
from botcap.loadtest.net import is_loopback_host
from pydantic import ValidationError

FAKE_KEY: web.AppKey = web.AppKey("fake_telegram", object)
SSE_HEARTBEAT_S = 15.0


class ControlError(Exception):
    """A bad control request: its message is the ``error`` text."""


def _dumps(obj) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def ok(**fields) -> web.Response:
    return web.Response(text=_dumps({"ok": True, **fields}), content_type="application/json")


def fail(error: str, status: int = 400) -> web.Response:
    return web.Response(text=_dumps({"ok": False, "error": error}), status=status,
                        content_type="application/json")


def control(handler):
    """Loopback-only guard and uniform error answers for a control route."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        if not is_loopback_host(request.remote):
            return fail("control routes answer only to loopback clients", status=403)
        try:
            return await handler(request, request.app[FAKE_KEY])
        except ControlError as e:
            return fail(str(e))
        except ApiError as e:  # e.g. a malformed token
            return fail(e.description, status=e.error_code)

    return wrapped


def _int_arg(request: web.Request, name: str, default: int | None = None) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ControlError(f"{name}: must be an integer (got {raw!r})") from None


def _float_arg(request: web.Request, name: str, default: float) -> float:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ControlError(f"{name}: must be a number (got {raw!r})") from None
    if not 0 <= value <= 3600:
        raise ControlError(f"{name}: must be between 0 and 3600 (got {value})")
    return value


async def _json_body(request: web.Request):
    try:
        return json.loads(await request.read() or b"null")
    except ValueError:
        raise ControlError("body: not valid JSON") from None


# ------------------------------------------------------------------------------------ injection
def _fill_message(bot, message: dict, now: int, where: str) -> None:
    if not isinstance(message, dict):
        raise ControlError(f"{where}: must be an object")
    chat = message.get("chat")
    sender = message.get("from")
    if chat is None:
        if not isinstance(sender, dict) or "id" not in sender:
            raise ControlError(f"{where}: needs chat (or from, for a private chat)")
        chat = message["chat"] = {"id": sender["id"], "type": "private",
                                  "first_name": sender.get("first_name", f"User {sender['id']}")}
    if not isinstance(chat, dict) or not isinstance(chat.get("id"), int):
        raise ControlError(f"{where}.chat.id: must be an integer")
    chat.setdefault("type", "private")
    if chat["type"] == "private":
        chat.setdefault("first_name", f"User {chat['id']}")
    if sender is None:
        message["from"] = {"id": chat["id"], "is_bot": False, "first_name": chat.get("first_name", "User")}
    message.setdefault("date", now)
    if "message_id" not in message:
        message["message_id"] = bot.next_message_id(chat["id"])
    elif not isinstance(message["message_id"], int):
        raise ControlError(f"{where}.message_id: must be an integer")
    bot.saw_message(message)


def inject(fake, bot, update) -> int:
    """Queue one update (ids and dates filled in) and hand it to the webhook if one is set."""
    if not isinstance(update, dict):
        raise ControlError("update: must be a JSON object")
    uid = update.get("update_id")
    if uid is None:
        uid = bot.updates.next_id()
        update = {"update_id": uid, **update}  # first, as Telegram writes it
    elif not isinstance(uid, int) or uid <= bot.updates.last_update_id:
        raise ControlError(f"update_id: must be an integer above {bot.updates.last_update_id} (got {uid!r})")
    if len(update) < 2:
        raise ControlError("update: needs one of message, edited_message, callback_query, …")
    now = int(time.time())
    for key in ("message", "edited_message"):
        if key in update:
            _fill_message(bot, update[key], now, key)
    query = update.get("callback_query")
    if query is not None:
        if not isinstance(query, dict):
            raise ControlError("callback_query: must be an object")
        query.setdefault("id", f"{bot.user['id']}{uid}")
        query.setdefault("chat_instance", str(uid))
        if "message" in query:
            msg = query["message"]
            if isinstance(msg, dict) and "chat" in msg and "message_id" in msg:
                msg.setdefault("date", now)
                msg.setdefault("from", bot.user)  # the bot's message with the button: it may edit it
                bot.chats.setdefault(msg["chat"]["id"], msg["chat"])
                if isinstance(msg["chat"].get("id"), int) and isinstance(msg["message_id"], int):
                    bot.store(msg)
        if "from" not in query:
            raise ControlError("callback_query.from: required")
        bot.add_callback_query(str(query["id"]))
    bot.stats["updates_injected"] += 1
    if bot.updates.push(update):
        if bot.dispatcher is not None:
            bot.dispatcher.notify(uid)
    else:
        bot.stats["updates_filtered"] += 1
    return uid


@control
async def post_update(request, fake):
    bot = fake.bot(request.match_info["token"])
    uid = inject(fake, bot, await _json_body(request))
    return ok(update_id=uid, last_sent_id=bot.sent.last_id)


@control
async def post_updates_batch(request, fake):
    bot = fake.bot(request.match_info["token"])
    updates = await _json_body(request)
    if not isinstance(updates, list):
        raise ControlError("body: must be a JSON list of updates")
    last_sent = bot.sent.last_id
    ids = [inject(fake, bot, u) for u in updates]
    return ok(update_ids=ids, last_sent_id=last_sent)


# ------------------------------------------------------------------------------------ sent record
def _match_args(request):
    return (_int_arg(request, "chat_id"), _int_arg(request, "after_id", 0),
            matcher(_int_arg(request, "chat_id"), _int_arg(request, "reply_to_message_id"),
                    request.query.get("method") or None))


@control
async def get_sent(request, fake):
    bot = fake.bot(request.match_info["token"])
    chat_id, after_id, match = _match_args(request)
    return ok(result=bot.sent.query(chat_id, after_id, match, limit=_int_arg(request, "limit")))


@control
async def wait_sent(request, fake):
    bot = fake.bot(request.match_info["token"])
    chat_id, after_id, match = _match_args(request)
    timeout_s = _float_arg(request, "timeout_s", 10.0)
    rec = await bot.sent.wait(chat_id, after_id, match, timeout_s)
    if rec is None:
        return web.Response(text=_dumps({"ok": False, "error": "timeout"}), content_type="application/json")
    return ok(result=rec)


@control
async def stream_sent(request, fake):
    """Server-sent events: one ``data: <record>`` per record (backlog after ``after_id`` first)."""
    bot = fake.bot(request.match_info["token"])
    chat_id, after_id, match = _match_args(request)
    queue = bot.sent.subscribe(match)
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    try:
        await resp.prepare(request)
        backlog = bot.sent.query(chat_id, after_id, match) if "after_id" in request.query else []
        seen = 0
        for rec in backlog:
            await resp.write(f"id: {rec['id']}\ndata: {_dumps(rec)}\n\n".encode())
            seen = rec["id"]
        while True:
            try:
                rec = await asyncio.wait_for(queue.get(), SSE_HEARTBEAT_S)
            except TimeoutError:
                await resp.write(b": keep-alive\n\n")
                continue
            if rec is None:
                break
            if rec["id"] > seen:
                await resp.write(f"id: {rec['id']}\ndata: {_dumps(rec)}\n\n".encode())
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        bot.sent.unsubscribe(queue)
    return resp


@control
async def get_log(request, fake):
    """The bot's timeline (takes, sends, edits, actions, other calls) from absolute row ``after`` on."""
    bot = fake.bot(request.match_info["token"])
    limit = _int_arg(request, "limit", 50_000)
    if limit is None or not 1 <= limit <= 1_000_000:
        raise ControlError(f"limit: must be between 1 and 1000000 (got {limit})")
    rows, next_after = bot.timeline.after(max(0, _int_arg(request, "after", 0) or 0), limit)
    return ok(result=rows, next_after=next_after)


# ------------------------------------------------------------------------------------ stats, config, reset
@control
async def get_stats(request, fake):
    # fake_pid: botcap's harness on this machine adds the fake's CPU to the run's own (run.json cpu)
    return ok(result={**fake.bot(request.match_info["token"]).stats_view(), "fake_pid": os.getpid()})


@control
async def get_all_stats(request, fake):
    return ok(result={token.split(":")[0]: bot.stats_view() for token, bot in fake.bots.items()})


@control
async def get_config(request, fake):
    return ok(result=fake.config.model_dump())


@control
async def post_config(request, fake):
    changes = await _json_body(request)
    if not isinstance(changes, dict):
        raise ControlError("body: must be a JSON object of config fields")
    try:
        fake.config = TelegramFakeConfig(**{**fake.config.model_dump(), **changes})
    except ValidationError as e:
        raise ControlError("; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}"
                                     for err in e.errors())) from None
    return ok(result=fake.config.model_dump())


@control
async def post_reset(request, fake):
    await fake.reset(request.match_info.get("token"))
    return ok()


def add_control_routes(app: web.Application) -> None:
    app.router.add_post("/_fake/bot{token}/updates", post_update)
    app.router.add_post("/_fake/bot{token}/updates/batch", post_updates_batch)
    app.router.add_get("/_fake/bot{token}/sent", get_sent)
    app.router.add_get("/_fake/bot{token}/sent/wait", wait_sent)
    app.router.add_get("/_fake/bot{token}/sent/stream", stream_sent)
    app.router.add_get("/_fake/bot{token}/stats", get_stats)
    app.router.add_get("/_fake/bot{token}/log", get_log)
    app.router.add_post("/_fake/bot{token}/reset", post_reset)
    app.router.add_get("/_fake/stats", get_all_stats)
    app.router.add_get("/_fake/config", get_config)
    app.router.add_post("/_fake/config", post_config)
    app.router.add_post("/_fake/reset", post_reset)
