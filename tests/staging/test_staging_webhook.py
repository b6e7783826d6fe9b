"""End to end in webhook mode with 3 instances behind one webhook URL (SO_REUSEPORT), started the way
a user does — `botcap staging up --json` in a subprocess, stopped with SIGTERM (no orphans, no data
left): every kind, isolation between users, stage timings and metrics, and a Claude 529 storm that
opens the breaker."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from urllib.request import Request, urlopen

import aiohttp
import asyncpg
import pytest
import redis
import yaml
from botcap.loadtest.staging.handlers import CLAUDE_DOWN
from botcap.loadtest.staging.procs import alive
from botcap.loadtest.staging.stack import StackInfo
from staging_helpers import Users, check_every_kind, fast_scenario

pytestmark = pytest.mark.services


def _read_json(stream) -> dict:
    text = ""
    for line in stream:
        text += line
        try:
            return json.loads(text)
        except ValueError:
            continue
    raise AssertionError(f"botcap staging up printed no JSON: {text!r}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory, database_url, redis_url):
    folder = tmp_path_factory.mktemp("wh")
    (folder / "scenario.yaml").write_text(yaml.safe_dump(fast_scenario().model_dump(mode="json")))
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url}
    cmd = [sys.executable, "-m", "botcap.cli", "staging", "up", "--instances", "3", "--mode", "webhook",
           "--scenario", str(folder / "scenario.yaml"), "--claude-time-scale", "0.02",
           "--workdir", str(folder / "stack"), "--json"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=(folder / "up.err").open("w"), text=True,
                            env=env)
    try:
        data = _read_json(proc.stdout)
        info = StackInfo.from_json(data)
        yield info
    finally:
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
        took = time.monotonic() - t0
    logs = (f"up.err: {(folder / 'up.err').read_text()[-1500:]}\n"
            f"bots.log: {(info.logs_dir / 'bots.log').read_text()[-1500:]}")
    assert code == 0, f"exit {code} after {took:.1f} s\n{logs}"
    deadline = time.monotonic() + 5          # the CLI has waited for its children; allow stragglers 5 s
    while (left := [name for name, pid in info.pids.items() if alive(pid)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not left, f"orphans after SIGTERM: {left}\n{logs}"
    r = redis.Redis.from_url(redis_url)
    assert not list(r.scan_iter(match=f"{info.redis_prefix}:*")), "Redis keys left behind"

    async def schema_gone() -> bool:
        conn = await asyncpg.connect(database_url)
        try:
            return not await conn.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", info.db_schema)
        finally:
            await conn.close()

    assert asyncio.run(schema_gone()), "the stack's schema was not dropped"


def run(coro_fn, info, timeout_s: float = 60):
    async def main():
        async with aiohttp.ClientSession() as session:
            return await asyncio.wait_for(coro_fn(Users(info, session)), timeout_s)
    return asyncio.run(main())


def _records(info, chats: range | None = None, expect: int = 0, timeout_s: float = 5) -> list[dict]:
    """Stage records (of ``chats``); waits up to ``timeout_s`` for ``expect`` of them, because a record
    is written when the handler returns, just after its reply was sent."""
    deadline = time.monotonic() + timeout_s
    while True:
        out = []
        for path in sorted(info.stages_dir.glob("stages-*.jsonl")):
            out += [json.loads(line) for line in path.read_text().splitlines() if line]
        if chats is not None:
            out = [r for r in out if r["chat_id"] in chats]
        if len(out) >= expect or time.monotonic() > deadline:
            return out
        time.sleep(0.05)


def test_every_kind_gets_its_reply(stack):
    run(lambda users: check_every_kind(users, 501), stack)
    kinds = {r["kind"] for r in _records(stack, range(501, 502), expect=6)}
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
    handled_by = {r["instance"] for r in _records(stack, range(10_000, 10_040), expect=160)}
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
    assert 'botcap_resource_in_use{resource="db_pool"}' in body
    assert 'botcap_breaker_state{name="claude"}' in body


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
        fast = _records(stack, range(30_000, 30_020), expect=20)
        assert len(fast) == 20 and all(r["claude_attempts"] == 0 and not r["ok"] for r in fast)
    finally:
        _faults(stack, {"overloaded_rate": 0.0})
    time.sleep(2.2)                                  # cooldown_s = 2: half-open, the next call is a trial
    rec, _ = run(lambda users: users.ask(40_001, "back?"), stack)
    assert rec and rec["text"] != CLAUDE_DOWN
