"""The streamed output guard's fast paths held to the general ones: the quiet test before each
inspection of a held text (PolicyEngine.quiet_tests, one C call with the accelerator), a burst's
text deltas joined in `_Streamed.burst` without `_coalesced`, held texts built without closures."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bastion.core.errors import PolicyViolation
from bastion.core.types import (
    ChatRequest,
    Message,
    StreamEnd,
    StreamEvent,
    StreamStart,
    TextDelta,
    TextPart,
    ThinkingDelta,
    ToolCallDelta,
    Usage,
    UsageEvent,
)
from bastion.policy import guard as guard_module
from bastion.policy.engine import PolicyEngine
from bastion.policy.registry import ScannerRegistry
from bastion.policy.rules import ScanRun
from bastion.policy.stage import PolicyStage
from bastion.policy.window import HeldText
from tests.unit.policy.test_guard import CARD, GH, REDACT_OUT, ctx, stage
from tests.unit.policy.test_guard_bursts import grouped

POLICIES: dict[str, dict[str, Any]] = {
    "redact": REDACT_OUT,
    "block": {"output": [{"scanner": "secrets", "action": "block"}, {"scanner": "pii", "action": "redact"}]},
    "restore": {"input": [{"scanner": "pii", "action": "redact", "restore": True}], **REDACT_OUT},
    "pii without email": {"output": [{"scanner": "pii", "action": "redact", "types": ["credit_card", "iban"]}]},
    "secrets alone": {"output": [{"scanner": "secrets", "action": "redact"}]},
}
PIECES = [GH + " ", f" {CARD} ", "x@y.io", " ", "word ", "\n", "sk-", "ghp_", "4111", " 1111", "DE89 3704",
          "[EMAIL_1]", "[EMAIL_", "1]", "caf\u00e9 ", "\x07", '"', "\\u0041", "\\/", "a" * 70, "AKIA", "-----BEGIN "]


def _reference_burst(self: Any, burst: list[StreamEvent], out: list[StreamEvent]) -> None:
    """`_Streamed.burst` before the fast loop: every event of the coalesced burst pushed."""
    for event in burst if len(burst) < 2 else guard_module._coalesced(burst):
        self.push(event, out)


def _reference_buffer(self: Any, key: tuple[int, int]) -> HeldText:
    """`_Streamed._buffer` before it built held texts itself: OutputGuard._held's closures."""
    h = self.held.get(key)
    if h is None:
        where = "the response" if key[1] < 0 else "tool call arguments"
        h = self.held[key] = self.guard._held(self.ctx, self.state, self.run, where, key[1] >= 0)
        self.order.setdefault(key[0], []).append(key)
    return h


