"""Extended thinking through the Anthropic adapter: reasoning blocks decoded, shown, streamed and passed
back unchanged (thinking text, signature, redacted data), and kept out of OpenAI-shaped replies."""

from __future__ import annotations

import copy
from typing import Any

import anthropic
import httpx2 as httpx
import orjson
import pytest
from anthropic_samples import THINKING_STREAM, decode_stream, sse_events
from test_anthropic_sdk import client, sse_handler

from bastion.core.errors import InvalidRequest, UpstreamError
from bastion.core.types import (
    ChatRequest,
    ChatResponse,
    Choice,
    Message,
    StreamEnd,
    StreamEvent,
    StreamStart,
    TextDelta,
    TextPart,
    ThinkingDelta,
    ThinkingPart,
    ToolCallDelta,
    Usage,
    UsageEvent,
)
from bastion.providers.anthropic import ANTHROPIC
from bastion.providers.openai import OPENAI

SIG = "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds+/="
DATA = "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpPkNRj2YfWXGmKDxH4mPnZ5sQ7vB9URj2pLmN3kF7BzPw=="
THOUGHT = "Let me think…  the user wants\n\tthe weather in \"Paris\" — call the tool.\u200b"

# A thinking + tool use loop exactly as a client passes it back (order and bytes must survive).
LOOP: list[dict[str, Any]] = [
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": [
        {"type": "thinking", "thinking": THOUGHT, "signature": SIG},
        {"type": "redacted_thinking", "data": DATA},
        {"type": "text", "text": "Checking."},
        {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}}]},
    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01", "content": "sunny"}]},
]


def ev(payload: dict[str, Any]) -> tuple[str, bytes]:
    return str(payload["type"]), orjson.dumps(payload)


START = ev({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant",
                                                 "model": "claude", "content": [], "usage": {"input_tokens": 3}}})


def block_start(index: int, block: dict[str, Any]) -> tuple[str, bytes]:
    return ev({"type": "content_block_start", "index": index, "content_block": block})


def delta(index: int, d: dict[str, Any]) -> tuple[str, bytes]:
    return ev({"type": "content_block_delta", "index": index, "delta": d})


def feed(events: list[tuple[str, bytes]]) -> list[StreamEvent]:
    d = ANTHROPIC.stream_decoder()
    out: list[StreamEvent] = []
    for name, data in events:
        out += d.feed(name, data)
    return out


# ---- requests: passed back unchanged ----------------------------------------------------------

def test_thinking_blocks_in_an_assistant_turn_are_decoded_into_thinking_parts() -> None:
    req = ANTHROPIC.decode_request({"model": "m", "max_tokens": 10, "messages": copy.deepcopy(LOOP)})
    assistant = req.messages[1]
    assert assistant.thinking == [ThinkingPart(THOUGHT, signature=SIG), ThinkingPart(redacted=DATA)]
    assert assistant.text() == "Checking."  # reasoning is never content text


def test_tool_use_loop_round_trips_byte_for_byte_to_an_anthropic_upstream() -> None:
    body = {"model": "m", "max_tokens": 10, "messages": copy.deepcopy(LOOP),
            "thinking": {"type": "enabled", "budget_tokens": 2048}}
    sent = ANTHROPIC.encode_request(ANTHROPIC.decode_request(body), "claude-up")
    assert sent["messages"] == LOOP
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert orjson.dumps(sent["messages"][1]["content"][0]) == orjson.dumps(LOOP[1]["content"][0])


def test_reasoning_is_not_sent_to_an_openai_upstream() -> None:
    req = ANTHROPIC.decode_request({"model": "m", "max_tokens": 10, "messages": copy.deepcopy(LOOP)})
    raw = orjson.dumps(OPENAI.encode_request(req, "gpt-4o"))
    assert SIG.encode() not in raw and DATA.encode() not in raw and b"the user wants" not in raw
    assert b"Checking." in raw and b"toolu_01" in raw


def test_an_unsigned_thinking_block_is_refused_before_the_upstream() -> None:
    req = ChatRequest(model="m", messages=[Message("user", [TextPart("q")]),
                                           Message("assistant", [TextPart("a")], thinking=[ThinkingPart("t")])])
    with pytest.raises(InvalidRequest) as e:
        ANTHROPIC.encode_request(req, "claude-up")
    assert "signature" in e.value.message


# ---- non-streamed replies -----------------------------------------------------------------------

