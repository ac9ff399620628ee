"""Upstream Anthropic SSE → canonical stream events."""

from __future__ import annotations

import importlib.util
from typing import Any

import orjson
import pytest
from anthropic_samples import THINKING_STREAM, TOOL_STREAM, decode_stream, sse_events

from bastion.core.errors import UpstreamError, UpstreamUnavailable
from bastion.core.types import (
    StreamEnd,
    StreamStart,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    Usage,
    UsageEvent,
)
from bastion.providers.anthropic import ANTHROPIC


def ev(data: dict[str, Any]) -> tuple[str, bytes]:
    return str(data["type"]), orjson.dumps(data)


START = ev({"type": "message_start", "message": {
    "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x", "content": [],
    "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 7, "output_tokens": 1}}})
TEXT_START = ev({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
TOOL_START = ev({"type": "content_block_start", "index": 0,
                 "content_block": {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}})
STOP0 = ev({"type": "content_block_stop", "index": 0})
END = ev({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
          "usage": {"output_tokens": 3}})
MSG_STOP = ev({"type": "message_stop"})


def feed_all(events: list[tuple[str | None, bytes]]) -> list[Any]:
    d = ANTHROPIC.stream_decoder()
    out: list[Any] = []
    for name, data in events:
        out.extend(d.feed(name, data))
    return out


def test_reference_stream_with_parallel_tool_use() -> None:
    assert decode_stream(TOOL_STREAM) == [
        # the start's count (with cache reads and writes): what a stream cut before its end is counted by
        StreamStart(id="msg_014p7gG3wDgGV9EUtLvnow3U", model="claude-sonnet-4-5-20250929",
                    usage=Usage(input_tokens=472 + 100 + 20, output_tokens=2, cached_input_tokens=100,
                                cache_write_tokens=20)),
        TextDelta("Okay, let's check "), TextDelta("the weather."),
        ToolCallDelta(call_index=0, id="toolu_01T1x1fJ34qAmk2tNTrN7Up6", name="get_weather"),
        ToolCallDelta(call_index=0, arguments='{"location":'),
        ToolCallDelta(call_index=0, arguments=' "San Francisco, CA"}'),
        ToolCallDelta(call_index=1, id="toolu_02ABC", name="get_time"),
        ToolCallDelta(call_index=1, arguments='{"tz": "PST"}'),
        StreamEnd(finish_reason="tool_calls"),
        UsageEvent(Usage(input_tokens=472 + 100 + 20, output_tokens=89, cached_input_tokens=100,
                         cache_write_tokens=20)),
    ]


def test_thinking_becomes_thinking_deltas_text_then_signature() -> None:
    events = decode_stream(THINKING_STREAM)
    assert [e for e in events if isinstance(e, TextDelta)] == [TextDelta("42")]
    assert [e for e in events if isinstance(e, ThinkingDelta)] == [
        ThinkingDelta(0, "secret plan: the answer is 42"),
        ThinkingDelta(0, signature="EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds")]
    assert isinstance(events[-2], StreamEnd) and isinstance(events[-1], UsageEvent)


def test_done_only_after_message_stop_and_pings_ignored() -> None:
    d = ANTHROPIC.stream_decoder()
    for name, data in [START, ev({"type": "ping"}), TEXT_START, STOP0, END]:
        d.feed(name, data)
        assert not d.done
    assert d.feed(*MSG_STOP) == []
    assert d.done
    assert d.feed("ping", b'{"type": "ping"}') == []


def test_event_name_may_be_absent() -> None:
    out = feed_all([(None, START[1]), (None, TEXT_START[1])])
    assert out == [StreamStart(id="msg_1", model="claude-x", usage=Usage(7, 1))]


@pytest.mark.parametrize("usage", [None, {"input_tokens": 0, "output_tokens": 0}, {"output_tokens": 1}])
def test_a_start_that_counts_no_input_reports_no_usage(usage: dict[str, int] | None) -> None:
    """Some Anthropic-compatible servers write zeros at the start and count in message_delta only: a
    stream of theirs cut early is estimated, not counted as free."""
    message = {"id": "m", "type": "message", "role": "assistant", "model": "x", "content": []}
    if usage is not None:
        message["usage"] = usage
    (start,) = feed_all([ev({"type": "message_start", "message": message})])
    assert start == StreamStart(id="m", model="x", usage=None)


def test_text_in_block_start_and_stop_sequence() -> None:
    out = feed_all([START, ev({"type": "content_block_start", "index": 0,
                               "content_block": {"type": "text", "text": "Hi"}}), STOP0,
                    ev({"type": "message_delta", "delta": {"stop_reason": "stop_sequence", "stop_sequence": "###"},
                        "usage": {"output_tokens": 2}})])
    assert out[1:] == [TextDelta("Hi"), StreamEnd(finish_reason="stop", stop_sequence="###"),
                       UsageEvent(Usage(input_tokens=7, output_tokens=2))]


def test_message_delta_cumulative_usage_overrides_start() -> None:
    out = feed_all([START, ev({"type": "message_delta", "delta": {"stop_reason": "max_tokens"},
                               "usage": {"output_tokens": 9, "input_tokens": 11, "cache_read_input_tokens": 4}})])
    assert out[1:] == [StreamEnd(finish_reason="length"),
                       UsageEvent(Usage(input_tokens=15, output_tokens=9, cached_input_tokens=4))]


def test_partial_json_split_at_every_position() -> None:
    args = '{"q": "caf\\u00e9 \\"quoted\\" \\\\ ünï", "n": [1, 2.5e3, null, true]}'
    for cut in range(len(args) + 1):
        pieces = [args[:cut], args[cut:]]
        events = [START, TOOL_START] + [ev({"type": "content_block_delta", "index": 0,
                                             "delta": {"type": "input_json_delta", "partial_json": p}})
                                         for p in pieces]
        out = feed_all(events)
        assert "".join(e.arguments for e in out if isinstance(e, ToolCallDelta)) == args
        assert orjson.loads("".join(e.arguments for e in out if isinstance(e, ToolCallDelta)))["n"][1] == 2500.0


def test_byte_stream_split_anywhere_gives_same_events() -> None:
    if importlib.util.find_spec("bastion.providers.sse") is None:
        pytest.skip("bastion.providers.sse (the transport's SSE framer) is not present")
    from bastion.providers.sse import SSEParser

    expected = decode_stream(TOOL_STREAM)
    raw = TOOL_STREAM.replace(b"\n", b"\r\n")
    for size in (1, 2, 3, 7, 64):
        parser, d, out = SSEParser(), ANTHROPIC.stream_decoder(), []
        for i in range(0, len(raw), size):
            for name, data in parser.feed(raw[i:i + size]):
                out.extend(d.feed(name, data))
        assert out == expected and d.done


def test_unicode_text_deltas() -> None:
    out = feed_all([START, TEXT_START] + [ev({"type": "content_block_delta", "index": 0,
                                              "delta": {"type": "text_delta", "text": t}})
                                          for t in ["Gr", "üße 👋", "", "\n"]])
    assert "".join(e.text for e in out if isinstance(e, TextDelta)) == "Grüße 👋\n"


@pytest.mark.parametrize(("etype", "cls", "retryable"), [
    ("overloaded_error", UpstreamUnavailable, True), ("api_error", UpstreamError, True),
    ("invalid_request_error", UpstreamError, False), ("rate_limit_error", UpstreamError, False),
    ("permission_error", UpstreamError, False),
])
def test_error_events(etype: str, cls: type[UpstreamError], retryable: bool) -> None:
    d = ANTHROPIC.stream_decoder()
    d.feed(*START)
    with pytest.raises(cls) as exc:
        d.feed("error", orjson.dumps({"type": "error", "error": {
            "type": etype, "message": "Overloaded; key sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123 rejected"}}))
    assert type(exc.value) is cls
    assert exc.value.retryable is retryable
    assert "sk-ant" not in exc.value.message and "abcdefghij" not in exc.value.message


def test_error_event_before_start() -> None:
    with pytest.raises(UpstreamUnavailable):
        ANTHROPIC.stream_decoder().feed("error", b'{"type":"error","error":{"type":"overloaded_error","message":"x"}}')


@pytest.mark.parametrize("events", [
    [START, ev({"type": "mystery_event"})],
    [START, ev({"type": "content_block_start", "index": 0,
                "content_block": {"type": "server_tool_use", "id": "s", "name": "web_search", "input": {}}})],
    [START, ev({"type": "content_block_start", "index": 0, "content_block": {"type": "web_search_tool_result"}})],
    [START, TEXT_START, ev({"type": "content_block_delta", "index": 0,
                            "delta": {"type": "citations_delta", "citation": {"cited_text": "x"}}})],
    [START, TEXT_START, ev({"type": "content_block_delta", "index": 0,
                            "delta": {"type": "input_json_delta", "partial_json": "{}"}})],
    [START, TOOL_START, ev({"type": "content_block_delta", "index": 0,
                            "delta": {"type": "text_delta", "text": "smuggled"}})],
    [START, ev({"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}}),
     ev({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "x"}})],
    [START, ev({"type": "content_block_delta", "index": 3, "delta": {"type": "text_delta", "text": "x"}})],
    [START, TEXT_START, STOP0, ev({"type": "content_block_delta", "index": 0,
                                   "delta": {"type": "text_delta", "text": "late"}})],
    [START, TEXT_START, TEXT_START],
    [START, START],
    [TEXT_START],
    [START, ev({"type": "content_block_start", "index": -1, "content_block": {"type": "text", "text": ""}})],
    [START, ev({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": 5}})],
    [START, ev({"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "input": {}}})],
    [START, END, MSG_STOP, TEXT_START],
    [START, MSG_STOP],
    [START, ev({"type": "message_delta", "delta": None})],
    [START, ev({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": "x"}})],
    [("message_start", b"{not json")],
    [("message_start", b"[1, 2]")],
    [("content_block_stop", START[1])],
    [ev({"type": "message_start", "message": {"id": "m", "model": "x", "content": [{"type": "text", "text": "x"}]}})],
    [ev({"type": "message_start", "message": {"id": 1, "model": "x"}})],
])
def test_malformed_or_unknown_events_raise(events: list[tuple[str | None, bytes]]) -> None:
    with pytest.raises(UpstreamError):
        feed_all(events)


def test_sse_helper_sanity() -> None:
    assert sse_events(b"event: ping\ndata: {}\n\n") == [("ping", b"{}")]
