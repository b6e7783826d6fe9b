"""The Bot API methods the staging bot uses, with Telegram's result shapes and error descriptions.

Each method is ``async (fake, bot, params, arrived_at) -> result`` and raises ``ApiError`` on failure;
names are looked up case-insensitively, as the Bot API does. Only private chats are modelled: a chat
exists once the fake has seen a message from it, or (unless ``known_chats_only``) for any positive id.
"""

from __future__ import annotations

import re
import time
from urllib.parse import urlsplit

from botcap.loadtest.fakes.telegram.errors import (
    CHAT_NOT_FOUND,
    CONFLICT_SET_WEBHOOK,
    CONFLICT_WEBHOOK_ACTIVE,
    NOT_FOUND,
    ApiError,
    bad_request,
    too_many_requests,
)
from botcap.loadtest.fakes.telegram.params import Params, get_bool, get_int, get_json, get_str
from botcap.loadtest.fakes.telegram.webhook import WebhookDispatcher, WebhookSettings
from botcap.loadtest.net import is_loopback_host

MAX_TEXT = 4096
PARSE_MODES = {"html", "markdown", "markdownv2"}
CHAT_ACTIONS = {"typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
                "upload_document", "choose_sticker", "find_location", "record_video_note",
                "upload_video_note"}
SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
NOT_MODIFIED = ("message is not modified: specified new message content and reply markup are exactly the "
                "same as a current content and reply markup of the message")


class Described:
    """A result that Telegram returns with a ``description`` (setWebhook, deleteWebhook)."""

    __slots__ = ("result", "description")

    def __init__(self, result, description: str):
        self.result = result
        self.description = description


# ------------------------------------------------------------------------------------ helpers
def chat_id_of(fake, bot, params: Params, name: str = "chat_id") -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        raise bad_request(f"{name} is empty")
    try:
        chat_id = raw if isinstance(raw, int) and not isinstance(raw, bool) else int(str(raw).strip())
    except ValueError:
        raise bad_request(CHAT_NOT_FOUND) from None  # "@username": no public channels here
    if chat_id not in bot.chats and (chat_id <= 0 or fake.config.known_chats_only):
        raise bad_request(CHAT_NOT_FOUND)
    return chat_id


def text_of(params: Params) -> str:
    text = get_str(params, "text")
    if not text or not text.strip():
        raise bad_request("message text is empty")
    if len(text) > MAX_TEXT:
        raise bad_request("message is too long")
    parse_mode = get_str(params, "parse_mode")
    if parse_mode and parse_mode.lower() not in PARSE_MODES:
        raise bad_request(f"unsupported parse_mode \"{parse_mode}\"")
    return text


def reply_target(bot, chat_id: int, params: Params) -> tuple[int | None, dict | None]:
    """``reply_parameters`` (Bot API 7.0+) or the older ``reply_to_message_id``; 400 if it is not there."""
    rp = get_json(params, "reply_parameters", dict)
    if rp is not None:
        mid = get_int(rp, "message_id")
        if mid is None:
            raise bad_request("message_id in reply_parameters is empty")
        allow = get_bool(rp, "allow_sending_without_reply")
    else:
        mid = get_int(params, "reply_to_message_id")
        allow = get_bool(params, "allow_sending_without_reply")
    if mid is None:
        return None, None
    if not bot.exists(chat_id, mid):
        if allow:
            return None, None
        raise bad_request("message to be replied not found")
    found = bot.find(chat_id, mid)
    if found is None:  # forgotten (beyond the stored window) but it did exist
        found = {"message_id": mid, "date": int(time.time()), "chat": bot.chat(chat_id)}
    else:
        found = {k: v for k, v in found.items() if k != "reply_to_message"}  # Telegram nests one level
    return mid, found


def send_record(bot, method: str, message: dict, reply_to: int | None, arrived_at: float) -> dict:
    return bot.sent.add({"id": 0, "method": method, "chat_id": message["chat"]["id"], "text": message["text"],
                         "message_id": message["message_id"], "reply_to_message_id": reply_to,
                         "at_unix_s": arrived_at})


