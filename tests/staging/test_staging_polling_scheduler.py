"""Polling mode with 5 instances (one getUpdates leader, a Redis queue): every kind gets its reply; and
the digest scheduler in every instance with the PostgreSQL advisory lock sends each digest once."""

from __future__ import annotations

import asyncio
import datetime
import json

import aiohttp
import pytest
from staging_helpers import Users, check_every_kind, fast_stack, run_digest_burst

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def stack(tmp_path_factory, database_url, redis_url):
    yield from fast_stack(tmp_path_factory.mktemp("poll"), "scheduler.placement=every_instance",
                          "scheduler.lock=advisory", instances=5, mode="polling", seed=2,
                          database_url=database_url, redis_url=redis_url)


def test_every_kind_gets_its_reply_in_polling_mode_with_several_instances(stack):
    async def main():
        async with aiohttp.ClientSession() as session:
            users = Users(stack, session)
            await asyncio.wait_for(asyncio.gather(*(check_every_kind(users, 700 + k) for k in range(5))), 90)

    asyncio.run(main())
    records = [json.loads(line) for p in stack.stages_dir.glob("stages-*.jsonl") for line in p.open()]
    assert len({r["instance"] for r in records if r["chat_id"] and 700 <= r["chat_id"] < 705}) >= 2


def test_every_instance_with_advisory_lock_sends_each_digest_exactly_once(stack):
    chats = list(range(60_000, 60_030))
    rows, per_chat = asyncio.run(run_digest_burst(stack, chats))
    assert len(rows) == len(chats), f"{len(rows)} digests recorded for {len(chats)} subscribers"
    assert len({r["schedule_id"] for r in rows}) == len(chats)
    assert all(r["slot_min"] == 600 for r in rows)
    lateness = [(r["clock_at"] - datetime.datetime.combine(r["day"], datetime.time(10, 0))).total_seconds()
                for r in rows]
    assert all(0 <= s < 60 for s in lateness), lateness      # sent in the 10:00 minute, by the set clock
    assert per_chat == {c: 1 for c in chats}
