"""The official openai SDK (in .venv) reads what the encoders write and sends what the decoders accept.

The SDK talks to a MockTransport (the transport seam), so no network and no server are involved.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Callable, Iterator
from typing import Any

import httpx2
import openai
import orjson
import pytest

from bastion.core.errors import BastionError, PolicyViolation, UpstreamError
from bastion.core.types import (
    ChatRequest,
    ChatResponse,
    Choice,
    Embedding,
    EmbeddingsResponse,
    StreamEnd,
    StreamEvent,
    StreamStart,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
    UsageEvent,
)
from bastion.providers.openai import OPENAI

Handler = Callable[[httpx2.Request], httpx2.Response]
TOOLS: list[Any] = [
    {"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}},
    {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}},
]


class Gateway:
    """Plays Bastion's HTTP layer for one SDK call: decode the body, answer with the encoders."""

    def __init__(self, answer: Callable[[ChatRequest], httpx2.Response]) -> None:
        self.answer = answer
        self.requests: list[ChatRequest] = []
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        body = orjson.loads(request.content)
        self.bodies.append(body)
        try:
            req = OPENAI.decode_request(body)
        except BastionError as err:
            return error_response(err)
        self.requests.append(req)
        return self.answer(req)


def error_response(err: BastionError) -> httpx2.Response:
    return httpx2.Response(err.status, content=orjson.dumps(OPENAI.encode_error(err)),
                           headers={"content-type": "application/json"})


def client(handler: Handler) -> openai.OpenAI:
    transport = httpx2.MockTransport(handler)
    return openai.OpenAI(api_key="bst_test", base_url="http://bastion.test/v1", max_retries=0,
                         http_client=httpx2.Client(transport=transport))


def sse_answer(events: list[StreamEvent], piece: int = 7, error: BastionError | None = None
               ) -> Callable[[ChatRequest], httpx2.Response]:
    def answer(req: ChatRequest) -> httpx2.Response:
        enc = OPENAI.stream_encoder(req, req.model)
        wire = b"".join(enc.encode(e) for e in events)
        wire += enc.error(error) if error is not None else enc.close()

        def pieces() -> Iterator[bytes]:  # delivered in awkward slices, as a network would
            for i in range(0, len(wire), piece):
                yield wire[i:i + piece]

        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=pieces())
    return answer


PARALLEL_TOOLS: list[StreamEvent] = [
    StreamStart("chatcmpl-up", "gpt-4o-2024-08-06", 1700000000),
    TextDelta("Checking "),
    TextDelta("both…"),
    ToolCallDelta(0, "call_w", "get_weather", ""),
    ToolCallDelta(1, "call_t", "get_time", ""),
    ToolCallDelta(0, arguments='{"ci'),
    ToolCallDelta(1, arguments="{}"),
    ToolCallDelta(0, arguments='ty": "Paris"}'),
    StreamEnd("tool_calls"),
    UsageEvent(Usage(50, 20, cached_input_tokens=10, reasoning_tokens=5)),
]


def test_sdk_reads_a_streamed_parallel_tool_call_answer_with_usage() -> None:
    gateway = Gateway(sse_answer(PARALLEL_TOOLS))
    stream = client(gateway).chat.completions.create(
        model="smart", messages=[{"role": "user", "content": "Weather and time in Paris?"}], tools=TOOLS,
        stream=True, stream_options={"include_usage": True}, parallel_tool_calls=False)
    chunks = list(stream)
    assert gateway.requests[0].include_usage is True
    assert gateway.requests[0].tool_choice is not None and gateway.requests[0].tool_choice.disable_parallel
    assert {c.id for c in chunks} == {"chatcmpl-up"} and {c.model for c in chunks} == {"smart"}
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Checking both…"
    calls: dict[int, dict[str, str]] = {}
    for c in chunks:
        for tc in (c.choices[0].delta.tool_calls or []) if c.choices else []:
            entry = calls.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
            entry["id"] += tc.id or ""
            entry["name"] += (tc.function.name or "") if tc.function else ""
            entry["arguments"] += (tc.function.arguments or "") if tc.function else ""
    assert calls == {0: {"id": "call_w", "name": "get_weather", "arguments": '{"city": "Paris"}'},
                     1: {"id": "call_t", "name": "get_time", "arguments": "{}"}}
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens, last.usage.total_tokens) == (50, 20, 70)
    assert last.usage.prompt_tokens_details is not None and last.usage.prompt_tokens_details.cached_tokens == 10
    assert last.usage.completion_tokens_details is not None
    assert last.usage.completion_tokens_details.reasoning_tokens == 5