def test_reply_reasoning_is_shown_first_with_its_signature() -> None:
    upstream = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude",
                "content": [{"type": "thinking", "thinking": THOUGHT, "signature": SIG},
                            {"type": "redacted_thinking", "data": DATA},
                            {"type": "text", "text": "Checking."},
                            {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}}],
                "stop_reason": "tool_use", "stop_sequence": None, "usage": {"input_tokens": 5, "output_tokens": 90}}
    resp = ANTHROPIC.decode_response(upstream)
    assert resp.usage is not None and resp.usage.output_tokens == 90  # thinking tokens are output tokens
    shown = ANTHROPIC.encode_response(resp, "claude")
    assert shown["content"] == upstream["content"]
    assert shown["usage"]["output_tokens"] == 90


def test_an_unsigned_part_is_shown_with_an_empty_signature() -> None:
    resp = ChatResponse("m1", "x", [Choice(0, [TextPart("a")], thinking=[ThinkingPart("[GITHUB_TOKEN_1]")])])
    assert ANTHROPIC.encode_response(resp, "x")["content"][0] == {
        "type": "thinking", "thinking": "[GITHUB_TOKEN_1]", "signature": ""}


def test_openai_reply_never_shows_reasoning() -> None:
    resp = ChatResponse("m1", "x", [Choice(0, [TextPart("answer")], thinking=[ThinkingPart(THOUGHT, SIG)],
                                           finish_reason="stop")])
    raw = orjson.dumps(OPENAI.encode_response(resp, "x"))
    assert b"the user wants" not in raw and SIG.encode() not in raw and b"answer" in raw


@pytest.mark.parametrize("block", [
    {"type": "thinking", "signature": SIG}, {"type": "thinking", "thinking": 5, "signature": SIG},
    {"type": "thinking", "thinking": "t", "signature": 7}, {"type": "redacted_thinking"},
    {"type": "redacted_thinking", "data": None}])
def test_malformed_reasoning_blocks_from_the_upstream_are_errors(block: dict[str, Any]) -> None:
    with pytest.raises(UpstreamError):
        ANTHROPIC.decode_response({"id": "m", "type": "message", "model": "c", "content": [block],
                                   "stop_reason": "end_turn"})


# ---- streams ------------------------------------------------------------------------------------

def test_stream_decoder_numbers_reasoning_blocks_and_keeps_redacted_data() -> None:
    events = feed([START,
                   block_start(0, {"type": "thinking", "thinking": "", "signature": ""}),
                   delta(0, {"type": "thinking_delta", "thinking": "one "}),
                   delta(0, {"type": "thinking_delta", "thinking": "two"}),
                   delta(0, {"type": "signature_delta", "signature": SIG}),
                   ev({"type": "content_block_stop", "index": 0}),
                   block_start(1, {"type": "redacted_thinking", "data": DATA}),
                   ev({"type": "content_block_stop", "index": 1}),
                   block_start(2, {"type": "text", "text": ""}),
                   delta(2, {"type": "text_delta", "text": "Hi"})])
    assert events[1:] == [ThinkingDelta(0, "one "), ThinkingDelta(0, "two"), ThinkingDelta(0, signature=SIG),
                          ThinkingDelta(1, redacted=DATA), TextDelta("Hi")]


@pytest.mark.parametrize("events", [
    [block_start(0, {"type": "thinking", "thinking": ""}), delta(0, {"type": "signature_delta", "signature": SIG}),
     delta(0, {"type": "thinking_delta", "thinking": "after the signature"})],
    [block_start(0, {"type": "redacted_thinking", "data": DATA}),
     delta(0, {"type": "thinking_delta", "thinking": "smuggled"})],
    [block_start(0, {"type": "redacted_thinking"})],
    [block_start(0, {"type": "thinking", "thinking": 5})],
    [block_start(0, {"type": "thinking", "thinking": ""}), delta(0, {"type": "thinking_delta", "thinking": None})],
    [block_start(0, {"type": "thinking", "thinking": ""}), delta(0, {"type": "signature_delta", "signature": 1})],
    [block_start(0, {"type": "text", "text": ""}), delta(0, {"type": "thinking_delta", "thinking": "x"})],
    [block_start(0, {"type": "text", "text": ""}), delta(0, {"type": "signature_delta", "signature": SIG})],
])
def test_stream_decoder_rejects_misplaced_reasoning(events: list[tuple[str, bytes]]) -> None:
    with pytest.raises(UpstreamError):
        feed([START, *events])


