"""What the fake remembers: one ``BotState`` per token, held by one ``FakeTelegram`` per app.

Any token of the form ``<digits>:<35 characters>`` is a valid bot, created on first use, with its own
updates, chats, message ids, send limits, webhook and sent record. Message ids are a sequence per chat
shared by the user's and the bot's messages, as in a private chat.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict

import aiohttp
from botcap.loadtest.fakes.telegram.config import TelegramFakeConfig
from botcap.loadtest.fakes.telegram.errors import UNAUTHORIZED
from botcap.loadtest.fakes.telegram.limits import SendLimiter
from botcap.loadtest.fakes.telegram.records import SentLog
from botcap.loadtest.fakes.telegram.timeline import Timeline
from botcap.loadtest.fakes.telegram.updates import UpdateQueue
from botcap.loadtest.fakes.telegram.webhook import WebhookDispatcher, WebhookSettings

TOKEN_RE = re.compile(r"^(\d{1,20}):[A-Za-z0-9_-]{35}$")
MAX_STORED_MESSAGES = 100_000  # kept for editMessageText / reply_to_message, oldest forgotten first
MAX_CALLBACK_QUERIES = 100_000

STAT_KEYS = ("updates_injected", "updates_filtered", "updates_delivered", "webhook_attempts",
             "webhook_failures", "redeliveries", "webhook_in_flight", "webhook_in_flight_peak",
             "webhook_reply_methods", "webhook_reply_errors", "sent_count", "edited_count",
             "http_429_count", "requests", "get_updates_calls")


class BotState:
    """One bot: its identity, updates, chats and messages, limits, webhook and sent record."""

    def __init__(self, token: str, bot_id: int, config: TelegramFakeConfig):
        self.token = token
        self.user = {"id": bot_id, "is_bot": True, "first_name": f"Fake Bot {bot_id}",
                     "username": f"fake_{bot_id}_bot", "can_join_groups": True,
                     "can_read_all_group_messages": False, "supports_inline_queries": False}
        self.updates = UpdateQueue()
        self.sent = SentLog(config.max_records)
        self.timeline = Timeline(config.max_records)
        self.last_poll_at: float | None = None  # the last getUpdates call (a token nobody polls shows)
        self.limiter = SendLimiter()
        self.chats: dict[int, dict] = {}
        self.last_message_id: dict[int, int] = {}
        self.messages: OrderedDict[tuple[int, int], dict] = OrderedDict()
        self.callback_queries: OrderedDict[str, bool] = OrderedDict()
        self.webhook: WebhookSettings | None = None
        self.dispatcher: WebhookDispatcher | None = None
        self.last_error_date: int | None = None
        self.last_error_message: str | None = None
        self.handed_out_id = 0  # highest update_id getUpdates has returned (counts deliveries once)
        self.commands: list = []
        self.stats = dict.fromkeys(STAT_KEYS, 0)

    # ------------------------------------------------------------------ chats and messages
    def chat(self, chat_id: int) -> dict:
        chat = self.chats.get(chat_id)
        if chat is None:
            chat = {"id": chat_id, "type": "private", "first_name": f"User {chat_id}"}
        return chat

    def next_message_id(self, chat_id: int) -> int:
        mid = self.last_message_id.get(chat_id, 0) + 1
        self.last_message_id[chat_id] = mid
        return mid

    def saw_message(self, message: dict) -> None:
        """An injected user message: remember the chat and its id, and keep it for replies."""
        chat = message["chat"]
        self.chats[chat["id"]] = chat
        mid = message["message_id"]
        if mid > self.last_message_id.get(chat["id"], 0):
            self.last_message_id[chat["id"]] = mid
        self.store(message)

    def store(self, message: dict) -> None:
        self.messages[(message["chat"]["id"], message["message_id"])] = message
        if len(self.messages) > MAX_STORED_MESSAGES:
            self.messages.popitem(last=False)

    def find(self, chat_id: int, message_id: int) -> dict | None:
        return self.messages.get((chat_id, message_id))

    def exists(self, chat_id: int, message_id: int) -> bool:
        return 0 < message_id <= self.last_message_id.get(chat_id, 0)

    def add_callback_query(self, query_id: str) -> None:
        self.callback_queries[query_id] = False
        if len(self.callback_queries) > MAX_CALLBACK_QUERIES:
            self.callback_queries.popitem(last=False)

    # ------------------------------------------------------------------ summary
    def stats_view(self) -> dict:
        out = dict(self.stats)
        out["pending_update_count"] = len(self.updates.pending)
        out["last_sent_id"] = self.sent.last_id
        out["webhook_url"] = self.webhook.url if self.webhook else ""
        out["webhook_delivers_to"] = self.webhook.deliver_to if self.webhook else ""
        out["last_poll_at"] = self.last_poll_at
        out["polling_now"] = self.updates.polling
        return out

    async def close(self) -> None:
        if self.dispatcher is not None:
            await self.dispatcher.stop()
            self.dispatcher = None
        self.updates.terminate_poller(None)
        self.sent.close()


class FakeTelegram:
    """All bots of one fake server, its current config and the client session for webhooks."""

    def __init__(self, config: TelegramFakeConfig):
        self.config = config
        self.bots: dict[str, BotState] = {}
        self.session: aiohttp.ClientSession | None = None
        self.started_at = time.time()

    def bot(self, token: str) -> BotState:
        """The bot for a token (created on first use); 401 Unauthorized for a malformed token."""
        bot = self.bots.get(token)
        if bot is None:
            m = TOKEN_RE.match(token)
            if m is None:
                raise UNAUTHORIZED
            bot = self.bots[token] = BotState(token, int(m.group(1)), self.config)
        return bot

    def client_session(self) -> aiohttp.ClientSession:
        if self.session is None or self.session.closed:
            # no global cap: each bot's dispatcher enforces its own max_connections
            self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        return self.session

    async def reset(self, token: str | None = None) -> None:
        tokens = [token] if token is not None else list(self.bots)
        for t in tokens:
            bot = self.bots.pop(t, None)
            if bot is not None:
                await bot.close()

    async def close(self) -> None:
        await self.reset()
        if self.session is not None:
            await self.session.close()
