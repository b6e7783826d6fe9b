"""One polling instance (aiogram's own start_polling) with the scheduler as a separate process
(placement: separate): every kind gets its reply, and each digest is sent once, by the worker."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from staging_helpers import Users, check_every_kind, fast_stack, run_digest_burst

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def stack(tmp_path_factory, database_url, redis_url):
    yield from fast_stack(tmp_path_factory.mktemp("poll1"), "scheduler.placement=separate",
                          "scheduler.lock=none", instances=1, mode="polling", seed=4,
                          database_url=database_url, redis_url=redis_url)


def test_every_kind_with_aiogram_polling(stack):
    async def main():
        async with aiohttp.ClientSession() as session:
            await asyncio.wait_for(check_every_kind(Users(stack, session), 1_501), 60)

    asyncio.run(main())
    assert stack.scheduler_url not in stack.instance_urls and "scheduler" in stack.pids


def test_separate_scheduler_sends_each_digest_once(stack):
    chats = list(range(61_000, 61_020))
    rows, per_chat = asyncio.run(run_digest_burst(stack, chats))
    assert len(rows) == len(chats) and {r["instance"] for r in rows} == {"scheduler"}
    assert per_chat == {c: 1 for c in chats}
