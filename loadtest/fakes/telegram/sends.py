"""The other Bot API methods that put text in a chat: copies, forwards, media with a caption, caption edits.

A bot botcap did not write replies however its framework likes: aiogram's ``send_copy()`` of a text is a
sendMessage but of a photo a sendPhoto, ``copy_to()`` is copyMessage, python-telegram-bot's
``reply_photo(caption=…)`` a sendPhoto. Each of these is a reply to the load generator (a sent record
in the chat, ``send`` in the timeline), under the same per-chat and bot-wide send limits as sendMessage.
Media are not stored: a file id, a URL or an upload are all accepted and given a fake file id.
"""

from __future__ import annotations

from botcap.loadtest.fakes.telegram.errors import bad_request, too_many_requests
from botcap.loadtest.fakes.telegram.methods import chat_id_of, reply_target, send_record
from botcap.loadtest.fakes.telegram.params import get_int, get_str

MAX_CAPTION = 1024
MEDIA = {"sendPhoto": "photo", "sendDocument": "document", "sendVideo": "video", "sendAudio": "audio",
         "sendAnimation": "animation", "sendVoice": "voice"}


def _limited(fake, bot, chat_id: int) -> None:
    retry_after = bot.limiter.check(chat_id, fake.config)
    if retry_after:
        bot.stats["http_429_count"] += 1
        raise too_many_requests(retry_after)


def _new_message(bot, chat_id: int, arrived_at: float, **content) -> dict:
    message = {"message_id": bot.next_message_id(chat_id), "from": bot.user, "chat": bot.chat(chat_id),
               "date": int(arrived_at), **content}
    return message


def _record(bot, method: str, message: dict, reply_to: int | None, arrived_at: float) -> None:
    bot.store(message)
    bot.stats["sent_count"] += 1
    text = message.get("text", message.get("caption", ""))
    send_record(bot, method, {**message, "text": text}, reply_to, arrived_at)


def _source(bot, params) -> dict:
    from_chat = get_int(params, "from_chat_id")
    mid = get_int(params, "message_id")
    if from_chat is None or mid is None:
        raise bad_request("from_chat_id and message_id are required")
    found = bot.find(from_chat, mid)
    if found is None:
        raise bad_request("message to copy not found")
    return found


async def copy_message(fake, bot, params, arrived_at):
    """Returns a MessageId, as Telegram does; the copy carries the source's text or caption."""
    chat_id = chat_id_of(fake, bot, params)
    src = _source(bot, params)
    reply_to, _ = reply_target(bot, chat_id, params)
    _limited(fake, bot, chat_id)
    caption = get_str(params, "caption")
    content = {"text": src["text"]} if "text" in src else {"caption": caption or src.get("caption") or ""}
    message = _new_message(bot, chat_id, arrived_at, **content)
    _record(bot, "copyMessage", message, reply_to, arrived_at)
    return {"message_id": message["message_id"]}


async def forward_message(fake, bot, params, arrived_at):
    chat_id = chat_id_of(fake, bot, params)
    src = _source(bot, params)
    _limited(fake, bot, chat_id)
    content = {k: src[k] for k in ("text", "caption") if k in src}
    origin = {"type": "user", "sender_user": src.get("from") or bot.user, "date": src.get("date", 0)}
    message = _new_message(bot, chat_id, arrived_at, forward_origin=origin, **content)
    _record(bot, "forwardMessage", message, None, arrived_at)
    return message


def _media(method: str, field: str):
    async def send_media(fake, bot, params, arrived_at):
        chat_id = chat_id_of(fake, bot, params)
        if params.get(field) in (None, ""):
            raise bad_request(f"there is no {field} in the request")
        caption = get_str(params, "caption") or ""
        if len(caption) > MAX_CAPTION:
            raise bad_request("message caption is too long")
        reply_to, reply_msg = reply_target(bot, chat_id, params)
        _limited(fake, bot, chat_id)
        media = {"file_id": f"fake-{field}-{bot.stats['sent_count'] + 1}", "file_unique_id": "u"}
        content = {field: [media] if field == "photo" else media}
        if caption:
            content["caption"] = caption
        message = _new_message(bot, chat_id, arrived_at, **content)
        if reply_msg is not None:
            message["reply_to_message"] = reply_msg
        _record(bot, method, message, reply_to, arrived_at)
        return message
    return send_media


async def edit_message_caption(fake, bot, params, arrived_at):
    chat_id = chat_id_of(fake, bot, params)
    mid = get_int(params, "message_id")
    message = bot.find(chat_id, mid) if mid is not None else None
    if message is None:
        raise bad_request("message to edit not found")
    caption = get_str(params, "caption") or ""
    if message.get("caption", "") == caption:
        raise bad_request("message is not modified")
    message = dict(message, caption=caption, edit_date=int(arrived_at))
    bot.store(message)
    bot.stats["edited_count"] += 1
    reply = message.get("reply_to_message")
    send_record(bot, "editMessageCaption", {**message, "text": caption},
                reply["message_id"] if reply else None, arrived_at)
    return message


async def delete_message(fake, bot, params, arrived_at):
    chat_id = chat_id_of(fake, bot, params)
    mid = get_int(params, "message_id")
    if mid is None or bot.messages.pop((chat_id, mid), None) is None:
        raise bad_request("message to delete not found")
    return True


SEND_METHODS = {name.lower(): fn for name, fn in {
    "copyMessage": copy_message, "forwardMessage": forward_message,
    "editMessageCaption": edit_message_caption, "deleteMessage": delete_message,
    **{method: _media(method, field) for method, field in MEDIA.items()},
}.items()}
