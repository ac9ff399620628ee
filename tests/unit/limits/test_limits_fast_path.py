"""The token estimate's measure of plain ASCII requests in C (_native_measure.c `measure_texts`) against
the Python measure; the memory backend's fast admission (`take_headed`: the take and OpenAI's headers in one C call,
_native_bucket.c `bucket_take_headed`) against the Python take and the stage's `_headers`; and the
rate-limit stage's direct path on the memory backend (with the budget stage paired: made-without-a-
class-call leases, reservations and estimates, the day's labels kept between calls) against the
general path the stages take on any other backend, in Python (no C step), over random requests,
settlements and clock moves; the budget counters' steps in C (`ledger_hold`, `ledger_account`) with them; and
the check's take and hold (`bucket_admit`) and the finish's give-back and settlement (`bucket_conclude`), each in one
C call and all or nothing, against the two Python steps."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bastion.config.loader import parse_config
from bastion.core.context import Attempt, Budget, Principal, RequestContext
from bastion.core.errors import BastionError
from bastion.core.types import (
    ChatRequest,
    EmbeddingsRequest,
    ImagePart,
    Message,
    TextPart,
    ThinkingPart,
    ToolCall,
    ToolDef,
    Usage,
)
from bastion.cost.periods import PERIODS, labels_at
from bastion.cost.stage import Reservation
from bastion.limits import estimate, memory
from bastion.limits.backend import BudgetSlot
from bastion.limits.memory import MemoryBackend
from bastion.limits.runtime import LimitsRuntime
from bastion.limits.scopes import ScopeLimit, key_scope, team_scope
from bastion.limits.stage import RateLimitStage

T0 = 1_800_000_000.0
LIMITS = st.one_of(st.none(), st.sampled_from([0, 1, 2, 3, 7, 60, 40_000, 60_000, 10**9, 10**12]), st.integers(1, 5000),
                 st.integers(1, 200_000))
SCOPE_SETS = st.lists(
    st.lists(st.tuples(st.sampled_from(["k:a", "km:a:m", "t:x", "tm:x:m"]), LIMITS, LIMITS, LIMITS),
             min_size=1, max_size=4, unique_by=lambda r: r[0]),
    min_size=1, max_size=3)
TAKE = st.tuples(st.just("take"), st.integers(0, 2), st.sampled_from([1, 5, 100, 999]) | st.integers(1, 6000))
GIVE = st.tuples(st.just("give"), st.integers(0, 40), st.integers(-3000, 9000))
TICK = st.tuples(st.just("tick"), st.sampled_from([0.0, 0.001, 0.37, 1.0, 2.5, 59.9, 61.0])
                 | st.floats(0.0, 120.0, allow_nan=False))
OPS = st.lists(st.one_of(TAKE, TAKE, GIVE, TICK), min_size=1, max_size=120)


TEXTS = st.sampled_from(["", "hi", "x" * 300, "é", "日本語のテキスト", "a\ud800b", "\x00\x7f"]) | st.text(max_size=40)
PARTS = st.lists(st.one_of(st.builds(TextPart, TEXTS), st.builds(TextPart, TEXTS), st.builds(ImagePart)), max_size=3)
MESSAGES = st.builds(Message, st.sampled_from(["user", "assistant", "system"]), PARTS,
                     st.lists(st.builds(ToolCall, st.just("c1"), TEXTS, TEXTS), max_size=1) | st.just([]),
                     thinking=st.lists(st.builds(ThinkingPart, TEXTS), max_size=1) | st.just([]))
REQUESTS = st.builds(ChatRequest, st.just("m"), st.lists(MESSAGES, max_size=4),
                     st.lists(st.builds(TextPart, TEXTS), max_size=2),
                     st.lists(st.builds(ToolDef, TEXTS), max_size=1) | st.just([]))


@pytest.mark.skipif(estimate._measure_texts is None, reason="C accelerator not built")
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(REQUESTS)
def test_measure_texts_is_the_python_measure(req: ChatRequest) -> None:
    assert estimate._measure_texts is not None
    got = estimate._measure_texts(req, TextPart, Message)
    want = estimate._measure_general(req)
    if got is not None:
        assert got == want
        assert all(type(p) is TextPart and p.text.isascii() for m in req.messages for p in m.content)
        assert not req.tools and all(not m.tool_calls and not m.thinking for m in req.messages)
    assert estimate._measure(req) == want
    assert estimate.estimate_request(req, 77) == estimate.TokenEstimate(
        estimate._chat_input(*want), 77, estimate._chat_bound(req, *want))


OUTPUTS = st.one_of(st.none(), st.sampled_from([0, -1, 1, 256, 2**62, 2**63, 2**70]), st.integers(-5, 10**6),
                   st.booleans())


def python_estimate(req: ChatRequest, default_out: object) -> estimate.TokenEstimate:
    """estimate_request without the C estimate (the C measure still in place: tested above)."""
    saved, estimate._estimate_chat = estimate._estimate_chat, None
    try:
        return estimate.estimate_request(req, default_out)  # type: ignore[arg-type]
    finally:
        estimate._estimate_chat = saved


@pytest.mark.skipif(estimate._estimate_chat is None, reason="C accelerator not built")
@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(REQUESTS, OUTPUTS, st.one_of(st.none(), st.sampled_from([0, 2, 3, 2**62])), OUTPUTS)
def test_estimate_chat_is_the_python_estimate(req: ChatRequest, max_tokens: int | None, n: int | None,
                                             default_out: int | None) -> None:
    """The whole estimate in C (`estimate_chat`) is the Python one: input, output and bound, each an exact
    int; it leaves to Python (None) whatever it does not measure or cannot hold (non-int counts, overflow)."""
    assert estimate._estimate_chat is not None
    req.max_tokens = max_tokens
    req.n = n
    try:
        want = python_estimate(req, default_out)
    except TypeError:  # (a None default with no max_tokens: the Python code raises on n > 1)
        assert estimate._estimate_chat(req, TextPart, Message, default_out, estimate._ESTIMATE) is None  # type: ignore[arg-type]
        return
    got = estimate._estimate_chat(req, TextPart, Message, default_out, estimate._ESTIMATE)  # type: ignore[arg-type]
    if got is not None:
        assert type(got) is estimate.TokenEstimate
        assert (got.input, got.output, got.bound) == (want.input, want.output, want.bound)
        assert all(type(v) is int for v in (got.input, got.output, got.bound))
        assert estimate._measure_texts is not None and estimate._measure_texts(req, TextPart, Message) is not None
    got = estimate.estimate_request(req, default_out)  # type: ignore[arg-type]
    assert (got.input, got.output, got.bound) == (want.input, want.output, want.bound)


def test_estimate_chat_takes_the_usual_request() -> None:
    assert estimate._estimate_chat is not None or pytest.skip("C accelerator not built")
    req = ChatRequest(model="m", messages=[Message("user", [TextPart("abcde")])], system=[TextPart("de")],
                      max_tokens=10, n=3)
    got = estimate._estimate_chat(req, TextPart, Message, 99, estimate._ESTIMATE)
    assert got is not None and (got.input, got.output, got.bound) == (2 + 4, 30, 7 + 16 + 8)
    assert estimate._estimate_chat(EmbeddingsRequest("m", ["x"]), TextPart, Message, 99, estimate._ESTIMATE) is None
    with pytest.raises(TypeError):
        estimate._estimate_chat(req, "TextPart", Message, 99, estimate._ESTIMATE)  # type: ignore[arg-type]


def test_measure_texts_refuses_what_it_does_not_read() -> None:
    assert estimate._measure_texts is not None or pytest.skip("C accelerator not built")
    assert estimate._measure_texts is not None

    class Part(TextPart):
        __slots__ = ()

    plain = ChatRequest(model="m", messages=[Message("user", [TextPart("abc")])], system=[TextPart("de")])
    assert estimate._measure_texts(plain, TextPart, Message) == (5, 1, 0)
    sub = ChatRequest(model="m", messages=[Message("user", [Part("abc")])])
    assert estimate._measure_texts(sub, TextPart, Message) is None
    assert estimate._measure(sub) == (3, 1, 0)
    unset = Message.__new__(Message)  # slots never set: the Python measure raises as before
    broken = ChatRequest(model="m", messages=[unset])
    assert estimate._measure_texts(broken, TextPart, Message) is None
    with pytest.raises(AttributeError):
        estimate._measure(broken)
    with pytest.raises(TypeError):
        estimate._measure_texts(plain, "TextPart", Message)  # type: ignore[arg-type]


def state(b: MemoryBackend) -> tuple[object, object, int]:
    return ({k: list(v) for k, v in b._buckets.items()}, dict(b._parallel), b._ops)


@pytest.mark.skipif(memory._bucket_take_headed is None, reason="C accelerator not built")
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(SCOPE_SETS, OPS)
def test_take_headed_is_the_python_take_and_its_headers(
        sets: list[list[tuple[str, int | None, int | None, int | None]]],
        ops: list[tuple[str, int, Any] | tuple[str, float]]) -> None:
    scope_sets = [tuple(ScopeLimit(n, n, rpm=r, tpm=t, max_parallel=p) for n, r, t, p in rows) for rows in sets]
    fast, slow = MemoryBackend(), MemoryBackend()
    t = T0 + 0.123
    held: list[tuple[tuple[ScopeLimit, ...], int]] = []
    for op in ops:
        if op[0] == "tick":
            t += op[1]
        elif op[0] == "give":
            if held:
                s, tokens = held.pop(op[1] % len(held))
                delta = op[2] - tokens
                fast.give_back(s, delta, t)
                slow._give_back(s, delta, t)
        else:
            s = scope_sets[op[1] % len(scope_sets)]
            tokens = op[2]
            got: dict[str, str] = {"before": "kept"}
            d = fast.take_headed(s, tokens, t, got)
            ref = slow._take(s, tokens, t)
            want: dict[str, str] = {"before": "kept"}
            if d is None:  # admitted in C, its headers written
                assert ref.allowed
                RateLimitStage._headers(want, ref)
                assert list(got.items()) == list(want.items())
            else:
                assert d == ref
                assert got == want  # nothing written
            if ref.allowed:
                held.append((s, tokens))
        assert state(fast) == state(slow)


def test_take_headed_without_c_gives_the_decision() -> None:
    s = (ScopeLimit("k:a", "key 'a'", rpm=10, tpm=1000, max_parallel=2),)
    b = MemoryBackend()
    h: dict[str, str] = {}
    saved = memory._bucket_take_headed
    memory._bucket_take_headed = None
    try:
        d = b.take_headed(s, 5, T0, h)
    finally:
        memory._bucket_take_headed = saved
    assert d is not None and d.allowed and h == {}
    # a shape the C code does not handle (an int clock) runs the Python take too
    d = b.take_headed(s, 5, 7, h)
    assert d is not None and d.allowed and h == {}


# ---- the stages' direct path on the memory backend against the general path ------------------------

class GeneralMemory(MemoryBackend):
    """The memory backend as the stages see any other backend: a subclass takes the general path."""


_C_STEPS = ((memory, "_bucket_take"), (memory, "_bucket_give_back"), (memory, "_bucket_take_headed"),
            (memory, "_ledger_hold"), (memory, "_ledger_account"), (memory, "_bucket_conclude"), (memory, "_bucket_admit"),
            (estimate, "_measure_texts"))


@contextlib.contextmanager
def python_only() -> Iterator[None]:
    """No C step while inside: the general path in Python, the reference."""
    saved = [getattr(m, name) for m, name in _C_STEPS]
    for m, name in _C_STEPS:
        setattr(m, name, None)
    try:
        yield
    finally:
        for (m, name), v in zip(_C_STEPS, saved, strict=True):
            setattr(m, name, v)


def _config(rpm: int, tpm: int, parallel: int, team_usd: float) -> Any:
    return parse_config({
        "providers": {"openai": {"kind": "openai", "base_url": "https://api.openai.com/v1", "api_key": "sk-x"}},
        "models": [{"name": "fixed", "targets": [{"provider": "openai", "model": "flat"}]},
                   {"name": "two", "targets": [{"provider": "openai", "model": "flat"},
                                               {"provider": "openai", "model": "dear"}]}],
        "pricing": {"flat": {"input_per_mtok": 1, "output_per_mtok": 1000},
                    "dear": {"input_per_mtok": 3, "output_per_mtok": 2000}},
        "limits": {"default": {"rpm": rpm, "tpm": tpm, "max_parallel": parallel}},
        "teams": {"x": {"rpm": rpm + 1, "tpm": tpm * 2, "budgets": [{"usd": team_usd, "period": "day"}],
                        "models": {"two": {"rpm": rpm, "max_parallel": parallel}}}},
    }, env={})


REQ = st.tuples(st.just("req"), st.integers(0, 2), st.sampled_from(["fixed", "two"]),
                st.sampled_from([None, 1, 30, 500]), st.integers(1, 400))
FIN = st.tuples(st.just("fin"), st.integers(0, 30), st.integers(0, 600), st.integers(0, 3))
CLOCK = st.tuples(st.just("tick"), st.sampled_from([0.0, 0.5, 3.0, 61.0, 3600.0, 86_400.0, -40.0])
                  | st.floats(0.0, 120.0, allow_nan=False) | st.floats(0.0, 200_000.0, allow_nan=False))
STAGE_OPS = st.lists(st.one_of(REQ, REQ, FIN, FIN, CLOCK), min_size=1, max_size=80)


def _principals() -> list[Principal]:
    return [Principal("a", "a", team="x", budgets=(Budget(2_000_000, "day"), Budget(9_000_000, "month"))),
            Principal("b", "b", team="x", rpm=4, max_parallel=2),
            Principal("c", "c", tpm=6000, budgets=(Budget(1_500_000, "total"),))]


def _request(model: str, max_tokens: int | None, size: int) -> ChatRequest:
    return ChatRequest(model=model, messages=[Message("user", [TextPart("é" * (size % 7) + "x" * size)])],
                       max_tokens=max_tokens)


async def _check(rt: LimitsRuntime, ctx: RequestContext, req: ChatRequest) -> object:
    entered: list[object] = []
    ctx.state["_entered"] = entered
    try:
        for st_ in (rt.ratelimit, rt.cost):
            entered.append(st_)
            await st_.check(ctx, req)
    except BastionError as e:
        return (type(e).__name__, str(e), e.retry_after, sorted(e.headers.items()))
    res = ctx.state.get("cost")
    assert isinstance(res, Reservation)
    assert res.labels == labels_at(res.now)  # the day's labels kept by `plan` are that day's
    return ("ok", list(ctx.response_headers.items()), res.amount, res.slots, req.max_tokens)


async def _finish(ctx: RequestContext, outcome: int, tokens: int) -> None:
    if outcome:
        ctx.attempts.append(Attempt("openai", "flat" if outcome != 2 else "dear", "ok", 200))
        if outcome != 3:
            ctx.usage = Usage(input_tokens=tokens // 3, output_tokens=tokens)
    entered = ctx.state.get("_entered")
    assert isinstance(entered, list)
    for st_ in reversed(entered):
        await st_.finish(ctx)


async def _budgets(b: MemoryBackend, now: float) -> list[tuple[int, int]]:
    labels = labels_at(now)
    out = []
    for scope in (key_scope("a"), key_scope("b"), key_scope("c"), team_scope("x")):
        for period in PERIODS:
            out.append(await b.budget_state(BudgetSlot(scope, period, labels.label(period))))
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([(10, 9000, 3, 20.0), (2, 5000, 1, 1.0), (10**9, 10**12, 10**6, 1e6)]), st.booleans(),
       STAGE_OPS)
def test_the_memory_direct_path_is_the_general_path(cfg: tuple[int, int, int, float], stage_clock: bool,
                                                    ops: list[tuple[Any, ...]]) -> None:
    now = [T0 + 0.25]

    def clock() -> float:
        return now[0]

    config = _config(*cfg)
    fast_b, gen_b = MemoryBackend(clock=clock), GeneralMemory(clock=clock)
    # with `stage_clock` the stages pass their clock's time; without, the rate-limit stage lets the backend read it
    fast = LimitsRuntime(config, None, backend=fast_b, clock=clock if stage_clock else None)
    gen = LimitsRuntime(config, None, backend=gen_b, clock=clock if stage_clock else None)
    for rt in (fast, gen):
        rt.cost._clock = clock
    assert fast.ratelimit._mem is fast_b and gen.ratelimit._mem is None
    people = _principals()
    inflight: list[tuple[RequestContext, RequestContext]] = []
    n = 0

    async def run() -> None:
        nonlocal n
        for op in ops:
            if op[0] == "tick":
                now[0] += op[1]
            elif op[0] == "req":
                p = people[op[1]]
                n += 1
                pair = []
                outs = []
                for rt in (fast, gen):
                    ctx = RequestContext(request_id=f"r{n}", ingress="openai", model=op[2], principal=p)
                    with python_only() if rt is gen else contextlib.nullcontext():
                        outs.append(await _check(rt, ctx, _request(op[2], op[3], op[4])))
                    pair.append(ctx)
                assert outs[0] == outs[1]
                inflight.append((pair[0], pair[1]))
            elif inflight:
                f, g = inflight.pop(op[1] % len(inflight))
                await _finish(f, op[3], op[2])
                with python_only():
                    await _finish(g, op[3], op[2])
                assert f.cost_micros == g.cost_micros
                assert f.usage == g.usage
            assert state(fast_b)[:2] == state(gen_b)[:2]
            assert await _budgets(fast_b, now[0]) == await _budgets(gen_b, now[0])
        assert fast.recorder._pending == gen.recorder._pending

    asyncio.run(run())


# ---- the budget counters' steps in C against Python, on the backend alone --------------------------------

HOLD = st.tuples(st.just("hold"), st.integers(0, 2), st.integers(0, 400))
SETTLE = st.tuples(st.just("settle"), st.integers(0, 30), st.integers(0, 500))
DAY = st.tuples(st.just("day"), st.integers(0, 3))
LEDGER_OPS = st.lists(st.one_of(HOLD, HOLD, SETTLE, SETTLE, DAY), min_size=10, max_size=100)
SCOPES = ("k:a", "t:x", "k:b")


def _now(coro: Coroutine[Any, Any, tuple[int, int]]) -> tuple[int, int]:
    """The result of a coroutine that never suspends (the memory backend's budget_state)."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    raise AssertionError("budget_state suspended")


def _slot_sets(day: int, limits: list[int]) -> list[tuple[tuple[BudgetSlot, ...], list[BudgetSlot]]]:
    """Per set: (slots reserved on, spend slots), of day `day` (later days sort later, as labels do)."""
    labels = {"day": f"2026-12-{10 + day}", "week": f"2026-W{50 + day // 2}", "month": "2026-12", "total": "total"}
    sets = [(("k:a", "day"), ("t:x", "day")), (("k:a", "month"), ("k:a", "total")), (("k:b", "week"),)]
    out = []
    for i, chosen in enumerate(sets):
        slots = tuple(BudgetSlot(scope, period, labels[period], limits[i]) for scope, period in chosen)  # type: ignore[arg-type]
        owners = sorted({scope for scope, _ in chosen})
        spend = [BudgetSlot(scope, period, labels[period]) for scope in owners for period in PERIODS]
        out.append((slots, spend))
    return out


@pytest.mark.skipif(memory._ledger_hold is None, reason="C accelerator not built")
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(0, 3000) | st.sampled_from([0, 10**15]), min_size=3, max_size=3), LEDGER_OPS)
def test_ledger_steps_in_c_are_the_python_steps(limits: list[int], ops: list[tuple[str, int, int] | tuple[str, int]]
                                               ) -> None:
    fast, ref = MemoryBackend(), MemoryBackend()
    day = 0
    sets = _slot_sets(day, limits)
    held: list[tuple[tuple[BudgetSlot, ...], int, list[BudgetSlot]]] = []
    for b in (fast, ref):  # every set settled once: the memos the C steps run on exist from the start
        for slots, spend in sets:
            b.account(slots, 0, 1, spend)
    for op in ops:
        if op[0] == "day":
            day = max(day, op[1])  # labels move forward (a request settling after the roll-over keeps its own)
            sets = _slot_sets(day, limits)
        elif op[0] == "hold":
            slots, spend = sets[op[1]]
            got = fast.hold(slots, op[2])
            with python_only():
                want = ref.hold(slots, op[2])
            assert got == want
            if got.allowed:
                held.append((slots, op[2], spend))
        elif held:
            slots, amount, spend = held.pop(op[1] % len(held))
            fast.account(slots, amount, op[2], spend)
            with python_only():
                ref.account(slots, amount, op[2], spend)
        for slots, spend in _slot_sets(day, limits) + [s for s in _slot_sets(max(0, day - 1), limits)]:
            for s in (*slots, *spend):
                assert _now(fast.budget_state(s)) == _now(ref.budget_state(s))


