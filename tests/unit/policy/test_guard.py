"""The output guard: redaction, restore and block on whole responses and on streams."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bastion.config.policy import PolicyConfig
from bastion.core.context import RequestContext
from bastion.core.errors import InternalError, PolicyViolation
from bastion.core.types import (
    ChatRequest,
    ChatResponse,
    Choice,
    Message,
    StreamEnd,
    StreamEvent,
    StreamStart,
    TextDelta,
    TextPart,
    ToolCall,
    ToolCallDelta,
    Usage,
    UsageEvent,
)
from bastion.policy.registry import ScannerRegistry
from bastion.policy.stage import PolicyStage
from tests.unit.policy.fake_credentials import SECRETS

GH = SECRETS["github_token"][1]
CARD = "4111 1111 1111 1111"
REDACT_OUT = {"output": [{"scanner": "secrets", "action": "redact"}, {"scanner": "pii", "action": "redact"}]}


def stage(registry: ScannerRegistry, **raw: Any) -> PolicyStage:
    return PolicyStage({"default": PolicyConfig.model_validate(raw)}, registry=registry)


def ctx() -> RequestContext:
    return RequestContext(request_id="r", ingress="openai")


def response(text: str, calls: Sequence[ToolCall] = ()) -> ChatResponse:
    return ChatResponse("id", "m", [Choice(0, [TextPart(text)], list(calls), "stop")])


async def source(events: list[StreamEvent]) -> AsyncIterator[StreamEvent]:
    for e in events:
        yield e


def text_events(chunks: Sequence[str], index: int = 0) -> list[StreamEvent]:
    return [TextDelta(c, index) for c in chunks]


async def collect(s: PolicyStage, c: RequestContext, events: list[StreamEvent]) -> list[StreamEvent]:
    return [e async for e in s.guard.guard_stream(c, source(events))]


def joined(events: Sequence[StreamEvent], index: int = 0) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta) and e.index == index)


def split(text: str, cuts: Sequence[int]) -> list[str]:
    points = sorted({min(max(c, 0), len(text)) for c in cuts} | {0, len(text)})
    return [text[a:b] for a, b in itertools.pairwise(points) if b > a]


# ---- whole responses -------------------------------------------------------------------

async def test_check_response_redacts_text_and_tool_arguments(registry: ScannerRegistry) -> None:
    s, c = stage(registry, **REDACT_OUT), ctx()
    out = await s.guard.check_response(c, response(f"key {GH} card {CARD}", [ToolCall("1", "f", f'{{"k": "{GH}"}}')]))
    assert out.choices[0].text() == "key [GITHUB_TOKEN_1] card [CREDIT_CARD_1]"
    assert out.choices[0].tool_calls[0].arguments == '{"k": "[GITHUB_TOKEN_1]"}'
    assert {(f.type, f.direction, f.action) for f in c.findings} == {
        ("github_token", "output", "redact"), ("credit_card", "output", "redact")}


async def test_check_response_blocks(registry: ScannerRegistry) -> None:
    s = stage(registry, output=[{"scanner": "secrets", "action": "block"}])
    with pytest.raises(PolicyViolation) as e:
        await s.guard.check_response(ctx(), response(f"here: {GH}"))
    assert "github_token" in e.value.message and GH not in e.value.message


async def test_restore_full_response(registry: ScannerRegistry) -> None:
    s, c = stage(registry, input=[{"scanner": "pii", "action": "redact", "restore": True}], **REDACT_OUT), ctx()
    req = ChatRequest(model="m", messages=[Message("user", [TextPart("mail a@b.io or c@d.io")])])
    await s.check(c, req)
    assert req.messages[0].content[0].text == "mail [EMAIL_1] or [EMAIL_2]"
    out = await s.guard.check_response(c, response(
        "Wrote to [EMAIL_2]; also x@y.io", [ToolCall("1", "send", '{"to": "[EMAIL_2]", "cc": "[EMAIL_9]"}')]))
    # restored for the client; a new address from the provider is still redacted
    assert out.choices[0].text() == "Wrote to c@d.io; also [EMAIL_3]"
    assert json.loads(out.choices[0].tool_calls[0].arguments) == {"to": "c@d.io", "cc": "[EMAIL_9]"}


async def test_restore_json_escapes_in_tool_arguments(registry: ScannerRegistry) -> None:
    s, c = stage(registry, input=[{"scanner": "regex", "action": "redact", "restore": True,
                                   "patterns": {"quoted": r'say "[a-z]+"\\n'}}]), ctx()
    req = ChatRequest(model="m", messages=[Message("user", [TextPart('x say "hi"\\n y')])])
    await s.check(c, req)
    out = await s.guard.check_response(c, response("", [ToolCall("1", "f", '{"t": "[QUOTED_1]"}')]))
    assert json.loads(out.choices[0].tool_calls[0].arguments) == {"t": 'say "hi"\\n'}


async def test_no_output_rules_and_nothing_to_restore_passes_through(registry: ScannerRegistry) -> None:
    s = stage(registry, input=[{"scanner": "secrets", "action": "block"}])
    r = response(f"key {GH}")
    assert await s.guard.check_response(ctx(), r) is r


# ---- streams ---------------------------------------------------------------------------

PLANTED = {t: (SECRETS[t][0], SECRETS[t][1]) for t in SECRETS} | {
    "credit_card": (f"card {CARD} exp", CARD), "iban": ("IBAN DE89 3704 0044 0532 0130 00.", "DE89 3704 0044 0532 0130 00"),
    "us_ssn": ("SSN 536-22-8730", "536-22-8730"), "email": ("mail jane@corp.example.com", "jane@corp.example.com")}


@pytest.mark.parametrize("type_", sorted(PLANTED))
async def test_secret_split_at_every_boundary_never_reaches_the_client(registry: ScannerRegistry,
                                                                         type_: str) -> None:
    s = stage(registry, **REDACT_OUT)
    planted, value = PLANTED[type_]
    text = "Here it is: " + planted + " and some more text after it, long enough to pass the window." * 2
    expected = (await s.guard.check_response(ctx(), response(text))).choices[0].text()
    assert value not in expected and f"[{type_.upper()}_1]" in expected
    for i in range(1, len(text)):
        events = await collect(s, ctx(), [StreamStart("id", "m"), *text_events(split(text, [i])), StreamEnd("stop")])
        assert joined(events) == expected, i
    three = await collect(s, ctx(), [*text_events(split(text, range(0, len(text), 3))), StreamEnd("stop")])
    assert joined(three) == expected


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
async def test_any_chunking_gives_the_whole_response_result(registry: ScannerRegistry, data: st.DataObject) -> None:
    s = stage(registry, input=[{"scanner": "pii", "action": "redact", "restore": True}], **REDACT_OUT)
    c = ctx()
    await s.check(c, ChatRequest(model="m", messages=[Message("user", [TextPart("I am a@b.io")])]))
    parts = data.draw(st.lists(st.sampled_from(
        [GH + " ", f" {CARD} ", "[EMAIL_1]", "x@y.io", " ", "word ", "\n", "[EMAIL_", "1]", "sk-", "ghp_"]),
        max_size=12))
    text = "".join(parts)
    cuts = data.draw(st.lists(st.integers(0, max(len(text), 1)), max_size=10))
    whole = (await s.guard.check_response(c, response(text))).choices[0].text()
    events = await collect(s, c, [*text_events(split(text, cuts)), StreamEnd("stop")])
    assert joined(events) == whole
    assert GH not in joined(events) and CARD not in joined(events)


async def test_text_streams_before_the_end(registry: ScannerRegistry) -> None:
    s = stage(registry, **REDACT_OUT)
    text = "x" * 400
    released_before_end = 0
    async for e in s.guard.guard_stream(ctx(), source([*text_events(split(text, range(0, 400, 5))),
                                                        StreamEnd("stop")])):
        if isinstance(e, TextDelta):
            released_before_end += len(e.text)
        else:
            break
    assert released_before_end >= 400 - 64 - 16 - 5  # held back: the window, one release step, one delta


async def test_tool_call_argument_deltas(registry: ScannerRegistry) -> None:
    s, c = stage(registry, **REDACT_OUT), ctx()
    args = f'{{"token": "{GH}", "card": "{CARD}"}}'
    events: list[StreamEvent] = [TextDelta("Calling the tool."),
                                 ToolCallDelta(0, id="call_1", name="store", arguments="")]
    events += [ToolCallDelta(0, arguments=a) for a in split(args, range(0, len(args), 3))]
    events += [ToolCallDelta(1, id="call_2", name="other", arguments='{"x": 1}'), StreamEnd("tool_calls")]
    out = await collect(s, c, events)
    assert joined(out) == "Calling the tool."
    header = [e for e in out if isinstance(e, ToolCallDelta) and e.id is not None]
    assert [(e.call_index, e.id, e.name) for e in header] == [(0, "call_1", "store"), (1, "call_2", "other")]
    arg0 = "".join(e.arguments for e in out if isinstance(e, ToolCallDelta) and e.call_index == 0)
    assert json.loads(arg0) == {"token": "[GITHUB_TOKEN_1]", "card": "[CREDIT_CARD_1]"}
    arg1 = "".join(e.arguments for e in out if isinstance(e, ToolCallDelta) and e.call_index == 1)
    assert arg1 == '{"x": 1}'
    # order kept: text, then call 0 (header, arguments), then call 1, then the end
    kinds = [(e.kind, getattr(e, "call_index", None)) for e in out]
    assert kinds[0] == ("text", None) and kinds[-1] == ("end", None)
    assert kinds.index(("tool_call", 1)) > max(i for i, k in enumerate(kinds) if k == ("tool_call", 0))


async def test_block_mid_stream_raises_before_the_secret(registry: ScannerRegistry) -> None:
    s, c = stage(registry, output=[{"scanner": "secrets", "action": "block"}]), ctx()
    text = "a" * 200 + " " + GH + " " + "b" * 200
    seen = ""
    with pytest.raises(PolicyViolation) as e:
        async for ev in s.guard.guard_stream(c, source([StreamStart("i", "m"),
                                                        *text_events(split(text, range(0, len(text), 7))),
                                                        StreamEnd("stop")])):
            if isinstance(ev, TextDelta):
                seen += ev.text
    assert seen and GH[:6] not in seen and "b" not in seen
    assert "github_token" in e.value.message and GH not in e.value.message
    assert [(f.type, f.action, f.direction) for f in c.findings] == [("github_token", "block", "output")]


async def test_restore_in_stream_with_split_placeholder(registry: ScannerRegistry) -> None:
    s, c = stage(registry, input=[{"scanner": "pii", "action": "redact", "restore": True}]), ctx()
    await s.check(c, ChatRequest(model="m", messages=[Message("user", [TextPart("card 4111 1111 1111 1111")])]))
    text = "Your card [CREDIT_CARD_1] is on file." + " ok" * 40
    for i in range(1, 40):
        out = await collect(s, c, [*text_events(split(text, [i, i + 3])), StreamEnd("stop")])
        assert joined(out) == text.replace("[CREDIT_CARD_1]", CARD)


async def test_non_text_events_pass_in_order_and_end_flushes(registry: ScannerRegistry) -> None:
    s = stage(registry, **REDACT_OUT)
    usage = UsageEvent(Usage(3, 4))
    out = await collect(s, ctx(), [StreamStart("i", "m"), TextDelta("short"), TextDelta("one", 1),
                                   StreamEnd("stop", 0), StreamEnd("length", 1), usage])
    assert out == [StreamStart("i", "m"), TextDelta("short"), StreamEnd("stop", 0), TextDelta("one", 1),
                   StreamEnd("length", 1), usage]


async def test_choices_are_held_separately(registry: ScannerRegistry) -> None:
    s = stage(registry, **REDACT_OUT)
    a, b = f"zero {GH} " + "." * 80, "one " + CARD + "." * 80
    events = [e for pair in zip(text_events(split(a, range(0, len(a), 4)), 0),
                                text_events(split(b, range(0, len(b), 4)), 1), strict=False) for e in pair]
    out = await collect(s, ctx(), [*events, StreamEnd("stop", 0), StreamEnd("stop", 1)])
    assert joined(out, 0).startswith("zero [GITHUB_TOKEN_1] ") and joined(out, 1).startswith("one [CREDIT_CARD_1]")


async def test_unknown_event_is_an_error(registry: ScannerRegistry) -> None:
    s = stage(registry, **REDACT_OUT)
    with pytest.raises(InternalError):
        await collect(s, ctx(), [TextDelta("x"), "not an event"])  # type: ignore[list-item]
    plain = stage(registry)
    with pytest.raises(InternalError):
        await collect(plain, ctx(), ["not an event"])  # type: ignore[list-item]


async def test_source_failure_drops_held_text(registry: ScannerRegistry) -> None:
    s = stage(registry, **REDACT_OUT)

    async def failing() -> AsyncIterator[StreamEvent]:
        yield TextDelta("held " + GH[:10])
        raise ConnectionError("upstream went away")

    seen: list[StreamEvent] = []
    with pytest.raises(ConnectionError):
        async for e in s.guard.guard_stream(ctx(), failing()):
            seen.append(e)
    # the finished word may have been released; the started token (a secret's prefix) is dropped
    assert joined(seen) in ("", "held ", "held") and all(isinstance(e, TextDelta) for e in seen)


async def test_failing_output_scanner_blocks_stream(registry: ScannerRegistry,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    s = stage(registry, **REDACT_OUT)

    def boom(text: str) -> list[Any]:
        raise RuntimeError("x")

    monkeypatch.setattr(s.policies.engines["default"].output_rules[1].scanner, "scan", boom)
    with pytest.raises(PolicyViolation, match="scanner 'pii' failed"):
        await collect(s, ctx(), [TextDelta("x 1 " * 50), StreamEnd("stop")])  # a digit: pii must scan


def _escaped(value: str) -> str:
    return "".join(f"\\u{ord(c):04x}" for c in value)


@pytest.mark.parametrize("step", [1, 3, 7, 64])
async def test_an_escaped_secret_in_streamed_tool_arguments_never_leaks(registry: ScannerRegistry, step: int) -> None:
    """Fully escaped, the key is 6x longer than itself in the stream (240 characters against a 64-character
    window): no character of it may leave before it is recognised."""
    s, c = stage(registry, **REDACT_OUT), ctx()
    args = f'{{"cmd": "export TOKEN={_escaped(GH)}", "n": 1}}'
    events: list[StreamEvent] = [ToolCallDelta(0, id="call_1", name="sh", arguments="")]
    events += [ToolCallDelta(0, arguments=a) for a in split(args, range(0, len(args), step))]
    events.append(StreamEnd("tool_calls"))
    out = await collect(s, c, events)
    got = "".join(e.arguments for e in out if isinstance(e, ToolCallDelta))
    assert json.loads(got) == {"cmd": "export TOKEN=[GITHUB_TOKEN_1]", "n": 1}


async def test_an_escaped_secret_in_tool_arguments_of_a_whole_response_is_redacted(registry: ScannerRegistry) -> None:
    s, c = stage(registry, **REDACT_OUT), ctx()
    out = await s.guard.check_response(c, response("", [ToolCall("1", "f", f'{{"t": "{_escaped(GH)}"}}')]))
    assert json.loads(out.choices[0].tool_calls[0].arguments) == {"t": "[GITHUB_TOKEN_1]"}


def test_only_escapes_that_spell_characters_widen_the_window() -> None:
    """\\n and \\" are read as they are: code in tool arguments keeps the normal window (and its rescans)."""
    from bastion.policy.engine import Inspection
    from bastion.policy.redaction import Redactor
    from bastion.policy.window import ESCAPE_WIDTH, HeldText

    def held() -> HeldText:
        return HeldText(lambda text: Inspection(), Redactor(), 64, record=lambda h, o: None,
                        block=lambda h: None, restoring=False, json_string=True)

    h = held()
    h.feed('{"code": "if x:\\n    print(\\"hi\\")\\n"')
    assert h.window == 64
    for pieces in (['{"k": "\\u0041"}'], ['{"k": "\\', 'u0041"}'], ['{"u": "a\\/b"}']):
        h = held()
        for p in pieces:
            h.feed(p)
        assert h.window == 64 * ESCAPE_WIDTH, pieces


def test_json_text_skips_the_scan_unless_an_escape_spells_a_character(registry: ScannerRegistry) -> None:
    """The output guard's literal pre-check (quiet) reads raw text: JSON with \\n or \\" keeps it, JSON with a \\u or
    \\/ escape (which the scan reads unescaped) is always scanned."""
    engine = stage(registry, **REDACT_OUT).policies.engines["default"]
    assert engine.quiet('{"code": "print(\\"hi\\")\\nx = y"}', {}, json_string=True)  # (a digit may be PII: scanned)
    assert not engine.quiet('{"k": "\\uabcd"}', {}, json_string=True)
    assert not engine.quiet('{"k": "a\\/b"}', {}, json_string=True)
    assert engine.quiet('{"k": "\\uabcd"}', {})  # not JSON text: the escape is text
