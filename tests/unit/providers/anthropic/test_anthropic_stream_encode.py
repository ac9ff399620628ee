"""Canonical stream events → Anthropic SSE for clients."""

from __future__ import annotations

from typing import Any

import pytest
from anthropic_samples import decode_stream, sse_json
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bastion.core.errors import PolicyViolation, UpstreamError, UpstreamUnavailable
from bastion.core.types import (
    ChatRequest,
    StreamEnd,
    StreamEvent,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    Usage,
    UsageEvent,
)
from bastion.providers.anthropic import ANTHROPIC

REQ = ChatRequest(model="smart", messages=[], stream=True, ingress="anthropic")


def encode(events: list[StreamEvent], close: bool = True) -> bytes:
    enc = ANTHROPIC.stream_encoder(REQ, "smart")
    out = b"".join(enc.encode(e) for e in events)
    return out + enc.close() if close else out


def test_text_stream_frames() -> None:
    raw = encode([StreamStart(id="chatcmpl-9", model="gpt-4o"), TextDelta("Hel"), TextDelta("lo"),
                  StreamEnd(finish_reason="stop"), UsageEvent(Usage(input_tokens=12, output_tokens=2))])
    assert raw.startswith(b"event: message_start\ndata: {")
    assert raw.endswith(b"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
    frames = sse_json(raw)
    assert [name for name, _ in frames] == ["message_start", "content_block_start", "content_block_delta",
                                            "content_block_delta", "content_block_stop", "message_delta",
                                            "message_stop"]
    assert all(name == data["type"] for name, data in frames)
    assert frames[0][1] == {"type": "message_start", "message": {
        "id": "msg_chatcmpl-9", "type": "message", "role": "assistant", "model": "smart", "content": [],
        "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 0, "output_tokens": 0}}}
    assert frames[1][1] == {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
    assert frames[2][1] == {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hel"}}
    assert frames[4][1] == {"type": "content_block_stop", "index": 0}
    assert frames[5][1] == {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                            "usage": {"output_tokens": 2, "input_tokens": 12, "cache_read_input_tokens": 0,
                                      "cache_creation_input_tokens": 0}}


def test_message_start_carries_the_input_the_upstream_counted_at_its_start() -> None:
    """An Anthropic upstream's message_start count reaches the client's message_start, as Anthropic
    sends it (a client that stops reading early still has it); no count at the start: zeros."""
    start = Usage(input_tokens=1234 + 100, output_tokens=1, cached_input_tokens=100)
    frames = sse_json(encode([StreamStart(id="msg_1", model="m", usage=start), TextDelta("x")], close=False))
    assert frames[0][1]["message"]["usage"] == {"input_tokens": 1234, "output_tokens": 1,
                                                "cache_read_input_tokens": 100, "cache_creation_input_tokens": 0}


def test_parallel_tool_calls_after_text() -> None:
    raw = encode([
        StreamStart(id="msg_x", model="m"), TextDelta("Checking."),
        ToolCallDelta(call_index=0, id="call_a", name="get_weather", arguments=""),
        ToolCallDelta(call_index=0, arguments='{"city":'), ToolCallDelta(call_index=0, arguments='"Paris"}'),
        ToolCallDelta(call_index=1, id="call_b", name="get_time", arguments='{"tz":"CET"}'),
        StreamEnd(finish_reason="tool_calls"),
        UsageEvent(Usage(input_tokens=50, output_tokens=20, cached_input_tokens=30, cache_write_tokens=5))])
    frames = [d for _, d in sse_json(raw)]
    starts = [f for f in frames if f["type"] == "content_block_start"]
    assert starts == [
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_start", "index": 1,
         "content_block": {"type": "tool_use", "id": "call_a", "name": "get_weather", "input": {}}},
        {"type": "content_block_start", "index": 2,
         "content_block": {"type": "tool_use", "id": "call_b", "name": "get_time", "input": {}}}]
    assert [f["index"] for f in frames if f["type"] == "content_block_stop"] == [0, 1, 2]
    json_deltas = [(f["index"], f["delta"]["partial_json"]) for f in frames
                   if f["type"] == "content_block_delta" and f["delta"]["type"] == "input_json_delta"]
    assert json_deltas == [(1, '{"city":'), (1, '"Paris"}'), (2, '{"tz":"CET"}')]
    assert frames[-2]["delta"]["stop_reason"] == "tool_use"
    assert frames[-2]["usage"] == {"output_tokens": 20, "input_tokens": 15, "cache_read_input_tokens": 30,
                                   "cache_creation_input_tokens": 5}


def test_every_block_is_closed_before_the_next_opens() -> None:
    raw = encode([StreamStart(id="m", model="m"), ToolCallDelta(0, "c0", "f", "{}"), TextDelta("after"),
                  ToolCallDelta(1, "c1", "g", "{}"), TextDelta("again"), StreamEnd(finish_reason="stop")])
    open_index: int | None = None
    for _, f in sse_json(raw):
        if f["type"] == "content_block_start":
            assert open_index is None
            open_index = f["index"]
        elif f["type"] == "content_block_delta":
            assert f["index"] == open_index
        elif f["type"] == "content_block_stop":
            assert f["index"] == open_index
            open_index = None
    assert open_index is None


def test_usage_before_end_and_stop_sequence() -> None:
    frames = sse_json(encode([StreamStart(id="m", model="m"), UsageEvent(Usage(input_tokens=3, output_tokens=1)),
                              TextDelta("x"), StreamEnd(finish_reason="stop", stop_sequence="###")]))
    assert frames[-2][1]["delta"] == {"stop_reason": "stop_sequence", "stop_sequence": "###"}
    assert frames[-2][1]["usage"]["output_tokens"] == 1


@pytest.mark.parametrize(("finish", "stop"), [("length", "max_tokens"), ("content_filter", "refusal"),
                                              ("tool_calls", "tool_use"), ("error", None)])
def test_finish_reasons(finish: Any, stop: str | None) -> None:
    frames = sse_json(encode([StreamStart(id="m", model="m"), TextDelta("x"), StreamEnd(finish_reason=finish)]))
    assert frames[-2][1]["delta"]["stop_reason"] == stop


def test_other_choices_are_ignored() -> None:
    raw = encode([StreamStart(id="m", model="m"), TextDelta("zero"), TextDelta("one", index=1),
                  ToolCallDelta(0, "c", "f", "{}", index=1), StreamEnd(finish_reason="length", index=1),
                  StreamEnd(finish_reason="stop")])
    frames = [d for _, d in sse_json(raw)]
    assert [f["delta"]["text"] for f in frames if f["type"] == "content_block_delta"] == ["zero"]
    assert frames[-2]["delta"]["stop_reason"] == "end_turn"


def test_empty_stream_is_still_well_formed() -> None:
    raw = encode([])
    assert [n for n, _ in sse_json(raw)] == ["message_start", "message_delta", "message_stop"]
    assert decode_stream(raw)[1:] == [StreamEnd(finish_reason="stop"), UsageEvent(Usage())]


def test_stream_without_start_event_opens_one() -> None:
    frames = sse_json(encode([TextDelta("x"), StreamEnd(finish_reason="stop")]))
    assert frames[0][0] == "message_start" and frames[0][1]["message"]["id"].startswith("msg_")


def test_error_frame_ends_the_stream() -> None:
    enc = ANTHROPIC.stream_encoder(REQ, "smart")
    enc.encode(StreamStart(id="m", model="m"))
    enc.encode(TextDelta("partial"))
    err = enc.error(PolicyViolation("blocked by policy 'default': secrets/aws_access_key"))
    assert err == (b'event: error\ndata: {"type":"error","error":{"type":"invalid_request_error",'
                   b'"message":"blocked by policy \'default\': secrets/aws_access_key"}}\n\n')
    assert enc.close() == b"" and enc.encode(TextDelta("more")) == b"" and enc.error(err_unavail()) == b""


def err_unavail() -> UpstreamUnavailable:
    return UpstreamUnavailable("upstream is overloaded", retryable=True)


def test_overloaded_error_frame_type() -> None:
    enc = ANTHROPIC.stream_encoder(REQ, "smart")
    assert b'"type":"overloaded_error"' in enc.error(err_unavail())


@pytest.mark.parametrize("events", [
    [ToolCallDelta(0, arguments="{}")],
    [ToolCallDelta(0, id="c", name=None)],
    [ToolCallDelta(0, "a", "f", ""), ToolCallDelta(1, "b", "g", ""), ToolCallDelta(0, arguments="{}")],
    [ToolCallDelta(0, "a", "f", ""), TextDelta("x"), ToolCallDelta(0, arguments="{}")],
])
def test_tool_fragment_order_violations(events: list[StreamEvent]) -> None:
    with pytest.raises(UpstreamError):
        encode(events, close=False)


def test_repeated_id_on_later_fragments_is_a_continuation() -> None:
    raw = encode([ToolCallDelta(0, "a", "f", '{"x":'), ToolCallDelta(0, "a", "f", "1}"),
                  StreamEnd(finish_reason="tool_calls")])
    calls = [e for e in decode_stream(raw) if isinstance(e, ToolCallDelta)]
    assert "".join(c.arguments for c in calls) == '{"x":1}'
    assert len([c for c in calls if c.id]) == 1


@pytest.mark.parametrize("index", [0, 1, 9, 10, 123])
def test_pre_rendered_frames_are_the_general_frames(index: int) -> None:
    """The frames every stream writes are pre-rendered; they are the bytes `frame` writes."""
    from bastion.providers.anthropic import stream_encode as se

    enc = se.AnthropicStreamEncoder("alias")
    enc._next_block = index
    assert enc._open_block(se._TEXT_BLOCK) == se.frame("content_block_start", {
        "type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}})
    assert enc._close_block() == se.frame("content_block_stop", {"type": "content_block_stop", "index": index})
    assert se._MESSAGE_STOP == se.frame("message_stop", {"type": "message_stop"})


def _old_start(model: str, mid: str, usage: Usage | None) -> bytes:
    """message_start as the encoder wrote it before its template: the message's objects, dumped."""
    from bastion.providers.anthropic.mapping import usage_to_wire
    from bastion.providers.anthropic.response import message_id
    from bastion.providers.anthropic.stream_encode import frame

    message = {"id": message_id(mid), "type": "message", "role": "assistant", "model": model, "content": [],
               "stop_reason": None, "stop_sequence": None,
               "usage": usage_to_wire(usage) if usage is not None else {"input_tokens": 0, "output_tokens": 0}}
    return frame("message_start", {"type": "message_start", "message": message})


def _old_close(finish: Any, seq: str | None, usage: Usage | None) -> bytes:
    """message_delta and message_stop as `close` wrote them before its template."""
    from bastion.providers.anthropic.mapping import stop_reason, usage_to_wire
    from bastion.providers.anthropic.stream_encode import _MESSAGE_STOP, frame

    seq = seq if finish in (None, "stop") else None
    wire = usage_to_wire(usage)
    delta = {"stop_reason": stop_reason(finish, seq), "stop_sequence": seq}
    return frame("message_delta", {"type": "message_delta", "delta": delta,
                                   "usage": {"output_tokens": wire.pop("output_tokens"), **wire}}) + _MESSAGE_STOP


def _outcome(write: Any) -> object:
    try:
        return write()
    except Exception as e:  # the same refusal: type and message
        return type(e), str(e)


# Counts as a Usage may hold them: in range, out of orjson's, negative, not ints (a decoder checks its own;
# the template must not write what the objects' dump refuses or writes otherwise)
COUNT = st.one_of(st.integers(0, 10**9), st.integers(-2**65, 2**66), st.sampled_from([2**62 - 1, 2**62, 2**63, 2**64,
                                                                                       -1, True, False, 1.5, None]))
USAGE = st.one_of(st.none(), st.builds(Usage, COUNT, COUNT, COUNT, COUNT, st.just(0), st.one_of(st.just(0), COUNT)))
TEXT = st.text(st.characters(codec="utf-8"), max_size=8) | st.sampled_from(["msg_x", "a\ud800", 'q"\\', "é\u2028"])


@settings(max_examples=400, deadline=None)
@given(TEXT, TEXT, USAGE)
@example("alias", "msg_1", Usage(300, 1, 20, 10, 0, 4))
@example("alias", "chatcmpl-9", Usage(2**63, 1))
def test_message_start_template_is_the_objects_dumped(model: str, mid: str, usage: Usage | None) -> None:
    from bastion.providers.anthropic.stream_encode import AnthropicStreamEncoder

    got = _outcome(lambda: AnthropicStreamEncoder(model).encode(StreamStart(mid or "x", "upstream", 0, usage)))
    assert got == _outcome(lambda: _old_start(model, mid or "x", usage))


@settings(max_examples=400, deadline=None)
@given(st.sampled_from([None, "stop", "length", "tool_calls", "content_filter", "error"]), st.none() | TEXT, USAGE)
@example("stop", "END", Usage(12, 2))
@example(None, None, None)
def test_message_delta_template_is_the_objects_dumped(finish: Any, seq: str | None, usage: Usage | None) -> None:
    from bastion.providers.anthropic.stream_encode import AnthropicStreamEncoder

    enc = AnthropicStreamEncoder("alias")
    enc.encode(StreamStart("msg_1", "m"))
    if finish is not None:
        enc.encode(StreamEnd(finish, 0, seq))
    if usage is not None:
        enc.encode(UsageEvent(usage))
    got = _outcome(enc.close)
    assert got == _outcome(lambda: _old_close(finish, seq if finish is not None else None, usage))
