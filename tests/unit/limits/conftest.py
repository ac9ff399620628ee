"""Backend fixtures: one contract suite over the memory backend and the real Redis (own key prefix)."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from bastion.limits.backend import LimitsBackend
from bastion.limits.memory import MemoryBackend
from bastion.limits.redis_backend import RedisBackend

REDIS_URL = "redis://127.0.0.1:6379/0"


def require_redis() -> None:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except OSError as e:
        reason = f"Redis unreachable at 127.0.0.1:6379: {type(e).__name__}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)


async def _drop_prefix(prefix: str) -> None:
    r = Redis.from_url(REDIS_URL)
    try:
        keys = [k async for k in r.scan_iter(match=prefix + "*", count=1000)]
        if keys:
            await r.delete(*keys)
    finally:
        await r.aclose()


@pytest.fixture
def redis_available() -> None:
    require_redis()


@pytest.fixture
async def redis_backend() -> AsyncIterator[RedisBackend]:
    require_redis()
    prefix = f"bastion-test:{uuid.uuid4().hex}:"
    b = RedisBackend(REDIS_URL, prefix=prefix, timeout=2.0, lease_ttl=900.0)
    await b.start()
    try:
        yield b
    finally:
        await b.close()
        await _drop_prefix(prefix)


@pytest.fixture(params=["memory", "redis"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[LimitsBackend]:
    if request.param == "memory":
        yield MemoryBackend(clock=lambda: 1_000_000.0)
        return
    require_redis()
    prefix = f"bastion-test:{uuid.uuid4().hex}:"
    b = RedisBackend(REDIS_URL, prefix=prefix, timeout=2.0, lease_ttl=900.0)
    await b.start()
    try:
        yield b
    finally:
        await b.close()
        await _drop_prefix(prefix)
