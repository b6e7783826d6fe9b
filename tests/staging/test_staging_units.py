"""The bot's parts on their own, on the real servers: the circuit breaker, the Claude client against
the fake Claude API in process (retry-after honoured, 529s open the breaker), digest slot policies
on PostgreSQL, the shared clock on Redis, and the loopback guard."""

from __future__ import annotations

import asyncio
import secrets
import time

import asyncpg
import pytest
import redis.asyncio as aioredis
from aiohttp import web
from botcap.loadtest.staging.breaker import CLOSED, HALF_OPEN, OPEN, BreakerOpen, CircuitBreaker
from botcap.loadtest.staging.config import check_loopback
from botcap.loadtest.staging.db import migrate
from botcap.loadtest.staging.scheduler import schedule_digest
from botcap.loadtest.staging.timings import StageLog
from staging_helpers import fast_scenario

from botcap.errors import BadInput

pytestmark = pytest.mark.services


class FakeClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_breaker_closed_open_half_open():
    clock = FakeClock()
    b = CircuitBreaker("x", failure_threshold=3, cooldown_s=10, clock=clock)
    for _ in range(2):
        b.before_call()
        b.on_failure()
    assert b.state == CLOSED
    b.before_call()
    b.on_failure()
    assert b.state == OPEN
    with pytest.raises(BreakerOpen):
        b.before_call()
    clock.t = 10.0
    assert b.state == HALF_OPEN
    b.before_call()                      # the one trial call
    with pytest.raises(BreakerOpen):     # no second call while the trial is out
        b.before_call()
    b.on_failure()                       # trial failed: open again for a full cooldown
    assert b.state == OPEN
    clock.t = 20.0
    b.before_call()
    b.on_success()
    assert b.state == CLOSED and b.opened_count == 2


def test_loopback_guard_refuses_real_endpoints_unless_named():
    for url in ("http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:9"):
        check_loopback("telegram_api_url", url)
    for url in ("https://api.telegram.org", "https://api.anthropic.com", "http://10.0.0.5:80"):
        with pytest.raises(BadInput, match="--allow-non-loopback"):
            check_loopback("claude_api_url", url)
    check_loopback("claude_api_url", "https://api.anthropic.com", ["api.anthropic.com"])
    with pytest.raises(BadInput):
        check_loopback("claude_api_url", "https://api.anthropic.com", ["api.telegram.org"])


async def _serve_fake_claude(scenario, **overrides):
    from botcap.loadtest.fakes.claude import ClaudeFakeConfig, create_app

    app = create_app(ClaudeFakeConfig.from_scenario(scenario, time_scale=0.0, seed=1, **overrides))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"


def test_claude_client_honours_retry_after_then_breaker_opens_on_529s(tmp_path):
    from botcap.loadtest.staging.claude_client import ClaudeClient, ClaudeUnavailable

    scenario = fast_scenario("platform.claude.rate_limits.rpm=60", "platform.claude.retry.max_attempts=4",
                             "platform.claude.retry.max_backoff_s=3")

    async def main():
        runner, url = await _serve_fake_claude(scenario)
        client = ClaudeClient(scenario, url, "sk-ant-test")
        stages = StageLog(tmp_path, "unit")
        try:
            # rpm=60 is a bucket of 60 refilling 1/s: drain it, then the next call gets 429 + retry-after
            for _ in range(60):
                await client.complete("haiku", "hi", 16)
            rec, token, t0 = stages.begin(1, "chat_simple")
            reply = await client.complete("haiku", "hi", 16)
            stages.finish(rec, token, t0)
            assert reply.attempts >= 2 and rec.claude_attempts == reply.attempts
            assert 0.3 < rec.handler_s < 3.5          # waited about the retry-after (~1 s), not backoff_s
            # a 529 storm: 3 consecutive failed calls (each after its retries) open the breaker, then
            # calls fail at once (the breaker counts calls, as around the SDK: docs/policy.md)
            import aiohttp
            async with aiohttp.ClientSession() as s:
                await s.post(f"{url}/_fake/faults", json={"overloaded_rate": 1.0})
            for _ in range(3):
                with pytest.raises(ClaudeUnavailable, match="after 4 attempt"):
                    await client.complete("haiku", "hi", 16)
            assert client.breaker.state == OPEN
            t = time.perf_counter()
            with pytest.raises(ClaudeUnavailable, match="open"):
                await client.complete("haiku", "hi", 16)
            assert time.perf_counter() - t < 0.05
        finally:
            stages.close()
            await client.close()
            await runner.cleanup()

    asyncio.run(main())


def test_slot_policies_on_postgres(database_url):
    schema = f"units_{secrets.token_hex(3)}"

    async def main():
        await migrate(database_url, schema)
        conn = await asyncpg.connect(database_url, server_settings={"search_path": schema})
        try:
            await conn.executemany("INSERT INTO users (user_id, chat_id) VALUES ($1, $1)",
                                   [(u,) for u in range(1, 10)])
            answers = {}
            cases = (("auto_shift", (1, 2, 3)), ("suggest_next", (4, 5, 6)), ("none", (7, 8, 9)))
            for policy, users in cases:
                spec = fast_scenario(f"scheduler.policy={policy}", "scheduler.cap_per_slot=2",
                                     "scheduler.slot_minutes=5").scheduler
                await conn.execute("DELETE FROM schedules")
                answers[policy] = [await schedule_digest(conn, spec, u, u, 10 * 60 + 2) for u in users]
                answers[policy + "_rows"] = await conn.fetch("SELECT user_id, slot_min FROM schedules "
                                                             "ORDER BY user_id")
            return answers
        finally:
            await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
            await conn.close()

    a = asyncio.run(main())
    assert a["auto_shift"][2] == "Your daily digest is set for 10:05 (10:00 was full)."
    assert [r["slot_min"] for r in a["auto_shift_rows"]] == [600, 600, 605]
    assert a["suggest_next"][2].startswith("The 10:00 slot is full; the next free one is 10:05")
    assert len(a["suggest_next_rows"]) == 2                 # the suggestion is not stored until accepted
    assert [r["slot_min"] for r in a["none_rows"]] == [602, 602, 602]


def test_shared_clock_is_settable_and_runs_at_speed(redis_url):
    from botcap.loadtest.staging.clock import SharedClock

    async def main():
        r = aioredis.Redis.from_url(redis_url)
        clock = SharedClock(r, f"botcap-staging-test:{secrets.token_hex(3)}")
        try:
            await clock.set("09:59", speed=120.0, day="2026-01-05")
            await asyncio.sleep(0.6)                         # 0.6 s × 120 = 72 s later
            day, minute = await clock.now()
            assert str(day) == "2026-01-05" and minute == 10 * 60 + 0
            with pytest.raises(ValueError):
                await clock.set("25:00")
        finally:
            await clock.reset()
            await r.aclose()

    asyncio.run(main())
