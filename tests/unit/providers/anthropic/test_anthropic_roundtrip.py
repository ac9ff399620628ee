"""Property tests: canonical → Anthropic wire → canonical keeps text, tool calls, finish and usage."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import orjson
from anthropic_samples import decode_stream
from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.core.types import (
    ChatRequest,
    ChatResponse,
    Choice,
    FinishReason,
    Message,
    StreamEnd,
    StreamEvent,
    StreamStart,
    TextDelta,
    TextPart,
    ToolCall,
    ToolCallDelta,
    ToolChoice,
    Usage,
    UsageEvent,
)
from bastion.providers.anthropic import ANTHROPIC

text = st.text(min_size=1, max_size=30)
json_value = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8)
tool_input = st.dictionaries(st.text(max_size=8), json_value, max_size=4)
name = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_-]{0,20}", fullmatch=True)
finish: st.SearchStrategy[FinishReason] = st.sampled_from(["stop", "length", "tool_calls", "content_filter"])


@st.composite
def usages(draw: st.DrawFn) -> Usage:
    cached, write = draw(st.integers(0, 10**6)), draw(st.integers(0, 10**6))
    return Usage(input_tokens=cached + write + draw(st.integers(0, 10**6)), output_tokens=draw(st.integers(0, 10**6)),
                 cached_input_tokens=cached, cache_write_tokens=write)


@dataclass
class Script:
    segments: list[str | tuple[str, str, dict[str, object], list[int]]]
    finish: FinishReason
    stop_sequence: str | None
    usage: Usage
    usage_after_end: bool


@st.composite
def scripts(draw: st.DrawFn) -> Script:
    segments: list[str | tuple[str, str, dict[str, object], list[int]]] = []
    for i in range(draw(st.integers(0, 5))):
        if draw(st.booleans()):
            segments.append(draw(text))
        else:
            args = draw(tool_input)
            size = len(orjson.dumps(args).decode())
            cuts = sorted(draw(st.lists(st.integers(0, size), max_size=4)))
            segments.append((f"call_{i}", draw(name), args, cuts))
    f = draw(finish)
    seq = draw(st.none() | text) if f == "stop" else None
    return Script(segments, f, seq, draw(usages()), draw(st.booleans()))


def canonical_events(s: Script) -> list[StreamEvent]:
    events: list[StreamEvent] = [StreamStart(id="resp_1", model="upstream-model")]
    call = 0
    for seg in s.segments:
        if isinstance(seg, str):
            # split text into two deltas to exercise block continuation
            events += [TextDelta(seg[: len(seg) // 2]), TextDelta(seg[len(seg) // 2:])]
            continue
        cid, fname, args, cuts = seg
        raw = orjson.dumps(args).decode()
        bounds = [0, *cuts, len(raw)]
        pieces = [raw[a:b] for a, b in itertools.pairwise(bounds)]
        events.append(ToolCallDelta(call_index=call, id=cid, name=fname, arguments=pieces[0]))
        events += [ToolCallDelta(call_index=call, arguments=p) for p in pieces[1:]]
        call += 1
    end = StreamEnd(finish_reason=s.finish, stop_sequence=s.stop_sequence)
    usage = UsageEvent(s.usage)
    return events + ([end, usage] if s.usage_after_end else [usage, end])


def summary(events: list[StreamEvent]) -> tuple[str, list[tuple[str, str, object]], FinishReason, str | None, Usage]:
    calls: dict[int, list[str]] = {}
    heads: dict[int, tuple[str, str]] = {}
    text_out, end, usage = "", None, None
    for e in events:
        if isinstance(e, TextDelta):
            text_out += e.text
        elif isinstance(e, ToolCallDelta):
            if e.id is not None:
                heads[e.call_index] = (e.id, e.name or "")
            calls.setdefault(e.call_index, []).append(e.arguments)
        elif isinstance(e, StreamEnd):
            end = e
        elif isinstance(e, UsageEvent):
            usage = e.usage
    assert end is not None and usage is not None
    tools = [(*heads[i], orjson.loads("".join(calls[i]))) for i in sorted(calls)]
    return text_out, tools, end.finish_reason, end.stop_sequence, usage


@settings(max_examples=150, deadline=None)
@given(scripts())
def test_stream_roundtrip(s: Script) -> None:
    events = canonical_events(s)
    enc = ANTHROPIC.stream_encoder(ChatRequest(model="a", messages=[]), "alias")
    raw = b"".join(enc.encode(e) for e in events) + enc.close()
    decoded = decode_stream(raw)
    assert decoded[0] == StreamStart(id="msg_resp_1", model="alias")
    assert summary(decoded) == summary(events)


@settings(max_examples=150, deadline=None)
@given(st.lists(text, max_size=3), st.lists(st.tuples(name, tool_input), max_size=3), finish, st.none() | text,
       usages())
def test_response_roundtrip(texts: list[str], calls: list[tuple[str, dict[str, object]]], f: FinishReason,
                            seq: str | None, usage: Usage) -> None:
    tool_calls = [ToolCall(id=f"toolu_{i}", name=n, arguments=orjson.dumps(a).decode())
                  for i, (n, a) in enumerate(calls)]
    seq = seq if f == "stop" else None
    resp = ChatResponse(id="msg_1", model="m", usage=usage, stop_sequence=seq, choices=[
        Choice(index=0, content=[TextPart(t) for t in texts], tool_calls=tool_calls, finish_reason=f)])
    back = ANTHROPIC.decode_response(orjson.loads(orjson.dumps(ANTHROPIC.encode_response(resp, "alias"))))
    assert back.choices[0].text() == "".join(texts)
    assert back.choices[0].tool_calls == tool_calls
    assert back.choices[0].finish_reason == f
    assert back.stop_sequence == seq
    assert back.usage == usage


role_text = st.text(min_size=1, max_size=20)


@st.composite
def conversations(draw: st.DrawFn) -> list[Message]:
    """Alternating user/assistant turns, with tool calls answered by tool results."""
    msgs: list[Message] = []
    for turn in range(draw(st.integers(1, 4))):
        msgs.append(Message(role="user", content=[TextPart(draw(role_text))]))
        calls = [ToolCall(id=f"toolu_{turn}_{i}", name=draw(name), arguments=orjson.dumps(draw(tool_input)).decode())
                 for i in range(draw(st.integers(0, 2)))]
        msgs.append(Message(role="assistant", content=[TextPart(draw(role_text))], tool_calls=calls))
        msgs += [Message(role="tool", tool_call_id=c.id, content=[TextPart(draw(role_text))],
                         is_error=draw(st.booleans())) for c in calls]
    return msgs


@settings(max_examples=100, deadline=None)
@given(conversations(), st.none() | role_text,
       st.none() | st.sampled_from([ToolChoice("auto"), ToolChoice("required"), ToolChoice("none"),
                                    ToolChoice("tool", "f", True)]))
def test_request_roundtrip(msgs: list[Message], system: str | None, choice: ToolChoice | None) -> None:
    """Anthropic ingress → Anthropic upstream keeps every turn (system in `system`)."""
    req = ChatRequest(model="alias", messages=msgs, system=[TextPart(system)] if system else [], max_tokens=10,
                      tool_choice=choice, ingress="anthropic")
    back = ANTHROPIC.decode_request(ANTHROPIC.encode_request(req, "claude"))
    assert back.system == req.system
    assert back.tool_choice == choice
    # A tool result turn followed by the next user turn is one Anthropic turn; decoding splits it back.
    assert back.messages == msgs
