"""Redis-only behaviour: the server clock, crash recovery of leases and reservations, and what
happens when Redis is down (fail fast, never hang; block → 503, allow → served and counted)."""

from __future__ import annotations

import asyncio
import socket
import uuid

import pytest

from bastion.config.loader import parse_config
from bastion.core.context import Principal, RequestContext
from bastion.core.errors import ServiceUnavailable
from bastion.core.types import ChatRequest, Message, TextPart
from bastion.cost.pricing import PriceTable
from bastion.cost.stage import BudgetStage
from bastion.limits.backend import BudgetSlot
from bastion.limits.redis_backend import RedisBackend
from bastion.limits.resp import Connection, parse
from bastion.limits.scopes import ScopeLimit
from bastion.limits.stage import RateLimitStage

T0 = 1_800_000_000.0


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port: int = s.getsockname()[1]
    s.close()  # nothing listens here now
    return port


@pytest.mark.xdist_group("redis_script_cache")  # see test_noscript_after_script_flush_falls_back_to_eval
async def test_one_round_trip_per_operation(redis_backend: RedisBackend) -> None:
    conn = redis_backend._client._conn
    assert isinstance(conn, Connection)
    calls: list[object] = []
    orig = conn.send

    def counting(payload: bytes) -> object:
        cmd, end = parse(payload, 0)  # the command as written to the socket
        assert end == len(payload) and isinstance(cmd, list)
        calls.append(cmd[0])
        return orig(payload)

    s = (ScopeLimit("k:a", "k", rpm=10, tpm=1000, max_parallel=3), ScopeLimit("t:x", "t", rpm=5))
    slot = BudgetSlot("k:a", "day", "2027-01-15", limit=10**6)
    await redis_backend._seed([slot], [1])  # once per budget counter Redis does not hold (tested below)
    conn.send = counting  # type: ignore[assignment, method-assign]
    await redis_backend.acquire("a", s, 10, None)
    await redis_backend.reserve("a", [slot], 100, T0)
    await redis_backend.release("a", s, -5, None)
    await redis_backend.settle("a", [slot], 100, 50, [slot], T0)
    assert calls == [b"EVALSHA"] * 4
    assert redis_backend._client.connects == 1


async def test_server_clock_is_used_when_no_time_is_given(redis_backend: RedisBackend) -> None:
    s = (ScopeLimit("k:clock", "k", rpm=2),)
    assert (await redis_backend.acquire("a", s, 1)).allowed
    assert (await redis_backend.acquire("b", s, 1)).allowed
    d = await redis_backend.acquire("c", s, 1)
    assert not d.allowed and 0 < d.retry_after <= 30.0


async def test_leases_of_a_crashed_replica_expire(redis_backend: RedisBackend) -> None:
    s = (ScopeLimit("k:crash", "k", max_parallel=1),)
    assert (await redis_backend.acquire("a", s, 1, T0)).allowed  # never released
    assert not (await redis_backend.acquire("b", s, 1, T0 + 899)).allowed
    assert (await redis_backend.acquire("b", s, 1, T0 + 901)).allowed


async def test_reservations_of_a_crashed_replica_expire(redis_backend: RedisBackend) -> None:
    slot = BudgetSlot("k:crash", "total", "total", limit=1_000_000)
    assert (await redis_backend.reserve("a", [slot], 900_000, T0)).allowed  # never settled
    assert not (await redis_backend.reserve("b", [slot], 900_000, T0 + 899)).allowed
    assert (await redis_backend.reserve("b", [slot], 900_000, T0 + 901)).allowed
    assert await redis_backend.budget_state(slot) == (0, 900_000)
    await redis_backend.settle("a", [slot], 900_000, 0, [slot], T0 + 902)  # late settle: no double release
    assert await redis_backend.budget_state(slot) == (0, 900_000)


async def test_counter_keys_expire_so_memory_stays_bounded(redis_backend: RedisBackend) -> None:
    await redis_backend.acquire("a", (ScopeLimit("k:ttl", "k", rpm=60, tpm=600),), 60, None)
    for key in redis_backend._scope_keys("k:ttl")[:2]:
        ttl = await redis_backend._client.execute("PTTL", key)
        assert isinstance(ttl, int) and 0 < ttl <= 62_000