async def _prepared(s: PolicyStage, policy: str) -> Any:
    c = ctx()
    if policy == "restore":  # a restore map with an address and a card: output placeholders are restored
        await s.check(c, ChatRequest(model="m", messages=[Message("user", [TextPart(f"I am a@b.io, {CARD}")])]))
    return c


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
async def test_streams_give_what_the_general_path_gives(registry: ScannerRegistry, data: st.DataObject,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Any events (text of two choices, tool calls with escaped arguments, reasoning, ends, usage) in
    any bursts: the same released events, findings and block as without the fast paths (no quiet
    test, `_coalesced` and `push` for every burst, held texts from OutputGuard._held)."""
    policy = data.draw(st.sampled_from(sorted(POLICIES)))
    s = _stage(registry, policy)
    chunk = st.lists(st.sampled_from(PIECES), min_size=1, max_size=3).map("".join)
    event = st.one_of(
        st.builds(TextDelta, chunk, st.sampled_from([0, 0, 0, 1])),
        st.builds(TextDelta, chunk, st.sampled_from([0, 0, 0, 1])),
        st.builds(lambda p, c, first, i: ToolCallDelta(c, id="c" if first else None, name="f" if first else None,
                                                       arguments=p, index=i),
                  chunk, st.integers(0, 1), st.booleans(), st.sampled_from([0, 1])),
        st.builds(lambda p, i: ThinkingDelta(0, p, index=i), chunk, st.sampled_from([0, 1])),
        st.builds(lambda i: StreamEnd("stop", i), st.sampled_from([0, 1])),
        st.just(UsageEvent(Usage(1, 2))))
    events: list[StreamEvent] = [StreamStart("i", "m"), *data.draw(st.lists(event, max_size=25))]
    bursts = grouped(events, data.draw(st.lists(st.integers(1, 8), min_size=1, max_size=5)))

    async def streamed(general: bool) -> tuple[list[StreamEvent], list[Any], str | None]:
        c = await _prepared(s, policy)
        with monkeypatch.context() as m:
            if general:
                m.setattr(guard_module._Streamed, "burst", _reference_burst)
                m.setattr(guard_module._Streamed, "_buffer", _reference_buffer)
                for engine in s.policies.engines.values():
                    m.setattr(engine, "quiet_tests", ((None, None), (None, None)))
            f = s.guard.burst_filter(c)
            assert f is not None
            out: list[StreamEvent] = []
            try:
                for b in bursts:
                    f.burst(list(b), out)
                f.finish(out)
            except PolicyViolation as v:
                return _merged(out), c.findings, v.message
            return _merged(out), c.findings, None

    assert await streamed(False) == await streamed(True)


def _merged(events: list[StreamEvent]) -> list[StreamEvent]:
    """Adjacent text deltas of one choice as one (`_Streamed._whole` releases a choice's whole quiet text
    in one delta, where the general path may release it in two: the same text, the same stream)."""
    out: list[StreamEvent] = []
    for e in events:
        last = out[-1] if out else None
        if type(e) is TextDelta and type(last) is TextDelta and last.index == e.index:
            out[-1] = TextDelta(last.text + e.text, e.index)
        else:
            out.append(e)
    return out


_STAGES: dict[str, PolicyStage] = {}


def _stage(registry: ScannerRegistry, policy: str) -> PolicyStage:
    """One stage per policy for the module (building the PII scanner costs ~0.1 s)."""
    if policy not in _STAGES:
        _STAGES[policy] = stage(registry, **POLICIES[policy])
    return _STAGES[policy]


def _engines(registry: ScannerRegistry) -> list[tuple[str, PolicyEngine]]:
    return [(name, _stage(registry, name).policies.engines["default"]) for name in POLICIES]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(st.sampled_from(
    [*PIECES, "0", "9", "@", "[", "\t", "\r", "\x7f", "\x1f", "\u2028", "xoxb-", "glpat-", "AIza", "/"]), max_size=8))
def test_quiet_tests_are_quiet_and_the_inspection_then_finds_nothing(registry: ScannerRegistry,
                                                                     parts: list[str]) -> None:
    """A quiet test says True only where `PolicyEngine.quiet` does (for the policies above, where
    the marks say all the checks do, exactly where it does), and the inspection of such a text
    finds and edits nothing: releasing it by position alone is what the general path does."""
    text = "".join(parts)
    for name, engine in _engines(registry):
        for restoring, json_string in itertools.product((False, True), repeat=2):
            test = engine.quiet_tests[restoring][json_string]
            assert test is not None, name
            restore = {"[EMAIL_1]": "a@b.io"} if restoring else {}
            expected = engine.quiet(text, restore, json_string)
            assert test(text) == expected, (name, restoring, json_string, text)
            if expected:
                found = engine.inspect(ScanRun([], accumulate=False), text, restore, json_string)
                assert not found.edits and not found.hits


def test_the_quiet_test_is_one_c_call_with_the_accelerator(registry: ScannerRegistry) -> None:
    from functools import partial

    pytest.importorskip("bastion._native")
    engine = stage(registry, **REDACT_OUT).policies.engines["default"]
    assert isinstance(engine.quiet_tests[False][False], partial)
    assert isinstance(engine.quiet_tests[True][False], partial)


def test_native_quiet_text_refuses_bad_arguments() -> None:
    native = pytest.importorskip("bastion._native")
    marks = bytes(256)
    assert native.quiet_text(marks, None, "plain text")
    assert not native.quiet_text(marks, None, "caf\u00e9")
    assert not native.quiet_text(b"\x01" + bytes(255), None, "a\x00b")
    with pytest.raises(ValueError):
        native.quiet_text(b"short", None, "x")
    with pytest.raises(TypeError):
        native.quiet_text(marks, None, b"bytes")
    with pytest.raises(TypeError):
        native.quiet_text(marks, None)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
async def test_a_whole_text_in_one_read_is_the_responses_text(registry: ScannerRegistry, data: st.DataObject) -> None:
    """A choice's whole text arriving with its end in one read (`_Streamed._whole`, split in any text
    deltas): what leaves is what the non-streamed guard makes of that text (no secret or card of the
    pieces unredacted where that redacts it; a block rule's find blocks)."""
    policy = data.draw(st.sampled_from(sorted(POLICIES)))
    s = _stage(registry, policy)
    texts = data.draw(st.lists(st.lists(st.sampled_from(PIECES), min_size=1, max_size=3).map("".join),
                               min_size=1, max_size=4))
    whole = "".join(texts)
    c = await _prepared(s, policy)
    f = s.guard.burst_filter(c)
    assert f is not None
    out: list[StreamEvent] = []
    blocked = None
    try:
        f.burst([StreamStart("i", "m"), *[TextDelta(t) for t in texts], StreamEnd("stop"), UsageEvent(Usage(1, 2))],
                out)
        f.finish(out)
    except PolicyViolation as v:
        blocked = v.message
    reference = await _prepared(s, policy)
    held = s.guard._held(reference, s.guard._state(reference), ScanRun(reference.findings), "the response", False)
    try:
        expected = held.flush(whole)
    except PolicyViolation as v:
        assert blocked == v.message
        return
    assert blocked is None
    released = "".join(e.text for e in out if type(e) is TextDelta)
    assert released == expected
    assert [type(e) for e in out][-2:] == [StreamEnd, UsageEvent]
