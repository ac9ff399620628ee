"""pipeline/runner.py: a stage or observer whose `finisher` gives a plain call finishes by it instead of its
coroutine (`FinishesNow`); `settle_now` settles as a plain call only when no stage or observer of `settle`
needs awaiting, in the same order (last entered first), once per request, a failing finisher breaking none
of the others. `report_now` reports the same way when no reporting observer needs awaiting, else hands
back `report`'s coroutine."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, cast

import pytest

from bastion.core.context import RequestContext
from bastion.pipeline.runner import Pipeline


class _Stage:
    def __init__(self, name: str, log: list[str], now: bool, fails: bool = False) -> None:
        self.name = name
        self._log = log
        self._now = now
        self._fails = fails

    async def check(self, ctx: RequestContext, req: Any) -> None:
        self._log.append("check " + self.name)

    def finisher(self) -> Callable[[RequestContext], None] | None:
        return self._finish_now if self._now else None

    def _finish_now(self, ctx: RequestContext) -> None:
        self._log.append("now " + self.name)
        if self._fails:
            raise RuntimeError("boom")

    async def finish(self, ctx: RequestContext) -> None:
        self._log.append("finish " + self.name)


class _Observer(_Stage):
    holds_response = False

    def admit(self, ctx: RequestContext) -> None:
        pass


def _pipeline(stages: list[Any], observers: list[Any] | None = None) -> Pipeline:
    return Pipeline(auth=None, stages=stages, router=None, guard=None, observers=observers or [])  # type: ignore[arg-type]


def _ctx(entered: list[Any]) -> RequestContext:
    ctx = RequestContext("r1", "openai", "chat", None)
    ctx.state["_entered"] = list(entered)
    return ctx


@pytest.mark.parametrize("entered", [2, 3])
async def test_settle_now_runs_the_plain_finishers_last_entered_first_once(entered: int) -> None:
    log: list[str] = []
    stages = [_Stage("a", log, True), _Stage("b", log, True, fails=True), _Stage("c", log, True)]
    p = _pipeline(stages)
    assert p.settles_now
    ctx = _ctx(stages[:entered])
    assert p.settle_now(ctx) is True
    assert p.settle_now(ctx) is True  # once per request
    await p.settle(ctx)
    assert log == ["now c", "now b", "now a"][3 - entered:]


async def test_a_stage_that_awaits_makes_settle_await() -> None:
    log: list[str] = []
    stages = [_Stage("a", log, True), _Stage("b", log, False)]
    p = _pipeline(stages)
    assert not p.settles_now
    ctx = _ctx(stages)
    assert p.settle_now(ctx) is False and log == []  # nothing done: settle must run
    await p.settle(ctx)
    await p.settle(ctx)
    assert log == ["finish b", "now a"]


async def test_an_observer_holding_the_response_makes_settle_await() -> None:
    log: list[str] = []
    holding = _Observer("audit", log, False)
    holding.holds_response = True
    p = _pipeline([_Stage("a", log, True)], [holding])
    assert not p.settles_now
    ctx = _ctx(p.stages)
    await p.finalize(ctx)
    assert log == ["now a", "finish audit"]


async def test_report_calls_plain_finishers_and_awaits_the_others() -> None:
    log: list[str] = []
    p = _pipeline([], [_Observer("m", log, True, fails=True), _Observer("n", log, False)])
    ctx = _ctx([])
    await p.finalize(ctx)
    await p.report(ctx)  # once per request
    assert log == ["now m", "finish n"]


async def test_report_now_reports_by_plain_calls_in_order_once(caplog: pytest.LogCaptureFixture) -> None:
    log: list[str] = []
    p = _pipeline([], [_Observer("m", log, True, fails=True), _Observer("n", log, True)])
    assert p.reports_now
    ctx = _ctx([])
    with caplog.at_level(logging.ERROR, logger="bastion.pipeline"):
        assert p.report_now(ctx) is None  # done in the call: nothing to await
    assert p.report_now(ctx) is None  # once per request
    await p.report(ctx)
    await p.finalize(ctx)
    assert log == ["now m", "now n"]  # the failing one broke neither the other nor the caller
    assert [r.getMessage() for r in caplog.records] == ["observer m failed"]


async def test_an_observer_that_awaits_makes_report_now_hand_back_report() -> None:
    log: list[str] = []
    p = _pipeline([], [_Observer("m", log, True), _Observer("n", log, False)])
    assert not p.reports_now
    ctx = _ctx([])
    pending = p.report_now(ctx)
    assert pending is not None and log == []  # nothing done until awaited
    await pending
    await cast(Awaitable[None], p.report_now(ctx))  # (report's coroutine again, which now does nothing)
    assert log == ["now m", "finish n"]


async def test_finalize_reports_by_the_plain_call(monkeypatch: pytest.MonkeyPatch) -> None:
    log: list[str] = []
    p = _pipeline([_Stage("a", log, True)], [_Observer("m", log, True)])

    async def never(self: Pipeline, ctx: RequestContext) -> None:
        raise AssertionError("report awaited")

    monkeypatch.setattr(Pipeline, "report", never)
    await p.finalize(_ctx(p.stages))
    assert log == ["now a", "now m"]
