"""The official anthropic SDK parses what Bastion's Anthropic encoders write (mock transport, no network)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import anthropic
import httpx2 as httpx  # the installed anthropic SDK is built on httpx2
import orjson
import pytest

from bastion.core.errors import (
    AuthenticationError,
    BastionError,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    RateLimited,
    UpstreamError,
    UpstreamUnavailable,
)
from bastion.core.types import (
    ChatRequest,
    ChatResponse,
    Choice,
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
from bastion.providers.anthropic import ANTHROPIC

REQ = ChatRequest(model="smart", messages=[], stream=True, ingress="anthropic")
EVENTS: list[StreamEvent] = [
    StreamStart(id="chatcmpl-abc", model="gpt-4o"),
    TextDelta("Let me "), TextDelta("check both."),
    ToolCallDelta(call_index=0, id="call_1", name="get_weather", arguments=""),
    ToolCallDelta(call_index=0, arguments='{"city": "Par'), ToolCallDelta(call_index=0, arguments='is"}'),
    ToolCallDelta(call_index=1, id="call_2", name="get_time", arguments='{"tz": "Europe/Paris"}'),
    StreamEnd(finish_reason="tool_calls"),
    UsageEvent(Usage(input_tokens=120, output_tokens=33, cached_input_tokens=100)),
]


class _Chunks(httpx.SyncByteStream):
    def __init__(self, data: bytes, size: int) -> None:
        self._data, self._size = data, size

    def __iter__(self) -> Iterator[bytes]:
        for i in range(0, len(self._data), self._size):
            yield self._data[i:i + self._size]


def client(handler: Callable[[httpx.Request], httpx.Response]) -> anthropic.Anthropic:
    return anthropic.Anthropic(http_client=httpx.Client(transport=httpx.MockTransport(handler)), api_key="x",
                               base_url="http://test", max_retries=0)


def sse_body(events: list[StreamEvent]) -> bytes:
    enc = ANTHROPIC.stream_encoder(REQ, "smart")
    return b"".join(enc.encode(e) for e in events) + enc.close()


def sse_handler(body: bytes, chunk: int = 1 << 20) -> Callable[[httpx.Request], httpx.Response]:
    def handle(request: httpx.Request) -> httpx.Response:
        assert request.url.path == ANTHROPIC.chat_path
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=_Chunks(body, chunk))
    return handle


def ask(c: anthropic.Anthropic) -> anthropic.MessageStreamManager:
    return c.messages.stream(model="smart", max_tokens=100, messages=[{"role": "user", "content": "Weather?"}])


@pytest.mark.parametrize("chunk", [1, 5, 1 << 20])
def test_sdk_stream_final_message(chunk: int) -> None:
    with ask(client(sse_handler(sse_body(EVENTS), chunk))) as stream:
        streamed = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert streamed == "Let me check both."
    assert final.id == "msg_chatcmpl-abc" and final.model == "smart" and final.role == "assistant"
    text, call1, call2 = final.content
    assert text.type == "text" and text.text == "Let me check both."
    assert call1.type == "tool_use" and (call1.id, call1.name, call1.input) == ("call_1", "get_weather",
                                                                              {"city": "Paris"})
    assert call2.type == "tool_use" and call2.input == {"tz": "Europe/Paris"}
    assert final.stop_reason == "tool_use" and final.stop_sequence is None
    assert (final.usage.input_tokens, final.usage.output_tokens, final.usage.cache_read_input_tokens) == (20, 33, 100)


def test_sdk_raw_stream_event_types() -> None:
    stream = client(sse_handler(sse_body(EVENTS))).messages.create(
        model="smart", max_tokens=100, messages=[{"role": "user", "content": "Weather?"}], stream=True)
    types = [e.type for e in stream]
    assert types[0] == "message_start" and types[-2:] == ["message_delta", "message_stop"]
    assert types.count("content_block_start") == types.count("content_block_stop") == 3


def test_sdk_stream_stop_sequence() -> None:
    body = sse_body([StreamStart(id="m1", model="x"), TextDelta("done"),
                     StreamEnd(finish_reason="stop", stop_sequence="###")])
    with ask(client(sse_handler(body))) as stream:
        final = stream.get_final_message()
    assert (final.stop_reason, final.stop_sequence) == ("stop_sequence", "###")


def test_sdk_stream_error_frame_raises() -> None:
    enc = ANTHROPIC.stream_encoder(REQ, "smart")
    body = enc.encode(StreamStart(id="m", model="x")) + enc.encode(TextDelta("partial"))
    body += enc.error(UpstreamUnavailable("upstream is overloaded", retryable=True))
    with pytest.raises(anthropic.APIStatusError) as exc, ask(client(sse_handler(body))) as stream:
        stream.get_final_message()
    assert "overloaded_error" in str(exc.value)


def test_sdk_non_streamed_response() -> None:
    resp = ChatResponse(id="chatcmpl-1", model="gpt-4o", usage=Usage(input_tokens=50, output_tokens=9,
                                                                   cache_write_tokens=10),
                        choices=[Choice(index=0, content=[TextPart("Calling.")], finish_reason="tool_calls",
                                        tool_calls=[ToolCall("call_9", "lookup", '{"id": 7, "deep": {"a": [1]}}')])])
    body = orjson.dumps(ANTHROPIC.encode_response(resp, "smart"))

    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "application/json"}, content=body)

    msg = client(handle).messages.create(model="smart", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    assert msg.id == "msg_chatcmpl-1" and msg.model == "smart"
    assert msg.content[0].type == "text" and msg.content[0].text == "Calling."
    assert msg.content[1].type == "tool_use" and msg.content[1].input == {"id": 7, "deep": {"a": [1]}}
    assert msg.stop_reason == "tool_use"
    assert (msg.usage.input_tokens, msg.usage.cache_creation_input_tokens, msg.usage.output_tokens) == (40, 10, 9)


@pytest.mark.parametrize(("err", "sdk_error"), [
    (InvalidRequest("max_tokens: must be >= 1", param="max_tokens"), anthropic.BadRequestError),
    (AuthenticationError("invalid API key"), anthropic.AuthenticationError),
    (PermissionDenied("model 'smart' is not allowed for this key"), anthropic.PermissionDeniedError),
    (NotFound("model 'nope' not found"), anthropic.NotFoundError),
    (PayloadTooLarge("body exceeds 10485760 bytes"), anthropic.ContentTooLargeError),
    (RateLimited("rate limit exceeded"), anthropic.RateLimitError),
    (UpstreamError("upstream server error", retryable=True), anthropic.InternalServerError),
    (UpstreamUnavailable("upstream is overloaded"), anthropic.ServiceUnavailableError),
    (ANTHROPIC.decode_error(400, b'{"type":"error","error":{"type":"invalid_request_error","message":"bad"}}'),
     anthropic.BadRequestError),
])
def test_sdk_error_classes(err: BastionError, sdk_error: type[anthropic.APIStatusError]) -> None:
    body = orjson.dumps(ANTHROPIC.encode_error(err))

    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(err.status, headers={"content-type": "application/json"}, content=body)

    with pytest.raises(sdk_error) as exc:
        client(handle).messages.create(model="smart", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    assert type(exc.value) is sdk_error
    assert exc.value.status_code == err.status
    assert isinstance(exc.value.body, dict)
    assert exc.value.body["error"] == {"type": err.anthropic_type, "message": err.message}


def test_sdk_request_decodes() -> None:
    """What the SDK sends for a tool conversation decodes into the canonical model."""
    captured: list[bytes] = []

    def handle(request: httpx.Request) -> httpx.Response:
        captured.append(request.read())
        resp = ChatResponse(id="m", model="x", choices=[Choice(index=0, content=[TextPart("ok")], finish_reason="stop")])
        return httpx.Response(200, content=orjson.dumps(ANTHROPIC.encode_response(resp, "smart")))

    client(handle).messages.create(
        model="smart", max_tokens=64, system="Be brief.", stop_sequences=["###"], extra_body={"temperature": 0.1},
        tools=[{"name": "get_weather", "description": "Weather", "input_schema": {"type": "object"}}],
        tool_choice={"type": "auto", "disable_parallel_tool_use": True}, metadata={"user_id": "u1"},
        messages=[{"role": "user", "content": "Weather?"},
                  {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather",
                                                     "input": {"city": "Paris"}}]},
                  {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"}]}])
    req = ANTHROPIC.decode_request(orjson.loads(captured[0]))
    assert [m.role for m in req.messages] == ["user", "assistant", "tool"]
    assert req.messages[1].tool_calls == [ToolCall("toolu_1", "get_weather", '{"city":"Paris"}')]
    assert req.system == [TextPart("Be brief.")] and req.user == "u1" and req.stop == ["###"]
    assert req.temperature == 0.1
