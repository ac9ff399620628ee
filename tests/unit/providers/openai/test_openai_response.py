"""OpenAI chat.completion objects ⇄ canonical ChatResponse."""

from __future__ import annotations

from typing import Any

import pytest

from bastion.core.errors import UpstreamError
from bastion.core.types import ChatResponse, Choice, TextPart, ToolCall, Usage
from bastion.providers.openai import OPENAI

REFERENCE = {
    "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
    "object": "chat.completion",
    "created": 1741570283,
    "model": "gpt-4o-2024-08-06",
    "choices": [{
        "index": 0,
        "message": {"role": "assistant", "content": "The image shows a wooden boardwalk.", "refusal": None,
                    "annotations": []},
        "logprobs": None,
        "finish_reason": "stop",
    }],
    "usage": {
        "prompt_tokens": 1117, "completion_tokens": 46, "total_tokens": 1163,
        "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 12, "audio_tokens": 0,
                                      "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
    },
    "service_tier": "default",
    "system_fingerprint": "fp_fc9f1d7035",
}

TOOL_CALLS = {
    "id": "chatcmpl-abc123", "object": "chat.completion", "created": 1699896916, "model": "gpt-4o-mini",
    "choices": [{
        "index": 0,
        "message": {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_abc123", "type": "function",
             "function": {"name": "get_current_weather", "arguments": "{\n\"location\": \"Boston, MA\"\n}"}},
            {"id": "call_def456", "type": "function",
             "function": {"name": "get_current_weather", "arguments": "{\"location\": \"Paris\"}"}},
        ]},
        "logprobs": None,
        "finish_reason": "tool_calls",
    }],
    "usage": {"prompt_tokens": 82, "completion_tokens": 17, "total_tokens": 99},
}


def test_decode_reference_response_with_usage_details() -> None:
    resp = OPENAI.decode_response(REFERENCE)
    assert (resp.id, resp.model, resp.created) == ("chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG", "gpt-4o-2024-08-06",
                                                   1741570283)
    (choice,) = resp.choices
    assert choice.text() == "The image shows a wooden boardwalk."
    assert choice.finish_reason == "stop" and choice.refusal is None and choice.tool_calls == []
    assert resp.usage == Usage(input_tokens=1117, output_tokens=46, cached_input_tokens=1024, reasoning_tokens=12)


def test_decode_parallel_tool_calls() -> None:
    resp = OPENAI.decode_response(TOOL_CALLS)
    choice = resp.choices[0]
    assert choice.content == [] and choice.finish_reason == "tool_calls"
    assert choice.tool_calls == [
        ToolCall("call_abc123", "get_current_weather", "{\n\"location\": \"Boston, MA\"\n}"),
        ToolCall("call_def456", "get_current_weather", "{\"location\": \"Paris\"}"),
    ]
    assert resp.usage == Usage(82, 17)


@pytest.mark.parametrize(("wire", "canonical"), [
    ("stop", "stop"), ("length", "length"), ("tool_calls", "tool_calls"), ("content_filter", "content_filter"),
    ("function_call", "tool_calls"), ("abort", "error"), ("eos_token", "stop"), (None, None),
])
def test_finish_reason_mapping(wire: str | None, canonical: str | None) -> None:
    body = {**REFERENCE, "choices": [{**REFERENCE["choices"][0], "finish_reason": wire}]}  # type: ignore[dict-item]
    assert OPENAI.decode_response(body).choices[0].finish_reason == canonical


def test_refusal_and_several_choices() -> None:
    resp = OPENAI.decode_response({"id": "x", "model": "m", "created": 1, "choices": [
        {"index": 0, "message": {"role": "assistant", "content": None, "refusal": "I can't."},
         "finish_reason": "stop"},
        {"index": 1, "message": {"role": "assistant", "content": "Sure"}, "finish_reason": "length"}]})
    assert resp.choices[0].refusal == "I can't." and resp.choices[0].content == []
    assert resp.choices[1].index == 1 and resp.choices[1].text() == "Sure"
    assert resp.usage is None


def test_lenient_about_compatible_servers() -> None:
    resp = OPENAI.decode_response({"choices": [{"message": {
        "role": "assistant", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
        "tool_calls": [{"function": {"name": "f", "arguments": {"x": 1}}}]}, "finish_reason": "tool_calls"}]})
    choice = resp.choices[0]
    assert choice.text() == "ab"
    assert choice.tool_calls[0].arguments == '{"x":1}'
    assert choice.tool_calls[0].id.startswith("call_")
    assert (resp.id, resp.model, resp.created) == ("", "", 0)


@pytest.mark.parametrize(("body", "fragment"), [
    ([], "expected a JSON object"),
    ({"id": "x"}, "'choices' is not an array"),
    ({"choices": ["x"]}, "choices[0] is not an object"),
    ({"choices": [{"index": "0", "message": {}}]}, "choices[0].index"),
    ({"choices": [{"message": "hi"}]}, "choices[0].message is not an object"),
    ({"choices": [{"message": {"content": 5}}]}, "message.content is not a string"),
    ({"choices": [{"message": {"content": [{"type": "image_url"}]}}]}, "not text"),
    ({"choices": [{"message": {"refusal": 1}}]}, "refusal"),
    ({"choices": [{"message": {"tool_calls": {}}}]}, "tool_calls is not an array"),
    ({"choices": [{"message": {"tool_calls": [{"id": "c"}]}}]}, "not a function tool call"),
    ({"choices": [{"message": {"tool_calls": [{"function": {"arguments": "{}"}}]}}]}, "function.name"),
    ({"choices": [{"message": {}, "finish_reason": 1}]}, "finish_reason"),
    ({"choices": [], "usage": "lots"}, "usage is not an object"),
    ({"choices": [], "usage": {"prompt_tokens": -1}}, "usage.prompt_tokens"),
    ({"choices": [], "created": "today"}, "'created'"),
    ({"choices": [], "model": 4}, "'id' and 'model'"),
])
def test_malformed_upstream_json_is_a_non_retryable_upstream_error(body: Any, fragment: str) -> None:
    with pytest.raises(UpstreamError) as info:
        OPENAI.decode_response(body)
    assert info.value.retryable is False and info.value.status == 502
    assert "malformed chat completion" in info.value.message and fragment in info.value.message


