"""PostgreSQL for the staging bot: migrations, the asyncpg pool, and timed acquire/query.

The pool is sized from the scenario (``platform.db``) because the pool is one of the resources the
SimPy model predicts queueing on; the acquire wait and the query time are recorded separately for
the same reason. Every connection uses the stack's own schema (``search_path``) so that staging tables
never collide with anything else in a shared database.
"""

from __future__ import annotations

import time
from contextlib import asynccontextmanager
from importlib import resources

import asyncpg
from botcap.loadtest.staging.timings import current_record

MIGRATION_LOCK = 0x6274_6370  # "btcp": advisory lock so that concurrent migrators run one at a time


def migration_files() -> list[tuple[str, str]]:
    """(name, sql) of every migration, in name order."""
    folder = resources.files("botcap.loadtest.staging") / "migrations"
    return sorted((f.name, f.read_text()) for f in folder.iterdir() if f.name.endswith(".sql"))


async def migrate(database_url: str, schema: str) -> list[str]:
    """Create the schema and apply the migrations not applied yet; returns the names applied."""
    conn = await asyncpg.connect(database_url, timeout=10)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        await conn.execute(f'SET search_path TO "{schema}"')
        await conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations "
                           "(name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")
        done = {r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")}
        applied = []
        for name, sql in migration_files():
            if name in done:
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", name)
            applied.append(name)
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)
        return applied
    finally:
        await conn.close()


async def create_pool(database_url: str, schema: str, *, min_size: int, max_size: int) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        database_url, min_size=min(min_size, max_size), max_size=max_size,
        server_settings={"search_path": schema, "application_name": "botcap-staging"},
        # a restarted server leaves dead connections in the pool: drop them instead of reusing
        max_inactive_connection_lifetime=60)


class Db:
    """The pool plus the scenario's acquire timeout, recording waits into the current update's record."""

    def __init__(self, pool: asyncpg.Pool, acquire_timeout_s: float):
        self.pool = pool
        self.acquire_timeout_s = acquire_timeout_s

    @asynccontextmanager
    async def connection(self):
        """A pooled connection; the wait for it is added to ``db_acquire_s`` of the current record."""
        t0 = time.perf_counter()
        conn = await self.pool.acquire(timeout=self.acquire_timeout_s)
        rec = current_record()
        if rec is not None:
            rec.db_acquire_s += time.perf_counter() - t0
        try:
            yield TimedConnection(conn)
        finally:
            await self.pool.release(conn)

    async def close(self) -> None:
        await self.pool.close()


class TimedConnection:
    """The few asyncpg calls the bot uses, each timed into ``db_query_s``."""

    def __init__(self, conn: asyncpg.Connection):
        self.raw = conn

    def transaction(self):
        return self.raw.transaction()

    async def _timed(self, fn, *args):
        t0 = time.perf_counter()
        try:
            return await fn(*args)
        finally:
            rec = current_record()
            if rec is not None:
                rec.db_query_s += time.perf_counter() - t0

    async def execute(self, sql: str, *args):
        return await self._timed(self.raw.execute, sql, *args)

    async def fetch(self, sql: str, *args):
        return await self._timed(self.raw.fetch, sql, *args)

    async def fetchrow(self, sql: str, *args):
        return await self._timed(self.raw.fetchrow, sql, *args)

    async def fetchval(self, sql: str, *args):
        return await self._timed(self.raw.fetchval, sql, *args)
