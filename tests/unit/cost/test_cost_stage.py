"""The budget stage: worst-case reservation, refusal, settlement (also of cut streams), calendar
resets, team budgets, and spend surviving a restart."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.config.loader import parse_config
from bastion.config.schema import BastionConfig
from bastion.core.context import Attempt, Budget, Principal, RequestContext
from bastion.core.errors import BudgetExceeded
from bastion.core.types import ChatRequest, Message, TextPart, Usage
from bastion.cost.pricing import PriceTable
from bastion.cost.stage import BudgetStage, Reservation
from bastion.cost.usage import UsageRecorder, query_usage
from bastion.limits.backend import BudgetSlot, LimitsBackend
from bastion.limits.estimate import TokenEstimate
from bastion.limits.memory import MemoryBackend
from bastion.limits.runtime import LimitsRuntime
from bastion.limits.scopes import key_scope
from bastion.store.db import SqliteDatabase

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC).timestamp()


class Clock:
    def __init__(self, t: float = NOW) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def config() -> BastionConfig:
    return parse_config({
        "providers": {"openai": {"kind": "openai", "base_url": "https://api.openai.com/v1", "api_key": "sk-x"}},
        "models": [{"name": "m", "targets": [{"provider": "openai", "model": "gpt-4o-mini"},
                                             {"provider": "openai", "model": "gpt-4o"}]},
                   {"name": "fixed", "targets": [{"provider": "openai", "model": "flat"}]},
                   {"name": "solo", "targets": [{"provider": "openai", "model": "gpt-4o"}]}],
        "pricing": {"flat": {"input_per_mtok": 0, "output_per_mtok": 1000},  # $0.001 per output token
                    "thinker": {"input_per_mtok": 1, "output_per_mtok": 2, "reasoning_per_mtok": 7,
                                "cache_write_per_mtok": 3, "cache_write_1h_per_mtok": 5}},
        "teams": {"payments": {"budgets": [{"usd": 0.5, "period": "month"}]}},
    }, env={})


def stage(backend: LimitsBackend, clock: Clock | None = None, recorder: UsageRecorder | None = None) -> BudgetStage:
    cfg = config()
    return BudgetStage(backend, PriceTable.for_config(cfg), cfg.limits, cfg.teams,
                       {m.name: [t.model for t in m.targets] for m in cfg.models},
                       recorder=recorder, clock=clock or Clock())


def ctx_for(p: Principal, rid: str = "r", model: str = "m") -> RequestContext:
    return RequestContext(request_id=rid, ingress="openai", model=model, principal=p)


def chat(text: str = "x" * 400, max_tokens: int = 1000, model: str = "m") -> ChatRequest:
    return ChatRequest(model=model, messages=[Message("user", [TextPart(text)])], max_tokens=max_tokens)


def served(ctx: RequestContext, model: str, usage: Usage | None) -> None:
    ctx.attempts.append(Attempt("openai", model, "ok", 200))
    ctx.usage = usage


async def test_reserves_worst_case_at_the_most_expensive_target() -> None:
    b = MemoryBackend()
    st = stage(b)
    ctx = ctx_for(Principal("k", "k", budgets=(Budget(10**6, "day"),)))
    await st.check(ctx, chat())
    res = ctx.state["cost"]
    assert isinstance(res, Reservation)
    # the input's bound, 424 tokens (400 bytes + 16 per request + 8 per message), and 1000 output
    # at gpt-4o's $2.50 / $10 (dearer than mini)
    assert res.amount == -(-(424 * 2_500_000 + 1000 * 10_000_000) // 1_000_000) == 11_060
    assert res.estimate == TokenEstimate(104, 1000)  # what a settlement without usage charges: 400 / 4 + 4
    assert await b.budget_state(res.slots[0]) == (0, 11_060)


async def test_settles_actual_cost_of_the_served_target_and_releases_the_rest() -> None:
    b = MemoryBackend()
    st = stage(b)
    ctx = ctx_for(Principal("k", "k", budgets=(Budget(10**6, "day"),)))
    await st.check(ctx, chat())
    served(ctx, "gpt-4o-mini", Usage(input_tokens=100_000, output_tokens=1000))
    await st.finish(ctx)
    assert ctx.cost_micros == 15_000 + 600
    res = ctx.state["cost"]
    assert isinstance(res, Reservation)
    assert await b.budget_state(res.slots[0]) == (15_600, 0)


async def test_refuses_with_budget_exceeded_when_the_worst_case_does_not_fit() -> None:
    st = stage(MemoryBackend())
    p = Principal("k", "k", budgets=(Budget(15_000, "day"),))  # 1.5 cents
    await st.check(ctx_for(p, "first"), chat())  # reserves 1.106 cents, still in flight
    ctx = ctx_for(p)
    with pytest.raises(BudgetExceeded) as e:
        await st.check(ctx, chat())  # may cost 1.106 cents more
    err = e.value
    assert err.status == 429 and err.code == "budget_exceeded" and err.openai_type == "insufficient_quota"
    assert err.headers["x-should-retry"] == "false"
    assert err.retry_after == 12 * 3600.0  # until midnight UTC
    assert "key 'k'" in err.message and "$0.015000 per day" in err.message and "$0.011060" in err.message
    assert "reserved by requests in flight $0.011060" in err.message
    assert "cost" not in ctx.state


async def test_a_request_that_could_never_fit_its_budget_gets_no_retry_after() -> None:
    st = stage(MemoryBackend())
    p = Principal("k", "k", budgets=(Budget(10_000, "day"),))  # one cent
    with pytest.raises(BudgetExceeded) as e:
        await st.check(ctx_for(p), chat())  # may cost 1.026 cents: more than the whole budget
    assert e.value.retry_after is None and e.value.headers["x-should-retry"] == "false"
    assert "more than the whole budget of $0.010000 per day" in e.value.message
    assert "lower max_tokens" in e.value.message


async def test_team_budget_is_shared_and_the_tighter_duplicate_wins() -> None:
    st = stage(MemoryBackend())
    a = Principal("a", "a", team="payments", budgets=(Budget(10**9, "month"), Budget(10**8, "month")))
    b = Principal("b", "b", team="payments")
    spent, i = 0, 0
    while spent + 10_260 <= 500_000:
        i += 1
        ctx = ctx_for(a if i % 2 else b, f"r{i}")
        await st.check(ctx, chat())
        served(ctx, "gpt-4o", Usage(input_tokens=104, output_tokens=1000))
        await st.finish(ctx)
        spent += ctx.cost_micros
    with pytest.raises(BudgetExceeded, match="team 'payments'"):
        await st.check(ctx_for(b, "last"), chat())
    ctx = ctx_for(a, "a-last")
    with pytest.raises(BudgetExceeded, match="team 'payments'"):
        await st.check(ctx, chat())
    ctx = ctx_for(a, "a-small")
    await st.check(ctx, chat(text="x", max_tokens=1))
    res = ctx.state["cost"]
    assert isinstance(res, Reservation) and len(res.slots) == 2  # key month (tighter of two) + team month
    assert {s.limit for s in res.slots} == {10**8, 500_000}


async def test_cut_stream_is_charged_for_what_was_streamed_and_releases_its_reservation() -> None:
    b = MemoryBackend()
    st = stage(b)
    ctx = ctx_for(Principal("k", "k", budgets=(Budget(10**6, "day"),)), model="fixed")
    ctx.stream = True
    await st.check(ctx, chat(model="fixed", max_tokens=1000))
    res = ctx.state["cost"]
    assert isinstance(res, Reservation) and res.amount == 1_000_000
    ctx.attempts.append(Attempt("openai", "flat", "ok", 200))
    ctx.streamed_chars, ctx.client_disconnected = 802, True  # no usage event ever came
    await st.finish(ctx)
    assert ctx.cost_micros == 201 * 1000  # ceil(802 / 4) output tokens at $0.001
    assert await b.budget_state(res.slots[0]) == (201_000, 0)


@pytest.mark.parametrize("attempt", ["gpt-4o-mini", None])
async def test_without_a_budget_the_put_off_estimate_prices_a_stream_like_a_budgeted_key(attempt: str | None) -> None:
    """A key no budget applies to reserves nothing and estimates nothing up front; a stream that
    reported no usage is still charged its estimated input and what was streamed, exactly as a
    budgeted key's, and the spend is recorded on the key's periods."""
    costs = []
    for budgets in ((), (Budget(10**9, "day"),)):
        b = MemoryBackend()
        st = stage(b)
        ctx = ctx_for(Principal("k", "k", budgets=budgets))
        ctx.stream = True
        await st.check(ctx, chat(text="y" * 803))
        res = ctx.state["cost"]
        assert isinstance(res, Reservation) and (res.estimate is None) == (not budgets)
        if attempt is not None:
            ctx.attempts.append(Attempt("openai", attempt, "ok", 200))
        ctx.first_token_at = 1.0
        ctx.streamed_chars, ctx.client_disconnected = 400, True
        await st.finish(ctx)
        assert res.estimate is not None and res.estimate.input == 201 + 4
        spent = await b.budget_state(BudgetSlot(key_scope("k"), "day", res.labels.label("day"), 0, None))
        assert spent[0] == ctx.cost_micros
        costs.append((ctx.cost_micros, spent[0]))
    assert costs[0] == costs[1] and costs[0][0] > 0


async def test_failed_upstream_costs_nothing_and_releases() -> None:
    b = MemoryBackend()
    st = stage(b)
    ctx = ctx_for(Principal("k", "k", budgets=(Budget(10**6, "day"),)))
    await st.check(ctx, chat())
    ctx.attempts.append(Attempt("openai", "gpt-4o", "error", 500))
    await st.finish(ctx)
    res = ctx.state["cost"]
    assert isinstance(res, Reservation)
    assert ctx.cost_micros == 0 and await b.budget_state(res.slots[0]) == (0, 0)


async def test_daily_budget_resets_at_utc_midnight_weekly_on_monday() -> None:
    clock = Clock(datetime(2026, 11, 29, 23, 59, 59, tzinfo=UTC).timestamp())  # Sunday
    st = stage(MemoryBackend(), clock)
    p = Principal("k", "k", budgets=(Budget(200_000, "day"), Budget(300_000, "week")))
    for i in range(2):
        ctx = ctx_for(p, f"a{i}", model="fixed")
        await st.check(ctx, chat(model="fixed", max_tokens=100))
        served(ctx, "flat", Usage(input_tokens=1, output_tokens=100))
        await st.finish(ctx)
    with pytest.raises(BudgetExceeded, match="per day"):
        await st.check(ctx_for(p, "b", model="fixed"), chat(model="fixed", max_tokens=100))
    clock.t += 1  # Monday 00:00:00 UTC: new day and new ISO week
    for i in range(2):
        ctx = ctx_for(p, f"c{i}", model="fixed")
        await st.check(ctx, chat(model="fixed", max_tokens=100))
        served(ctx, "flat", Usage(input_tokens=1, output_tokens=100))
        await st.finish(ctx)


async def test_200_concurrent_requests_never_overspend_one_dollar(backend: LimitsBackend) -> None:
    st = stage(backend)
    p = Principal("k-dollar", "k", budgets=(Budget(1_000_000, "total"),))
    cost = 30_000

    async def one(i: int) -> bool:
        ctx = ctx_for(p, f"r{i}", model="fixed")
        try:
            await st.check(ctx, chat(model="fixed", max_tokens=30))
        except BudgetExceeded:
            return False
        await asyncio.sleep(0)
        served(ctx, "flat", Usage(input_tokens=5, output_tokens=30))  # actual == reservation
        await st.finish(ctx)
        assert ctx.cost_micros == cost
        return True

    admitted = sum(await asyncio.gather(*(one(i) for i in range(200))))
    spent, reserved = await backend.budget_state(BudgetSlot("k:k-dollar", "total", "total"))
    assert reserved == 0 and spent == admitted * cost
    assert spent <= 1_000_000 and 1_000_000 - spent < cost


async def test_spend_survives_a_restart_with_the_memory_backend(tmp_path: Path) -> None:
    cfg = parse_config({
        "store": {"url": f"sqlite:///{tmp_path / 'b.db'}"},
        "providers": {"openai": {"kind": "openai", "base_url": "https://api.openai.com/v1", "api_key": "sk-x"}},
        "models": [{"name": "fixed", "targets": [{"provider": "openai", "model": "flat"}]}],
        "pricing": {"flat": {"input_per_mtok": 0, "output_per_mtok": 1000}}}, env={})
    p = Principal("k", "k", team="t", budgets=(Budget(250_000, "month"),))
    clock = Clock()
    db = SqliteDatabase(str(tmp_path / "b.db"))
    rt = LimitsRuntime(cfg, db, clock=clock)
    await rt.start()
    for i in range(2):
        ctx = ctx_for(p, f"a{i}", model="fixed")
        await rt.cost.check(ctx, chat(model="fixed", max_tokens=100))
        served(ctx, "flat", Usage(input_tokens=1, output_tokens=100))
        await rt.cost.finish(ctx)
    await rt.close()
    await db.close()

    db = SqliteDatabase(str(tmp_path / "b.db"))
    rt = LimitsRuntime(cfg, db, clock=clock)  # a fresh process: nothing in memory
    await rt.start()
    with pytest.raises(BudgetExceeded, match=r"spent \$0.200000"):
        await rt.cost.check(ctx_for(p, "b", model="fixed"), chat(model="fixed", max_tokens=100))
    rows = await query_usage(db, key="k", by="model")
    assert [(r.group, r.requests, r.output_tokens, r.cost_micros) for r in rows] == [("fixed", 2, 200, 200_000)]
    await rt.close()
    await db.close()


async def test_memory_settle_reuses_a_slot_lists_entries_until_a_period_replaces_one() -> None:
    """settle looks a spend list's ledger entries up once (the stage hands it the same list per key and
    day); an entry replaced by a new period since then is looked up again, and spend on an old period's
    slot still does not land in the new period."""
    backend = MemoryBackend()
    june = [BudgetSlot("k:a", "day", "2026-06-01"), BudgetSlot("k:a", "month", "2026-06")]
    await backend.settle("r1", (), 0, 5, june, 0.0)
    await backend.settle("r2", (), 0, 7, june, 0.0)
    assert [await backend.budget_state(s) for s in june] == [(12, 0), (12, 0)]
    july = [BudgetSlot("k:a", "day", "2026-07-01", limit=100), BudgetSlot("k:a", "month", "2026-07", limit=100)]
    assert (await backend.reserve("r3", july, 40, 0.0)).allowed  # replaces both entries: a new period
    await backend.settle("r2", (), 0, 3, june, 0.0)  # a late settlement of June: not July's spend
    assert [await backend.budget_state(s) for s in july] == [(0, 40), (0, 40)]
    await backend.settle("r3", july, 40, 9, july, 0.0)
    assert [await backend.budget_state(s) for s in july] == [(9, 0), (9, 0)]
    await backend.settle("r4", (), 0, 1, july, 0.0)
    assert [await backend.budget_state(s) for s in july] == [(10, 0), (10, 0)]
    june_again = [BudgetSlot(s.scope, s.period, s.label, limit=100) for s in june]
    assert (await backend.reserve("r5", june_again, 0, 0.0)).allowed  # back to June's labels: new entries
    await backend.settle("r6", (), 0, 4, june, 0.0)  # the old list: its spend must reach the entries in use
    assert [await backend.budget_state(s) for s in june] == [(4, 0), (4, 0)]


async def test_a_budgeted_request_without_max_tokens_is_capped_at_the_output_it_reserved() -> None:
    """The reservation priced default_max_output_tokens of output: once admitted, the request gets it
    as max_tokens (a request with its own max_tokens keeps it); the plan's fields are in place."""
    b = MemoryBackend()
    st = stage(b)
    default_out = config().limits.default_max_output_tokens
    ctx = ctx_for(Principal("k", "k", budgets=(Budget(10**9, "day"),)))
    req = chat(max_tokens=0)
    req.max_tokens = None
    plan = st.plan(ctx, req)
    assert plan.uncapped is req and plan.wanted and plan.slots == () and not plan.done and not plan.partnered
    assert plan.request is None and plan.now == NOW and plan.names and plan.price is not None
    await st.check(ctx, req)
    assert req.max_tokens == default_out
    capped = chat(max_tokens=7)
    await st.check(ctx_for(Principal("k", "k", budgets=(Budget(10**9, "day"),)), rid="r2"), capped)
    assert capped.max_tokens == 7


