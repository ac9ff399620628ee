"""Rate limits and budgets paired: one backend call admits a request (rate limits, then its
budgets), one concludes it (lease released, budget settled), with the same decisions as the
four separate calls, exact under concurrency, on both backends."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from bastion.config.loader import parse_config
from bastion.config.schema import BastionConfig
from bastion.core.context import Attempt, Budget, Principal, RequestContext
from bastion.core.errors import BudgetExceeded, RateLimited, ServiceUnavailable
from bastion.core.types import ChatRequest, Message, TextPart, Usage
from bastion.cost.stage import BudgetStage
from bastion.limits.backend import BudgetSlot, LimitsBackend
from bastion.limits.memory import MemoryBackend
from bastion.limits.runtime import LimitsRuntime
from bastion.limits.scopes import ScopeLimit
from bastion.limits.stage import RateLimitStage

T0 = 1_800_000_000.0
COST = 30_000  # "fixed" at $0.001 per output token, 30 output tokens


def config(on_error: str = "block") -> BastionConfig:
    return parse_config({
        "providers": {"openai": {"kind": "openai", "base_url": "https://api.openai.com/v1", "api_key": "sk-x"}},
        "models": [{"name": "fixed", "targets": [{"provider": "openai", "model": "flat"}]}],
        "pricing": {"flat": {"input_per_mtok": 0, "output_per_mtok": 1000}},
        "limits": {"on_backend_error": on_error},
    }, env={})


def runtime(backend: LimitsBackend, on_error: str = "block") -> LimitsRuntime:
    return LimitsRuntime(config(on_error), None, backend=backend, clock=lambda: T0)


def chat() -> ChatRequest:
    return ChatRequest(model="fixed", messages=[Message("user", [TextPart("hi")])], max_tokens=30)


def ctx_for(p: Principal, rid: str) -> RequestContext:
    return RequestContext(request_id=rid, ingress="openai", model="fixed", principal=p)


async def admit(rt: LimitsRuntime, ctx: RequestContext) -> None:
    """What the pipeline does: every stage's check in order (ratelimit, then cost)."""
    entered: list[RateLimitStage | BudgetStage] = []
    ctx.state["_entered"] = entered
    for st in (rt.ratelimit, rt.cost):
        entered.append(st)
        await st.check(ctx, chat())


async def conclude(rt: LimitsRuntime, ctx: RequestContext, served: bool = True) -> None:
    """What finalize does: every entered stage's finish, in reverse."""
    if served:
        ctx.attempts.append(Attempt("openai", "flat", "ok", 200))
        ctx.usage = Usage(input_tokens=5, output_tokens=30)
    entered = ctx.state["_entered"]
    assert isinstance(entered, list)
    for st in reversed(entered):
        await st.finish(ctx)


# The memory backend's synchronous steps the rate-limit stage calls directly, by the operation
# they stand for (a `take` and a `hold` in one check are its `admit`; see calls()).
_SYNC = {"take": "acquire", "take_headed": "acquire", "hold": "reserve", "give_back": "release", "account": "settle"}


def spy(backend: LimitsBackend) -> list[str]:
    """Record every backend operation the stages call (not those a backend makes of its own:
    the memory backend's `admit` is its `acquire` and `reserve`)."""
    ops: list[str] = []
    depth = [0]
    for name in ("acquire", "release", "reserve", "settle", "admit", "conclude"):
        real: Callable[..., Awaitable[Any]] = getattr(backend, name)

        def wrap(real: Callable[..., Awaitable[Any]] = real, name: str = name) -> Callable[..., Awaitable[Any]]:
            async def op(*a: Any, **kw: Any) -> Any:
                if depth[0] == 0:
                    ops.append(name)
                depth[0] += 1
                try:
                    return await real(*a, **kw)
                finally:
                    depth[0] -= 1
            return op
        setattr(backend, name, wrap())
    if isinstance(backend, MemoryBackend):
        for name in _SYNC:
            sync: Callable[..., Any] = getattr(backend, name)

            def wrap_sync(real: Callable[..., Any] = sync, name: str = name) -> Callable[..., Any]:
                def op(*a: Any, **kw: Any) -> Any:
                    if depth[0] == 0:
                        ops.append(name)
                    return real(*a, **kw)
                return op
            setattr(backend, name, wrap_sync())
    return ops


