"""The time budget on a stream's scans: read on the wall clock first, decided on CPU time."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator

import pytest

from bastion.config.policy import PolicyConfig
from bastion.core.context import RequestContext
from bastion.core.errors import PolicyViolation
from bastion.core.types import StreamEnd, StreamEvent, TextDelta
from bastion.policy import rules
from bastion.policy.registry import ScannerRegistry
from bastion.policy.stage import PolicyStage

TEXT = "the word key is here but no value follows it at all " * 4  # a literal: the scan runs


def stage(registry: ScannerRegistry, on_error: str = "block") -> PolicyStage:
    cfg = PolicyConfig.model_validate({"output": [{"scanner": "secrets", "action": "redact", "budget_ms": 50,
                                                   "on_error": on_error}]})
    return PolicyStage({"default": cfg}, registry=registry)


async def run(s: PolicyStage) -> tuple[str, RequestContext]:
    c = RequestContext(request_id="r", ingress="openai")

    async def events() -> AsyncIterator[StreamEvent]:
        for i in range(0, len(TEXT), 5):
            yield TextDelta(TEXT[i:i + 5])
        yield StreamEnd("stop")

    return "".join([e.text async for e in s.guard.guard_stream(c, events()) if isinstance(e, TextDelta)]), c


async def test_over_budget_on_cpu_blocks_the_stream(registry: ScannerRegistry, monkeypatch: pytest.MonkeyPatch) -> None:
    wall, cpu = itertools.count(0.0, 1.0), itertools.count(0.0, 1.0)  # every reading a second later
    monkeypatch.setattr(rules.time, "perf_counter", lambda: next(wall))
    monkeypatch.setattr(rules.time, "thread_time", lambda: next(cpu))
    with pytest.raises(PolicyViolation, match="scanner 'secrets' exceeded its time budget of 50 ms"):
        await run(stage(registry))


async def test_a_descheduled_scan_within_its_cpu_budget_passes(registry: ScannerRegistry,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The wall clock says 1 s (the worker was descheduled), the thread clock 1 ms: kept."""
    wall, cpu = itertools.count(0.0, 1.0), itertools.count(0.0, 0.001)
    monkeypatch.setattr(rules.time, "perf_counter", lambda: next(wall))
    monkeypatch.setattr(rules.time, "thread_time", lambda: next(cpu))
    got, c = await run(stage(registry))
    assert got == TEXT and c.findings == []


async def test_over_budget_with_on_error_allow_records_and_passes(registry: ScannerRegistry,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    wall, cpu = itertools.count(0.0, 1.0), itertools.count(0.0, 1.0)
    monkeypatch.setattr(rules.time, "perf_counter", lambda: next(wall))
    monkeypatch.setattr(rules.time, "thread_time", lambda: next(cpu))
    got, c = await run(stage(registry, on_error="allow"))
    assert got == TEXT
    assert [(f.scanner, f.type, f.action) for f in c.findings] == [("secrets", "error", "allow")]
