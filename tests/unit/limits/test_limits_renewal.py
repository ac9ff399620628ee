"""Lease renewal (Redis backend): a live process keeps its concurrency leases and budget
reservations past `lease_ttl`, a crashed one's expire after it, a conclusion that failed keeps
its reservation renewed until the retry horizon, and nothing released is ever recreated."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Sequence

import pytest
from tests.unit.limits.conftest import REDIS_URL, _drop_prefix, require_redis

from bastion.core.errors import ServiceUnavailable
from bastion.limits.backend import BudgetSlot
from bastion.limits.late import horizon
from bastion.limits.redis_backend import RELEASE, RENEW, SETTLE, RedisBackend
from bastion.limits.renewal import LeaseRenewal
from bastion.limits.resp import Arg, Reply, Script
from bastion.limits.scopes import ScopeLimit

TTL = 1.0  # renewed every 0.25 s


@pytest.fixture
async def pair() -> AsyncIterator[tuple[RedisBackend, RedisBackend]]:
    """Two replicas sharing one Redis prefix, with a short lease TTL."""
    require_redis()
    prefix = f"bastion-test:{uuid.uuid4().hex}:"
    a = RedisBackend(REDIS_URL, prefix=prefix, timeout=2.0, lease_ttl=TTL)
    b = RedisBackend(REDIS_URL, prefix=prefix, timeout=2.0, lease_ttl=TTL)
    await a.start()
    await b.start()
    try:
        yield a, b
    finally:
        await a.close()
        await b.close()
        await _drop_prefix(prefix)


async def _until(pred: object, within: float = 10.0) -> bool:
    """Poll an async predicate until it holds or `within` seconds pass."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await pred():  # type: ignore[operator]
            return True
        await asyncio.sleep(0.1)
    return False


async def test_a_live_lease_outlives_the_ttl_and_a_crashed_one_does_not(
        pair: tuple[RedisBackend, RedisBackend]) -> None:
    a, b = pair
    s = (ScopeLimit("k:long", "k", max_parallel=1),)
    assert (await a.acquire("long-stream", s, 1)).allowed
    await asyncio.sleep(TTL * 2.5)  # several renewals
    assert a.renewal.renewals >= 2
    assert not (await b.acquire("other", s, 1)).allowed  # still held: the stream runs
    await a.release("long-stream", s, 0)
    assert a.renewal.held == 0
    assert (await b.acquire("other", s, 1)).allowed
    await b.release("other", s, 0)

    # a replica that dies holding a lease: nothing renews it, it expires after the TTL
    assert (await a.acquire("orphan", s, 1)).allowed
    await a.renewal.close()  # the process is gone: no release, no renewal
    assert not (await b.acquire("probe", s, 1)).allowed

    async def free() -> bool:
        d = await b.acquire("after", s, 1)
        return d.allowed
    assert await _until(free)


async def test_a_live_reservation_outlives_the_ttl_and_a_crashed_one_does_not(
        pair: tuple[RedisBackend, RedisBackend]) -> None:
    a, b = pair
    slot = BudgetSlot("k:res", "total", "total", limit=1_000_000)
    assert (await a.reserve("long", [slot], 900_000, time.time())).allowed
    await asyncio.sleep(TTL * 2.5)
    assert not (await b.reserve("x", [slot], 900_000, time.time())).allowed  # still reserved
    await a.settle("long", [slot], 900_000, 400_000, [slot], time.time())
    assert await b.budget_state(slot) == (400_000, 0)

    assert (await a.reserve("orphan", [slot], 500_000, time.time())).allowed
    await a.renewal.close()

    async def freed() -> bool:
        return (await b.reserve("y", [slot], 500_000, time.time())).allowed
    assert await _until(freed)
    assert await b.budget_state(slot) == (400_000, 500_000)  # the orphan's swept, y's held


async def test_admit_and_conclude_hold_and_drop(pair: tuple[RedisBackend, RedisBackend]) -> None:
    a, b = pair
    s = (ScopeLimit("k:adm", "k", max_parallel=1),)
    slot = BudgetSlot("k:adm", "total", "total", limit=1_000_000)
    await a._seed([slot], [1])
    d, bd = await a.admit("r1", s, 1, None, [slot], 600_000, time.time())
    assert d.allowed and bd is not None and bd.allowed
    await asyncio.sleep(TTL * 2.5)
    d2, _ = await b.admit("r2", s, 1, None, [slot], 600_000, time.time())
    assert not d2.allowed  # r1's lease is alive
    assert not (await b.reserve("r3", [slot], 600_000, time.time())).allowed  # and its reservation
    await a.conclude("r1", s, 0, None, [slot], 600_000, 100_000, [slot], time.time())
    assert a.renewal.held == 0
    assert await b.budget_state(slot) == (100_000, 0)


