"""Helpers of the staging tests: users talking to the fake Telegram API like the load generator's
(inject an update, wait for the reply matched by reply_to_message_id), fast test scenarios, and the
check that every message kind gets its reply."""

from __future__ import annotations

import asyncio
import itertools
import re
import time

import aiohttp
from botcap.loadtest.staging.handlers import CLAUDE_DOWN, DB_DOWN
from botcap.loadtest.staging.stack import StackInfo, StagingStack

from botcap.scenario import Scenario, load_scenario

_ids = itertools.count(1000)


def make_update(chat_id: int, text: str, message_id: int, first_name: str = "User") -> dict:
    message = {"message_id": message_id, "date": int(time.time()), "text": text,
               "chat": {"id": chat_id, "type": "private", "first_name": first_name},
               "from": {"id": chat_id, "is_bot": False, "first_name": first_name}}
    if text.startswith("/"):
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    return {"update_id": next(_ids), "message": message}


class Users:
    """Sends messages as many users through one aiohttp session."""

    def __init__(self, info: StackInfo, session: aiohttp.ClientSession):
        self.info, self.session = info, session
        self.base = f"{info.telegram_api_url}/_fake/bot{info.bot_token}"
        self._msg_ids = itertools.count(1)

    async def send(self, chat_id: int, text: str) -> int:
        """Inject one message; returns its message_id."""
        message_id = next(self._msg_ids)
        update = make_update(chat_id, text, message_id)
        async with self.session.post(f"{self.base}/updates", json=update) as r:
            body = await r.json()
            assert body.get("ok"), body
        return message_id

    async def reply(self, chat_id: int, message_id: int, timeout_s: float = 20) -> dict | None:
        params = {"chat_id": str(chat_id), "reply_to_message_id": str(message_id),
                  "timeout_s": str(timeout_s)}
        async with self.session.get(f"{self.base}/sent/wait", params=params,
                                    timeout=aiohttp.ClientTimeout(total=timeout_s + 10)) as r:
            body = await r.json()
        return body.get("result") if body.get("ok") else None

    async def ask(self, chat_id: int, text: str, timeout_s: float = 20) -> tuple[dict | None, float]:
        """Send and wait for the reply: (reply record or None, seconds from send to reply)."""
        t0 = time.time()
        message_id = await self.send(chat_id, text)
        rec = await self.reply(chat_id, message_id, timeout_s)
        return rec, (rec["at_unix_s"] - t0) if rec else float("inf")

    async def sent(self, chat_id: int) -> list[dict]:
        async with self.session.get(f"{self.base}/sent", params={"chat_id": str(chat_id)}) as r:
            body = await r.json()
        return body["result"]
# Scenario settings: the default platform with short back-offs and cooldowns (so a fault test takes
# seconds), generous Telegram send limits (the tests are about the bot, not the Bot API's limits),
# small pools (many stacks share one PostgreSQL).
FAST = [
    "platform.claude.retry.backoff_s=0.05", "platform.claude.retry.max_backoff_s=0.2",
    "platform.claude.breaker.failure_threshold=3", "platform.claude.breaker.cooldown_s=2",
    "platform.telegram.send_rate_per_s=2000", "platform.telegram.per_chat_rate_per_s=100",
    "platform.mcp.latency_s=0.01", "platform.db.pool_min_size_per_instance=1",
    "platform.db.pool_size_per_instance=10", "platform.db.acquire_timeout_s=5",
]


def fast_scenario(*sets: str) -> Scenario:
    return load_scenario(sets=[*FAST, *sets])


def fast_stack(workdir, *sets: str, instances: int, mode: str, seed: int, database_url: str, redis_url: str):
    """A module fixture's body: a ``fast_scenario(*sets)`` stack (fake Claude at 0.02 of its latency)
    yielded while running, then checked to have left no process behind."""
    stack = StagingStack(scenario=fast_scenario(*sets), instances=instances, mode=mode, workdir=workdir,
                         database_url=database_url, redis_url=redis_url, claude_time_scale=0.02, seed=seed)
    with stack as info:
        yield info
    assert_no_orphans(info)


# Every message kind and the reply it must get: shared by the webhook and the polling tests.

