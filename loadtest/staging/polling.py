"""Polling with several instances: one leader runs getUpdates, every instance handles from a Redis queue.

Why: the Bot API allows one getUpdates caller per bot — a second one gets 409 Conflict ("terminated by
other getUpdates request"), and the fake does the same. So N polling instances cannot each poll;
the real pattern is a leader (a Redis lease, renewed while it polls, taken over within
``LEASE_MS`` if it dies) that moves updates into a Redis list, from which every instance's workers
take them (BLPOP), up to ``handlers_per_instance`` in flight each. The offset is kept in Redis with
the pushed updates (one MULTI), so a new leader neither skips nor repeats a batch.
With one instance the bot uses aiogram's own ``start_polling`` instead (see app.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from aiogram import Bot, Dispatcher

log = logging.getLogger("botcap.staging.polling")
LEASE_MS = 5000
_LEASE = """
local v = redis.call('get', KEYS[1])
if v == false then redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
if v == ARGV[1] then redis.call('pexpire', KEYS[1], ARGV[2]) return 1 end
return 0
"""


class FanoutPoller:
    def __init__(self, *, bot: Bot, dp: Dispatcher, redis, prefix: str, instance: str, concurrency: int,
                 poll_timeout_s: int = 2, batch_size: int = 100):
        self.bot, self.dp, self.redis, self.instance = bot, dp, redis, instance
        self.lease_key, self.queue_key, self.offset_key = (f"{prefix}:poller", f"{prefix}:updates",
                                                           f"{prefix}:poll-offset")
        self.semaphore = asyncio.Semaphore(concurrency)
        self.poll_timeout_s, self.batch_size = poll_timeout_s, batch_size
        self._tasks: list[asyncio.Task] = []
        self._handlers: set[asyncio.Task] = set()

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._lead(), name="poll-leader"),
                       asyncio.create_task(self._consume(), name="poll-consumer")]

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.wait(self._tasks, timeout=2)   # a blocked read must not hold the stop up
        if self._handlers:
            await asyncio.wait(self._handlers, timeout=5)
        with contextlib.suppress(Exception):
            await self.redis.eval("if redis.call('get', KEYS[1]) == ARGV[1] then "
                                  "return redis.call('del', KEYS[1]) end return 0", 1,
                                  self.lease_key, self.instance)

    async def _lead(self) -> None:
        while True:
            try:
                if not await self.redis.eval(_LEASE, 1, self.lease_key, self.instance, LEASE_MS):
                    await asyncio.sleep(LEASE_MS / 5000)
                    continue
                offset = int(await self.redis.get(self.offset_key) or 0)
                updates = await self.bot.get_updates(offset=offset or None, limit=self.batch_size,
                                                     timeout=self.poll_timeout_s)
                if updates:
                    pipe = self.redis.pipeline(transaction=True)
                    for u in updates:
                        pipe.rpush(self.queue_key, u.model_dump_json(exclude_none=True))
                    pipe.set(self.offset_key, updates[-1].update_id + 1)
                    await pipe.execute()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - a failed poll (409, network) is retried after a pause
                log.exception("getUpdates failed")
                await asyncio.sleep(0.5)

    async def _consume(self) -> None:
        while True:
            await self.semaphore.acquire()
            try:
                item = await self.redis.blpop(self.queue_key, timeout=1)
            except asyncio.CancelledError:
                self.semaphore.release()
                raise
            except Exception:  # noqa: BLE001
                self.semaphore.release()
                log.exception("queue read failed")
                await asyncio.sleep(0.5)
                continue
            if item is None:
                self.semaphore.release()
                continue
            task = asyncio.create_task(self._handle(json.loads(item[1])))
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)

    async def _handle(self, update: dict) -> None:
        try:
            await self.dp.feed_raw_update(self.bot, update)
        except Exception:  # noqa: BLE001 - the handler's own failure is in its stage record
            log.exception("update %s failed", update.get("update_id"))
        finally:
            self.semaphore.release()