async def test_down_redis_fails_fast_and_counts() -> None:
    b = RedisBackend(f"redis://127.0.0.1:{_closed_port()}/0", timeout=0.2)
    s = (ScopeLimit("k:a", "k", rpm=10),)
    async with asyncio.timeout(5):  # a hang guard, not a speed assertion
        for _ in range(50):
            with pytest.raises(ServiceUnavailable) as e:
                await b.acquire("a", s, 1, None)
            assert "redis" in e.value.message and e.value.status == 503
    assert b.failures.count == 50
    await b.close()


def _config(mode: str) -> object:
    return parse_config({"limits": {"backend": "redis", "on_backend_error": mode,
                                    "default": {"rpm": 10, "tpm": 10_000}},
                         "providers": {"local": {"kind": "openai_compatible", "base_url": "http://127.0.0.1:9"}},
                         "models": [{"name": "m", "targets": [{"provider": "local", "model": "gpt-4o-mini"}]}]},
                        env={})


def _ctx() -> tuple[RequestContext, ChatRequest]:
    ctx = RequestContext(request_id="rq", ingress="openai", model="m",
                         principal=Principal(key_id="k1", name="k", budgets=()))
    return ctx, ChatRequest(model="m", messages=[Message("user", [TextPart("hi")])], max_tokens=10)


@pytest.mark.parametrize("stage_kind", ["ratelimit", "cost"])
async def test_block_refuses_with_a_clear_503(stage_kind: str) -> None:
    cfg = _config("block")
    b = RedisBackend(f"redis://127.0.0.1:{_closed_port()}/0", timeout=0.2)
    from bastion.core.context import Budget

    ctx, req = _ctx()
    ctx.principal = Principal(key_id="k1", name="k", budgets=(Budget(10**6, "day"),))
    stage = (RateLimitStage(b, cfg.limits, {}, {"m": ["gpt-4o-mini"]}) if stage_kind == "ratelimit"  # type: ignore[attr-defined]
             else BudgetStage(b, PriceTable.packaged(), cfg.limits, {}, {"m": ["gpt-4o-mini"]}))  # type: ignore[attr-defined]
    async with asyncio.timeout(5):
        with pytest.raises(ServiceUnavailable) as e:
            await stage.check(ctx, req)
    assert e.value.status == 503
    assert "limits backend (redis) is unreachable" in e.value.message
    assert "on_backend_error" in e.value.message
    await stage.finish(ctx)  # never raises
    await b.close()


async def test_allow_serves_logs_and_counts(caplog: pytest.LogCaptureFixture) -> None:
    from bastion.core.context import Budget

    cfg = _config("allow")
    b = RedisBackend(f"redis://127.0.0.1:{_closed_port()}/0", timeout=0.2)
    rl = RateLimitStage(b, cfg.limits, {}, {"m": ["gpt-4o-mini"]})  # type: ignore[attr-defined]
    cost = BudgetStage(b, PriceTable.packaged(), cfg.limits, {}, {"m": ["gpt-4o-mini"]})  # type: ignore[attr-defined]
    async with asyncio.timeout(5):
        for i in range(3):
            ctx, req = _ctx()
            ctx.request_id = f"rq{i}"
            ctx.principal = Principal(key_id="k1", name="k", budgets=(Budget(10**6, "day"),))
            await rl.check(ctx, req)
            await cost.check(ctx, req)
            await cost.finish(ctx)
            await rl.finish(ctx)
    assert rl.served_unchecked == 3 and cost.served_unchecked == 3
    assert b.failures.count >= 6
    assert any("WITHOUT rate limits" in r.getMessage() for r in caplog.records)
    assert any(r.levelname == "ERROR" and "limits backend failure" in r.getMessage() for r in caplog.records)
    await b.close()


