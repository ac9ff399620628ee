"""A burst's frames in one call (`ChunkEncoder.encode_burst`, with `_native.chunk_frames` for the usual
events) are the frames `ChunkEncoder.encode` gives event by event, joined: the same bytes, the same
failure, and the same encoder state after, for any burst of any events (hypothesis); and the C call gives
exactly those bytes where it takes a burst."""

from __future__ import annotations

from unittest import mock

import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bastion.core.types import (
    StreamEnd,
    StreamEvent,
    StreamStart,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    Usage,
    UsageEvent,
)
from bastion.providers.openai import stream as stream_mod
from bastion.providers.openai.stream import ChunkEncoder

native = pytest.importorskip("bastion._native")

# texts with every kind of character orjson escapes or refuses: controls, quotes, backslashes, non-ASCII,
# astral characters and lone surrogates
TEXTS = st.one_of(st.text(max_size=40),
                  st.text(st.sampled_from('ab "\\\x00\x01\x08\t\n\x0b\x0c\r\x1f\x7f/é€😀\ud800\udfff\u2028'),
                          max_size=30))
COUNTS = st.one_of(st.integers(0, 10**6), st.integers(-2**70, 2**70), st.booleans(),
                   st.sampled_from([2**63 - 1, 2**63, -2**63, -2**63 - 1, 2**64 - 1, 2**64]))
INDEXES = st.one_of(st.just(0), st.integers(-1, 2), st.booleans())
REASONS = st.sampled_from(["stop", "length", "tool_calls", "content_filter", "error", None, "other"])
USAGES = st.builds(Usage, COUNTS, COUNTS, COUNTS, COUNTS, COUNTS, COUNTS)
EVENTS: st.SearchStrategy[StreamEvent] = st.one_of(
    st.builds(TextDelta, TEXTS, INDEXES),
    st.builds(TextDelta, TEXTS),
    st.builds(StreamEnd, REASONS, INDEXES),  # type: ignore[arg-type]
    st.builds(StreamEnd, REASONS),  # type: ignore[arg-type]
    st.builds(UsageEvent, USAGES),
    st.builds(StreamStart, st.sampled_from(["", "chatcmpl-1", 'a"b']), st.just("m"), st.integers(0, 2**40)),
    st.builds(ToolCallDelta, st.integers(0, 2), st.none() | st.just("call_1"), st.none() | st.just("f"), TEXTS,
              INDEXES),
    st.builds(ThinkingDelta, st.integers(0, 2), TEXTS, INDEXES),
)
BURSTS = st.lists(st.lists(EVENTS, min_size=1, max_size=6), min_size=1, max_size=4)
START = StreamStart("chatcmpl-abc", "gpt", 1700000000)


def state(enc: ChunkEncoder) -> tuple[object, ...]:
    return (enc._head, sorted(enc._opened), dict(enc._prefix), dict(enc._text))


def each(enc: ChunkEncoder, burst: list[StreamEvent]) -> bytes | type[Exception]:
    try:
        return b"".join([enc.encode(ev) for ev in burst])
    except Exception as e:  # (orjson refuses a lone surrogate or an int past 64 bits)
        return type(e)


def joined(enc: ChunkEncoder, burst: list[StreamEvent]) -> bytes | type[Exception]:
    try:
        return enc.encode_burst(burst)
    except Exception as e:
        return type(e)


@settings(max_examples=400, deadline=None)
@given(BURSTS, st.booleans(), st.booleans())
@example([[START, TextDelta("hi \"there\"\n\x01é😀"), StreamEnd("stop"), UsageEvent(Usage(3, 4, 1, 0, 2))]],
         True, False)
@example([[START, TextDelta("x"), StreamEnd("length"), UsageEvent(Usage(2**63 - 1, 1))]], True, False)
@example([[START, TextDelta("\ud800"), StreamEnd("stop")]], True, False)
def test_encode_burst_is_encode_of_each(bursts: list[list[StreamEvent]], include_usage: bool, started: bool) -> None:
    one, other = ChunkEncoder("gpt", include_usage), ChunkEncoder("gpt", include_usage)
    if started:
        assert one.encode(START) == other.encode(START)
    # (a stream with no start, or a start with no id or time: one id and time for both encoders)
    with mock.patch.object(stream_mod, "new_id", lambda: "chatcmpl-fixed"), \
            mock.patch.object(stream_mod.time, "time", lambda: 1700000000.5):
        _compare(one, other, bursts)


def _compare(one: ChunkEncoder, other: ChunkEncoder, bursts: list[list[StreamEvent]]) -> None:
    for burst in bursts:
        want = each(one, burst)
        got = joined(other, list(burst))
        assert got == want
        if isinstance(want, bytes):  # (after a failure the encoders' states may differ, as the stream ends)
            assert state(other) == state(one)
        else:
            return


@settings(max_examples=400, deadline=None)
@given(st.lists(EVENTS, max_size=8), st.booleans(), st.integers(-1, 3))
def test_chunk_frames_is_encode_where_it_takes_a_burst(burst: list[StreamEvent], include_usage: bool,
                                                       start: int) -> None:
    """On an opened encoder: the C call's bytes are those of `encode` of each event from `start`; None
    only where it does not take the burst (never for events of the usual shapes)."""
    enc = ChunkEncoder("gpt", include_usage)
    enc.encode(START)
    text = enc._text[0]
    got = native.chunk_frames(burst, start, stream_mod._KINDS, text, enc._text_end, enc._prefix[0], enc._tail,
                              enc._head if include_usage else None, stream_mod._FINISHES)
    want = each(enc, burst[max(start, 0):])
    if got is not None:
        assert got == want
    usual = all(_usual(ev) for ev in burst[max(start, 0):])
    if usual:
        assert got is not None


def _usual(ev: StreamEvent) -> bool:
    """An event of the shapes chunk_frames always takes."""
    def plain(s: str) -> bool:
        try:
            orjson.dumps(s)
        except orjson.JSONEncodeError:
            return False
        return True

    if type(ev) is TextDelta:
        return type(ev.index) is int and ev.index == 0 and plain(ev.text)
    if type(ev) is StreamEnd:
        return type(ev.index) is int and ev.index == 0 and ev.finish_reason in stream_mod._FINISHES
    if type(ev) is UsageEvent:
        u = ev.usage
        counts = (u.input_tokens, u.output_tokens, u.cached_input_tokens, u.reasoning_tokens)
        return (all(type(c) is int and -2**63 <= c < 2**63 for c in counts)
                and -2**63 <= u.input_tokens + u.output_tokens < 2**63)
    return False


def test_chunk_frames_refuses_other_arguments() -> None:
    with pytest.raises(TypeError):
        native.chunk_frames([], 0, (), b"", b"", b"", b"", None, {})