@pytest.mark.skipif(memory._ledger_hold is None, reason="C accelerator not built")
def test_ledger_steps_refuse_what_c_does_not_handle() -> None:
    assert memory._ledger_hold is not None and memory._ledger_account is not None
    b = MemoryBackend()
    huge = (BudgetSlot("k:h", "total", "total", 2**70),)
    counters = b._counters(huge)
    assert memory._ledger_hold(counters, 5, memory._Period, memory._Account) is None  # a limit past a long long
    assert b.hold(huge, 2**65).allowed  # in Python
    assert _now(b.budget_state(huge[0])) == (0, 2**65)
    assert memory._ledger_account(counters, 2**65, 1, [], memory._Period, memory._Account) is None
    b.account(huge, 2**65, 3, [BudgetSlot("k:h", "total", "total")])
    assert _now(b.budget_state(huge[0])) == (3, 0)
    slot = BudgetSlot("k:d", "day", "2026-12-01", 100)
    twice = [*b._counters((slot,)), *b._counters((slot,))]  # one period twice: Python adds twice
    assert memory._ledger_hold(twice, 5, memory._Period, memory._Account) is None
    assert memory._ledger_hold(b._counters((slot,)), 5, MemoryBackend, memory._Account) is None  # another class
    with pytest.raises(TypeError):
        memory._ledger_hold((), 5, memory._Period, memory._Account)  # type: ignore[arg-type]
    assert memory._ledger_hold(b._counters((slot,)), 101, memory._Period, memory._Account) == 0  # refused
    assert _now(b.budget_state(slot)) == (0, 0)


