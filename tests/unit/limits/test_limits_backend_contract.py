"""One contract for every counter backend (memory, Redis): same inputs, same decisions."""

from __future__ import annotations

import asyncio

import pytest

from bastion.limits.backend import BudgetSlot, LimitsBackend
from bastion.limits.scopes import ScopeLimit

T0 = 1_800_000_000.0  # explicit clock: the same arithmetic runs in Python and in Lua


def scope(sid: str = "k:a", **kw: int) -> ScopeLimit:
    return ScopeLimit(sid, sid, **kw)  # type: ignore[arg-type]


async def test_rpm_admits_the_limit_then_refuses_with_retry_after(backend: LimitsBackend) -> None:
    s = (scope(rpm=5),)
    for i in range(5):
        d = await backend.acquire(f"r{i}", s, 1, T0)
        assert d.allowed
        assert d.req_limit == 5 and d.req_remaining == 4 - i
    d = await backend.acquire("r5", s, 1, T0)
    assert not d.allowed and d.denied_kind == "requests" and d.denied_index == 0
    assert d.retry_after == pytest.approx(12.0, abs=0.002)  # one request refills every 60/5 s
    assert not (await backend.acquire("r6", s, 1, T0 + 11.9)).allowed
    assert (await backend.acquire("r7", s, 1, T0 + 12.0)).allowed


async def test_no_burst_at_a_minute_boundary(backend: LimitsBackend) -> None:
    """A fixed window would admit 2x the limit across :59.9 → :00.1; the bucket admits the
    limit once, then only what refilled."""
    s = (scope(rpm=60),)
    for i in range(60):
        assert (await backend.acquire(f"a{i}", s, 1, T0 + 59.9)).allowed
    admitted = 0
    for i in range(60):
        admitted += (await backend.acquire(f"b{i}", s, 1, T0 + 60.1)).allowed
    assert admitted == 0  # 0.2 s refilled 0.2 of a request
    assert (await backend.acquire("c", s, 1, T0 + 60.9)).allowed  # 1 s later: exactly one more
    assert not (await backend.acquire("d", s, 1, T0 + 60.9)).allowed


async def test_sustained_rate_never_exceeds_limit_plus_capacity(backend: LimitsBackend) -> None:
    s = (scope(rpm=30),)
    admitted = 0
    for step in range(240):  # hammer every 0.25 s for 60 s
        admitted += (await backend.acquire(f"r{step}", s, 1, T0 + step * 0.25)).allowed
    # capacity 30 at once + 30 refilled over the minute (last step at 59.75 s: 29.875 → 29)
    assert admitted == 30 + 29


async def test_tpm_counts_tokens_and_refuses_requests_larger_than_the_limit(backend: LimitsBackend) -> None:
    s = (scope(tpm=1000),)
    d = await backend.acquire("a", s, 600, T0)
    assert d.allowed and d.tok_limit == 1000 and d.tok_remaining == 400
    d = await backend.acquire("b", s, 500, T0)
    assert not d.allowed and d.denied_kind == "tokens"
    assert d.retry_after == pytest.approx(6.0, abs=0.002)  # 100 tokens at 1000/60 per s
    d = await backend.acquire("c", s, 1001, T0 + 3600)
    assert not d.allowed and d.denied_kind == "too_large"


async def test_all_scopes_or_nothing(backend: LimitsBackend) -> None:
    key, team = scope("k:a", rpm=10), scope("t:x", rpm=1)
    assert (await backend.acquire("a", (key, team), 1, T0)).allowed
    d = await backend.acquire("b", (key, team), 1, T0)
    assert not d.allowed and d.denied_index == 1
    # the refused request took nothing from the key scope: 9 remain
    d = await backend.acquire("c", (key,), 1, T0)
    assert d.allowed and d.req_remaining == 8


async def test_headers_report_the_most_restrictive_scope(backend: LimitsBackend) -> None:
    d = await backend.acquire("a", (scope("k:a", rpm=100, tpm=10_000), scope("t:x", rpm=10, tpm=50_000)), 100, T0)
    assert d.allowed
    assert (d.req_limit, d.req_remaining) == (10, 9)
    assert (d.tok_limit, d.tok_remaining) == (10_000, 9_900)
    assert d.req_reset == pytest.approx(6.0, abs=0.002)  # one request back to full at 10/min
    assert d.tok_reset == pytest.approx(0.6, abs=0.002)