def calls(ops: list[str]) -> list[str]:
    """`ops` as backend calls: the direct steps on the memory backend paired as its `admit`
    (take + hold) and `conclude` (give_back + account) would pair them."""
    out: list[str] = []
    for op in ops:
        if op == "hold" and out and out[-1] == "acquire":
            out[-1] = "admit"
        elif op == "account" and out and out[-1] == "release":
            out[-1] = "conclude"
        else:
            out.append(_SYNC.get(op, op))
    return out


SLOT = BudgetSlot("k:k", "total", "total")


async def test_a_request_with_limits_and_a_budget_costs_two_backend_calls(backend: LimitsBackend) -> None:
    rt = runtime(backend)
    ops = spy(backend)
    p = Principal("k", "k", rpm=10, max_parallel=1, budgets=(Budget(1_000_000, "total"),))
    ctx = ctx_for(p, "r1")
    await admit(rt, ctx)
    assert calls(ops) == ["admit"]
    assert ctx.response_headers["x-ratelimit-remaining-requests"] == "9"
    assert await backend.budget_state(SLOT) == (0, COST)  # reserved by the same call
    await conclude(rt, ctx)
    assert calls(ops) == ["admit", "conclude"]
    assert await backend.budget_state(SLOT) == (COST, 0)  # settled
    assert ctx.cost_micros == COST
    # the parallel lease was released: the next request is admitted under max_parallel 1
    await admit(rt, ctx_for(p, "r2"))


async def test_without_a_budget_spend_is_still_recorded_in_the_concluding_call(backend: LimitsBackend) -> None:
    rt = runtime(backend)
    ops = spy(backend)
    p = Principal("k", "k", rpm=10)
    ctx = ctx_for(p, "r1")
    await admit(rt, ctx)
    await conclude(rt, ctx)
    assert calls(ops) == ["acquire", "conclude"]
    assert await backend.budget_state(BudgetSlot("k:k", "total", "total")) == (COST, 0)


async def test_a_budget_refusal_reserves_nothing_and_frees_the_lease(backend: LimitsBackend) -> None:
    rt = runtime(backend)
    p = Principal("k", "k", max_parallel=1, budgets=(Budget(COST - 1, "total"),))
    ctx = ctx_for(p, "r1")
    with pytest.raises(BudgetExceeded, match=r"more than the whole budget of \$0.029999 in total") as e:
        await admit(rt, ctx)
    assert e.value.retry_after is None  # it can never fit: no Retry-After to wait for
    assert await backend.budget_state(SLOT) == (0, 0)
    await conclude(rt, ctx, served=False)
    assert await backend.budget_state(SLOT) == (0, 0)
    # the concurrency lease of the refused request is gone: another request gets past the
    # rate limits (and is refused by the budget again, not with 429 "concurrent requests")
    with pytest.raises(BudgetExceeded):
        await admit(rt, ctx_for(p, "r2"))


async def test_a_rate_refusal_touches_no_budget(backend: LimitsBackend) -> None:
    rt = runtime(backend)
    p = Principal("k", "k", rpm=1, budgets=(Budget(10**6, "total"),))
    first = ctx_for(p, "r1")
    await admit(rt, first)
    with pytest.raises(RateLimited) as e:
        await admit(rt, ctx_for(p, "r2"))
    assert e.type is RateLimited  # the rate limit, not the budget
    assert await backend.budget_state(SLOT) == (0, COST)  # only the first request's reservation


