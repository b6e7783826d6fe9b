"""A Telegram user's side of a chat with a bot, measured end to end (no Locust import here).

``TelegramChat`` builds the updates a real client would cause (one private chat, its own user and
chat id, increasing message ids), delivers each one the way Telegram would (``webhook``: POSTed to
the bot's webhook URL with the secret token header; ``inject``: put into the fake Telegram API's
update queue, for a long-polling bot or a bot whose webhook the fake calls), and waits for the bot's
reply in the fake's record of sent messages (``/_fake/bot<token>/sent/wait``), matched by chat and
``reply_to_message_id``.

Latency is ``reply.at_unix_s - sent_at``: the time the fake Telegram API received the bot's
sendMessage minus the time the update was meant to be sent. For the open workload ``sent_at`` is
the arrival's *intended* time, so a generator that falls behind shows up in the latency instead of
hiding it (no coordinated omission). The webhook's own HTTP answer is not what is measured.

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

# the text each kind sends; the staging bot routes by it (CONTRACTS: kinds by text)
KIND_TEXTS = {
    "command": "/notes",
    "note": "/note buy oat milk and {n} lemons",
    "chat_simple": "what should I cook tonight with {n} eggs?",
    "chat_deep": "/deep compare three ways to learn {n} new words a day",
}
DEFAULT_TOKEN = "123456:botcap-loadtest-0000000000000000000"   # Telegram's token shape, as the fake checks
WAIT_CHUNK_S = 20.0  # one long poll; repeated until the reply timeout

Http = Callable[[str, str, bytes | None, dict[str, str]], tuple[int, bytes]]

# ids unique across processes and machines: a random 21-bit prefix per process, a counter below it
_PREFIX = random.SystemRandom().randrange(1, 2**21) << 30
_ids = itertools.count(1)


def new_id() -> int:
    """A chat/user/update id no other process of this run will hand out (< 2**51: JSON-safe)."""
    return _PREFIX + next(_ids)


def text_for(kind: str, n: int) -> str:
    """The message text of ``kind`` (KeyError names the kinds this client can send)."""
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

    @property
    def control(self) -> str:
        return f"{self.telegram_url.rstrip('/')}/_fake/bot{self.token}"


@dataclass
class Outcome:
    """One end-to-end request, as a flat record for requests.parquet."""

    kind: str
    sent_at: float
    posted_at: float
    replied_at: float | None
    ok: bool
    error: str | None
    chat_id: int
    message_id: int
    reply_len: int = 0

    @property
    def latency_s(self) -> float | None:
        return None if self.replied_at is None else self.replied_at - self.sent_at

    def record(self, **extra) -> dict:
        return {"t": "req", "kind": self.kind, "sent_at": self.sent_at, "posted_at": self.posted_at,
                "replied_at": self.replied_at, "latency_s": self.latency_s, "ok": self.ok,
                "error": self.error, "chat_id": self.chat_id, "message_id": self.message_id, **extra}


class TelegramChat:
    """One private chat between a virtual user and the bot."""

    def __init__(self, endpoint: BotEndpoint, http: Http, *, chat_id: int | None = None):
        self.endpoint, self.http = endpoint, http
        self.chat_id = chat_id if chat_id is not None else new_id()
        self.first_name = f"Load {self.chat_id % 100000}"
        self._message_ids = itertools.count(1)

    def update(self, text: str, message_id: int) -> dict:
        """The Update Telegram would send for this user typing ``text``."""
        user = {"id": self.chat_id, "is_bot": False, "first_name": self.first_name}
        message = {"message_id": message_id, "date": int(time.time()), "text": text, "from": user,
                   "chat": {"id": self.chat_id, "type": "private", "first_name": self.first_name}}
        if text.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        return {"message": message}

    def send(self, kind: str, *, sent_at: float | None = None, text: str | None = None) -> Outcome:
        """Send one message of ``kind`` and wait for its reply; never raises for a failed request."""
        message_id = next(self._message_ids)
        body = json.dumps(self.update(text or text_for(kind, message_id), message_id)).encode()
        posted_at = time.time()
        sent_at = posted_at if sent_at is None else sent_at
        out = Outcome(kind, sent_at, posted_at, None, False, None, self.chat_id, message_id)
        try:
            error = self._deliver(body)
            if error is None:
                error = self._await_reply(out, deadline=posted_at + self.endpoint.reply_timeout_s)
        except Exception as e:  # connection refused, reset, timeouts: a failed request, not a crash
            error = f"{type(e).__name__}: {e}"[:200]
        out.error, out.ok = error, error is None
        return out

    def _deliver(self, body: bytes) -> str | None:
        """Into the fake's queue; with a webhook, then also to the webhook under the fake's update_id.

        The fake must know the user's message (as Telegram does) or it refuses the bot's reply to it
        ("message to be replied not found"); queueing it is how the fake learns it, and the fake's
        update_id keeps ids unique and increasing across every worker. A webhook bot does not poll,
        so the queued copy is never delivered twice (unless the bot also set a webhook at the fake).
        """
        ep = self.endpoint
        headers = {"Content-Type": "application/json"}
        status, content = self.http("POST", f"{ep.control}/updates", body, headers)
        if status != 200:
            return f"inject HTTP {status}: {content[:120]!r}"
        if ep.webhook_url:
            update_id = json.loads(content)["update_id"]
            if ep.secret:
                headers["X-Telegram-Bot-Api-Secret-Token"] = ep.secret
            status, _ = self.http("POST", ep.webhook_url, b'{"update_id":%d,' % update_id + body[1:], headers)
            return None if 200 <= status < 300 else f"webhook HTTP {status}"
        return None

    def _await_reply(self, out: Outcome, deadline: float) -> str | None:
        while True:
            left = deadline - time.time()
            if left <= 0:
                return "timeout"
            url = (f"{self.endpoint.control}/sent/wait?chat_id={self.chat_id}&after_id=0"
                   f"&reply_to_message_id={out.message_id}&timeout_s={min(left, WAIT_CHUNK_S):.3f}")
            status, content = self.http("GET", url, None, {})
            if status != 200:
                return f"sent/wait HTTP {status}"
            answer = json.loads(content)
            if answer.get("ok"):
                rec = answer["result"]
                out.replied_at = float(rec["at_unix_s"])
                out.reply_len = len(rec.get("text") or "")
                return None