# ---- the check's take and hold, and the finish's give-back and settlement, each in one C call against the two
# steps in Python ---------------------------------------------------------------------------------------------

CONCLUDE_LIMITS = st.lists(st.integers(0, 3000) | st.sampled_from([0, 10**15, 10**15, 2**70]), min_size=3, max_size=3)
C_REQ = st.tuples(st.just("req"), st.integers(0, 2), st.integers(0, 2), st.sampled_from([1, 100, 999]) | st.integers(1, 6000),
                  st.integers(0, 400) | st.sampled_from([0, 2**65]), st.booleans())
C_FIN = st.tuples(st.just("fin"), st.integers(0, 30), st.integers(-3000, 9000),
                  st.integers(0, 500) | st.sampled_from([0, 2**64, 2**62]), st.booleans())
C_TICK = st.tuples(st.just("tick"), st.sampled_from([0.0, 0.37, 1.0, 59.9, 61.0]) | st.floats(0.0, 120.0, allow_nan=False))
CONCLUDE_OPS = st.lists(st.one_of(C_REQ, C_REQ, C_FIN, C_FIN, C_TICK, DAY), min_size=1, max_size=100)


@pytest.mark.skipif(memory._bucket_conclude is None, reason="C accelerator not built")
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(SCOPE_SETS, CONCLUDE_LIMITS, CONCLUDE_OPS)
# a reservation of the day before settled after a new day's hold rolled its periods over: its memos are stale
@example([[("k:a", 10, 1000, None)]], [10**6] * 3,
         [("req", 0, 0, 5, 50, False), ("day", 1), ("req", 0, 0, 5, 70, False), ("fin", 0, 0, 5, False)])