_COUNTS = (("prompt_tokens", None), ("completion_tokens", None), ("cached_tokens", "prompt_tokens_details"),
           ("reasoning_tokens", "completion_tokens_details"))


def _usage_with(key: str, parent: str | None, value: Any) -> dict[str, Any]:
    usage: dict[str, Any] = {"prompt_tokens": 3, "completion_tokens": 2, "prompt_tokens_details": {"cached_tokens": 1},
                             "completion_tokens_details": {"reasoning_tokens": 1}}
    (usage[parent] if parent else usage)[key] = value
    return usage


@pytest.mark.parametrize(("key", "parent"), _COUNTS)
@pytest.mark.parametrize(("value", "taken"), [(0, 0), (10**9, 10**9), (None, 0)])
def test_usage_counts_from_none_to_the_plausible_maximum_are_taken(key: str, parent: str | None, value: Any,
                                                                    taken: int) -> None:
    usage = OPENAI.decode_response({"choices": [], "usage": _usage_with(key, parent, value)}).usage
    assert usage is not None
    got = {"prompt_tokens": usage.input_tokens, "completion_tokens": usage.output_tokens,
           "cached_tokens": usage.cached_input_tokens, "reasoning_tokens": usage.reasoning_tokens}
    assert got[key] == taken


@pytest.mark.parametrize(("key", "parent"), _COUNTS)
@pytest.mark.parametrize(("value", "fragment"), [(-1, "non-negative integer"), (True, "non-negative integer"),
                                                 (1.0, "non-negative integer"), ("7", "non-negative integer"),
                                                 (10**9 + 1, "plausible token count")])
def test_usage_counts_that_are_not_plausible_integers_are_refused(key: str, parent: str | None, value: Any,
                                                                  fragment: str) -> None:
    with pytest.raises(UpstreamError) as info:
        OPENAI.decode_response({"choices": [], "usage": _usage_with(key, parent, value)})
    assert f"usage.{key} is not a" in info.value.message and fragment in info.value.message


def test_the_first_wrong_usage_count_is_the_one_named() -> None:
    usage = _usage_with("completion_tokens", None, -1)
    usage["prompt_tokens"] = 10**9 + 1
    with pytest.raises(UpstreamError) as info:
        OPENAI.decode_response({"choices": [], "usage": usage})
    assert "usage.prompt_tokens is not a plausible" in info.value.message


def test_error_object_in_a_200_body_is_an_upstream_error_without_secrets() -> None:
    with pytest.raises(UpstreamError) as info:
        OPENAI.decode_response({"error": {"message": "bad key sk-proj-abcdefghijklmnop1234", "type": "server_error"}})
    assert "sk-proj" not in info.value.message and "bad key" in info.value.message
    assert info.value.retryable is True


def test_encode_text_response() -> None:
    resp = ChatResponse(id="chatcmpl-1", model="gpt-4o-2024-08-06", created=1700000000,
                        choices=[Choice(0, [TextPart("Hello")], finish_reason="stop")],
                        usage=Usage(10, 5, cached_input_tokens=4, cache_write_tokens=2, reasoning_tokens=1))
    assert OPENAI.encode_response(resp, "my-alias") == {
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1700000000, "model": "my-alias",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello", "refusal": None},
                     "finish_reason": "stop", "logprobs": None}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15,
                  "prompt_tokens_details": {"cached_tokens": 4},
                  "completion_tokens_details": {"reasoning_tokens": 1}},
    }


def test_encode_tool_call_only_response_has_null_content_and_fresh_id() -> None:
    resp = ChatResponse(id="", model="claude", choices=[Choice(0, tool_calls=[ToolCall("toolu_1", "f", "{}")],
                                                               finish_reason="tool_calls")])
    out = OPENAI.encode_response(resp, "smart")
    msg = out["choices"][0]["message"]  # type: ignore[index,call-overload]
    assert msg == {"role": "assistant", "content": None, "refusal": None, "tool_calls": [
        {"id": "toolu_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}
    assert str(out["id"]).startswith("chatcmpl-") and isinstance(out["created"], int) and out["created"] > 0
    assert "usage" not in out


@pytest.mark.parametrize(("canonical", "wire"), [("error", "stop"), (None, "stop"), ("length", "length"),
                                                 ("content_filter", "content_filter")])
def test_encode_finish_reason(canonical: Any, wire: str) -> None:
    resp = ChatResponse(id="x", model="m", choices=[Choice(0, [TextPart("a")], finish_reason=canonical)])
    assert OPENAI.encode_response(resp, "m")["choices"][0]["finish_reason"] == wire  # type: ignore[index,call-overload]


@pytest.mark.parametrize("body", [REFERENCE, TOOL_CALLS])
def test_decode_encode_round_trip(body: dict[str, Any]) -> None:
    first = OPENAI.decode_response(body)
    again = OPENAI.decode_response(OPENAI.encode_response(first, first.model))
    assert again == first
