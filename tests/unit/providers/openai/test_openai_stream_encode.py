"""Canonical stream events → chat.completion.chunk SSE frames for OpenAI clients."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from openai_wire_support import sse_events

from bastion.core.errors import PolicyViolation, UpstreamTimeout
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


def request(include_usage: bool) -> ChatRequest:
    return ChatRequest(model="my-alias", messages=[Message("user")], stream=True, include_usage=include_usage)


def frames(events: list[StreamEvent], include_usage: bool = False) -> list[Any]:
    enc = OPENAI.stream_encoder(request(include_usage), "my-alias")
    raw = b"".join(enc.encode(e) for e in events) + enc.close()
    out: list[Any] = []
    for _, data in sse_events([raw]):
        out.append("[DONE]" if data == b"[DONE]" else orjson.loads(data))
    return out


def test_exact_frames_of_a_text_stream() -> None:
    enc = OPENAI.stream_encoder(request(False), "my-alias")
    assert enc.encode(StreamStart("chatcmpl-9", "gpt-4o-2024-08-06", 1700000000)) == (
        b'data: {"id":"chatcmpl-9","object":"chat.completion.chunk","created":1700000000,"model":"my-alias",'
        b'"choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}'
        b"\n\n")
    assert enc.encode(TextDelta("Hi \"there\"\n\ndata: [DONE]")) == (
        b'data: {"id":"chatcmpl-9","object":"chat.completion.chunk","created":1700000000,"model":"my-alias",'
        b'"choices":[{"index":0,"delta":{"content":"Hi \\"there\\"\\n\\ndata: [DONE]"},"logprobs":null,'
        b'"finish_reason":null}]}\n\n')
    assert enc.encode(StreamEnd("stop")).endswith(b'"delta":{},"logprobs":null,"finish_reason":"stop"}]}\n\n')
    assert enc.encode(UsageEvent(Usage(1, 2))) == b""  # the client did not ask for usage
    assert enc.close() == b"data: [DONE]\n\n"


def test_all_chunks_share_id_created_and_alias() -> None:
    out = frames([StreamStart("up-1", "gpt-4o", 5), TextDelta("a"), ToolCallDelta(0, "c", "f", ""),
                  StreamEnd("tool_calls"), UsageEvent(Usage(3, 4))], include_usage=True)
    chunks = [c for c in out if c != "[DONE]"]
    assert {(c["id"], c["created"], c["model"], c["object"]) for c in chunks} == {
        ("up-1", 5, "my-alias", "chat.completion.chunk")}
    assert out[-1] == "[DONE]"


def test_usage_chunk_only_when_asked_and_null_usage_elsewhere() -> None:
    events: list[StreamEvent] = [StreamStart("x", "m", 1), TextDelta("a"), StreamEnd("stop"),
                                 UsageEvent(Usage(7, 3, cached_input_tokens=2, reasoning_tokens=1))]
    with_usage = frames(events, include_usage=True)
    assert [c["usage"] for c in with_usage[:-2]] == [None, None, None]
    assert with_usage[-2]["choices"] == []
    assert with_usage[-2]["usage"] == {
        "prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10,
        "prompt_tokens_details": {"cached_tokens": 2}, "completion_tokens_details": {"reasoning_tokens": 1}}
    without = frames(events)
    assert all("usage" not in c for c in without[:-1]) and len(without) == 4


def test_tool_call_fragments() -> None:
    out = frames([ToolCallDelta(0, "call_1", "get_weather", ""), ToolCallDelta(0, arguments='{"city"'),
                  ToolCallDelta(1, "call_2", "get_time", "{}"), StreamEnd("tool_calls")])
    deltas = [c["choices"][0]["delta"] for c in out[:-1]]
    assert deltas == [
        {"role": "assistant", "content": ""},
        {"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                         "function": {"name": "get_weather", "arguments": ""}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"city"'}}]},
        {"tool_calls": [{"index": 1, "id": "call_2", "type": "function",
                         "function": {"name": "get_time", "arguments": "{}"}}]},
        {},
    ]
    assert out[-2]["choices"][0]["finish_reason"] == "tool_calls"


def test_without_a_start_event_the_first_chunk_still_opens_with_the_role() -> None:
    out = frames([TextDelta("hi")])
    assert out[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert out[0]["id"].startswith("chatcmpl-") and out[0]["id"] == out[1]["id"]
    assert out[1]["choices"][0]["delta"] == {"content": "hi"}


def test_each_choice_opens_with_its_role_chunk() -> None:
    out = frames([StreamStart("x", "m", 1), TextDelta("a", 0), TextDelta("b", 1), StreamEnd("stop", 1),
                  StreamEnd("length", 0)])
    seen = [(c["choices"][0]["index"], c["choices"][0]["delta"], c["choices"][0]["finish_reason"]) for c in out[:-1]]
    assert seen == [(0, {"role": "assistant", "content": ""}, None), (0, {"content": "a"}, None),
                    (1, {"role": "assistant", "content": ""}, None), (1, {"content": "b"}, None),
                    (1, {}, "stop"), (0, {}, "length")]


def test_empty_text_and_repeated_start_emit_nothing() -> None:
    enc = OPENAI.stream_encoder(request(False), "a")
    enc.encode(StreamStart("x", "m", 1))
    assert enc.encode(StreamStart("y", "m", 2)) == b""
    assert enc.encode(TextDelta("")) == b""


def test_error_frame_uses_the_error_envelope() -> None:
    enc = OPENAI.stream_encoder(request(False), "a")
    frame = enc.error(PolicyViolation("blocked by policy 'default': scanner secrets found aws_access_key"))
    assert frame.startswith(b"data: ") and frame.endswith(b"\n\n")
    assert orjson.loads(frame[6:]) == {"error": {
        "message": "blocked by policy 'default': scanner secrets found aws_access_key",
        "type": "invalid_request_error", "param": None, "code": "policy_violation"}}
    timeout = orjson.loads(enc.error(UpstreamTimeout("upstream timed out"))[6:])
    assert timeout["error"]["code"] == "upstream_timeout" and timeout["error"]["type"] == "server_error"


def test_unknown_event_kinds_fail_loudly() -> None:
    enc = OPENAI.stream_encoder(request(False), "a")
    with pytest.raises(TypeError):
        enc.encode(object())  # type: ignore[arg-type]
