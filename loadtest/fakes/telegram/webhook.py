"""Deliver a bot's pending updates to its webhook the way Telegram does.

Each update is POSTed as JSON with ``X-Telegram-Bot-Api-Secret-Token`` when a secret is set. At most
``max_connections`` requests are in flight; the rest wait in order. A non-2xx answer, a refused
connection or no answer within the timeout is a failed attempt: the update stays pending
(``pending_update_count``), ``last_error_date``/``last_error_message`` are set, and it is redelivered
after a backoff that doubles per failed attempt. A 2xx answer whose body names a ``method`` is executed
as a Bot API call, as Telegram does for replies given in the webhook response (aiogram does this when
``handle_in_background`` is off).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp
from botcap.loadtest.fakes.telegram.params import Params, parse_body, read_multipart


@dataclass(frozen=True)
class WebhookSettings:
    url: str                  # as the bot set it (getWebhookInfo shows it)
    secret_token: str | None
    max_connections: int
    deliver_to: str = ""      # where updates are POSTed: url, its loopback rewrite, or "" (not delivered)


class WebhookDispatcher:
    """The delivery loop of one bot's webhook: a ready queue, a cap on in-flight requests, retries."""

    def __init__(self, bot, settings: WebhookSettings, session: aiohttp.ClientSession, config_of: Callable,
                 execute: Callable[[Params], Awaitable[None]]):
        self.bot = bot
        self.settings = settings
        self.session = session
        self.config_of = config_of  # the current TelegramFakeConfig (it may change at runtime)
        self.execute = execute
        self.ready: deque[int] = deque(bot.updates.pending)
        self.in_flight = 0
        self.attempts: dict[int, int] = {}
        self._tasks: set[asyncio.Task] = set()
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._stopped = False
        self._headers = {"Content-Type": "application/json"}
        if settings.secret_token:
            self._headers["X-Telegram-Bot-Api-Secret-Token"] = settings.secret_token

    def notify(self, update_id: int) -> None:
        self.ready.append(update_id)
        self.pump()

    def pump(self) -> None:
        stats = self.bot.stats
        while self.ready and self.in_flight < self.settings.max_connections and not self._stopped:
            uid = self.ready.popleft()
            if uid not in self.bot.updates.pending:
                continue  # dropped meanwhile (drop_pending_updates)
            self.in_flight += 1
            stats["webhook_in_flight"] = self.in_flight
            stats["webhook_in_flight_peak"] = max(stats["webhook_in_flight_peak"], self.in_flight)
            task = asyncio.get_running_loop().create_task(self._deliver(uid))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _deliver(self, uid: int) -> None:
        stats = self.bot.stats
        update = self.bot.updates.pending.get(uid)
        attempt = self.attempts.get(uid, 0) + 1
        self.attempts[uid] = attempt
        stats["webhook_attempts"] += 1
        if attempt > 1:
            stats["redeliveries"] += 1
        error = None
        reply: Params | None = None
        posted_at, answer = time.time(), 0
        try:
            if update is None:
                return
            cfg = self.config_of()
            timeout = aiohttp.ClientTimeout(total=cfg.webhook_timeout_s)
            async with self.session.post(self.settings.deliver_to, data=json.dumps(update),
                                         headers=self._headers, timeout=timeout) as resp:
                answer = resp.status
                if 200 <= resp.status < 300:
                    reply = await self._read_reply(resp)
                else:
                    error = f"Wrong response from the webhook: {resp.status} {resp.reason or ''}".rstrip()
        except TimeoutError:
            error = "Read timeout expired"
        except aiohttp.ClientConnectorError:
            error = "Connection refused"
        except aiohttp.ClientError as e:
            error = f"Connection error: {type(e).__name__}"
        finally:
            self.in_flight -= 1
            stats["webhook_in_flight"] = self.in_flight
            if update is not None:  # the take: POST start, the bot's HTTP answer (0 = none) and its time
                self.bot.timeline.take(update, "webhook", posted_at, time.time(), answer)
        if update is not None and not self._stopped:
            if error is None:
                self.bot.updates.pending.pop(uid, None)
                self.attempts.pop(uid, None)
                stats["updates_delivered"] += 1
            else:
                self._failed(uid, attempt, error)
        self.pump()
        if reply and reply.get("method"):
            stats["webhook_reply_methods"] += 1
            try:
                await self.execute(reply)
            except Exception:  # noqa: BLE001 - Telegram ignores a failed webhook-reply method
                stats["webhook_reply_errors"] += 1

    async def _read_reply(self, resp: aiohttp.ClientResponse) -> Params | None:
        if resp.content_type == "multipart/form-data":
            return await read_multipart(aiohttp.MultipartReader(resp.headers, resp.content))
        body = await resp.read()
        if resp.content_type not in ("application/json", "application/x-www-form-urlencoded") or not body:
            return None
        try:
            return parse_body(resp.content_type, body)
        except Exception:  # noqa: BLE001 - an unparsable reply body is just no reply
            return None

    def _failed(self, uid: int, attempt: int, error: str) -> None:
        stats = self.bot.stats
        stats["webhook_failures"] += 1
        self.bot.last_error_date = int(time.time())
        self.bot.last_error_message = error
        cfg = self.config_of()
        delay = min(cfg.webhook_retry_max_s, cfg.webhook_retry_base_s * 2 ** (attempt - 1))
        loop = asyncio.get_running_loop()
        self._timers[uid] = loop.call_later(delay, self._retry, uid)

    def _retry(self, uid: int) -> None:
        self._timers.pop(uid, None)
        if not self._stopped:
            self.notify(uid)

    async def stop(self) -> None:
        """Stop delivering (deleteWebhook, a new setWebhook, reset): pending updates stay pending."""
        self._stopped = True
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self.in_flight = 0
        self.bot.stats["webhook_in_flight"] = 0