async def check_every_kind(users: Users, chat_id: int) -> None:
    """One user goes through every kind; each message gets exactly one reply, the expected one."""
    rec, _ = await users.ask(chat_id, "/start")
    assert rec and rec["text"].startswith("Hi User! You have 0 notes"), rec
    rec, _ = await users.ask(chat_id, f"/note buy milk {chat_id}")
    assert rec and re.fullmatch(r"saved #\d+", rec["text"]), rec
    note_id = rec["text"].split("#")[1]
    rec, _ = await users.ask(chat_id, "/notes")
    assert rec and f"#{note_id} buy milk {chat_id}" in rec["text"], rec
    for text in ("how are you?", "/deep why is the sky blue"):
        rec, _ = await users.ask(chat_id, text)
        assert rec and rec["text"] and rec["text"] not in (CLAUDE_DOWN, DB_DOWN), (text, rec)
    at = time.strftime("%H:%M", time.gmtime(time.time() + 6 * 3600))  # not due now: no digest during the test
    rec, _ = await users.ask(chat_id, f"/digest {at}")
    assert rec and rec["text"] == f"Your daily digest is set for {at}.", rec
    await asyncio.sleep(0.3)    # a second (wrong) reply would have arrived by now
    sent = await users.sent(chat_id)
    assert len(sent) == 6, [s["text"][:40] for s in sent]
    assert all(s["method"] == "sendMessage" and s["reply_to_message_id"] for s in sent)


# --------------------------------------------------------------------------------------------- digests
async def seed_schedules(info: StackInfo, chat_ids: list[int], hhmm: str) -> None:
    """Users subscribed to a digest at ``hhmm``, written straight into the stack's schema."""
    import asyncpg

    minute = int(hhmm[:2]) * 60 + int(hhmm[3:5])
    conn = await asyncpg.connect(info.database_url, server_settings={"search_path": info.db_schema})
    try:
        await conn.executemany("INSERT INTO users (user_id, chat_id, first_name) VALUES ($1, $1, 'D') "
                               "ON CONFLICT DO NOTHING", [(c,) for c in chat_ids])
        await conn.executemany("INSERT INTO schedules (user_id, chat_id, wanted_min, slot_min) "
                               "VALUES ($1, $1, $2, $2)", [(c, minute) for c in chat_ids])
    finally:
        await conn.close()


async def digests_sent(info: StackInfo, chat_ids: list[int]) -> list[dict]:
    import asyncpg

    conn = await asyncpg.connect(info.database_url, server_settings={"search_path": info.db_schema})
    try:
        rows = await conn.fetch("SELECT schedule_id, user_id, day, slot_min, instance, clock_at "
                                "FROM digests_sent WHERE user_id = ANY($1::bigint[])", chat_ids)
    finally:
        await conn.close()
    return [dict(r) for r in rows]


async def set_clock(session: aiohttp.ClientSession, info: StackInfo, now: str, speed: float = 1.0) -> dict:
    async with session.post(f"{info.scheduler_url}/_control/clock", json={"now": now, "speed": speed}) as r:
        body = await r.json()
        assert r.status == 200 and body["ok"], body
        return body


async def run_digest_burst(info: StackInfo, chat_ids: list[int], settle_s: float = 1.5,
                           timeout_s: float = 40) -> tuple[list[dict], dict[int, int]]:
    """Subscribe ``chat_ids`` at 10:00, jump the clock to 09:59:58 and wait until each has its digest
    (then ``settle_s`` more for late duplicates); returns the digests_sent rows and the digest
    messages the fake Telegram API received per chat."""
    await seed_schedules(info, chat_ids, "10:00")
    async with aiohttp.ClientSession() as session:
        await set_clock(session, info, "09:59:58")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if len({r["user_id"] for r in await digests_sent(info, chat_ids)}) == len(chat_ids):
                break
            await asyncio.sleep(0.3)
        await asyncio.sleep(settle_s)
        users = Users(info, session)
        per_chat = {}
        for c in chat_ids:
            per_chat[c] = sum(1 for m in await users.sent(c) if m["text"].startswith("Your daily digest"))
    return await digests_sent(info, chat_ids), per_chat


def assert_no_orphans(info: StackInfo, grace_s: float = 5.0) -> None:
    """Every process of a stopped stack is gone (within ``grace_s``)."""
    from botcap.loadtest.staging.procs import alive

    deadline = time.monotonic() + grace_s
    while (left := [n for n, pid in info.pids.items() if alive(pid)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not left, f"processes left after stop: {left}; see {info.logs_dir}"
