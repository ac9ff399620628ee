"""Upstream chat.completion.chunk SSE → canonical stream events."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from openai_wire_support import decode_all, split_every

from bastion.core.errors import UpstreamError
from bastion.core.types import StreamEnd, StreamStart, TextDelta, ToolCallDelta, Usage, UsageEvent
from bastion.providers.openai import OPENAI

HEAD = {"id": "chatcmpl-123", "object": "chat.completion.chunk", "created": 1694268190,
        "model": "gpt-4o-mini", "system_fingerprint": "fp_44709d6fcb"}


def chunk(choices: list[Any], usage: Any = None, **kw: Any) -> dict[str, Any]:
    return {**HEAD, "choices": choices, "usage": usage, "obfuscation": "xJ3", **kw}


def delta(d: dict[str, Any], finish: str | None = None, index: int = 0) -> dict[str, Any]:
    return {"index": index, "delta": d, "logprobs": None, "finish_reason": finish}


def sse(*chunks: dict[str, Any]) -> bytes:
    return b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"


USAGE = {"prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21,
         "prompt_tokens_details": {"cached_tokens": 0}, "completion_tokens_details": {"reasoning_tokens": 0}}

TEXT_STREAM = sse(
    chunk([delta({"role": "assistant", "content": "", "refusal": None})]),
    chunk([delta({"content": "Hello"})]),
    chunk([delta({"content": " wörld ✓"})]),
    chunk([delta({}, "stop")]),
    chunk([], USAGE),
)

TOOL_STREAM = sse(
    chunk([delta({"role": "assistant", "content": None, "tool_calls": [
        {"index": 0, "id": "call_DdmO9pD3xa9XTPNJ32zg2hcA", "type": "function",
         "function": {"name": "get_weather", "arguments": ""}}]})]),
    chunk([delta({"tool_calls": [{"index": 0, "function": {"arguments": "{\"lo"}}]})]),
    chunk([delta({"tool_calls": [{"index": 0, "function": {"arguments": "cation\": \"Par\\u00e9"}}]})]),
    chunk([delta({"tool_calls": [{"index": 1, "id": "call_2", "type": "function",
                                  "function": {"name": "get_time", "arguments": ""}}]})]),
    chunk([delta({"tool_calls": [{"index": 0, "function": {"arguments": "s\"}"}},
                                 {"index": 1, "function": {"arguments": "{}"}}]})]),
    chunk([delta({}, "tool_calls")]),
    chunk([], {"prompt_tokens": 80, "completion_tokens": 30, "total_tokens": 110}),
)


def test_reference_text_stream() -> None:
    dec = OPENAI.stream_decoder()
    events = decode_all(dec, [TEXT_STREAM])
    assert events == [
        StreamStart("chatcmpl-123", "gpt-4o-mini", 1694268190),
        TextDelta("Hello"),
        TextDelta(" wörld ✓"),
        StreamEnd("stop"),
        UsageEvent(Usage(9, 12)),
    ]
    assert dec.done


def test_parallel_tool_call_stream() -> None:
    events = decode_all(OPENAI.stream_decoder(), [TOOL_STREAM])
    assert events[1:] == [
        ToolCallDelta(0, "call_DdmO9pD3xa9XTPNJ32zg2hcA", "get_weather", ""),
        ToolCallDelta(0, arguments="{\"lo"),
        ToolCallDelta(0, arguments="cation\": \"Par\\u00e9"),  # a JSON escape inside the arguments
        ToolCallDelta(1, "call_2", "get_time", ""),
        ToolCallDelta(0, arguments="s\"}"),
        ToolCallDelta(1, arguments="{}"),
        StreamEnd("tool_calls"),
        UsageEvent(Usage(80, 30)),
    ]


@pytest.mark.parametrize("stream", [TEXT_STREAM, TOOL_STREAM])
@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 13, 64])
def test_bytes_split_anywhere_give_the_same_events(stream: bytes, size: int) -> None:
    whole = decode_all(OPENAI.stream_decoder(), [stream])
    assert decode_all(OPENAI.stream_decoder(), split_every(stream, size)) == whole


def test_repeated_ids_and_names_are_sent_once_per_call() -> None:
    call = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"a\""}}
    again = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": ":1}"}}
    events = decode_all(OPENAI.stream_decoder(), [sse(chunk([delta({"tool_calls": [call]})]),
                                                      chunk([delta({"tool_calls": [again]})]))])
    assert events[1:] == [ToolCallDelta(0, "call_1", "f", "{\"a\""), ToolCallDelta(0, None, None, ":1}")]


def test_calls_without_index_are_numbered_by_id_and_missing_ids_are_supplied() -> None:
    a = {"id": "call_a", "function": {"name": "f", "arguments": {"x": 1}}}
    b = {"id": "call_b", "function": {"name": "g", "arguments": "{}"}}
    nameless = {"index": 2, "function": {"name": "h", "arguments": "{}"}}
    events = decode_all(OPENAI.stream_decoder(), [sse(chunk([delta({"tool_calls": [a]})]),
                                                      chunk([delta({"tool_calls": [b, nameless]})]))])
    assert events[1] == ToolCallDelta(0, "call_a", "f", '{"x":1}')
    assert events[2] == ToolCallDelta(1, "call_b", "g", "{}")
    third = events[3]
    assert isinstance(third, ToolCallDelta) and third.call_index == 2 and third.name == "h"
    assert third.id is not None and third.id.startswith("call_")


def test_several_choices_interleaved() -> None:
    events = decode_all(OPENAI.stream_decoder(), [sse(
        chunk([delta({"role": "assistant", "content": "A"}, index=0), delta({"content": "B"}, index=1)]),
        chunk([delta({}, "stop", index=1)]),
        chunk([delta({"content": "C"}, "length", index=0)]),
    )])
    assert events[1:] == [TextDelta("A", 0), TextDelta("B", 1), StreamEnd("stop", 1), TextDelta("C", 0),
                          StreamEnd("length", 0)]


def test_usage_on_the_finishing_chunk_and_reasoning_fields_ignored() -> None:
    events = decode_all(OPENAI.stream_decoder(), [sse(
        chunk([delta({"reasoning_content": "hmm", "content": "ok"}, "stop")], USAGE),
    )])
    assert events[1:] == [TextDelta("ok"), StreamEnd("stop"), UsageEvent(Usage(9, 12))]


def test_refusal_delta_reaches_the_stream_as_text() -> None:
    events = decode_all(OPENAI.stream_decoder(), [sse(chunk([delta({"refusal": "I can't"})]))])
    assert events[1:] == [TextDelta("I can't")]


def test_done_marker_and_empty_data() -> None:
    dec = OPENAI.stream_decoder()
    assert dec.feed(None, b"") == []
    assert not dec.done
    assert dec.feed(None, b"[DONE]") == []
    assert dec.done
    assert dec.feed(None, orjson.dumps(chunk([delta({"content": "late"})]))) == []


def test_error_chunk_raises_a_sanitised_upstream_error() -> None:
    dec = OPENAI.stream_decoder()
    dec.feed(None, orjson.dumps(chunk([delta({"content": "x"})])))
    payload = {"error": {"message": "The server had an error. Key sk-proj-AbCdEf0123456789xyz was used.",
                         "type": "server_error", "param": None, "code": None}}
    with pytest.raises(UpstreamError) as info:
        dec.feed(None, orjson.dumps(payload))
    assert "The server had an error" in info.value.message
    assert "sk-proj" not in info.value.message and "AbCdEf0123456789xyz" not in info.value.message
    assert info.value.retryable is True


def test_error_event_name_raises() -> None:
    with pytest.raises(UpstreamError) as info:
        OPENAI.stream_decoder().feed("error", b'{"message": "model overloaded", "type": "invalid_request_error"}')
    assert "model overloaded" in info.value.message and info.value.retryable is False


@pytest.mark.parametrize(("data", "fragment"), [
    (b"{not json", "data is not JSON"),
    (b"[1, 2]", "not a JSON object"),
    (b'{"choices": {}}', "'choices' is not an array"),
    (b'{"choices": ["x"]}', "a choice is not an object"),
    (b'{"choices": [{"index": "0", "delta": {}}]}', "choice index"),
    (b'{"choices": [{"index": 0, "delta": "x"}]}', "delta is not an object"),
    (b'{"choices": [{"index": 0, "delta": {"content": 5}}]}', "delta.content"),
    (b'{"choices": [{"index": 0, "delta": {"tool_calls": {}}}]}', "tool_calls is not an array"),
    (b'{"choices": [{"index": 0, "delta": {"tool_calls": [1]}}]}', "tool call delta is not an object"),
    (b'{"choices": [{"index": 0, "delta": {"tool_calls": [{"index": -1}]}}]}', "tool call index"),
    (b'{"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": 5}]}}]}', "tool call id"),
    (b'{"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": "f"}]}}]}', "function"),
    (b'{"choices": [{"index": 0, "finish_reason": 3}]}', "finish_reason"),
    (b'{"choices": [], "usage": [1]}', "usage is not an object"),
])
def test_malformed_chunks_are_non_retryable_upstream_errors(data: bytes, fragment: str) -> None:
    with pytest.raises(UpstreamError) as info:
        OPENAI.stream_decoder().feed(None, data)
    assert info.value.retryable is False
    assert "malformed stream chunk" in info.value.message and fragment in info.value.message


def test_start_event_tolerates_missing_header_fields() -> None:
    assert OPENAI.stream_decoder().feed(None, b'{"choices": []}') == [StreamStart("", "", 0)]