def test_admit_and_conclude_in_c_are_the_python_steps(
        sets: list[list[tuple[str, int | None, int | None, int | None]]], limits: list[int],
        ops: list[tuple[Any, ...]]) -> None:
    scope_sets = [tuple(ScopeLimit(n, n, rpm=r, tpm=t, max_parallel=p) for n, r, t, p in rows) for rows in sets]
    now = [T0 + 0.123]
    fast, ref = MemoryBackend(clock=lambda: now[0]), MemoryBackend(clock=lambda: now[0])
    day = 0
    slot_sets = _slot_sets(day, limits)
    held: list[tuple[tuple[ScopeLimit, ...], int, tuple[BudgetSlot, ...], int, list[BudgetSlot]]] = []
    for b in (fast, ref):  # every set settled once: the spend memos the C step runs on exist from the start
        for slots, spend in slot_sets:
            b.account(slots, 0, 1, spend)
    for op in ops:
        if op[0] == "tick":
            now[0] += op[1]
        elif op[0] == "day":
            day = max(day, op[1])
            slot_sets = _slot_sets(day, limits)
        elif op[0] == "req":
            s = scope_sets[op[1] % len(scope_sets)]
            slots, spend = slot_sets[op[2]]
            headers: dict[str, str] = {"before": "kept"}
            d, got = fast.admit_headed(s, op[3], None if op[5] else now[0], headers, slots, op[4])
            want: dict[str, str] = {"before": "kept"}
            with python_only():
                ref_d = ref.take(s, op[3], now[0])
                ref_got = ref.hold(slots, op[4]) if ref_d.allowed else None
            if d is None:  # admitted, its headers written
                assert ref_d.allowed
                RateLimitStage._headers(want, ref_d)
            else:
                assert d == ref_d
            assert list(headers.items()) == list(want.items())
            assert got == ref_got
            if got is None:
                continue
            # a refused hold still concludes (the stage's finish settles nothing reserved: amount 0)
            held.append((s, op[3], slots if got.allowed else (), op[4] if got.allowed else 0, spend))
        elif held:
            s, tokens, slots, amount, spend = held.pop(op[1] % len(held))
            t = None if op[4] else now[0]  # None: the backend reads its clock
            fast.give_back_account(s, op[2] - tokens, t, slots, amount, op[3], spend)
            with python_only():
                ref.give_back(s, op[2] - tokens, t)
                ref.account(slots, amount, op[3], spend)
        assert state(fast)[:2] == state(ref)[:2]
        for slots, spend in _slot_sets(day, limits) + _slot_sets(max(0, day - 1), limits):
            for b in (*slots, *spend):
                assert _now(fast.budget_state(b)) == _now(ref.budget_state(b))


