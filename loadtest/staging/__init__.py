"""The reference staging bot and the stack around it (aiogram 3, asyncpg, Redis FSM, the anthropic SDK).

A bot that behaves like the real platform under load, so that the SimPy model can be calibrated on
it: webhook or polling, an asyncpg pool on real PostgreSQL, aiogram FSM in Redis, Claude through the
real ``anthropic`` SDK (semaphore, retries, circuit breaker), an MCP-like lookup, a digest scheduler
with slots and placement, and per-stage timings (JSONL + Prometheus) for every update.

Use it as a library (the load-test harness does)::

    from botcap.loadtest.staging import StagingStack
    with StagingStack(instances=3, mode="webhook", workdir=Path("run/stack")) as info:
        ...   # info.telegram_api_url, info.bot_token, info.instance_urls, info.stages_dir ...

or from the shell: ``botcap staging up [--instances N] [--mode webhook|polling] [--scenario FILE] [--json]``.

Modules, one job each: config (what a process needs; loopback guard) · db + migrations/ · timings ·
breaker · claude_client · mcp · handlers · scheduler + clock · polling (multi-instance getUpdates) ·
app (one process) · __main__ (launcher, forks instances) · procs + services + stack (supervision) · cli.
"""

from __future__ import annotations

import importlib

__all__ = ["StagingStack", "StackInfo"]


def __getattr__(name: str):
    # loaded on first use (PEP 562): the botcap CLI imports this package for every command and must
    # not pay for asyncpg/redis/aiogram each time
    if name in __all__:
        return getattr(importlib.import_module("botcap.loadtest.staging.stack"), name)
    raise AttributeError(f"module 'botcap.loadtest.staging' has no attribute {name!r}")
