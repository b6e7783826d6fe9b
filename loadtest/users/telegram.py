"""A Telegram user's side of a chat with a bot, measured end to end (no Locust import here).

``TelegramChat`` builds the updates a real client would cause (one private chat, its own user and
chat id, increasing message ids), delivers each one the way Telegram would (``webhook``: POSTed to
the bot's webhook URL with the secret token header; ``inject``: put into the fake Telegram API's
update queue, for a long-polling bot or a bot whose webhook the fake calls), and waits for the bot's
reply in the fake's record of what the bot put in chats (``/_fake/bot<token>/sent/wait``).

How a reply is recognised (``reply_match``), for bots as they are written:

- ``next_message`` (default): the first text the bot puts in this chat after the update was queued
  (sendMessage, copyMessage, forwardMessage, media with a caption, or an edit). A chat has at most one
  request in flight (``ChatUser`` waits for its reply, the open workload opens a new chat per
  arrival), so the first text after it is its answer. sendChatAction is never a reply.
- ``reply_to``: only a message with ``reply_to_message_id`` = the user's message (the reference bot).
- ``stream``: the first text is the time to the first answer; the request completes at the last send or
  edit followed by ``stream_quiet_s`` seconds of silence in the chat (a bot editing its answer as
  tokens arrive).

Latency is ``completed_at - sent_at``: the fake's arrival time of the (last) reply minus the time the
update was meant to be sent. For the open workload ``sent_at`` is the arrival's *intended* time, so a
generator that falls behind shows up in the latency instead of hiding it (no coordinated omission).

HTTP goes through ``http(method, url, body, headers) -> (status, bytes)``: Locust's geventhttpclient
inside Locust, anything else elsewhere (the benchmark's asyncio client has its own twin).
"""

from __future__ import annotations

import itertools
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from botcap.loadtest.users.messages import REFERENCE_TEXTS, Message, message_for

KIND_TEXTS = REFERENCE_TEXTS  # the text each reference kind sends (older name)
REPLY_MATCHES = ("next_message", "reply_to", "stream")
DEFAULT_TOKEN = "123456:botcap-loadtest-0000000000000000000"   # Telegram's token shape, as the fake checks
WAIT_CHUNK_S = 20.0  # one long poll; repeated until the reply timeout
MESSAGE_ID_STEP = 1000  # user message ids 1000, 2000, …: room for the bot's replies between them

Http = Callable[[str, str, bytes | None, dict[str, str]], tuple[int, bytes]]

# ids unique across processes and machines: a random 21-bit prefix per process, a counter below it
_PREFIX = random.SystemRandom().randrange(1, 2**21) << 30
_ids = itertools.count(1)


def new_id() -> int:
    """A chat/user/update id no other process of this run will hand out (< 2**51: JSON-safe)."""
    return _PREFIX + next(_ids)


def new_marker() -> str:
    """The request's id, written at the end of its text: ``#r`` + hex (unique across processes)."""
    return f"#r{new_id():x}"


def text_for(kind: str, n: int) -> str:
    """The reference text of ``kind`` without a marker (KeyError names the kinds it knows)."""
    try:
        return KIND_TEXTS[kind].format(n=n)
    except KeyError:
        raise KeyError(f"kind {kind!r}: the Telegram client sends only {', '.join(KIND_TEXTS)}") from None


@dataclass(frozen=True)
class BotEndpoint:
    """Where updates go and where replies are read.

    ``telegram_url`` is the fake Telegram API; ``webhook_url`` (with ``secret``) is the bot's webhook
    when updates are POSTed straight to it, or None to inject them into the fake's queue.
    """

    telegram_url: str
    token: str
    webhook_url: str | None = None
    secret: str | None = None
    reply_timeout_s: float = 60.0
    reply_match: str = "next_message"
    stream_quiet_s: float = 1.0

    @property
    def control(self) -> str:
        return f"{self.telegram_url.rstrip('/')}/_fake/bot{self.token}"


@dataclass
class Outcome:
    """One end-to-end request, as a flat record for requests.parquet (docs/runbundle.md)."""

    kind: str
    sent_at: float
    posted_at: float
    replied_at: float | None          # = completed_at (older readers)
    ok: bool
    error: str | None
    chat_id: int
    message_id: int
    reply_len: int = 0
    request_id: str = ""
    reply_match: str = "next_message"
    first_reply_at: float | None = None
    reply_method: str | None = None
    webhook_done_at: float | None = None   # direct --target POST: when the bot's webhook answered

    @property
    def latency_s(self) -> float | None:
        return None if self.replied_at is None else self.replied_at - self.sent_at

    def record(self, **extra) -> dict:
        return {"t": "req", "kind": self.kind, "sent_at": self.sent_at, "posted_at": self.posted_at,
                "replied_at": self.replied_at, "latency_s": self.latency_s, "ok": self.ok,
                "error": self.error, "chat_id": self.chat_id, "message_id": self.message_id,
                "request_id": self.request_id, "reply_match": self.reply_match,
                "first_reply_at": self.first_reply_at, "completed_at": self.replied_at,
                "reply_method": self.reply_method, "reply_len": self.reply_len,
                "webhook_done_at": self.webhook_done_at, **extra}


