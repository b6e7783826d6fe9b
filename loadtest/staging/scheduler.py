"""Daily digests: slots when users pick a time, and the sender that runs when the time comes.

*Slots.* A chosen time falls in a slot of ``slot_minutes``; with ``cap_per_slot`` set, a full slot is
handled by ``policy``: none → accepted anyway (at the exact time), suggest_next → not stored, the user
is told the next free slot, auto_shift → stored in the next free slot. A transaction-scoped advisory
lock per slot makes the count-then-insert safe across instances.

*Sending.* Every tick the sender takes the schedules that are due (slot time passed within the last
``CATCH_UP_MIN`` minutes) and not yet in ``digests_sent`` for the day, writes each with Claude, sends it
and records it. Placement ``separate`` runs one sender in its own process; ``every_instance`` runs one
in every bot process, guarded by ``lock``: advisory (``pg_try_advisory_lock``: one sender per tick,
the others skip), redis (SET NX PX) or none — then instances race and duplicates are sent and
recorded, which is what the A2 question measures.

*Clock.* "Now" comes from ``clock.SharedClock`` (Redis), so ``POST /_control/clock`` on any process
moves every process's scheduler and a 10:00 burst can be run at any hour, at any speed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re

from aiogram import Bot
from aiogram.exceptions import TelegramRetryAfter
from botcap.loadtest.staging.claude_client import ClaudeClient, ClaudeUnavailable
from botcap.loadtest.staging.clock import SharedClock
from botcap.loadtest.staging.db import Db
from botcap.loadtest.staging.timings import DIGESTS, StageLog, timed

from botcap.scenario import Scenario

log = logging.getLogger("botcap.staging.scheduler")
SENDER_LOCK = 0x6274_6364      # advisory lock key of the digest sender ("btcd")
SLOT_LOCK_CLASS = 0x6274       # advisory xact lock class for slot counting
CATCH_UP_MIN = 60              # a digest missed by less than this is still sent (late)
_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def parse_hhmm(text: str) -> int | None:
    """Minute of the day of "HH:MM", or None."""
    m = _HHMM.match(text.strip())
    return int(m.group(1)) * 60 + int(m.group(2)) if m else None


def fmt(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


async def schedule_digest(conn, spec, user_id: int, chat_id: int, minute: int) -> str:
    """Store (or refuse) a user's digest time under the slot policy; returns the reply text."""
    slot = minute - minute % spec.slot_minutes
    async with conn.transaction():
        if spec.cap_per_slot is None or spec.policy == "none":
            send_at = minute
        else:
            send_at = None
            for step in range(1440 // spec.slot_minutes):
                candidate = (slot + step * spec.slot_minutes) % 1440
                await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", SLOT_LOCK_CLASS, candidate)
                taken = await conn.fetchval("SELECT count(*) FROM schedules WHERE slot_min = $1 "
                                            "AND user_id <> $2", candidate, user_id)
                if taken < spec.cap_per_slot:
                    send_at = candidate
                    break
            if send_at is None:
                return "Sorry, every digest slot is full."
            if send_at != slot and spec.policy == "suggest_next":
                return (f"The {fmt(slot)} slot is full; the next free one is {fmt(send_at)}. "
                        f"Send /digest {fmt(send_at)} to take it.")
        await conn.execute(
            "INSERT INTO schedules (user_id, chat_id, wanted_min, slot_min) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT (user_id) DO UPDATE SET chat_id = EXCLUDED.chat_id, "
            "wanted_min = EXCLUDED.wanted_min, slot_min = EXCLUDED.slot_min",
            user_id, chat_id, minute, send_at)
    if send_at != minute and spec.policy == "auto_shift":
        return f"Your daily digest is set for {fmt(send_at)} ({fmt(slot)} was full)."
    return f"Your daily digest is set for {fmt(send_at)}."


class DigestSender:
    """Sends due digests every ``tick_s``; one per process (see the module docstring for placement)."""

    def __init__(self, *, scenario: Scenario, db: Db, claude: ClaudeClient, bot: Bot, clock: SharedClock,
                 stages: StageLog, instance: str, redis=None, redis_prefix: str = "", tick_s: float = 0.2):
        self.spec = scenario.scheduler
        self.digests = scenario.workload.digests
        self.db, self.claude, self.bot, self.clock = db, claude, bot, clock
        self.stages, self.instance = stages, instance
        self.redis, self.lock_key = redis, f"{redis_prefix}:digest-sender-lock"
        self.tick_s = tick_s
        self.semaphore = asyncio.Semaphore(self.spec.concurrency)
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="digest-sender")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - a failed tick (DB restart...) is retried next tick
                log.exception("digest tick failed")
            await asyncio.sleep(self.tick_s)

    async def tick(self) -> int:
        """One pass: take the lock (per ``lock``), send what is due; returns the digests sent."""
        day, now_min = await self.clock.now()
        if self.spec.placement == "every_instance" and self.spec.lock == "advisory":
            async with self.db.pool.acquire(timeout=self.db.acquire_timeout_s) as conn:
                if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", SENDER_LOCK):
                    return 0
                try:
                    return await self._send_due(day, now_min)
                finally:
                    await conn.execute("SELECT pg_advisory_unlock($1)", SENDER_LOCK)
        if self.spec.placement == "every_instance" and self.spec.lock == "redis":
            if not await self.redis.set(self.lock_key, self.instance, nx=True, px=60_000):
                return 0
            try:
                return await self._send_due(day, now_min)
            finally:
                await self.redis.eval("if redis.call('get', KEYS[1]) == ARGV[1] then "
                                      "return redis.call('del', KEYS[1]) end return 0", 1,
                                      self.lock_key, self.instance)
        return await self._send_due(day, now_min)

    async def _send_due(self, day, now_min: int) -> int:
        lo = now_min - CATCH_UP_MIN
        async with self.db.pool.acquire(timeout=self.db.acquire_timeout_s) as conn:
            rows = await conn.fetch(
                "SELECT s.schedule_id, s.user_id, s.chat_id, s.slot_min FROM schedules s "
                "WHERE s.slot_min <= $1 AND s.slot_min > $2 AND NOT EXISTS (SELECT 1 FROM digests_sent d "
                "WHERE d.schedule_id = s.schedule_id AND d.day = $3) ORDER BY s.slot_min, s.schedule_id",
                now_min, lo, day)
        results = await asyncio.gather(*(self._send_one(day, r) for r in rows))
        return sum(results)

    async def _send_one(self, day, row) -> int:
        async with self.semaphore:
            rec, token, t0 = self.stages.begin(None, "digest", row["chat_id"])
            try:
                answer = await self.claude.complete(self.digests.model, f"Digest for user {row['user_id']}",
                                                    self.digests.max_tokens)
                with timed("telegram_send"):
                    sent = await self._send(row["chat_id"], f"Your daily digest ({fmt(row['slot_min'])}): "
                                                            f"{answer.text}")
                clock_at = await self.clock.now_datetime()
                async with self.db.connection() as conn:
                    await conn.execute(
                        "INSERT INTO digests_sent (schedule_id, user_id, day, slot_min, instance, "
                        "message_id, clock_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                        row["schedule_id"], row["user_id"], day, row["slot_min"], self.instance,
                        sent.message_id, clock_at)
                DIGESTS.inc()
                return 1
            except (ClaudeUnavailable, Exception) as e:  # noqa: BLE001 - retried next tick
                rec.ok, rec.error = False, f"{type(e).__name__}: {e}"[:300]
                return 0
            finally:
                self.stages.finish(rec, token, t0)

    async def _send(self, chat_id: int, text: str):
        for attempt in range(4):
            try:
                return await self.bot.send_message(chat_id, text[:4096])
            except TelegramRetryAfter as e:
                if attempt == 3:
                    raise
                await asyncio.sleep(e.retry_after)