async def test_200_concurrent_paired_requests_never_overspend_and_hold_the_rpm(backend: LimitsBackend) -> None:
    rt = runtime(backend)
    p = Principal("k", "k", rpm=40, budgets=(Budget(1_000_000, "total"),))  # the budget admits 33

    async def one(i: int) -> str:
        ctx = ctx_for(p, f"r{i}")
        try:
            await admit(rt, ctx)
        except BudgetExceeded:  # (a RateLimited too: both are 429)
            await conclude(rt, ctx, served=False)
            return "budget"
        except RateLimited:
            return "rate"
        await asyncio.sleep(0)
        await conclude(rt, ctx)
        return "ok"

    outcomes = await asyncio.gather(*(one(i) for i in range(200)))
    spent, reserved = await backend.budget_state(SLOT)
    assert reserved == 0
    assert spent == outcomes.count("ok") * COST <= 1_000_000
    assert outcomes.count("ok") + outcomes.count("budget") == 40  # the rpm, exactly
    assert 1_000_000 - spent < COST  # the budget was used up, not refused early


class DownBackend(MemoryBackend):
    async def admit(self, *a: Any, **kw: Any) -> Any:
        raise ServiceUnavailable("limits backend (test) is unreachable")

    async def conclude(self, *a: Any, **kw: Any) -> Any:
        raise ServiceUnavailable("limits backend (test) is unreachable")


async def test_a_failing_backend_refuses_by_default() -> None:
    rt = runtime(DownBackend())
    with pytest.raises(ServiceUnavailable, match="rate limits cannot be checked"):
        await admit(rt, ctx_for(Principal("k", "k", rpm=5, budgets=(Budget(10**6, "day"),)), "r"))


async def test_a_failing_backend_with_allow_serves_unchecked_and_still_prices_the_request() -> None:
    b = DownBackend()
    rt = runtime(b, on_error="allow")
    ctx = ctx_for(Principal("k", "k", rpm=5, budgets=(Budget(10**6, "day"),)), "r")
    await admit(rt, ctx)
    assert rt.ratelimit.served_unchecked == 1 and rt.cost.served_unchecked == 1
    ops = spy(b)
    await conclude(rt, ctx)
    assert ctx.cost_micros == COST
    assert calls(ops) == ["settle"]  # no lease to release; the spend is recorded on its own
    assert await b.budget_state(SLOT) == (COST, 0)


async def test_admit_and_conclude_match_the_separate_operations(backend: LimitsBackend) -> None:
    """The backend contract: `admit` = acquire, then reserve only if admitted; `conclude` =
    release + settle."""
    s = (ScopeLimit("k:a", "key a", rpm=2, tpm=1000, max_parallel=5),)
    slot = BudgetSlot("k:a", "day", "2027-01-15", limit=100)
    d, bd = await backend.admit("r1", s, 300, T0, (slot,), 60, T0)
    assert d.allowed and d.req_remaining == 1 and d.tok_remaining == 700
    assert bd is not None and bd.allowed
    assert await backend.budget_state(slot) == (0, 60)
    d, bd = await backend.admit("r2", s, 300, T0, (slot,), 60, T0)  # 60 + 60 > 100
    assert d.allowed and bd is not None and not bd.allowed
    assert (bd.denied_index, bd.spent, bd.reserved) == (0, 0, 60)
    d, bd = await backend.admit("r3", s, 300, T0, (slot,), 10, T0)  # rpm 2 used up
    assert not d.allowed and d.denied_kind == "requests" and bd is None
    assert await backend.budget_state(slot) == (0, 60)
    await backend.conclude("r1", s, -100, T0, (slot,), 60, 45, (slot,), T0)
    assert await backend.budget_state(slot) == (45, 0)
    d = await backend.acquire("r4", (ScopeLimit("k:a", "key a", tpm=1000),), 1, T0)
    assert d.tok_remaining == 1000 - 600 + 100 - 1  # r1 gave 100 back; r2 holds its 300


