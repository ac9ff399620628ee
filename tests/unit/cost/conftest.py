"""Fixtures for budgets and usage: both counter backends, and both stores (SQLite, PostgreSQL)."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from redis.asyncio import Redis

from bastion.limits.backend import LimitsBackend
from bastion.limits.memory import MemoryBackend
from bastion.limits.redis_backend import RedisBackend
from bastion.store.db import Database, PostgresDatabase, SqliteDatabase

REDIS_URL = "redis://127.0.0.1:6379/0"
PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


def _unreachable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(params=["memory", "redis"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[LimitsBackend]:
    if request.param == "memory":
        yield MemoryBackend()
        return
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except OSError as e:
        _unreachable(f"Redis unreachable at 127.0.0.1:6379: {type(e).__name__}")
    prefix = f"bastion-test:{uuid.uuid4().hex}:"
    b = RedisBackend(REDIS_URL, prefix=prefix, timeout=2.0)
    await b.start()
    try:
        yield b
    finally:
        await b.close()
        r = Redis.from_url(REDIS_URL)
        keys = [k async for k in r.scan_iter(match=prefix + "*", count=1000)]
        if keys:
            await r.delete(*keys)
        await r.aclose()


@pytest.fixture(params=["sqlite", "postgres"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        sqlite = SqliteDatabase(str(tmp_path / "usage.db"))
        yield sqlite
        await sqlite.close()
        return
    try:
        admin = await asyncpg.connect(PG_URL, timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError) as e:
        _unreachable(f"PostgreSQL unreachable at {PG_URL}: {type(e).__name__}")
    schema = f"bastion_usage_test_{uuid.uuid4().hex[:12]}"
    await admin.execute(f"CREATE SCHEMA {schema}")
    pg = PostgresDatabase(f"{PG_URL}?search_path={schema}", max_size=4)
    try:
        yield pg
    finally:
        await pg.close()
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        await admin.close()