def delivery_url(config, url: str) -> str:
    """Where the fake POSTs updates for a webhook the bot set at ``url``.

    A loopback URL as it is. Any other URL (aiogram's echo_bot_webhook.py sets its public
    ``https://…`` address) is accepted, as Telegram accepts it, but the fake sends nothing off this
    machine: with ``webhook_rewrite`` (``--webhook-rewrite http://127.0.0.1:8080``) updates go to that
    loopback base + the URL's path and query; otherwise they stay pending and getWebhookInfo's
    ``last_error_message`` says why (the load harness stops with that line).
    """
    parts = urlsplit(url)
    if is_loopback_host(parts.hostname) or config.allow_non_loopback_webhooks:
        return url
    if config.webhook_rewrite:
        base = config.webhook_rewrite.rstrip("/")
        return base + (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return ""


NOT_DELIVERED = ("the fake Telegram API delivers webhooks only to loopback addresses: start it with "
                 "--webhook-rewrite http://127.0.0.1:PORT (your bot's local port) or set a loopback URL")


# ------------------------------------------------------------------------------------ methods
async def get_me(fake, bot, params, arrived_at):
    return bot.user


async def send_message(fake, bot, params, arrived_at):
    chat_id = chat_id_of(fake, bot, params)
    text = text_of(params)
    reply_to, reply_msg = reply_target(bot, chat_id, params)
    markup = get_json(params, "reply_markup", dict)
    retry_after = bot.limiter.check(chat_id, fake.config)
    if retry_after:
        bot.stats["http_429_count"] += 1
        raise too_many_requests(retry_after)
    message = {"message_id": bot.next_message_id(chat_id), "from": bot.user, "chat": bot.chat(chat_id),
               "date": int(arrived_at), "text": text}
    if reply_msg is not None:
        message["reply_to_message"] = reply_msg
    if markup and "inline_keyboard" in markup:
        message["reply_markup"] = markup
    bot.store(message)
    bot.stats["sent_count"] += 1
    send_record(bot, "sendMessage", message, reply_to, arrived_at)
    return message


async def edit_message_text(fake, bot, params, arrived_at):
    text = text_of(params)
    markup = get_json(params, "reply_markup", dict)
    if get_str(params, "inline_message_id"):
        return True  # inline messages are not modelled: accepted, as Telegram would
    chat_id = chat_id_of(fake, bot, params)
    mid = get_int(params, "message_id")
    if mid is None:
        raise bad_request("message identifier is not specified")
    message = bot.find(chat_id, mid)
    if message is None:
        raise bad_request("message to edit not found")
    if message.get("from", {}).get("id") != bot.user["id"]:
        raise bad_request("message can't be edited")
    new_markup = markup if markup and "inline_keyboard" in markup else None
    if message["text"] == text and message.get("reply_markup") == new_markup:
        raise bad_request(NOT_MODIFIED)
    message = dict(message, text=text, edit_date=int(arrived_at))
    message.pop("reply_markup", None)
    if new_markup is not None:
        message["reply_markup"] = new_markup
    bot.store(message)
    bot.stats["edited_count"] += 1
    reply = message.get("reply_to_message")
    send_record(bot, "editMessageText", message, reply["message_id"] if reply else None, arrived_at)
    return message


async def answer_callback_query(fake, bot, params, arrived_at):
    query_id = get_str(params, "callback_query_id")
    if not query_id:
        raise bad_request("query_id is empty")
    if bot.callback_queries.get(query_id, True):  # unknown or already answered
        raise bad_request("query is too old and response timeout expired or query ID is invalid")
    text = get_str(params, "text") or ""
    if len(text) > 200:
        raise bad_request("MESSAGE_TOO_LONG")
    bot.callback_queries[query_id] = True
    return True


async def send_chat_action(fake, bot, params, arrived_at):
    chat_id_of(fake, bot, params)
    action = get_str(params, "action")
    if not action:
        raise bad_request("action is empty")
    if action not in CHAT_ACTIONS:
        raise bad_request("wrong parameter action in request")
    return True


async def get_updates(fake, bot, params, arrived_at):
    if bot.webhook is not None:
        raise CONFLICT_WEBHOOK_ACTIVE
    offset = get_int(params, "offset", 0)
    limit = min(100, max(1, get_int(params, "limit", 100)))
    timeout = min(fake.config.long_poll_max_s, max(0.0, float(get_int(params, "timeout", 0))))
    allowed = get_json(params, "allowed_updates", list)
    if allowed is not None:
        bot.updates.allowed_updates = [str(a) for a in allowed] or None
    bot.last_poll_at = arrived_at
    bot.stats["get_updates_calls"] += 1
    found = await bot.updates.get_updates(offset, limit, timeout)
    answered_at = time.time()  # a long poll answers later than it arrived: the take is now
    for update in found:
        bot.timeline.take(update, "getUpdates", answered_at)
        if update["update_id"] > bot.handed_out_id:
            bot.handed_out_id = update["update_id"]
            bot.stats["updates_delivered"] += 1
    return found


async def set_webhook(fake, bot, params, arrived_at):
    url = get_str(params, "url") or ""
    if not url:
        return await delete_webhook(fake, bot, params, arrived_at)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
    deliver_to = delivery_url(fake.config, url)
    max_conn = get_int(params, "max_connections", fake.config.webhook_max_connections)
    if not 1 <= max_conn <= 100:
        raise bad_request("bad webhook: max_connections must be between 1 and 100")
    secret = get_str(params, "secret_token")
    if secret and not SECRET_RE.match(secret):
        raise bad_request("secret token contains unallowed characters")
    allowed = get_json(params, "allowed_updates", list)
    settings = WebhookSettings(url=url, secret_token=secret or None, max_connections=max_conn,
                               deliver_to=deliver_to)
    if allowed is not None:
        bot.updates.allowed_updates = [str(a) for a in allowed] or None
    if get_bool(params, "drop_pending_updates"):
        bot.updates.drop_all()
    bot.updates.terminate_poller(CONFLICT_SET_WEBHOOK)
    if bot.webhook == settings:
        return Described(True, "Webhook is already set")
    if bot.dispatcher is not None:
        await bot.dispatcher.stop()
    bot.webhook = settings
    bot.last_error_date = bot.last_error_message = None
    if not deliver_to:  # accepted as Telegram would, but never POSTed off this machine
        bot.last_error_date, bot.last_error_message = int(time.time()), NOT_DELIVERED
        bot.dispatcher = None
        return Described(True, "Webhook was set")

    async def execute(reply: Params) -> None:
        await call_method(fake, bot, str(reply.pop("method")), reply, time.time())

    bot.dispatcher = WebhookDispatcher(bot, settings, fake.client_session(), lambda: fake.config, execute)
    bot.dispatcher.pump()
    return Described(True, "Webhook was set")


async def delete_webhook(fake, bot, params, arrived_at):
    if get_bool(params, "drop_pending_updates"):
        bot.updates.drop_all()
    if bot.webhook is None:
        return Described(True, "Webhook is already deleted")
    if bot.dispatcher is not None:
        await bot.dispatcher.stop()
    bot.webhook = bot.dispatcher = None
    return Described(True, "Webhook was deleted")


async def get_webhook_info(fake, bot, params, arrived_at):
    info = {"url": bot.webhook.url if bot.webhook else "", "has_custom_certificate": False,
            "pending_update_count": len(bot.updates.pending)}
    if bot.webhook is not None:
        info["max_connections"] = bot.webhook.max_connections
        info["ip_address"] = "127.0.0.1"
    if bot.last_error_date is not None:
        info["last_error_date"] = bot.last_error_date
        info["last_error_message"] = bot.last_error_message
    if bot.updates.allowed_updates:
        info["allowed_updates"] = bot.updates.allowed_updates
    return info


async def set_my_commands(fake, bot, params, arrived_at):
    bot.commands = get_json(params, "commands", list) or []
    return True


async def get_my_commands(fake, bot, params, arrived_at):
    return bot.commands


async def delete_my_commands(fake, bot, params, arrived_at):
    bot.commands = []
    return True


METHODS = {name.lower(): fn for name, fn in {
    "getMe": get_me, "sendMessage": send_message, "editMessageText": edit_message_text,
    "answerCallbackQuery": answer_callback_query, "sendChatAction": send_chat_action,
    "getUpdates": get_updates, "setWebhook": set_webhook, "deleteWebhook": delete_webhook,
    "getWebhookInfo": get_webhook_info, "setMyCommands": set_my_commands,
    "getMyCommands": get_my_commands, "deleteMyCommands": delete_my_commands,
}.items()}


async def call_method(fake, bot, method: str, params: Params, arrived_at: float):
    """Run one Bot API method by name (404 Not Found for a method the fake does not know); every call
    lands in the bot's timeline with the status it got."""
    fn = METHODS.get(method.lower()) or SEND_METHODS.get(method.lower())
    if fn is None:
        bot.timeline.call(method, params, None, NOT_FOUND.error_code, arrived_at)
        raise NOT_FOUND
    bot.stats["requests"] += 1
    try:
        result = await fn(fake, bot, params, arrived_at)
    except ApiError as e:
        bot.timeline.call(method, params, None, e.error_code, arrived_at)
        raise
    bot.timeline.call(method, params, result, 200, arrived_at)
    return result


from botcap.loadtest.fakes.telegram.sends import SEND_METHODS  # noqa: E402 (sends reuses the helpers above)