async def test_two_requests_with_one_request_id_keep_separate_leases_and_reservations(
        backend: LimitsBackend) -> None:
    """A trusted proxy chooses request ids: a repeated one must not merge two requests' leases or
    budget reservations (a merged reservation would let a budget be overspent)."""
    rt = runtime(backend)
    p = Principal("k", "k", max_parallel=2, budgets=(Budget(1_000_000, "total"),))
    first, second = ctx_for(p, "same-id"), ctx_for(p, "same-id")
    await admit(rt, first)
    await admit(rt, second)
    assert await backend.budget_state(SLOT) == (0, 2 * COST)  # two reservations, not one
    with pytest.raises(RateLimited) as e:
        await admit(rt, ctx_for(p, "third"))  # two leases held
    assert "x-should-retry" not in e.value.headers and "concurrent requests" in e.value.message
    await conclude(rt, first)
    assert await backend.budget_state(SLOT) == (COST, COST)  # the second's reservation is still held
    await admit(rt, ctx_for(p, "fourth"))  # one lease freed, not both
    with pytest.raises(RateLimited):
        await admit(rt, ctx_for(p, "fifth"))


@pytest.mark.parametrize("op", ["conclude", "settle"])
async def test_a_conclusion_the_backend_failed_is_retried_so_spend_and_slots_are_not_lost(
        backend: LimitsBackend, op: str) -> None:
    """Redis slow or unreachable for a moment while requests end: their settlements must still
    count (else, once the reservation expires, the budget could be overspent by them) and their
    concurrency slots come back (else the key stays locked out for lease_ttl_seconds)."""
    rt = runtime(backend)
    real: Callable[..., Awaitable[Any]] = getattr(backend, op)
    failed: list[str] = []

    async def flaky(*a: Any, **kw: Any) -> Any:
        if not failed:
            failed.append(op)
            raise ServiceUnavailable("limits backend (test) is unreachable")
        return await real(*a, **kw)

    setattr(backend, op, flaky)
    # The stage calls the memory backend's synchronous steps directly (they never fail): make it
    # call the failing coroutine, as it does any other backend's.
    rt.ratelimit._mem = None
    rt.cost._mem = None
    p = Principal("k", "k", max_parallel=1, budgets=(Budget(1_000_000, "total"),)) if op == "conclude" \
        else Principal("k", "k", budgets=(Budget(1_000_000, "total"),))
    ctx = ctx_for(p, "r1")
    await admit(rt, ctx)
    await conclude(rt, ctx)  # never raises
    assert failed == [op]
    async with asyncio.timeout(10):  # a hang guard, not a speed assertion
        await rt.ratelimit.late.drained()
        await rt.cost.late.drained()
    assert rt.ratelimit.late.pending == rt.cost.late.pending == 0
    assert await backend.budget_state(SLOT) == (COST, 0)
    if op == "conclude":
        await admit(rt, ctx_for(p, "r2"))  # the one concurrency slot is free again
    await rt.close()


@pytest.mark.parametrize("limited", [False, True])
async def test_an_unpaired_settlement_on_the_memory_backend_matches_its_coroutine(limited: bool) -> None:
    """The budget stage alone (a key without rate limits: the rate-limit stage takes no part) settles
    on the memory backend by its synchronous `account`, not `settle`: the same budgets, the same spend."""
    direct, general = MemoryBackend(), MemoryBackend()
    runs = [runtime(direct), runtime(general)]
    assert runs[0].cost._mem is direct
    runs[1].cost._mem = None  # the coroutine, as any other backend's
    settled: list[str] = []
    real_settle = general.settle

    async def counted(*a: Any, **kw: Any) -> None:
        settled.append("settle")
        await real_settle(*a, **kw)

    general.settle = counted  # type: ignore[method-assign]
    budgets = (Budget(1_000_000, "total"),) if limited else ()
    p = Principal("k", "k", budgets=budgets)
    day = BudgetSlot("k:k", "day", "2027-01-15")  # T0's UTC day: spend is recorded per period too
    for i, served in enumerate([True, False, True, True]):
        for rt in runs:
            ctx = ctx_for(p, f"r{i}")
            await admit(rt, ctx)
            assert ctx.state[rt.cost.name].partnered is False  # no rate limit: the budget stage alone
            await conclude(rt, ctx, served)
        assert await direct.budget_state(SLOT) == await general.budget_state(SLOT)
        assert await direct.budget_state(day) == await general.budget_state(day)
    assert settled == ["settle"] * 4
    assert (await direct.budget_state(day))[0] > 0