async def test_max_parallel_leases_are_released(backend: LimitsBackend) -> None:
    s = (scope(max_parallel=2),)
    assert (await backend.acquire("a", s, 1, T0)).allowed
    assert (await backend.acquire("b", s, 1, T0)).allowed
    d = await backend.acquire("c", s, 1, T0)
    assert not d.allowed and d.denied_kind == "parallel" and d.retry_after > 0
    await backend.release("a", s, 0, T0)
    assert (await backend.acquire("c", s, 1, T0)).allowed


async def test_release_corrects_the_token_estimate(backend: LimitsBackend) -> None:
    s = (scope(tpm=1000),)
    assert (await backend.acquire("a", s, 900, T0)).allowed
    await backend.release("a", s, 10 - 900, T0)  # used 10 of the 900 estimated
    d = await backend.acquire("b", s, 980, T0)
    assert d.allowed and d.tok_remaining == 10
    await backend.release("b", s, 500, T0)  # used 500 more than estimated: goes into debt
    d = await backend.acquire("c", s, 1, T0)
    assert not d.allowed and d.retry_after == pytest.approx((1 + 490) * 60 / 1000, abs=0.002)


async def test_rpm_50_with_200_concurrent_admits_exactly_50(backend: LimitsBackend) -> None:
    s = (scope("k:burst", rpm=50),)
    results = await asyncio.gather(*(backend.acquire(f"r{i}", s, 1, T0) for i in range(200)))
    assert sum(d.allowed for d in results) == 50


async def test_budget_reserve_settle_and_release(backend: LimitsBackend) -> None:
    slot = BudgetSlot("k:a", "day", "2027-01-15", limit=1_000_000, expires_at=int(T0) + 86400)
    assert (await backend.reserve("a", [slot], 600_000, T0)).allowed
    assert await backend.budget_state(slot) == (0, 600_000)
    d = await backend.reserve("b", [slot], 500_000, T0)
    assert not d.allowed and d.denied_index == 0 and (d.spent, d.reserved) == (0, 600_000)
    await backend.settle("a", [slot], 600_000, 250_000, [slot], T0)
    assert await backend.budget_state(slot) == (250_000, 0)
    assert (await backend.reserve("b", [slot], 750_000, T0)).allowed  # exactly fills it
    assert not (await backend.reserve("c", [slot], 1, T0)).allowed


async def test_budget_all_slots_or_nothing_and_labels_are_separate(backend: LimitsBackend) -> None:
    key = BudgetSlot("k:a", "month", "2027-01", limit=10_000_000)
    team = BudgetSlot("t:x", "month", "2027-01", limit=1_000_000)
    assert (await backend.reserve("a", [key, team], 900_000, T0)).allowed
    d = await backend.reserve("b", [key, team], 200_000, T0)
    assert not d.allowed and d.denied_index == 1
    assert await backend.budget_state(key) == (0, 900_000)  # nothing taken by the refusal
    next_month = BudgetSlot("t:x", "month", "2027-02", limit=1_000_000)
    assert await backend.budget_state(next_month) == (0, 0)
    assert (await backend.reserve("c", [next_month], 1_000_000, T0)).allowed


async def test_settle_adds_spend_to_slots_without_a_budget(backend: LimitsBackend) -> None:
    spend = [BudgetSlot("k:z", p, lab) for p, lab in (("day", "2027-01-15"), ("week", "2027-W02"),
                                                      ("month", "2027-01"), ("total", "total"))]
    await backend.settle("a", [], 0, 1234, spend, T0)
    await backend.settle("b", [], 0, 1, spend, T0)
    for s in spend:
        assert await backend.budget_state(s) == (1235, 0)


