"""Backend fixtures: one contract suite over the memory backend and the real Redis (own key prefix)."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator

import pytest

from bastion.limits.backend import LimitsBackend
from bastion.limits.memory import MemoryBackend
from bastion.limits.redis_backend import RedisBackend
from bastion.limits.resp import RespClient

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
    r = RespClient(REDIS_URL, timeout=5.0)
    try:
        cursor = b"0"
        while True:
            reply = await r.execute("SCAN", cursor, "MATCH", prefix + "*", "COUNT", 1000)
            assert isinstance(reply, list) and isinstance(reply[0], bytes) and isinstance(reply[1], list)
            cursor = reply[0]
            keys = [k for k in reply[1] if isinstance(k, bytes)]
            if keys:
                await r.execute("DEL", *keys)
            if cursor == b"0":
                break
    finally:
        await r.close()


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
