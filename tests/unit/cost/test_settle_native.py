"""The settlement written by C (`_native.settle_usage`) is `BudgetStage.settlement`'s, usage row included, or it
changes nothing and the Python code settles."""

from __future__ import annotations

import copy

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from tests.unit.cost.test_cost_stage import NOW, stage

import bastion.cost.stage as cost_stage
from bastion.core.context import Attempt, Principal, RequestContext
from bastion.core.types import Usage
from bastion.cost.periods import labels_at
from bastion.cost.pricing import PICO_PER_MICRO, Price
from bastion.cost.stage import BudgetStage, Reservation
from bastion.cost.usage import UsageRecorder
from bastion.limits.estimate import TokenEstimate
from bastion.limits.memory import MemoryBackend

native = pytest.importorskip("bastion._native")
settle_usage = native.settle_usage

_tokens = st.one_of(st.integers(-5, 5000), st.integers(-(2**70), 2**70), st.sampled_from([0, 1, 2**62, True]))
_names = st.one_of(st.none(), st.sampled_from(["", "m", "gpt-4o-mini", "é"]), st.text(max_size=6))
_price = st.builds(Price, st.one_of(st.integers(-10, 10**7), st.integers(-(2**66), 2**66)),
                   st.one_of(st.integers(-10, 10**7), st.integers(-(2**66), 2**66)), st.just(0), st.just(0))
_usage = st.one_of(st.builds(Usage, _tokens, _tokens), st.none(), st.builds(
    Usage, _tokens, _tokens, st.sampled_from([0, -1, 3, True]), st.sampled_from([0, -2, 1]), st.sampled_from([0, 5, -1])))
_names = st.one_of(st.sampled_from([None, "", "t", "m"]), _names)


def _state(recorder: UsageRecorder) -> tuple[object, ...]:
    return copy.deepcopy(recorder._pending), recorder.dropped


@settings(max_examples=500, deadline=None)
@given(usage=_usage, outcomes=st.one_of(st.just(["ok"]), st.lists(st.sampled_from(["ok", "error", "okay"]), max_size=3)),
       served=st.sampled_from(["gpt-4o-mini", "flat", "unpriced", "é"]), priced=st.dictionaries(
           st.sampled_from(["gpt-4o-mini", "flat", "é"]), _price, min_size=2, max_size=3),
       has_principal=st.booleans(), key_id=st.sampled_from(["k1", "k2", "é"]), team=_names, model=_names,
       rows=st.lists(st.tuples(st.sampled_from(["k1", "k2"]), st.sampled_from(["", "t"]), st.sampled_from(["", "m"]),
                               st.lists(st.one_of(st.integers(-9, 9), st.integers(-(2**65), 2**65)), min_size=4,
                                        max_size=4)), max_size=4),
       max_pending=st.sampled_from([0, 1, 2, 100_000]), cost=st.sampled_from([0, 7]))
@example(usage=Usage(31, 12), outcomes=["ok"], served="gpt-4o-mini", priced={"gpt-4o-mini": Price(150_000, 600_000, 0, 0)},
         has_principal=True, key_id="k1", team=None, model="m", rows=[], max_pending=100_000, cost=0)
def test_native_settlement_is_the_python_settlement(
        usage: Usage | None, outcomes: list[str], served: str,
        priced: dict[str, Price], has_principal: bool, key_id: str, team: str | None, model: str | None,
        rows: list[tuple[str, str, str, list[int]]], max_pending: int, cost: int) -> None:
    labels = labels_at(NOW)
    recorder = UsageRecorder(None, max_pending=max_pending)
    for k, t, m, row in rows:
        recorder._pending[(labels.day, k, t, m)] = list(row)
    budget = stage(MemoryBackend(), recorder=recorder)
    budget._priced.update(priced)
    p = Principal(key_id, key_id, team=team) if has_principal else None
    ctx = RequestContext("r", "openai", model=model, principal=p, cost_micros=cost)
    ctx.usage = usage
    ctx.attempts = [Attempt("openai", served, o, 200) for o in outcomes]
    res = Reservation(TokenEstimate(10, 20), labels, Price(1, 2, 0, 0), partnered=True)
    twin_ctx, twin_res, twin_recorder = copy.deepcopy((ctx, res, recorder))
    before = _state(recorder)

    made = settle_usage(res, ctx, budget._priced, recorder._pending, recorder._max, PICO_PER_MICRO)
    if made is None:  # handed back: nothing changed
        assert _state(recorder) == before and res.done is False and ctx.cost_micros == cost
        return
    # the Python code on the twin, the C path off
    budget._recorder = twin_recorder
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cost_stage, "_native_settle", None)
        expected = budget.settlement(twin_ctx, twin_res)
    assert expected is not None and made == expected[0]
    assert type(made) is int
    assert res.done is twin_res.done is True
    assert ctx.cost_micros == twin_ctx.cost_micros and ctx.usage == twin_ctx.usage
    assert _state(recorder) == _state(twin_recorder)


async def test_settlement_takes_the_native_path_for_the_usual_request(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int | None] = []

    def counted(*args: object) -> int | None:
        out = settle_usage(*args)
        calls.append(out)
        return out

    monkeypatch.setattr(cost_stage, "_native_settle", counted)
    recorder = UsageRecorder(None)
    budget: BudgetStage = stage(MemoryBackend(), recorder=recorder)
    budget._priced["gpt-4o-mini"] = Price(150_000, 600_000, 0, 0)
    ctx = RequestContext("r", "openai", model="m", principal=Principal("k", "k", team="t"))
    ctx.usage = Usage(1000, 500)
    ctx.attempts = [Attempt("openai", "gpt-4o-mini", "ok", 200)]
    res = Reservation(TokenEstimate(10, 20), labels_at(NOW), None, partnered=True)
    assert budget.settlement(ctx, res) == (450, res.spend)
    assert calls == [450] and res.done and ctx.cost_micros == 450
    assert recorder._pending == {(labels_at(NOW).day, "k", "t", "m"): [1, 1000, 500, 450]}
