"""Self-tests of the fake upstream, driven by the official openai and anthropic SDKs."""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import anthropic
import httpx2
import openai
import pytest

from tests.fakes import FakeUpstream, Reply, ToolCall, Usage, prompt_words, tool, word_count

pytest_plugins = ["tests.fakes.fixtures"]

USER = [{"role": "user", "content": "one two three four five"}]


@pytest.fixture
def oai(fake_upstream: FakeUpstream) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=fake_upstream.openai_base_url, api_key="sk-test", max_retries=0) as client:
        yield client


@pytest.fixture
def claude(fake_upstream: FakeUpstream) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=fake_upstream.url, api_key="sk-ant-test", max_retries=0) as client:
        yield client


def raw_post(url: str, body: dict[str, object], headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """POST without an SDK, to see exact bytes (and statuses the SDKs would raise on)."""
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"content-type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        with err:
            return err.code, err.read()


def sse_events(raw: bytes) -> list[tuple[str | None, str]]:
    events = []
    for block in raw.decode().split("\n\n"):
        if block:
            lines = dict(line.split(": ", 1) for line in block.split("\n"))
            events.append((lines.get("event"), lines["data"]))
    return events


# ---- OpenAI ----
def test_openai_default_echo_with_word_count_usage(oai: openai.OpenAI, fake_upstream: FakeUpstream) -> None:
    messages = [{"role": "system", "content": "be brief"}, *USER]
    response = oai.chat.completions.create(model="gpt-4o-mini", messages=messages)  # type: ignore[arg-type]
    assert response.choices[0].message.content == "echo: one two three four five"
    assert response.choices[0].finish_reason == "stop"
    assert response.model == "gpt-4o-mini"
    assert response.usage is not None
    assert (response.usage.prompt_tokens, response.usage.completion_tokens, response.usage.total_tokens) == (
        7,
        6,
        13,
    )
    assert prompt_words({"messages": messages}) == 7


def test_openai_stream_has_several_chunks_usage_chunk_and_done(fake_upstream: FakeUpstream) -> None:
    body = {"model": "m", "messages": USER, "stream": True, "stream_options": {"include_usage": True}}
    status, raw = raw_post(f"{fake_upstream.url}/v1/chat/completions", body)
    assert status == 200
    assert raw.endswith(b"data: [DONE]\n\n")
    chunks = [json.loads(data) for _, data in sse_events(raw)[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "echo: one two three four five"
    assert sum(1 for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")) == 6
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 6
    assert all(c["usage"] is None for c in chunks[:-1])


def test_openai_stream_without_include_usage_has_no_usage_chunk(oai: openai.OpenAI) -> None:
    chunks = list(oai.chat.completions.create(model="m", messages=USER, stream=True))  # type: ignore[arg-type]
    assert all(c.choices for c in chunks) and all(c.usage is None for c in chunks)


def test_openai_tool_calls_non_stream_and_stream(oai: openai.OpenAI, fake_upstream: FakeUpstream) -> None:
    calls = [("get_weather", '{"city": "Paris"}'), ToolCall("get_time", '{"tz": "UTC"}', id="call_x")]
    fake_upstream.always("openai.chat", Reply(tool_calls=calls))
    message = oai.chat.completions.create(model="m", messages=USER).choices[0]  # type: ignore[arg-type]
    assert message.finish_reason == "tool_calls" and message.message.content is None
    got = [(tc.function.name, tc.function.arguments) for tc in message.message.tool_calls or []]  # type: ignore[union-attr]
    assert got == [("get_weather", '{"city": "Paris"}'), ("get_time", '{"tz": "UTC"}')]
    assert message.message.tool_calls[1].id == "call_x"  # type: ignore[index]

    args: dict[int, str] = {}
    names: dict[int, str] = {}
    pieces = 0
    for chunk in oai.chat.completions.create(model="m", messages=USER, stream=True):  # type: ignore[arg-type]
        for delta in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            if delta.function and delta.function.name:
                names[delta.index] = delta.function.name
            if delta.function and delta.function.arguments:
                args[delta.index] = args.get(delta.index, "") + delta.function.arguments
                pieces += 1
    assert names == {0: "get_weather", 1: "get_time"}
    assert args == {0: '{"city": "Paris"}', 1: '{"tz": "UTC"}'}
    assert pieces > 2


def test_stream_override_with_tool_argument_pieces(oai: openai.OpenAI, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script("openai.chat", Reply(stream=["Hel", "lo", tool("f", '{"a', '": 1}')]))
    deltas = []
    for chunk in oai.chat.completions.create(model="m", messages=USER, stream=True):  # type: ignore[arg-type]
        delta = chunk.choices[0].delta
        deltas.append(delta.content or (delta.tool_calls[0].function.arguments if delta.tool_calls else None))  # type: ignore[union-attr]
    assert [d for d in deltas if d] == ["Hel", "lo", '{"a', '": 1}']
    assert fake_upstream.last("openai.chat").chunks_sent == 4


def test_usage_and_finish_reason_overrides(
    oai: openai.OpenAI, claude: anthropic.Anthropic, fake_upstream: FakeUpstream
) -> None:
    usage = Usage(input_tokens=100, output_tokens=20, cached_tokens=30, cache_creation_tokens=5)
    fake_upstream.always("openai.chat", Reply(text="x", usage=usage, finish_reason="length"))
    fake_upstream.always("anthropic.messages", Reply(text="x", usage=usage, finish_reason="max_tokens"))
    response = oai.chat.completions.create(model="m", messages=USER)  # type: ignore[arg-type]
    assert response.usage is not None and response.usage.prompt_tokens_details is not None
    assert (response.usage.prompt_tokens, response.usage.prompt_tokens_details.cached_tokens) == (100, 30)
    assert response.choices[0].finish_reason == "length"
    with claude.messages.stream(model="c", max_tokens=9, messages=USER) as stream:  # type: ignore[arg-type]
        final = stream.get_final_message()
    assert final.stop_reason == "max_tokens"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (100, 20)
    assert (final.usage.cache_read_input_tokens, final.usage.cache_creation_input_tokens) == (30, 5)


# ---- Anthropic ----
def test_anthropic_default_echo_non_stream(claude: anthropic.Anthropic) -> None:
    message = claude.messages.create(model="claude-x", max_tokens=50, system="be brief", messages=USER)  # type: ignore[arg-type]
    assert [b.text for b in message.content if b.type == "text"] == ["echo: one two three four five"]
    assert message.stop_reason == "end_turn" and message.model == "claude-x"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (7, 6)


def test_anthropic_stream_full_event_sequence(fake_upstream: FakeUpstream) -> None:
    body = {"model": "c", "max_tokens": 5, "messages": USER, "stream": True}
    _, raw = raw_post(f"{fake_upstream.url}/v1/messages", body, {"anthropic-version": "2023-06-01"})
    names = [event for event, _ in sse_events(raw)]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[3:-3] == ["content_block_delta"] * 6
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert all(json.loads(data)["type"] == event for event, data in sse_events(raw))


def test_anthropic_tool_use_streams_input_json_delta(
    claude: anthropic.Anthropic, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.always(
        "anthropic.messages", Reply(text="Let me check.", tool_calls=[("lookup", '{"q": "x y"}')])
    )
    message = claude.messages.create(model="c", max_tokens=50, messages=USER)  # type: ignore[arg-type]
    assert [b.type for b in message.content] == ["text", "tool_use"] and message.stop_reason == "tool_use"
    with claude.messages.stream(model="c", max_tokens=50, messages=USER) as stream:  # type: ignore[arg-type]
        deltas = [e.delta.type for e in stream if e.type == "content_block_delta"]
        final = stream.get_final_message()
    assert "input_json_delta" in deltas and "text_delta" in deltas
    tool_block = final.content[1]
    assert tool_block.type == "tool_use" and tool_block.name == "lookup" and tool_block.input == {"q": "x y"}


# ---- errors ----
@pytest.mark.parametrize(
    ("status", "error_class", "error_type"),
    [
        (400, openai.BadRequestError, "invalid_request_error"),
        (401, openai.AuthenticationError, "invalid_request_error"),
        (403, openai.PermissionDeniedError, "invalid_request_error"),
        (404, openai.NotFoundError, "invalid_request_error"),
        (429, openai.RateLimitError, "requests"),
        (500, openai.InternalServerError, "server_error"),
        (502, openai.InternalServerError, "server_error"),
        (503, openai.InternalServerError, "server_error"),
    ],
)
def test_openai_error_envelopes(
    oai: openai.OpenAI, fake_upstream: FakeUpstream, status: int, error_class: type, error_type: str
) -> None:
    fake_upstream.script("openai.chat", Reply.error(status, "nope"))
    with pytest.raises(error_class) as caught:
        oai.chat.completions.create(model="m", messages=USER)  # type: ignore[arg-type]
    assert caught.value.status_code == status
    assert caught.value.body["message"] == "nope" and caught.value.body["type"] == error_type


@pytest.mark.parametrize(
    ("status", "error_class", "error_type"),
    [
        (400, anthropic.BadRequestError, "invalid_request_error"),
        (401, anthropic.AuthenticationError, "authentication_error"),
        (403, anthropic.PermissionDeniedError, "permission_error"),
        (404, anthropic.NotFoundError, "not_found_error"),
        (429, anthropic.RateLimitError, "rate_limit_error"),
        (500, anthropic.InternalServerError, "api_error"),
        (503, anthropic.ServiceUnavailableError, "api_error"),
        (529, anthropic.OverloadedError, "overloaded_error"),
    ],
)
def test_anthropic_error_envelopes(
    claude: anthropic.Anthropic, fake_upstream: FakeUpstream, status: int, error_class: type, error_type: str
) -> None:
    fake_upstream.script("anthropic.messages", Reply.error(status))
    with pytest.raises(error_class) as caught:
        claude.messages.create(model="c", max_tokens=5, messages=USER)  # type: ignore[arg-type]
    assert caught.value.body["type"] == "error" and caught.value.body["error"]["type"] == error_type
    assert caught.value.response.headers["request-id"].startswith("req_")


def test_retry_after_is_honoured_by_the_sdk(fake_upstream: FakeUpstream) -> None:
    fake_upstream.script("openai.chat", Reply.error(429, retry_after=0.01), Reply(text="ok"))
    with openai.OpenAI(base_url=fake_upstream.openai_base_url, api_key="k", max_retries=1) as client:
        assert client.chat.completions.create(model="m", messages=USER).choices[0].message.content == "ok"  # type: ignore[arg-type]
    assert len(fake_upstream.requests_for("openai.chat")) == 2
    assert fake_upstream.requests[1].headers["x-stainless-retry-count"] == "1"


def test_mid_stream_errors(
    oai: openai.OpenAI, claude: anthropic.Anthropic, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.script("openai.chat", Reply.error(500, "boom", after_chunks=1))
    fake_upstream.script("anthropic.messages", Reply.error(529, after_chunks=1))
    with pytest.raises(openai.APIError, match="boom"):
        list(oai.chat.completions.create(model="m", messages=USER, stream=True))  # type: ignore[arg-type]
    with pytest.raises(anthropic.APIStatusError) as caught:
        list(claude.messages.create(model="c", max_tokens=5, messages=USER, stream=True))  # type: ignore[arg-type]
    assert caught.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
    assert [r.outcome for r in fake_upstream.requests] == ["error_event", "error_event"]


def test_request_validation_and_api_key(fake_upstream: FakeUpstream, oai: openai.OpenAI) -> None:
    status, body = raw_post(
        f"{fake_upstream.url}/v1/chat/completions", {"model": "m", "messages": USER, "stream_options": {}}
    )
    assert status == 400 and b"stream_options" in body
    status, body = raw_post(
        f"{fake_upstream.url}/v1/messages", {"model": "c", "messages": USER}, {"anthropic-version": "x"}
    )
    assert status == 400 and json.loads(body)["error"]["message"].startswith("max_tokens")
    fake_upstream.api_key = "sk-right"
    with pytest.raises(openai.AuthenticationError):
        oai.chat.completions.create(model="m", messages=USER)  # type: ignore[arg-type]
    status, _ = raw_post(
        f"{fake_upstream.url}/v1/chat/completions",
        {"model": "m", "messages": USER},
        {"authorization": "Bearer sk-right"},
    )
    assert status == 200


# ---- faults ----
def test_drop_mid_stream_closes_the_connection(
    oai: openai.OpenAI, claude: anthropic.Anthropic, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.script("openai.chat", Reply(drop_after_chunks=2))
    fake_upstream.script("anthropic.messages", Reply(drop_after_chunks=2))
    received: list[str | None] = []
    with pytest.raises(openai.APIConnectionError):
        for chunk in oai.chat.completions.create(model="m", messages=USER, stream=True):  # type: ignore[arg-type]
            received.append(chunk.choices[0].delta.content)
    assert received == ["", "echo: ", "one "]
    with pytest.raises(httpx2.RemoteProtocolError):
        list(claude.messages.create(model="c", max_tokens=5, messages=USER, stream=True))  # type: ignore[arg-type]
    assert [r.outcome for r in fake_upstream.requests] == ["dropped", "dropped"]


def test_drop_before_headers(oai: openai.OpenAI, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script("openai.chat", Reply(drop_before_headers=True))
    with pytest.raises(openai.APIConnectionError):
        oai.chat.completions.create(model="m", messages=USER)  # type: ignore[arg-type]


def test_stall_until_client_timeout_counts_a_disconnect(
    oai: openai.OpenAI, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.script("openai.chat", Reply(stall_after_chunks=1), Reply(delay_before_headers=5))
    with pytest.raises(openai.APITimeoutError):
        list(oai.chat.completions.create(model="m", messages=USER, stream=True, timeout=0.2))  # type: ignore[arg-type]
    assert fake_upstream.wait_for_disconnects(1) == 1
    with pytest.raises(openai.APITimeoutError):
        oai.chat.completions.create(model="m", messages=USER, timeout=0.2)  # type: ignore[arg-type]
    assert fake_upstream.wait_for_disconnects(2) == 2
    assert [(r.outcome, r.chunks_sent) for r in fake_upstream.requests] == [
        ("disconnected", 1),
        ("disconnected", 0),
    ]


def test_stall_max_then_connection_closes(oai: openai.OpenAI, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script("openai.chat", Reply(stall_after_chunks=0, stall_max=0.05))
    with pytest.raises(openai.APIConnectionError):
        list(oai.chat.completions.create(model="m", messages=USER, stream=True))  # type: ignore[arg-type]
    assert fake_upstream.last().outcome == "stall_timeout" and fake_upstream.disconnects == 0


def test_malformed_json_and_sse(
    oai: openai.OpenAI, claude: anthropic.Anthropic, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.script("openai.chat", Reply(raw=b'{"choices": ['), Reply(raw=[b'data: {"id":\n\n']))
    fake_upstream.script("anthropic.messages", Reply(raw=[b"event: message_start\n", b"data: nope\n\n"]))
    with pytest.raises(json.JSONDecodeError):
        oai.chat.completions.create(model="m", messages=USER)  # type: ignore[arg-type]
    with pytest.raises(json.JSONDecodeError):
        list(oai.chat.completions.create(model="m", messages=USER, stream=True))  # type: ignore[arg-type]
    with pytest.raises(json.JSONDecodeError):
        list(claude.messages.create(model="c", max_tokens=5, messages=USER, stream=True))  # type: ignore[arg-type]


def test_end_without_done(fake_upstream: FakeUpstream) -> None:
    fake_upstream.always("openai.chat", Reply(end_without_done=True))
    fake_upstream.always("anthropic.messages", Reply(end_without_done=True, ping=False))
    _, raw = raw_post(
        f"{fake_upstream.url}/v1/chat/completions", {"model": "m", "messages": USER, "stream": True}
    )
    assert b"[DONE]" not in raw and b'"finish_reason":"stop"' in raw
    body = {"model": "c", "max_tokens": 5, "messages": USER, "stream": True}
    _, raw = raw_post(f"{fake_upstream.url}/v1/messages", body, {"anthropic-version": "2023-06-01"})
    names = [event for event, _ in sse_events(raw)]
    assert names[-1] == "message_delta" and "ping" not in names


def test_json_body_headers_and_unknown_route(fake_upstream: FakeUpstream) -> None:
    fake_upstream.script("openai.chat", Reply(status=418, json={"weird": True}, headers={"X-Custom": "1"}))
    status, body = raw_post(f"{fake_upstream.url}/v1/chat/completions", {"model": "m", "messages": USER})
    assert (status, json.loads(body)) == (418, {"weird": True})
    status, body = raw_post(f"{fake_upstream.url}/v1/nothing", {})
    assert status == 404 and json.loads(body)["error"]["type"] == "invalid_request_error"
    assert [r.route for r in fake_upstream.requests] == ["openai.chat", None]


def test_reply_headers_reach_the_client(oai: openai.OpenAI, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script("openai.chat", Reply(headers={"X-Custom": "1"}))
    raw = oai.chat.completions.with_raw_response.create(model="m", messages=USER)  # type: ignore[arg-type]
    assert raw.headers["x-custom"] == "1" and raw.headers["x-request-id"].startswith("req_fake")


def test_internal_error_is_reported(claude: anthropic.Anthropic, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script("anthropic.messages", Reply(tool_calls=[("f", "not json")]))
    with pytest.raises(anthropic.InternalServerError):
        claude.messages.create(model="c", max_tokens=5, messages=USER)  # type: ignore[arg-type]
    assert "valid JSON" in fake_upstream.errors[0] and fake_upstream.last().outcome == "internal_error"
    fake_upstream.errors.clear()


# ---- embeddings and models ----
def test_embeddings_deterministic_in_float_and_base64(
    oai: openai.OpenAI, fake_upstream: FakeUpstream
) -> None:
    default = oai.embeddings.create(model="e", input=["a b", "c"])
    floats = oai.embeddings.create(model="e", input=["a b", "c"], encoding_format="float")
    assert [d.embedding for d in default.data] == [d.embedding for d in floats.data]
    assert len(default.data[0].embedding) == 8 and default.data[0].embedding != default.data[1].embedding
    assert default.usage.prompt_tokens == 3
    assert len(oai.embeddings.create(model="e", input="x", dimensions=4).data[0].embedding) == 4
    fake_upstream.script("openai.embeddings", Reply(embeddings=[[0.5, 0.25]]))
    assert oai.embeddings.create(model="e", input="x").data[0].embedding == [0.5, 0.25]


def test_models_in_both_shapes(oai: openai.OpenAI, claude: anthropic.Anthropic) -> None:
    assert "gpt-4o-mini" in [m.id for m in oai.models.list()]
    assert "claude-sonnet-4-5" in [m.id for m in claude.models.list()]


# ---- scripting and recording ----
def test_script_fifo_then_sticky_then_default(oai: openai.OpenAI, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script("openai.chat", Reply(text="first"), Reply(text="second"))
    fake_upstream.always("openai.chat", Reply(text="sticky"))

    def ask() -> str | None:
        return oai.chat.completions.create(model="m", messages=USER).choices[0].message.content  # type: ignore[arg-type]

    assert [ask(), ask(), ask(), ask()] == ["first", "second", "sticky", "sticky"]
    assert fake_upstream.pending("openai.chat") == 0
    fake_upstream.always("openai.chat", None)
    assert ask() == "echo: one two three four five"
    with pytest.raises(ValueError, match="unknown route"):
        fake_upstream.script("openai.chat.completions", Reply())


def test_recording(oai: openai.OpenAI, fake_upstream: FakeUpstream) -> None:
    with pytest.raises(LookupError):
        fake_upstream.last()
    oai.chat.completions.create(model="m", messages=USER, extra_headers={"X-Trace": "t1"})  # type: ignore[arg-type]
    oai.embeddings.create(model="e", input="hi")
    request = fake_upstream.last("openai.chat")
    assert (request.method, request.path, request.model, request.stream) == (
        "POST",
        "/v1/chat/completions",
        "m",
        False,
    )
    assert request.headers["x-trace"] == "t1" and request.headers["authorization"] == "Bearer sk-test"
    assert json.loads(request.body) == request.json and request.json["messages"] == USER
    assert [r.route for r in fake_upstream.requests] == ["openai.chat", "openai.embeddings"]
    assert len(fake_upstream.requests_for("openai.embeddings")) == 1
    fake_upstream.clear()
    assert fake_upstream.requests == []


def test_concurrent_requests_each_consume_one_reply(fake_upstream: FakeUpstream) -> None:
    fake_upstream.script("openai.chat", *(Reply(text=f"r{i}") for i in range(16)))
    url = f"{fake_upstream.url}/v1/chat/completions"
    with ThreadPoolExecutor(8) as pool:
        bodies = list(pool.map(lambda _: raw_post(url, {"model": "m", "messages": USER})[1], range(16)))
    texts = sorted(json.loads(b)["choices"][0]["message"]["content"] for b in bodies)
    assert texts == sorted(f"r{i}" for i in range(16))
    assert len(fake_upstream.wait_for_requests(16, timeout=1)) == 16


def test_wait_for_requests_from_another_thread(fake_upstream: FakeUpstream) -> None:
    url = f"{fake_upstream.url}/v1/chat/completions"
    thread = threading.Thread(target=raw_post, args=(url, {"model": "m", "messages": USER}))
    thread.start()
    assert fake_upstream.wait_for_requests(1, route="openai.chat")[0].route == "openai.chat"
    thread.join()
    with pytest.raises(TimeoutError, match="expected 2 requests"):
        fake_upstream.wait_for_requests(2, timeout=0.05)


def test_reset_aborts_answers_in_flight_without_counting_disconnects(fake_upstream: FakeUpstream) -> None:
    fake_upstream.script("openai.chat", Reply(stall_after_chunks=0))
    url = f"{fake_upstream.url}/v1/chat/completions"
    errors: list[BaseException] = []

    def call() -> None:
        try:
            raw_post(url, {"model": "m", "messages": USER, "stream": True})
        except Exception as exc:
            errors.append(exc)

    thread = threading.Thread(target=call)
    thread.start()
    stalled = fake_upstream.wait_for_requests(1)[0]
    fake_upstream.reset()
    thread.join(5)
    assert stalled.outcome == "aborted" and fake_upstream.disconnects == 0 and errors


def test_word_count_helpers() -> None:
    assert word_count(" a  b\tc ") == 3
    assert prompt_words({"system": [{"type": "text", "text": "x y"}], "messages": USER}) == 7


def test_fixture_starts_each_test_clean(fake_upstream: FakeUpstream) -> None:
    assert fake_upstream.requests == [] and fake_upstream.pending("openai.chat") == 0
    assert fake_upstream.api_key is None and fake_upstream.disconnects == 0


# ---- async ----
async def test_async_stream_and_disconnect_on_cancel(fake_upstream: FakeUpstream) -> None:
    async with openai.AsyncOpenAI(
        base_url=fake_upstream.openai_base_url, api_key="k", max_retries=0
    ) as client:
        stream = await client.chat.completions.create(model="m", messages=USER, stream=True)  # type: ignore[arg-type]
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        assert text == "echo: one two three four five"

        fake_upstream.script("openai.chat", Reply(stall_after_chunks=1))
        stream = await client.chat.completions.create(model="m", messages=USER, stream=True)  # type: ignore[arg-type]
        first = await stream.__anext__()
        assert first.choices[0].delta.role == "assistant"
        await stream.close()
    assert await fake_upstream.wait_for_disconnects_async(1) == 1
    finished = await fake_upstream.wait_for_finished_async(2)
    assert [r.outcome for r in finished] == ["completed", "disconnected"]


def test_reply_rejects_conflicting_faults() -> None:
    with pytest.raises(ValueError, match="choose one"):
        Reply(stall_after_chunks=1, drop_after_chunks=2)
    with pytest.raises(ValueError, match="error_spec"):
        Reply(error_after_chunks=1)
    with pytest.raises(ValueError, match="pieces"):
        ToolCall("f", arguments='{"a": 1}', pieces=("{", "}"))