def test_sdk_stream_helper_accumulates_parallel_tool_calls() -> None:
    gateway = Gateway(sse_answer(PARALLEL_TOOLS, piece=3))
    with client(gateway).chat.completions.stream(
            model="smart", messages=[{"role": "user", "content": "Weather and time?"}], tools=TOOLS) as stream:
        final = stream.get_final_completion()
    message = final.choices[0].message
    assert message.content == "Checking both…"
    assert [(t.id, t.function.name, t.function.arguments) for t in message.tool_calls or []] == [
        ("call_w", "get_weather", '{"city": "Paris"}'), ("call_t", "get_time", "{}")]
    assert final.choices[0].finish_reason == "tool_calls"
    assert final.usage is None  # the helper did not ask for usage, so none was shown

    # Echoing the helper's parsed message back is accepted (its SDK-only fields are not sent).
    with client(gateway).chat.completions.stream(model="smart", tools=TOOLS, messages=[
            {"role": "user", "content": "Weather and time?"}, message,
            {"role": "tool", "tool_call_id": "call_w", "content": "20C"},
            {"role": "tool", "tool_call_id": "call_t", "content": "noon"}]) as stream:
        stream.get_final_completion()
    echoed = gateway.requests[1].messages[1]
    assert echoed.text() == "Checking both…"
    assert [(c.id, c.name) for c in echoed.tool_calls] == [("call_w", "get_weather"), ("call_t", "get_time")]


def test_sdk_raises_api_error_on_an_error_frame_mid_stream() -> None:
    blocked = PolicyViolation("blocked by policy 'default': scanner secrets found generic_api_key")
    gateway = Gateway(sse_answer([StreamStart("x", "m", 1), TextDelta("partial")], error=blocked))
    stream = client(gateway).chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}], stream=True)
    seen: list[str] = []
    with pytest.raises(openai.APIError) as info:
        for c in stream:
            seen.append(c.choices[0].delta.content or "")
    assert seen == ["", "partial"]
    assert info.value.message == "blocked by policy 'default': scanner secrets found generic_api_key"
    assert info.value.body == {"message": blocked.message, "type": "invalid_request_error", "param": None,
                               "code": "policy_violation"}


def test_sdk_reads_a_full_response_and_echoes_the_message_back() -> None:
    resp = ChatResponse(id="chatcmpl-1", model="gpt-4o", created=1700000000, usage=Usage(12, 8, 4, 0, 2),
                        choices=[Choice(0, tool_calls=[ToolCall("call_1", "get_weather", '{"city":"Rome"}')],
                                        finish_reason="tool_calls")])

    def answer(req: ChatRequest) -> httpx2.Response:
        return httpx2.Response(200, content=orjson.dumps(OPENAI.encode_response(resp, req.model)),
                               headers={"content-type": "application/json"})

    gateway = Gateway(answer)
    sdk = client(gateway)
    messages: list[Any] = [{"role": "user", "content": "Weather in Rome?"}]
    completion = sdk.chat.completions.create(model="smart", messages=messages, tools=TOOLS, max_tokens=50)
    message = completion.choices[0].message
    assert completion.model == "smart" and completion.choices[0].finish_reason == "tool_calls"
    assert message.content is None
    assert message.tool_calls is not None and message.tool_calls[0].function.arguments == '{"city":"Rome"}'
    assert completion.usage is not None and completion.usage.total_tokens == 20
    assert gateway.requests[0].max_tokens == 50

    # The usual agent loop: append the SDK's message object and the tool result, call again.
    messages += [message, {"role": "tool", "tool_call_id": "call_1", "content": "22C"}]
    sdk.chat.completions.create(model="smart", messages=messages, tools=TOOLS)
    second = gateway.requests[1]
    assert second.messages[1].tool_calls == [ToolCall("call_1", "get_weather", '{"city":"Rome"}')]
    assert second.messages[2].tool_call_id == "call_1" and second.messages[2].text() == "22C"


@pytest.mark.parametrize(("err", "sdk_class"), [
    (None, openai.BadRequestError),  # a refused field, from decode_request itself
    (UpstreamError("the provider failed (HTTP 500)", retryable=True), openai.InternalServerError),
])
def test_sdk_maps_error_envelopes_to_its_exception_classes(err: BastionError | None, sdk_class: type) -> None:
    def answer(req: ChatRequest) -> httpx2.Response:
        assert err is not None
        return error_response(err)

    with pytest.raises(sdk_class) as info:
        client(Gateway(answer)).chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}],
            **({"extra_body": {"top_k": 5}} if err is None else {}))
    if err is None:
        assert info.value.body["param"] == "top_k"  # type: ignore[index]
        assert info.value.code == "invalid_request"


def test_sdk_embeddings_with_its_default_base64_encoding() -> None:
    seen: list[Any] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        req = OPENAI.decode_embeddings_request(orjson.loads(request.content))
        seen.append(req)
        vector = base64.b64encode(struct.pack("<3f", 0.5, -1.0, 2.0)).decode()
        resp = EmbeddingsResponse(model="up", data=[Embedding(i, vector) for i in range(len(req.input))],
                                  usage=Usage(input_tokens=6))
        return httpx2.Response(200, content=orjson.dumps(OPENAI.encode_embeddings_response(resp, req.model)),
                               headers={"content-type": "application/json"})

    out = client(handler).embeddings.create(model="embed", input=["a b", "c d e"])
    assert seen[0].input == ["a b", "c d e"]
    assert [d.embedding for d in out.data] == [[0.5, -1.0, 2.0], [0.5, -1.0, 2.0]]
    assert out.model == "embed" and out.usage.prompt_tokens == 6 and out.usage.total_tokens == 6
