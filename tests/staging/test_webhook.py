"""End to end in webhook mode with 3 instances behind one webhook URL (SO_REUSEPORT): every kind,
isolation between users, stage timings and metrics, and a Claude 529 storm that opens the breaker."""

from __future__ import annotations

import asyncio
import json
import time
from urllib.request import Request, urlopen

import aiohttp
import pytest
from staging_helpers import Users, check_every_kind, fast_scenario

from loadtest.staging.handlers import CLAUDE_DOWN
from loadtest.staging.stack import StagingStack

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def stack(tmp_path_factory, database_url, redis_url):
    s = StagingStack(scenario=fast_scenario(), instances=3, mode="webhook",
                     workdir=tmp_path_factory.mktemp("wh"),
                     database_url=database_url, redis_url=redis_url, claude_time_scale=0.02, seed=1)
    with s as info:
        yield info


def run(coro_fn, info, timeout_s: float = 60):
    async def main():
        async with aiohttp.ClientSession() as session:
            return await asyncio.wait_for(coro_fn(Users(info, session)), timeout_s)
    return asyncio.run(main())


def _records(info) -> list[dict]:
    out = []
    for path in sorted(info.stages_dir.glob("stages-*.jsonl")):
        out += [json.loads(line) for line in path.read_text().splitlines() if line]
    return out


def test_every_kind_gets_its_reply(stack):
    run(lambda users: check_every_kind(users, 501), stack)
    kinds = {r["kind"] for r in _records(stack) if r["chat_id"] == 501}
    assert kinds == {"command", "note", "chat_simple", "chat_deep", "schedule"}


def test_users_never_see_each_others_notes_and_instances_share_the_load(stack):
    n_users, n_notes = 40, 3

    async def user(users: Users, chat_id: int) -> tuple[int, str, set[str]]:
        for i in range(n_notes):
            rec, _ = await users.ask(chat_id, f"/note secret-{chat_id}-{i}")
            assert rec and rec["text"].startswith("saved #"), rec
        rec, _ = await users.ask(chat_id, "/notes")
        return chat_id, rec["text"], {f"secret-{chat_id}-{i}" for i in range(n_notes)}

    async def all_users(users: Users):
        return await asyncio.gather(*(user(users, 10_000 + k) for k in range(n_users)))

    for chat_id, text, mine in run(all_users, stack, timeout_s=90):
        seen = {word for word in text.split() if word.startswith("secret-")}
        assert seen == mine, (chat_id, text)
    handled_by = {r["instance"] for r in _records(stack) if r["chat_id"] and r["chat_id"] >= 10_000}
    assert len(handled_by) >= 2, handled_by     # the kernel spread connections over the instances


def test_stage_timings_file_and_metrics(stack):
    recs = [r for r in _records(stack) if r["kind"] == "chat_simple" and r["ok"]]
    assert recs, "no chat_simple record"
    r = recs[0]
    assert set(r) >= {"update_id", "instance", "kind", "chat_id", "started_at_unix_s", "handler_s",
                      "db_acquire_s", "db_query_s", "claude_semaphore_wait_s", "claude_call_s",
                      "claude_attempts", "mcp_s", "telegram_send_s", "ok", "error"}
    assert r["claude_attempts"] == 1 and r["claude_call_s"] > 0 and r["telegram_send_s"] > 0
    assert r["handler_s"] >= r["claude_call_s"] + r["telegram_send_s"]
    deep = [r for r in _records(stack) if r["kind"] == "chat_deep"]
    assert deep and deep[0]["mcp_s"] > 0
    body = b"".join(urlopen(u + "/metrics", timeout=10).read() for u in stack.instance_urls).decode()
    assert 'botcap_stage_seconds_count{kind="note",stage="db_query"}' in body
    assert 'botcap_updates_total{kind="command",ok="true"}' in body


def _faults(info, body: dict) -> None:
    req = Request(f"{info.claude_api_url}/_fake/faults", data=json.dumps(body).encode(),
                  headers={"Content-Type": "application/json"})
    urlopen(req, timeout=10).read()


def _breakers(info) -> list[str]:
    return [json.loads(urlopen(u + "/healthz", timeout=10).read())["breakers"]["claude"]
            for u in info.instance_urls]


def test_claude_529_storm_opens_the_breaker_and_users_get_a_graceful_reply_fast(stack):
    _faults(stack, {"overloaded_rate": 1.0})
    try:
        async def storm(users: Users):
            chat = 20_000
            for _ in range(10):            # until every instance has seen threshold failures
                if all(s == "open" for s in _breakers(stack)):
                    break
                replies = await asyncio.gather(*(users.ask(chat + k, "hello?") for k in range(6)))
                chat += 6
                assert all(rec and rec["text"] == CLAUDE_DOWN for rec, _ in replies), replies
            assert all(s == "open" for s in _breakers(stack))
            t0 = time.time()
            replies = await asyncio.gather(*(users.ask(30_000 + k, "still there?") for k in range(20)))
            return replies, time.time() - t0

        replies, took = run(storm, stack)
        assert all(rec and rec["text"] == CLAUDE_DOWN for rec, _ in replies)
        latencies = sorted(lat for _, lat in replies)
        assert latencies[-1] < 2.0, latencies       # fail fast: no Claude call, no back-off
        fast = [r for r in _records(stack) if r["chat_id"] and 30_000 <= r["chat_id"] < 31_000]
        assert len(fast) == 20 and all(r["claude_attempts"] == 0 and not r["ok"] for r in fast)
    finally:
        _faults(stack, {"overloaded_rate": 0.0})
    time.sleep(2.2)                                  # cooldown_s = 2: half-open, the next call is a trial
    rec, _ = run(lambda users: users.ask(40_001, "back?"), stack)
    assert rec and rec["text"] != CLAUDE_DOWN