async def test_a_redis_that_never_answers_cannot_hang_a_request() -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # the kernel accepts connections; nobody ever reads or answers
    b = RedisBackend(f"redis://127.0.0.1:{silent.getsockname()[1]}/0", timeout=0.2)
    async with asyncio.timeout(5):
        with pytest.raises(ServiceUnavailable):
            await b.reserve("a", [BudgetSlot("k:a", "total", "total", limit=1)], 1, T0)
    await b.close()
    silent.close()


class Proxy:
    """A TCP proxy in front of the real Redis that the test can cut and restore."""

    def __init__(self) -> None:
        self.server: asyncio.Server | None = None
        self.port = 0
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._conn, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _conn(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        ur, uw = await asyncio.open_connection("127.0.0.1", 6379)
        self.writers += [w, uw]

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(r, uw), pipe(ur, w))

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        for w in self.writers:
            w.close()
        self.writers.clear()
        await self.server.wait_closed()


async def test_redis_stopped_mid_run_then_back(redis_available: None) -> None:
    proxy = Proxy()
    await proxy.start()
    b = RedisBackend(f"redis://127.0.0.1:{proxy.port}/0", prefix=f"bastion-test:{uuid.uuid4().hex}:", timeout=0.2,
                     cooldown=0.05)
    s = (ScopeLimit("k:mid", "k", rpm=1000),)
    async with asyncio.timeout(10):
        assert (await b.acquire("a", s, 1, T0)).allowed
        await proxy.cut()
        for _ in range(3):
            with pytest.raises(ServiceUnavailable):
                await b.acquire("b", s, 1, T0)
        assert b.failures.count >= 1
        await proxy.start()  # same port
        await asyncio.sleep(0.1)  # past the fail-fast cooldown
        assert (await b.acquire("c", s, 1, T0)).allowed
    await b.close()
    await proxy.cut()


async def test_budget_counters_redis_lost_are_seeded_from_the_store(redis_backend: RedisBackend) -> None:
    stored: dict[str, int] = {"k:seed": 900_000}
    asked: list[BudgetSlot] = []

    async def source(slot: BudgetSlot) -> int:
        asked.append(slot)
        return stored.get(slot.scope, 0)

    redis_backend.spend_source = source
    slot = BudgetSlot("k:seed", "month", "2027-01", limit=1_000_000)
    assert not (await redis_backend.reserve("a", [slot], 200_000, T0)).allowed  # $0.90 spent per the store
    assert (await redis_backend.reserve("b", [slot], 100_000, T0)).allowed
    assert len(asked) == 1  # seeded once, then Redis holds it
    await redis_backend.settle("b", [slot], 100_000, 100_000, [slot], T0)
    assert await redis_backend.budget_state(slot) == (1_000_000, 0)
    # Redis loses the counter (restart without persistence): the store still knows
    await redis_backend._client.execute("DEL", redis_backend._budget_keys(slot)[0])
    stored["k:seed"] = 1_000_000
    assert not (await redis_backend.reserve("c", [slot], 1, T0)).allowed
    # spend Redis counted before seeding is kept when the store has less (both are lower bounds)
    other = BudgetSlot("k:later", "total", "total", limit=500_000)
    await redis_backend.settle("d", [], 0, 400_000, [other], T0)
    assert not (await redis_backend.admit("e", (), 1, None, [other], 200_000, T0))[1].allowed  # type: ignore[union-attr]


async def test_a_redis_that_refuses_the_password_is_a_clear_error_naming_the_field(
        redis_available: None, caplog: pytest.LogCaptureFixture) -> None:
    # The test Redis has no password: AUTH is refused, as a wrong password would be.
    b = RedisBackend("redis://:not-the-password-s3cr3t@127.0.0.1:6379/0", timeout=2.0)
    with caplog.at_level("ERROR", logger="bastion.limits"):
        await b.start()  # not fatal (Redis may come right later), but said clearly
        with pytest.raises(ServiceUnavailable) as e:
            await b.acquire("a", (ScopeLimit("k:a", "k", rpm=10),), 1, None)
    await b.close()
    logged = caplog.text
    assert "limits.redis_url" in logged and "AUTH" in logged, logged  # the field, and what Redis said
    assert "ReplyError" in e.value.message and "AUTH" in e.value.message, e.value.message
    assert "not-the-password" not in logged + e.value.message
