"""Property tests: canonical events survive encoder → SSE bytes (split anywhere) → decoder."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from openai_wire_support import decode_all, split_every

from bastion.core.types import (
    ChatRequest,
    Message,
    StreamEnd,
    StreamEvent,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    Usage,
    UsageEvent,
)
from bastion.providers.openai import OPENAI

texts = st.text(min_size=1, max_size=40)  # any unicode, including "\n\n", quotes and "data: "
names = st.from_regex(r"[A-Za-z0-9_\-]{1,64}", fullmatch=True)
ids = st.from_regex(r"call_[A-Za-z0-9]{1,24}", fullmatch=True)
finishes = st.sampled_from(["stop", "length", "tool_calls", "content_filter"])
usages = st.builds(Usage, st.integers(0, 10**7), st.integers(0, 10**7), st.integers(0, 10**6),
                   st.just(0), st.integers(0, 10**6))


@st.composite
def choice_events(draw: st.DrawFn, index: int) -> list[StreamEvent]:
    """One choice's events: text, then well-formed tool calls (first fragment with id and name), then its end."""
    events: list[StreamEvent] = [TextDelta(t, index) for t in draw(st.lists(texts, max_size=5))]
    for call in range(draw(st.integers(0, 3))):
        events.append(ToolCallDelta(call, draw(ids), draw(names), draw(st.text(max_size=10)), index))
        events.extend(ToolCallDelta(call, arguments=a, index=index) for a in draw(st.lists(texts, max_size=4)))
    events.append(StreamEnd(draw(finishes), index))
    return events


@st.composite
def streams(draw: st.DrawFn) -> list[StreamEvent]:
    start = StreamStart(draw(st.from_regex(r"chatcmpl-[A-Za-z0-9]{1,20}", fullmatch=True)), "upstream",
                        draw(st.integers(1, 2**31)))
    events: list[StreamEvent] = [start]
    for index in range(draw(st.integers(1, 3))):
        events.extend(draw(choice_events(index)))
    if draw(st.booleans()):
        events.append(UsageEvent(draw(usages)))
    return events


def round_trip(events: list[StreamEvent], include_usage: bool, size: int) -> list[StreamEvent]:
    req = ChatRequest(model="alias", messages=[Message("user")], stream=True, include_usage=include_usage)
    enc = OPENAI.stream_encoder(req, "alias")
    wire = b"".join(enc.encode(e) for e in events) + enc.close()
    decoder = OPENAI.stream_decoder()
    out = decode_all(decoder, split_every(wire, size))
    assert decoder.done
    return out


@settings(max_examples=150, deadline=None, database=None)
@given(streams(), st.integers(1, 300))
def test_events_survive_the_wire(events: list[StreamEvent], size: int) -> None:
    start = events[0]
    assert isinstance(start, StreamStart)
    expected = [StreamStart(start.id, "alias", start.created), *events[1:]]
    assert round_trip(events, True, size) == expected


@settings(max_examples=100, deadline=None, database=None)
@given(streams(), st.integers(1, 300))
def test_usage_is_withheld_unless_the_client_asked(events: list[StreamEvent], size: int) -> None:
    out = round_trip(events, False, size)
    assert [e for e in out if not isinstance(e, StreamStart)] == [
        e for e in events if not isinstance(e, StreamStart | UsageEvent)]


@settings(max_examples=100, deadline=None, database=None)
@given(streams())
def test_decoding_is_stable_under_re_encoding(events: list[StreamEvent]) -> None:
    once = round_trip(events, True, 4096)
    assert round_trip(once, True, 7) == once