def _sdk_final(body: bytes) -> anthropic.types.Message:
    c = client(sse_handler(body, chunk=7))
    with c.messages.stream(model="smart", max_tokens=100, messages=[{"role": "user", "content": "q"}]) as s:
        kinds = [e.type for e in s]
        final = s.get_final_message()
    assert "thinking" in kinds and "signature" in kinds
    return final


def test_upstream_thinking_stream_reaches_the_sdk_client_as_thinking_blocks() -> None:
    upstream = THINKING_STREAM
    enc = ANTHROPIC.stream_encoder(ChatRequest(model="smart", messages=[], ingress="anthropic"), "smart")
    body = b"".join(enc.encode(e) for e in decode_stream(upstream)) + enc.close()
    final = _sdk_final(body)
    thinking, text = final.content
    assert thinking.type == "thinking" and thinking.thinking == "secret plan: the answer is 42"
    assert thinking.signature == "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"
    assert text.type == "text" and text.text == "42"
    assert final.usage.output_tokens == 30


def test_stream_encoder_writes_consecutive_reasoning_blocks_then_text_and_tools() -> None:
    events: list[StreamEvent] = [
        StreamStart("m1", "claude"), ThinkingDelta(0, "a "), ThinkingDelta(0, "b"), ThinkingDelta(0, signature=SIG),
        ThinkingDelta(1, redacted=DATA), ThinkingDelta(2, "unsigned"), ThinkingDelta(2, signature=""),
        TextDelta("Checking."), ToolCallDelta(0, "toolu_1", "f", '{"x": 1}'), StreamEnd("tool_calls"),
        UsageEvent(Usage(input_tokens=3, output_tokens=77))]
    enc = ANTHROPIC.stream_encoder(ChatRequest(model="smart", messages=[], ingress="anthropic"), "smart")
    body = b"".join(enc.encode(e) for e in events) + enc.close()
    final = _sdk_final(body)
    assert [b.type for b in final.content] == ["thinking", "redacted_thinking", "thinking", "text", "tool_use"]
    first, redacted, unsigned = final.content[:3]
    assert (first.thinking, first.signature) == ("a b", SIG)
    assert redacted.data == DATA
    assert (unsigned.thinking, unsigned.signature) == ("unsigned", "")
    assert final.usage.output_tokens == 77
    starts = [orjson.loads(d) for n, d in sse_events(body) if n == "content_block_start"]
    assert [s["index"] for s in starts] == [0, 1, 2, 3, 4]


def test_stream_encoder_refuses_reasoning_for_a_block_already_closed() -> None:
    enc = ANTHROPIC.stream_encoder(ChatRequest(model="smart", messages=[], ingress="anthropic"), "smart")
    enc.encode(ThinkingDelta(0, "a"))
    enc.encode(TextDelta("b"))
    with pytest.raises(UpstreamError):
        enc.encode(ThinkingDelta(0, "late"))


def test_openai_stream_encoder_drops_reasoning() -> None:
    enc = OPENAI.stream_encoder(ChatRequest(model="x", messages=[], stream=True), "x")
    assert enc.encode(ThinkingDelta(0, THOUGHT)) == b""
    assert enc.encode(ThinkingDelta(0, signature=SIG)) == b""
    assert enc.encode(ThinkingDelta(1, redacted=DATA)) == b""


def test_sdk_non_streamed_reply_with_thinking() -> None:
    resp = ChatResponse("m1", "claude", [Choice(0, [TextPart("Hi")], finish_reason="stop",
                                                thinking=[ThinkingPart(THOUGHT, SIG), ThinkingPart(redacted=DATA)])],
                        usage=Usage(input_tokens=4, output_tokens=50))
    body = orjson.dumps(ANTHROPIC.encode_response(resp, "smart"))
    c = client(lambda r: httpx.Response(200, headers={"content-type": "application/json"}, content=body))
    m = c.messages.create(model="smart", max_tokens=100, messages=[{"role": "user", "content": "q"}])
    assert [b.type for b in m.content] == ["thinking", "redacted_thinking", "text"]
    assert (m.content[0].thinking, m.content[0].signature, m.content[1].data) == (THOUGHT, SIG, DATA)
    # what the SDK hands back for the next turn is accepted and reaches the upstream unchanged
    passed = [{"role": "user", "content": "q"},
              {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in m.content]},
              {"role": "user", "content": "go on"}]
    sent = ANTHROPIC.encode_request(ANTHROPIC.decode_request({"model": "m", "max_tokens": 5, "messages": passed}), "c")
    assert sent["messages"][1]["content"][:2] == [{"type": "thinking", "thinking": THOUGHT, "signature": SIG},
                                                  {"type": "redacted_thinking", "data": DATA}]
