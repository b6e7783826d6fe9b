"""Fixtures of the staging tests: a fresh database per session on the real PostgreSQL, the real Redis,
and helpers that talk to the fake Telegram API like users do.

PostgreSQL and Redis must answer (DATABASE_URL / REDIS_URL, default localhost): these tests fail,
never skip, without them — run ``python scripts/ensure_services.py`` first.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from urllib.parse import urlparse, urlunparse

import asyncpg
import pytest
import redis
from botcap.loadtest.staging.config import DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL


def _with_db(url: str, name: str) -> str:
    return urlunparse(urlparse(url)._replace(path=f"/{name}"))


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL
    try:
        redis.Redis.from_url(url, socket_connect_timeout=5).ping()
    except redis.RedisError as e:
        pytest.fail(f"Redis at {url} does not answer ({e}); run scripts/ensure_services.py", pytrace=False)
    return url


@pytest.fixture(scope="session")
def database_url() -> str:
    """A fresh database ``botcap_staging_<random>`` for this session, dropped afterwards."""
    base = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    name = f"botcap_staging_{secrets.token_hex(4)}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(_with_db(base, "postgres"), timeout=10)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    try:
        asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as e:
        pytest.fail(f"PostgreSQL at {base} does not answer ({e}); run scripts/ensure_services.py",
                    pytrace=False)
    yield _with_db(base, name)
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