@pytest.mark.skipif(memory._bucket_conclude is None, reason="C accelerator not built")
def test_bucket_conclude_changes_nothing_when_anything_is_not_handled() -> None:
    assert memory._bucket_conclude is not None
    b = MemoryBackend()
    s = (ScopeLimit("k:a", "key 'a'", rpm=10, tpm=1000, max_parallel=2),)
    slot = (BudgetSlot("k:a", "day", "2026-12-01", 10**6),)
    spend = [BudgetSlot("k:a", p, "2026-12-01" if p == "day" else "x") for p in PERIODS]
    assert b.take(s, 500, T0).allowed and b.hold(slot, 70).allowed
    b.account((), 0, 1, spend)  # the spend memo made
    P, A = memory._Period, memory._Account

    def conclude(scopes: object = s, delta: int = -100, t: object = T0 + 1.0, reserved: object = slot,
                 amount: object = 70, actual: object = 3, spent: object = spend, period: type = P,
                 generation: int | None = None) -> bool | None:
        assert memory._bucket_conclude is not None
        return memory._bucket_conclude(b._buckets, b._parallel, b._plans, b._slot_memo, b._spend_memo,
                                       b._generation if generation is None else generation, scopes, delta, t,
                                       reserved, amount, actual, spent, period, A)

    before = state(b)[:2], _now(b.budget_state(slot[0]))
    assert conclude(actual=2**64) is None  # the settlement not handled (past a long long): the buckets untouched too
    assert conclude(amount=2**64) is None
    assert conclude(t=5) is None  # the give-back not handled (an int clock): the budgets untouched too
    assert conclude(period=MemoryBackend) is None  # another class
    assert conclude(generation=b._generation + 1) is None  # memos of another generation
    assert conclude(scopes=tuple(list(s))) is None  # no plan memoised for that tuple
    assert conclude(reserved=tuple(list(slot))) is None  # nor counters
    assert conclude(spent=list(spend)) is None  # nor spend rows
    assert (state(b)[:2], _now(b.budget_state(slot[0]))) == before
    with pytest.raises(TypeError):
        memory._bucket_conclude(b._buckets, b._parallel, b._plans, b._slot_memo)
    assert conclude() is True
    assert b._parallel == {} and _now(b.budget_state(slot[0])) == (4, 0)
    assert b._buckets["k:a|t"][0] == 500.0 + 1.0 * 1000 / 60 + 100  # 500 taken, a second refilled, 100 given back
    level = b._buckets["k:a|t"]
    assert conclude(reserved=(), amount=0, actual=5, delta=0) is True  # nothing reserved needs no counters
    assert _now(b.budget_state(slot[0])) == (9, 0) and b._buckets["k:a|t"] == level