class TelegramChat:
    """One private chat between a virtual user and the bot."""

    def __init__(self, endpoint: BotEndpoint, http: Http, *, chat_id: int | None = None,
                 messages: dict | None = None):
        self.endpoint, self.http = endpoint, http
        self.chat_id = chat_id if chat_id is not None else new_id()
        self.first_name = f"Load {self.chat_id % 100000}"
        # a private chat's message ids are one sequence shared by the user and the bot: the user's
        # messages take every MESSAGE_ID_STEP-th id so that the bot's replies (the ids between) never
        # land on a later user message's id (which would overwrite the bot's message at the fake)
        self._message_ids = itertools.count(MESSAGE_ID_STEP, MESSAGE_ID_STEP)
        self.messages = messages or {}   # kind -> the scenario's KindMessage (None: reference text)

    def _user(self) -> dict:
        return {"id": self.chat_id, "is_bot": False, "first_name": self.first_name}

    def _chat(self) -> dict:
        return {"id": self.chat_id, "type": "private", "first_name": self.first_name}

    def update(self, text: str, message_id: int) -> dict:
        """The Update Telegram would send for this user typing ``text``."""
        message = {"message_id": message_id, "date": int(time.time()), "text": text, "from": self._user(),
                   "chat": self._chat()}
        if text.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        return {"message": message}

    def button_press(self, data: str, message_id: int) -> dict:
        """The Update of this user pressing an inline button with ``data`` under a bot message."""
        shown = {"message_id": message_id, "date": int(time.time()), "chat": self._chat(), "text": "menu"}
        return {"callback_query": {"from": self._user(), "message": shown, "data": data}}

    def send(self, kind: str, *, sent_at: float | None = None, text: str | None = None) -> Outcome:
        """Send one message of ``kind`` and wait for its reply; never raises for a failed request."""
        message_id = next(self._message_ids)
        marker = new_marker()
        msg = Message("text", text) if text is not None else \
            message_for(kind, self.messages.get(kind), message_id // MESSAGE_ID_STEP, marker)
        update = self.button_press(msg.text, message_id) if msg.type == "callback" \
            else self.update(msg.text, message_id)
        body = json.dumps(update).encode()
        posted_at = time.time()
        sent_at = posted_at if sent_at is None else sent_at
        ep = self.endpoint
        out = Outcome(kind, sent_at, posted_at, None, False, None, self.chat_id, message_id,
                      request_id=marker, reply_match=ep.reply_match)
        try:
            error, after_id = self._deliver(body, out)
            if error is None:
                error = self._await_reply(out, after_id, deadline=posted_at + ep.reply_timeout_s)
        except Exception as e:  # connection refused, reset, timeouts: a failed request, not a crash
            error = f"{type(e).__name__}: {e}"[:200]
        out.error, out.ok = error, error is None
        return out

    def _deliver(self, body: bytes, out: Outcome) -> tuple[str | None, int]:
        """Into the fake's queue; with a webhook, then also to the webhook under the fake's update_id.
        Returns (error, the fake's last sent record id before this update).

        The fake must know the user's message (as Telegram does) or it refuses the bot's reply to it
        ("message to be replied not found"); queueing it is how the fake learns it, and the fake's
        update_id keeps ids unique and increasing across every worker. A webhook bot does not poll,
        so the queued copy is never delivered twice (unless the bot also set a webhook at the fake).
        """
        ep = self.endpoint
        headers = {"Content-Type": "application/json"}
        status, content = self.http("POST", f"{ep.control}/updates", body, headers)
        if status != 200:
            return f"inject HTTP {status}: {content[:120]!r}", 0
        answer = json.loads(content)
        after_id = int(answer.get("last_sent_id") or 0)
        if ep.webhook_url:
            update_id = answer["update_id"]
            if ep.secret:
                headers["X-Telegram-Bot-Api-Secret-Token"] = ep.secret
            status, _ = self.http("POST", ep.webhook_url, b'{"update_id":%d,' % update_id + body[1:], headers)
            out.webhook_done_at = time.time()
            return (None if 200 <= status < 300 else f"webhook HTTP {status}"), after_id
        return None, after_id

    def _wait(self, after_id: int, timeout_s: float, reply_to: int | None = None) -> dict | None | str:
        """The first record in this chat after ``after_id`` (None: none in time; str: an error)."""
        url = (f"{self.endpoint.control}/sent/wait?chat_id={self.chat_id}&after_id={after_id}"
               f"&timeout_s={max(0.0, timeout_s):.3f}")
        if reply_to is not None:
            url += f"&reply_to_message_id={reply_to}"
        status, content = self.http("GET", url, None, {})
        if status != 200:
            return f"sent/wait HTTP {status}"
        answer = json.loads(content)
        return answer["result"] if answer.get("ok") else None

    def _await_reply(self, out: Outcome, after_id: int, deadline: float) -> str | None:
        mode = self.endpoint.reply_match
        reply_to = out.message_id if mode == "reply_to" else None
        if mode == "reply_to":
            after_id = 0
        first = None
        while first is None:
            left = deadline - time.time()
            if left <= 0:
                return "timeout"
            first = self._wait(after_id, min(left, WAIT_CHUNK_S), reply_to)
            if isinstance(first, str):
                return first
        out.first_reply_at = out.replied_at = float(first["at_unix_s"])
        out.reply_method = first.get("method")
        out.reply_len = len(first.get("text") or "")
        if mode != "stream":
            return None
        last = first
        while True:  # the answer is complete after a quiet period (or at the reply deadline)
            left = deadline - time.time()
            if left <= 0:
                break
            nxt = self._wait(last["id"], min(left, self.endpoint.stream_quiet_s))
            if nxt is None:
                break
            if isinstance(nxt, str):
                return nxt
            last = nxt
        out.replied_at = float(last["at_unix_s"])
        out.reply_len = len(last.get("text") or "")
        return None
