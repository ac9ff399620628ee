"""Anthropic message objects ⇄ canonical ChatResponse."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from anthropic_samples import TOOL_MESSAGE

from bastion.core.errors import UpstreamError, UpstreamUnavailable
from bastion.core.types import ChatResponse, Choice, FinishReason, TextPart, ThinkingPart, ToolCall, Usage
from bastion.providers.anthropic import ANTHROPIC


def message(**kw: Any) -> dict[str, Any]:
    m = copy.deepcopy(TOOL_MESSAGE)
    m.update(kw)
    return m


def test_decode_reference_tool_message() -> None:
    resp = ANTHROPIC.decode_response(message())
    assert resp.id == "msg_01Aq9w938a90dw8q" and resp.model == "claude-sonnet-4-5-20250929"
    (choice,) = resp.choices
    assert choice.content == [TextPart("I'll check the weather for you.")]
    assert choice.tool_calls == [ToolCall(id="toolu_01A09q90qw90lq917835lq9", name="get_weather",
                                          arguments='{"location":"San Francisco, CA","unit":"celsius"}')]
    assert choice.finish_reason == "tool_calls"
    assert resp.usage == Usage(input_tokens=2095 + 1000 + 50, output_tokens=503, cached_input_tokens=1000,
                               cache_write_tokens=50)


@pytest.mark.parametrize(("stop", "finish"), [
    ("end_turn", "stop"), ("stop_sequence", "stop"), ("pause_turn", "stop"), ("max_tokens", "length"),
    ("model_context_window_exceeded", "length"), ("tool_use", "tool_calls"), ("refusal", "content_filter"),
    (None, None), ("some_future_reason", "stop"),
])
def test_stop_reasons(stop: str | None, finish: FinishReason | None) -> None:
    assert ANTHROPIC.decode_response(message(stop_reason=stop)).choices[0].finish_reason == finish


def test_stop_sequence_and_plain_usage() -> None:
    resp = ANTHROPIC.decode_response(message(stop_reason="stop_sequence", stop_sequence="###",
                                             content=[{"type": "text", "text": "Hi"}],
                                             usage={"input_tokens": 10, "output_tokens": 2}))
    assert resp.stop_sequence == "###"
    assert resp.choices[0].tool_calls == []
    assert resp.usage == Usage(input_tokens=10, output_tokens=2)


def test_thinking_blocks_are_kept_apart_from_the_text() -> None:
    resp = ANTHROPIC.decode_response(message(content=[
        {"type": "thinking", "thinking": "private reasoning", "signature": "sig"},
        {"type": "redacted_thinking", "data": "opaque"},
        {"type": "text", "text": "Answer."}], stop_reason="end_turn"))
    assert resp.choices[0].content == [TextPart("Answer.")]
    assert resp.choices[0].thinking == [ThinkingPart("private reasoning", signature="sig"),
                                        ThinkingPart(redacted="opaque")]


def test_empty_content() -> None:
    resp = ANTHROPIC.decode_response(message(content=[], stop_reason="end_turn"))
    assert resp.choices[0].content == [] and resp.choices[0].tool_calls == []


@pytest.mark.parametrize("patch", [
    {"type": "completion"}, {"content": None}, {"content": ["text"]}, {"id": 5}, {"model": None},
    {"content": [{"type": "server_tool_use", "id": "s", "name": "web_search", "input": {}}]},
    {"content": [{"type": "web_search_tool_result", "tool_use_id": "s", "content": []}]},
    {"content": [{"type": "text"}]},
    {"content": [{"type": "tool_use", "id": "t", "name": "f", "input": [1]}]},
    {"usage": {"input_tokens": "many", "output_tokens": 1}}, {"usage": {"input_tokens": -1, "output_tokens": 1}},
    {"usage": [1]}, {"stop_sequence": 3}, {"stop_reason": 3},
])
def test_malformed_responses(patch: dict[str, Any]) -> None:
    with pytest.raises(UpstreamError):
        ANTHROPIC.decode_response(message(**patch))


def test_error_body_with_200() -> None:
    with pytest.raises(UpstreamUnavailable) as exc:
        ANTHROPIC.decode_response({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    assert exc.value.retryable


def response(**kw: Any) -> ChatResponse:
    base: dict[str, Any] = {"id": "chatcmpl-123", "model": "gpt-4o-2024-08-06",
                            "choices": [Choice(index=0, content=[TextPart("Hello"), TextPart(" there")],
                                               finish_reason="stop")],
                            "usage": Usage(input_tokens=100, output_tokens=7, cached_input_tokens=60,
                                           cache_write_tokens=10)}
    base.update(kw)
    return ChatResponse(**base)


def test_encode_response_shape() -> None:
    assert ANTHROPIC.encode_response(response(), "smart") == {
        "id": "msg_chatcmpl-123", "type": "message", "role": "assistant", "model": "smart",
        "content": [{"type": "text", "text": "Hello there"}],
        "stop_reason": "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": 30, "output_tokens": 7, "cache_read_input_tokens": 60,
                  "cache_creation_input_tokens": 10},
    }


def test_encode_keeps_msg_prefix_and_floors_usage() -> None:
    out = ANTHROPIC.encode_response(response(id="msg_abc", usage=Usage(input_tokens=5, cached_input_tokens=9)), "a")
    assert out["id"] == "msg_abc"
    assert out["usage"]["input_tokens"] == 0


@pytest.mark.parametrize(("finish", "seq", "stop", "wire_seq"), [
    ("stop", None, "end_turn", None), ("stop", "###", "stop_sequence", "###"), ("length", None, "max_tokens", None),
    ("tool_calls", None, "tool_use", None), ("content_filter", None, "refusal", None), ("error", None, None, None),
    ("length", "###", "max_tokens", None),
])
def test_encode_stop_reasons(finish: FinishReason, seq: str | None, stop: str | None, wire_seq: str | None) -> None:
    out = ANTHROPIC.encode_response(response(stop_sequence=seq, choices=[
        Choice(index=0, content=[TextPart("x")], finish_reason=finish)]), "a")
    assert (out["stop_reason"], out["stop_sequence"]) == (stop, wire_seq)


def test_encode_tool_calls_only_choice_zero() -> None:
    out = ANTHROPIC.encode_response(response(choices=[
        Choice(index=0, tool_calls=[ToolCall("call_1", "f", '{"a": [1, 2]}'), ToolCall("call_2", "g", "")],
               finish_reason="tool_calls"),
        Choice(index=1, content=[TextPart("other choice")], finish_reason="stop")], usage=None), "a")
    assert out["content"] == [{"type": "tool_use", "id": "call_1", "name": "f", "input": {"a": [1, 2]}},
                              {"type": "tool_use", "id": "call_2", "name": "g", "input": {}}]
    assert out["usage"] == {"input_tokens": 0, "output_tokens": 0, "cache_read_input_tokens": 0,
                            "cache_creation_input_tokens": 0}


def test_encode_empty_reply_has_a_text_block() -> None:
    out = ANTHROPIC.encode_response(response(choices=[Choice(index=0, finish_reason="stop")]), "a")
    assert out["content"] == [{"type": "text", "text": ""}]


def test_encode_bad_tool_arguments() -> None:
    with pytest.raises(UpstreamError, match="not valid JSON"):
        ANTHROPIC.encode_response(response(choices=[Choice(index=0, tool_calls=[ToolCall("c", "f", "{oops")])]), "a")


def test_encode_then_decode() -> None:
    resp = ANTHROPIC.decode_response(ANTHROPIC.encode_response(ANTHROPIC.decode_response(message()), "alias"))
    assert resp.model == "alias"
    assert resp.choices == ANTHROPIC.decode_response(message()).choices
    assert resp.usage == ANTHROPIC.decode_response(message()).usage
