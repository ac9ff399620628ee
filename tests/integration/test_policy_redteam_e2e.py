"""Red-team probes: request fields that reach the upstream and response fields that reach the
client must be scanned (or refused) on both ingress APIs."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.fakes.reply import Reply
from tests.gateway import Gateway

AWS = "AKIAZ7QHW3XK5MNBV2QD"
EMAIL = "jane.roe@example.org"


@pytest.fixture(scope="module")
def key(gateway: Gateway) -> str:
    return gateway.create_key(name="redteam")


def _post(gateway: Gateway, key: str, path: str, body: dict) -> httpx.Response:
    return httpx.post(f"{gateway.url}{path}", json=body, timeout=10.0,
                      headers={"authorization": f"Bearer {key}", "x-api-key": key,
                               "anthropic-version": "2023-06-01"})


def _leaked(fake_upstream, value: str) -> bool:
    return any(value in json.dumps(r.json) for r in fake_upstream.requests)


_FN = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
_CALL = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}

OPENAI_BODIES = {
    "user": {"user": f"u-{AWS}"},
    "metadata": {"metadata": {"k": f"v {AWS}"}, "store": True},
    "metadata_key": {"metadata": {AWS: "v"}, "store": True},
    "stop": {"stop": [f"{AWS}"]},
    "tool_name": {"tools": [{"type": "function", "function": {"name": AWS, "parameters": {"type": "object"}}}]},
    "schema_key": {"tools": [{"type": "function", "function": {"name": "f", "parameters": {
        "type": "object", "properties": {f"x {AWS}": {"type": "string"}}}}}]},
    "response_format_key": {"response_format": {"type": "json_schema", "json_schema": {
        "name": "r", "schema": {"type": "object", "properties": {AWS: {"type": "string"}}}}}},
    "history_call_name": {"messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": AWS, "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "ok"}]},
    "history_call_id": {"messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": f"call {AWS}", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": f"call {AWS}", "content": "ok"}]},
    "image_url": {"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": f"https://example.com/{AWS}.png"}}]}]},
    "image_data": {"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,iVBO {AWS}"}}]}]},
}


@pytest.mark.parametrize("model", ["gpt-4o-mini", "claude-sonnet-4-6"])
@pytest.mark.parametrize("field", sorted(OPENAI_BODIES))
def test_openai_request_field_never_carries_a_secret_upstream(gateway, key, fake_upstream, field, model):
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], **OPENAI_BODIES[field]}
    r = _post(gateway, key, "/v1/chat/completions", body)
    assert r.status_code in (200, 400), r.text
    assert AWS not in r.text or r.status_code == 200
    assert not _leaked(fake_upstream, AWS), f"{field}: the secret reached the upstream"


ANTHROPIC_BODIES = {
    "metadata_user_id": {"metadata": {"user_id": f"u-{AWS}"}},
    "stop_sequences": {"stop_sequences": [AWS]},
    "tool_name": {"tools": [{"name": f"my key {AWS}", "input_schema": {"type": "object"}}]},
    "schema_key": {"tools": [{"name": "f", "input_schema": {"type": "object", "properties": {AWS: {}}}}]},
    "tool_choice_name": {"tools": [{"name": "f", "input_schema": {"type": "object"}}],
                         "tool_choice": {"type": "tool", "name": AWS}},
    "tool_use_name": {"messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": AWS, "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}]}]},
    "tool_use_id": {"messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": AWS, "name": "f", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": AWS, "content": "ok"}]}]},
    "image_url": {"messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "url", "url": f"https://example.com/{AWS}.png"}}]}]},
    "image_data": {"messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": f"iVBO {AWS}"}}]}]},
    "image_media_type": {"messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": f"image/png {AWS}", "data": "iVBO"}}]}]},
}


@pytest.mark.parametrize("model", ["gpt-4o-mini", "claude-sonnet-4-6"])
@pytest.mark.parametrize("field", sorted(ANTHROPIC_BODIES))
def test_anthropic_request_field_never_carries_a_secret_upstream(gateway, key, fake_upstream, field, model):
    body = {"model": model, "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}],
            **ANTHROPIC_BODIES[field]}
    r = _post(gateway, key, "/v1/messages", body)
    assert r.status_code in (200, 400), r.text
    assert not _leaked(fake_upstream, AWS), f"{field}: the secret reached the upstream"


def test_embeddings_user_field(gateway, key, fake_upstream):
    r = _post(gateway, key, "/v1/embeddings", {"model": "text-embedding-3-small", "input": "hi", "user": AWS})
    assert r.status_code in (200, 400), r.text
    assert not _leaked(fake_upstream, AWS)


# ---- output ----------------------------------------------------------------------------------

def _completion(message: dict, n_choices: list[dict] | None = None) -> dict:
    choices = n_choices or [{"index": 0, "message": {"role": "assistant", **message}, "finish_reason": "stop"}]
    return {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
            "choices": choices, "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}


def _sse(*chunks: dict) -> list[bytes]:
    base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini"}
    return [b"data: " + json.dumps({**base, **c}).encode() + b"\n\n" for c in chunks] + [b"data: [DONE]\n\n"]


OUTPUT_JSON = {
    "parts_split": _completion({"content": [{"type": "text", "text": f"key {AWS[:10]}"},
                                            {"type": "text", "text": f"{AWS[10:]} end"}]}),
    "tool_name": _completion({"content": None, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": f"k {AWS}", "arguments": "{}"}}]}),
    "second_choice": _completion({}, [
        {"index": 0, "message": {"role": "assistant", "content": "fine"}, "finish_reason": "stop"},
        {"index": 1, "message": {"role": "assistant", "content": f"key {AWS}"}, "finish_reason": "stop"}]),
    "refusal": _completion({"content": None, "refusal": f"no {AWS}"}),
}


@pytest.mark.parametrize("case", sorted(OUTPUT_JSON))
@pytest.mark.parametrize("ingress", ["openai", "anthropic"])
def test_upstream_json_never_brings_a_secret_to_the_client(gateway, key, fake_upstream, case, ingress):
    fake_upstream.script("openai.chat", Reply(json=OUTPUT_JSON[case]))
    if ingress == "openai":
        r = _post(gateway, key, "/v1/chat/completions",
                  {"model": "gpt-4o-mini", "n": 2, "messages": [{"role": "user", "content": "hi"}]})
    else:
        r = _post(gateway, key, "/v1/messages",
                  {"model": "gpt-4o-mini", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code in (200, 400, 502), r.text
    assert AWS not in r.text.replace("\\n", ""), r.text


OUTPUT_SSE = {
    "tool_name": _sse({"choices": [{"index": 0, "delta": {"role": "assistant", "tool_calls": [
        {"index": 0, "id": "c1", "type": "function", "function": {"name": f"k {AWS}", "arguments": ""}}]}}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}),
    "second_choice_interleaved": _sse(
        {"choices": [{"index": 1, "delta": {"content": f"key {AWS[:8]}"}}]},
        {"choices": [{"index": 0, "delta": {"content": "fine "}}]},
        {"choices": [{"index": 1, "delta": {"content": f"{AWS[8:]} end"}}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"},
                     {"index": 1, "delta": {}, "finish_reason": "stop"}]}),
    "refusal_split": _sse(
        {"choices": [{"index": 0, "delta": {"refusal": f"no {AWS[:8]}"}}]},
        {"choices": [{"index": 0, "delta": {"refusal": f"{AWS[8:]} end"}}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
}


@pytest.mark.parametrize("case", sorted(OUTPUT_SSE))
@pytest.mark.parametrize("ingress", ["openai", "anthropic"])
def test_upstream_stream_never_brings_a_secret_to_the_client(gateway, key, fake_upstream, case, ingress):
    fake_upstream.script("openai.chat", Reply(raw=OUTPUT_SSE[case], headers={"content-type": "text/event-stream"}))
    if ingress == "openai":
        r = _post(gateway, key, "/v1/chat/completions",
                  {"model": "gpt-4o-mini", "stream": True, "n": 2, "messages": [{"role": "user", "content": "hi"}]})
    else:
        r = _post(gateway, key, "/v1/messages", {"model": "gpt-4o-mini", "max_tokens": 10, "stream": True,
                                                  "messages": [{"role": "user", "content": "hi"}]})
    text = "".join(json.loads(line[6:]).get("choices", [{}])[0].get("delta", {}).get("content") or ""
                   for line in r.text.splitlines() if line.startswith("data: {") and ingress == "openai")
    assert AWS not in r.text and AWS not in text, r.text


def _anthropic_sse(*events: dict) -> list[bytes]:
    start = {"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant",
                                                   "model": "claude-sonnet-4-6", "content": [],
                                                   "usage": {"input_tokens": 1, "output_tokens": 0}}}
    end = [{"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 1}},
           {"type": "message_stop"}]
    return [f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in (start, *events, *end)]


ANTHROPIC_SSE = {
    "tool_input_whole_at_start": _anthropic_sse(
        {"type": "content_block_start", "index": 0, "content_block": {
            "type": "tool_use", "id": "t1", "name": "f", "input": {"k": AWS}}},
        {"type": "content_block_stop", "index": 0}),
    "tool_name": _anthropic_sse(
        {"type": "content_block_start", "index": 0, "content_block": {
            "type": "tool_use", "id": "t1", "name": f"f {AWS}", "input": {}}},
        {"type": "content_block_stop", "index": 0}),
    "split_across_text_blocks": _anthropic_sse(
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": f"k {AWS[:9]}"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": f"{AWS[9:]} x"}},
        {"type": "content_block_stop", "index": 1}),
    "escape_split_mid_unicode": _anthropic_sse(
        {"type": "content_block_start", "index": 0, "content_block": {
            "type": "tool_use", "id": "t1", "name": "f", "input": {}}},
        *[{"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": p}}
          for p in ['{"k": "', "\\u00", "41", "\\u004", "b" + AWS[2:6], "\\", "u0049", AWS[6:] + '"}']],
        {"type": "content_block_stop", "index": 0}),
}


@pytest.mark.parametrize("case", sorted(ANTHROPIC_SSE))
@pytest.mark.parametrize("ingress", ["openai", "anthropic"])
def test_anthropic_upstream_stream_never_brings_a_secret(gateway, key, fake_upstream, case, ingress):
    fake_upstream.script("anthropic.messages", Reply(raw=ANTHROPIC_SSE[case],
                                                     headers={"content-type": "text/event-stream"}))
    if ingress == "openai":
        r = _post(gateway, key, "/v1/chat/completions", {"model": "claude-sonnet-4-6", "stream": True,
                                                          "messages": [{"role": "user", "content": "hi"}]})
    else:
        r = _post(gateway, key, "/v1/messages", {"model": "claude-sonnet-4-6", "max_tokens": 10, "stream": True,
                                                  "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 200
    decoded = r.text.encode().decode("unicode_escape", errors="replace")  # \\u0041 as A
    assert AWS not in r.text and AWS[2:] not in decoded.replace("\\", "").replace('"', ""), r.text


@pytest.mark.parametrize("ingress", ["openai", "anthropic"])
def test_upstream_error_message_never_echoes_a_secret(gateway, key, fake_upstream, ingress):
    route, model = ("openai.chat", "gpt-4o-mini") if ingress == "openai" else ("anthropic.messages",
                                                                                 "claude-sonnet-4-6")
    fake_upstream.script(route, Reply.error(400, f"Invalid request: '{AWS}' and {EMAIL} are not allowed"))
    r = _post(gateway, key, "/v1/chat/completions", {"model": model, "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code >= 400
    # credential-shaped text is removed (providers/sanitize.py); the upstream never had the client's
    # PII (redacted on input), so an e-mail address in its error is its own text and passes
    assert AWS not in r.text, r.text


def test_lone_surrogate_in_a_stream_is_an_error_not_a_crash(gateway, key, fake_upstream):
    """An emoji's surrogate pair split across two chunks' JSON strings: the chunk is not valid
    Unicode, the stream fails closed (a 502 before anything was sent) and the gateway serves on."""
    raw = [b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":'
           b'[{"index":0,"delta":{"content":"a\\ud83d"}}]}\n\n',
           b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":'
           b'[{"index":0,"delta":{"content":"\\ude00b"},"finish_reason":"stop"}]}\n\n', b"data: [DONE]\n\n"]
    fake_upstream.script("openai.chat", Reply(raw=raw, headers={"content-type": "text/event-stream"}))
    r = _post(gateway, key, "/v1/chat/completions", {"model": "gpt-4o-mini", "stream": True,
                                                      "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 502 and "error" in r.json()
    r2 = _post(gateway, key, "/v1/chat/completions", {"model": "gpt-4o-mini",
                                                       "messages": [{"role": "user", "content": "hi"}]})
    assert r2.status_code == 200