async def test_renewal_never_recreates_what_a_conclusion_removed(pair: tuple[RedisBackend, RedisBackend]) -> None:
    """The race: a renewal turn built while the release and settlement were in flight runs after them."""
    a, _ = pair
    s = (ScopeLimit("k:gone", "k", max_parallel=2),)
    slot = BudgetSlot("k:gone", "total", "total", limit=1_000_000)
    await a._seed([slot], [1])
    assert (await a.acquire("r", s, 1)).allowed
    assert (await a.reserve("r", [slot], 10, time.time())).allowed
    a.renewal.concluding("r")  # what release/settle/conclude do before they send
    rk, ra = a._release_call("r", s, 0, None)
    await a._call("release", RELEASE, ra, rk)  # written, but the renewal has not heard yet
    sk, sa = a._settle_call("r", [slot], 10, 0, [slot])
    await a._call("settle", SETTLE, sa, sk)
    await a.renewal.renew()
    assert await a._client.execute("ZCARD", a._scope_keys("k:gone")[2]) == 0
    assert await a._client.execute("ZCARD", a._budget_keys(slot)[1]) == 0
    assert await a.budget_state(slot) == (0, 0)


async def test_what_redis_lost_is_put_back_for_requests_in_flight(pair: tuple[RedisBackend, RedisBackend]) -> None:
    """Redis restarted without persistence while a request ran: its lease and reservation come
    back at the next renewal, so the budget is not judged without them."""
    a, b = pair
    s = (ScopeLimit("k:lost", "k", max_parallel=1),)
    slot = BudgetSlot("k:lost", "total", "total", limit=1_000_000)
    assert (await a.acquire("r", s, 1)).allowed
    assert (await a.reserve("r", [slot], 600_000, time.time())).allowed
    await _drop_prefix(a._prefix)  # FLUSHDB, as far as this gateway is concerned
    assert (await b.budget_state(slot)) == (0, 0)
    await a.renewal.renew()
    assert not (await b.acquire("other", s, 1)).allowed  # the running request's slot is back
    assert not (await b.reserve("other", [slot], 600_000, time.time())).allowed  # and its reservation
    assert await b.budget_state(slot) == (0, 600_000)
    await a.release("r", s, 0)
    await a.settle("r", [slot], 600_000, 500_000, [slot], time.time())
    assert await b.budget_state(slot) == (500_000, 0)
    assert (await b.acquire("other", s, 1)).allowed


class _Calls:
    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[list[Arg], list[Arg]]] = []
        self.fail = fail

    async def __call__(self, op: str, script: Script, args: Sequence[Arg], keys: Sequence[Arg]) -> Reply:
        if self.fail:
            raise ServiceUnavailable("down")
        self.calls.append((list(args), list(keys)))
        return 1


async def test_failed_conclusion_stays_renewed_until_written_or_the_horizon() -> None:
    calls = _Calls()
    r = LeaseRenewal(60.0, calls, RENEW, retry_horizon=900.0, clock=lambda: 1000.0)
    r.hold("a", leases=["L"], reservations=[("Z", "H", "a|5", 5)])
    r.hold("b", leases=["L"])
    await r.renew()
    args, keys = calls.calls[-1]
    assert keys == ["L", "L", "Z", "H"]
    assert args == [-1, 60.0, 2, repr(1060.0), "a", 1, "b", 1, "a|5", 5, 1]

    r.concluding("a")
    r.concluded("a", leases=True, reservations=True, ok=False)  # Redis down: the retry will write it
    r.concluding("b")
    r.concluded("b", leases=True, reservations=False, ok=True)
    await r.renew()
    args, keys = calls.calls[-1]
    assert keys == ["L", "Z", "H"]  # a is still renewed (nothing put back: flag 0), b is gone
    assert args == [-1, 60.0, 1, repr(1060.0), "a", 0, "a|5", 5, 0]

    r._held["a"].deadline = time.monotonic() - 1  # the retry horizon passed without a write
    n = len(calls.calls)
    await r.renew()
    assert r.held == 0 and len(calls.calls) == n  # nothing left to renew, no call


async def test_renewal_task_survives_a_redis_outage() -> None:
    calls = _Calls(fail=True)
    r = LeaseRenewal(1.0, calls, RENEW)
    r.hold("a", leases=["L"])
    r.start()
    try:
        await asyncio.sleep(0.6)  # two failed turns
        calls.fail = False
        assert await _until(_has_calls(calls), within=5.0)
    finally:
        await r.close()


def _has_calls(calls: _Calls) -> object:
    async def pred() -> bool:
        return bool(calls.calls)
    return pred


def test_retry_horizon_is_at_least_fifteen_minutes() -> None:
    assert horizon(60.0) == 900.0
    assert horizon(3600.0) == 3600.0


async def test_the_backend_marks_a_request_concluding_before_it_sends(pair: tuple[RedisBackend, RedisBackend]) -> None:
    a, _ = pair
    s = (ScopeLimit("k:mark", "k", max_parallel=1),)
    assert (await a.acquire("r", s, 1)).allowed
    seen: list[bool] = []
    real = a._call

    async def failing(op: str, script: Script | None, args: Sequence[Arg], keys: Sequence[Arg] = ()) -> Reply:
        if op == "release":
            seen.append(a.renewal._held["r"].concluding)
            raise ServiceUnavailable("down")
        return await real(op, script, args, keys)

    a._call = failing  # type: ignore[method-assign]
    with pytest.raises(ServiceUnavailable):
        await a.release("r", s, 0)
    assert seen == [True]  # marked before the call was sent
    assert a.renewal.held == 1 and a.renewal._held["r"].concluding  # kept (renewed, never put back) for the retry
