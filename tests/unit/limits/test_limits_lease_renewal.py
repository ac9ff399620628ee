"""Redis backend: leases and reservations of requests in flight are renewed, so only a crashed
replica's expire after lease_ttl; released ones are never brought back."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from tests.unit.limits.conftest import REDIS_URL, _drop_prefix, require_redis

from bastion.limits import redis_backend as rb
from bastion.limits.backend import BudgetSlot
from bastion.limits.redis_backend import RedisBackend
from bastion.limits.scopes import ScopeLimit

TTL = 0.6
ONE = (ScopeLimit("k:renew", "k", max_parallel=1),)


@pytest.fixture
async def short_lease() -> AsyncIterator[RedisBackend]:
    require_redis()
    prefix = f"bastion-test:{uuid.uuid4().hex}:"
    b = RedisBackend(REDIS_URL, prefix=prefix, timeout=2.0, lease_ttl=TTL)
    await b.start()
    try:
        yield b
    finally:
        await b.close()
        await _drop_prefix(prefix)


async def test_a_lease_held_past_the_ttl_is_kept_until_released(short_lease: RedisBackend) -> None:
    assert (await short_lease.acquire("long", ONE, 1)).allowed
    await asyncio.sleep(4 * TTL)  # renewed every TTL / 3 meanwhile
    assert not (await short_lease.acquire("next", ONE, 1)).allowed
    await short_lease.release("long", ONE, 0)
    await short_lease.renew()  # a released lease is not brought back
    assert (await short_lease.acquire("next", ONE, 1)).allowed


async def test_a_reservation_held_past_the_ttl_is_kept_until_settled(short_lease: RedisBackend) -> None:
    slot = BudgetSlot("k:renew", "total", "total", limit=100)
    assert (await short_lease.reserve("long", [slot], 60, time.time())).allowed
    await asyncio.sleep(4 * TTL)
    assert not (await short_lease.reserve("next", [slot], 60, time.time())).allowed
    await short_lease.settle("long", [slot], 60, 10, [slot], time.time())
    assert (await short_lease.reserve("next", [slot], 60, time.time())).allowed


async def test_a_lease_never_released_expires_after_the_longest_hold(short_lease: RedisBackend,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rb, "_MAX_HOLD_SECONDS", 0.0)  # a lease a bug forgot: no renewal
    assert (await short_lease.acquire("lost", ONE, 1)).allowed
    await asyncio.sleep(4 * TTL)
    assert (await short_lease.acquire("next", ONE, 1)).allowed