@settings(max_examples=200, deadline=None)
@given(size=st.integers(0, 5000), max_tokens=st.one_of(st.none(), st.integers(-5, 10**6)),
       default_out=st.integers(0, 4096), n=st.one_of(st.none(), st.integers(0, 4)),
       model=st.sampled_from(["m", "fixed", "solo", "gpt-4o-mini"]))
def test_plan_prices_a_single_target_alias_as_worst_does(size: int, max_tokens: int | None, default_out: int,
                                                        n: int | None, model: str) -> None:
    """`plan` prices an alias of one priced target without `_worst`'s call: the same amount and price as
    `_worst` (over every target), for any estimate; a two-target alias and a direct model take `_worst`."""
    cfg = config()
    limits = cfg.limits.model_copy(update={"default_max_output_tokens": default_out})
    st_ = BudgetStage(MemoryBackend(), PriceTable.for_config(cfg), limits, cfg.teams,
                      {m.name: [t.model for t in m.targets] for m in cfg.models}, clock=Clock())
    req = chat("y" * size, model=model)
    req.max_tokens = max_tokens
    req.n = n
    ctx = ctx_for(Principal("k", "k", budgets=(Budget(10**12, "day"),)), model=model)
    res = st_.plan(ctx, req)
    assert res.estimate is not None
    assert (res.amount, res.price) == st_._worst(model, res.estimate.bound, res.estimate.output)
    assert (model in ("fixed", "solo")) == (model in st_._only_row)


@settings(max_examples=300, deadline=None)
@given(usage=st.builds(Usage, *(st.integers(-3, 10**7) for _ in range(6))),
       served=st.sampled_from(["gpt-4o-mini", "gpt-4o", "flat", "o1", "thinker", "claude-3-5-sonnet-20241022"]))
def test_the_settlement_charges_what_the_price_table_says(usage: Usage, served: str) -> None:
    """`settlement` prices the usual usage without Price.cost_pico's call and keeps the served model's price:
    whatever the usage (cached, written, reasoning tokens, negative counts), what Price.cost_micros gives,
    on the first request and the next ones."""
    st_ = stage(MemoryBackend())
    price = PriceTable.for_config(config()).get(served)
    assert price is not None
    for i in range(2):
        ctx = ctx_for(Principal("k", "k"), rid=f"r{i}")
        res = st_.plan(ctx, chat())
        served_ctx = ctx
        served_ctx.attempts.append(Attempt("openai", served, "ok", 200))
        served_ctx.usage = usage
        assert st_.settlement(served_ctx, res) is not None
        assert served_ctx.cost_micros == price.cost_micros(usage)
