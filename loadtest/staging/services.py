"""PostgreSQL and Redis for the stack: check they answer (else BadInput saying how to start them),
and remove one stack's schema and keys afterwards."""

from __future__ import annotations

import asyncio

import asyncpg
import redis.asyncio as aioredis

from botcap.errors import BadInput

HOW_TO_START = ("start them with `python scripts/ensure_services.py` (it prints the DATABASE_URL and "
                "REDIS_URL to export), or `apt-get install postgresql redis-server` and start both, "
                "or set DATABASE_URL / REDIS_URL to servers that answer")


async def _check(database_url: str, redis_url: str) -> list[str]:
    problems = []
    try:
        conn = await asyncpg.connect(database_url, timeout=5)
        await conn.close()
    except (TimeoutError, OSError, asyncpg.PostgresError) as e:
        problems.append(f"DATABASE_URL: PostgreSQL at {database_url} is unreachable "
                        f"({type(e).__name__}: {e})")
    r = aioredis.Redis.from_url(redis_url, socket_connect_timeout=5)
    try:
        await r.ping()
    except (OSError, aioredis.RedisError) as e:
        problems.append(f"REDIS_URL: Redis at {redis_url} is unreachable ({type(e).__name__}: {e})")
    finally:
        await r.aclose()
    return problems


def check_services(database_url: str, redis_url: str) -> None:
    problems = asyncio.run(_check(database_url, redis_url))
    if problems:
        raise BadInput([*problems, f"how to fix: {HOW_TO_START}"])


async def _drop(database_url: str, schema: str | None, redis_url: str, prefix: str) -> None:
    if schema is not None:
        try:
            conn = await asyncpg.connect(database_url, timeout=5)
            try:
                await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            finally:
                await conn.close()
        except (TimeoutError, OSError, asyncpg.PostgresError):
            pass
    r = aioredis.Redis.from_url(redis_url, socket_connect_timeout=5)
    try:
        keys = [k async for k in r.scan_iter(match=f"{prefix}:*", count=1000)]
        if keys:
            await r.delete(*keys)
    except (OSError, aioredis.RedisError):
        pass
    finally:
        await r.aclose()


def drop_data(database_url: str, schema: str | None, redis_url: str, prefix: str) -> None:
    """Drop the stack's schema (unless None) and delete its Redis keys; never raises."""
    asyncio.run(_drop(database_url, schema, redis_url, prefix))