@pytest.mark.skipif(memory._bucket_admit is None, reason="C accelerator not built")
def test_bucket_admit_changes_nothing_when_anything_is_not_handled() -> None:
    assert memory._bucket_admit is not None
    b = MemoryBackend()
    s = (ScopeLimit("k:a", "key 'a'", rpm=10, tpm=1000, max_parallel=2),)
    slot = (BudgetSlot("k:a", "day", "2026-12-01", 100),)
    assert b.take(s, 5, T0).allowed and b.hold(slot, 10).allowed  # the plan and counters memoised
    P, A = memory._Period, memory._Account

    def admit(scopes: object = s, tokens: int = 5, t: object = T0 + 1.0, headers: dict[str, str] | None = None,
              slots: object = slot, amount: object = 20, period: type = P,
              generation: int | None = None) -> bool | int | None:
        assert memory._bucket_admit is not None
        return memory._bucket_admit(b._buckets, b._parallel, b._plans, b._slot_memo,
                                    b._generation if generation is None else generation, scopes, tokens, t,
                                    {} if headers is None else headers, slots, amount, period, A)

    before = state(b)[:2], _now(b.budget_state(slot[0]))
    assert admit(amount=2**64) is None  # the hold not handled (past a long long): the take not made either
    assert admit(t=5) is None  # the take not handled (an int clock): nothing held either
    assert admit(tokens=1001) is None  # the take refuses (too large): the caller's take says how
    assert admit(period=MemoryBackend) is None  # another class
    assert admit(generation=b._generation + 1) is None  # counters of another generation
    assert admit(scopes=tuple(list(s))) is None  # no plan memoised for that tuple
    assert admit(slots=tuple(list(slot))) is None  # nor counters
    assert (state(b)[:2], _now(b.budget_state(slot[0]))) == before
    with pytest.raises(TypeError):
        memory._bucket_admit(b._buckets, b._parallel, b._plans)
    h: dict[str, str] = {}
    assert admit(amount=91, headers=h) == 0  # the budget refuses: the take made, its headers written, nothing held
    assert h["x-ratelimit-remaining-requests"] == "8" and b._parallel == {"k:a": 2}
    assert _now(b.budget_state(slot[0])) == (0, 10)
    assert admit(amount=90) is None  # the parallel limit (2) reached: refused by the take
    assert b._parallel == {"k:a": 2} and _now(b.budget_state(slot[0])) == (0, 10)