async def test_200_concurrent_reservations_never_exceed_a_one_dollar_budget(backend: LimitsBackend) -> None:
    slot = BudgetSlot("k:dollar", "total", "total", limit=1_000_000)
    cost = 30_000  # 3 cents: 33 fit, the 34th would overrun

    async def one(i: int) -> bool:
        d = await backend.reserve(f"r{i}", [slot], cost, T0)
        if d.allowed:
            await asyncio.sleep(0)
            await backend.settle(f"r{i}", [slot], cost, cost, [slot], T0)
        return d.allowed

    admitted = sum(await asyncio.gather(*(one(i) for i in range(200))))
    spent, reserved = await backend.budget_state(slot)
    assert reserved == 0
    assert spent == admitted * cost
    assert spent <= 1_000_000
    assert 1_000_000 - spent < cost  # nothing that fitted was refused


async def test_a_scope_tuple_with_new_limits_applies_them_at_once(backend: LimitsBackend) -> None:
    # The same tuple comes back per key and model (a backend may keep what it read off it by
    # identity); a reloaded key brings a new tuple for the same scope id.
    first = (scope("k:plan", rpm=5),)
    for _ in range(2):
        assert (await backend.acquire("a", first, 1, T0)).allowed
    capped = (scope("k:plan", rpm=5, max_parallel=1),)
    d = await backend.acquire("b", capped, 1, T0)
    assert d.allowed and d.req_remaining == 2  # the same bucket, now with a concurrency cap
    d = await backend.acquire("c", capped, 1, T0)
    assert not d.allowed and d.denied_kind == "parallel"
    await backend.release("b", capped, 0, T0)
    assert (await backend.acquire("c", capped, 1, T0)).allowed


async def test_a_settlement_after_the_period_rolled_over_leaves_the_new_period_alone(backend: LimitsBackend) -> None:
    # The cost stage hands the same slot tuples per key and day: a backend may remember their
    # counters by identity, but not past a new period's counter replacing the old one.
    old = (BudgetSlot("k:roll", "day", "2027-01-15", limit=1_000_000),)
    new = (BudgetSlot("k:roll", "day", "2027-01-16", limit=1_000_000),)
    assert (await backend.reserve("a", old, 300_000, T0)).allowed
    await backend.settle("a", old, 300_000, 100_000, old, T0)
    assert (await backend.reserve("b", old, 300_000, T0)).allowed
    assert await backend.budget_state(old[0]) == (100_000, 300_000)
    assert (await backend.reserve("c", new, 200_000, T0)).allowed  # the day rolled over
    await backend.settle("b", old, 300_000, 50_000, old, T0)  # a request of the old day ends
    assert await backend.budget_state(new[0]) == (0, 200_000)
    await backend.settle("c", new, 200_000, 70_000, new, T0)
    assert await backend.budget_state(new[0]) == (70_000, 0)
    assert (await backend.reserve("d", new, 930_000, T0)).allowed  # exactly fills it
    assert not (await backend.reserve("e", new, 1, T0)).allowed


async def test_spend_of_a_new_period_counts_though_the_old_period_has_a_counter(backend: LimitsBackend) -> None:
    # Spend is recorded in every period, budget or not (a budget set later in a period starts from
    # what was spent): a settlement that is the first of a new day must not be lost to the old day.
    def spend(day: str) -> list[BudgetSlot]:
        return [BudgetSlot("k:new", "day", day), BudgetSlot("k:new", "week", "2027-W02"),
                BudgetSlot("k:new", "month", "2027-01"), BudgetSlot("k:new", "total", "total")]

    await backend.settle("a", [], 0, 1000, spend("2027-01-14"), T0)
    await backend.settle("b", [], 0, 10, spend("2027-01-15"), T0)
    await backend.settle("c", [], 0, 1, spend("2027-01-14"), T0)  # a request of the old day ends late
    assert await backend.budget_state(spend("2027-01-15")[0]) == (10, 0)
    for s in spend("2027-01-15")[1:]:
        assert await backend.budget_state(s) == (1011, 0)
    day = BudgetSlot("k:new", "day", "2027-01-15", limit=20)
    assert (await backend.reserve("d", [day], 10, T0)).allowed  # exactly fills it
    assert not (await backend.reserve("e", [day], 1, T0)).allowed
