"""Canonical ChatRequest → upstream OpenAI / OpenAI-compatible bodies, and decode∘encode round trips."""

from __future__ import annotations

from typing import Any

import pytest

from bastion.core.errors import InvalidRequest
from bastion.core.types import (
    CacheHint,
    ChatRequest,
    ImagePart,
    Message,
    TextPart,
    ToolCall,
    ToolChoice,
    ToolDef,
)
from bastion.providers.openai import OPENAI, OPENAI_COMPATIBLE

WEATHER = ToolDef("get_weather", "Weather for a city", {"type": "object", "properties": {"city": {"type": "string"}}})


def anthropic_request(**kw: Any) -> ChatRequest:
    """What the Anthropic ingress hands the router: system lifted out, top_k, base64 images, tool results."""
    req = ChatRequest(
        model="smart",
        ingress="anthropic",
        system=[TextPart("You are terse."), TextPart("Answer in French.")],
        messages=[
            Message("user", [TextPart("What is in this picture?"),
                             ImagePart(media_type="image/png", data="iVBORw0KGgo=")]),
            Message("assistant", [TextPart("Let me check.")],
                    tool_calls=[ToolCall("toolu_1", "get_weather", '{"city":"Paris"}')]),
            Message("tool", [TextPart("18C")], tool_call_id="toolu_1", is_error=False),
            Message("user", [TextPart("Thanks")]),
        ],
        tools=[WEATHER],
        tool_choice=ToolChoice(mode="tool", name="get_weather", disable_parallel=True),
        max_tokens=1024,
        temperature=0.5,
        top_k=40,
        stop=["\n\nHuman:"],
        extra={"metadata": {"user_id": "u-1"}},
    )
    for key, value in kw.items():
        setattr(req, key, value)
    return req


def test_anthropic_ingress_to_openai() -> None:
    assert OPENAI.encode_request(anthropic_request(), "gpt-4o") == {
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "You are terse.\n\nAnswer in French."},
            {"role": "user", "content": [
                {"type": "text", "text": "What is in this picture?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
            ]},
            {"role": "assistant", "content": "Let me check.", "tool_calls": [
                {"id": "toolu_1", "type": "function",
                 "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}},
            ]},
            {"role": "tool", "tool_call_id": "toolu_1", "content": "18C"},
            {"role": "user", "content": "Thanks"},
        ],
        "tools": [{"type": "function", "function": {
            "name": "get_weather", "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "parallel_tool_calls": False,
        "max_completion_tokens": 1024,
        "temperature": 0.5,
        "stop": ["\n\nHuman:"],
    }


def test_anthropic_ingress_to_openai_compatible_keeps_top_k_and_legacy_max_tokens() -> None:
    body = OPENAI_COMPATIBLE.encode_request(anthropic_request(), "llama3.1")
    assert body["top_k"] == 40
    assert body["max_tokens"] == 1024 and "max_completion_tokens" not in body
    assert "metadata" not in body  # extras of another ingress never cross formats


def test_openai_drops_top_k_and_other_ingress_extras() -> None:
    body = OPENAI.encode_request(anthropic_request(), "gpt-4o")
    assert "top_k" not in body and "metadata" not in body


def test_url_image_and_detail() -> None:
    req = ChatRequest(model="m", messages=[Message("user", [ImagePart(url="https://x/y.png", detail="low")])])
    assert OPENAI.encode_request(req, "m")["messages"] == [
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "low"}}]}]


def test_multi_part_text_is_an_array_for_openai_and_one_string_for_compatible_servers() -> None:
    req = ChatRequest(model="m", messages=[Message("user", [TextPart("Summarise:"), TextPart("the doc")])])
    assert OPENAI.encode_request(req, "m")["messages"][0]["content"] == [
        {"type": "text", "text": "Summarise:"}, {"type": "text", "text": "the doc"}]
    assert OPENAI_COMPATIBLE.encode_request(req, "m")["messages"][0]["content"] == "Summarise:\nthe doc"


def test_developer_role_is_kept_for_openai_and_sent_as_system_to_compatible_servers() -> None:
    req = ChatRequest(model="m", messages=[Message("developer", [TextPart("Be brief.")]),
                                           Message("user", [TextPart("hi")])])
    assert OPENAI.encode_request(req, "m")["messages"][0] == {"role": "developer", "content": "Be brief."}
    assert OPENAI_COMPATIBLE.encode_request(req, "m")["messages"][0] == {"role": "system", "content": "Be brief."}


@pytest.mark.parametrize("fmt", [OPENAI, OPENAI_COMPATIBLE])
def test_one_text_turns_are_role_and_string_content_and_anything_more_keeps_its_fields(fmt: Any) -> None:
    req = ChatRequest(model="m", messages=[
        Message("system", [TextPart("Be brief.")]), Message("user", [TextPart("hi", cache=CacheHint())]),
        Message("assistant", [TextPart("Hello.")]), Message("user", [TextPart("again")], name="ann"),
        Message("assistant", [TextPart("Checking.")], tool_calls=[ToolCall("c1", "f", "{}")]),
        Message("tool", [TextPart("18C")], tool_call_id="c1")])
    assert fmt.encode_request(req, "m")["messages"] == [
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "Hello."}, {"role": "user", "name": "ann", "content": "again"},
        {"role": "assistant", "content": "Checking.",
         "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "18C"}]


def test_assistant_with_only_tool_calls_sends_null_content() -> None:
    req = ChatRequest(model="m", messages=[Message("assistant", tool_calls=[ToolCall("c1", "f", "{}")])])
    msg = OPENAI.encode_request(req, "m")["messages"][0]
    assert msg["content"] is None and msg["tool_calls"][0]["id"] == "c1"


def test_images_outside_user_messages_are_refused_not_dropped() -> None:
    req = anthropic_request()
    req.messages[2].content.append(ImagePart(media_type="image/png", data="AAAA"))
    with pytest.raises(InvalidRequest) as info:
        OPENAI.encode_request(req, "gpt-4o")
    assert info.value.param == "messages[2].content"


@pytest.mark.parametrize("fmt", [OPENAI, OPENAI_COMPATIBLE])
def test_streams_always_ask_for_usage(fmt: Any) -> None:
    req = ChatRequest(model="m", messages=[Message("user", [TextPart("hi")])], stream=True, include_usage=False)
    body = fmt.encode_request(req, "up")
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


def test_non_stream_sends_no_stream_fields() -> None:
    body = OPENAI.encode_request(ChatRequest(model="m", messages=[Message("user", [TextPart("hi")])]), "up")
    assert body == {"model": "up", "messages": [{"role": "user", "content": "hi"}]}


def test_tool_choice_and_parallel_flag_need_tools() -> None:
    req = ChatRequest(model="m", messages=[Message("user", [TextPart("hi")])],
                      tool_choice=ToolChoice(mode="none", disable_parallel=True))
    body = OPENAI.encode_request(req, "up")
    assert "tool_choice" not in body and "parallel_tool_calls" not in body


def test_only_vetted_extras_are_merged_and_never_override_core_fields() -> None:
    req = ChatRequest(model="m", messages=[Message("user", [TextPart("hi")])],
                      extra={"logit_bias": {"1": 2}, "model": "other", "prompt": "unscanned text", "store": True})
    body = OPENAI.encode_request(req, "up")
    assert body["model"] == "up"
    assert body["logit_bias"] == {"1": 2} and body["store"] is True
    assert "prompt" not in body


ROUND_TRIP_BODIES: list[dict[str, Any]] = [
    {"model": "m", "messages": [{"role": "developer", "content": "Be brief."}, {"role": "user", "content": "hi"}]},
    {"model": "m", "messages": [
        {"role": "system", "content": "s", "name": "sys"},
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"},
                                     {"type": "image_url", "image_url": {"url": "data:image/webp;base64,UklG"}}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{\"x\": 1}"}},
            {"id": "c2", "type": "function", "function": {"name": "g", "arguments": ""}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "one"},
        {"role": "tool", "tool_call_id": "c2", "content": "two"},
    ], "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}},
                 {"type": "function", "function": {"name": "g", "description": "G"}}],
     "tool_choice": "required", "parallel_tool_calls": False},
    {"model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": 0.2, "top_p": 0.9, "seed": 7,
     "user": "u", "n": 3, "stop": ["x", "y"], "max_completion_tokens": 9,
     "response_format": {"type": "json_object"}, "stream": True, "stream_options": {"include_usage": True},
     "logprobs": True, "top_logprobs": 2, "frequency_penalty": 0.1, "reasoning_effort": "minimal"},
    {"model": "m", "messages": [{"role": "user", "content": "x"}], "prompt_cache_key": "k", "safety_identifier": "s",
     "prompt_cache_retention": "in_memory", "prompt_cache_options": {"mode": "implicit", "ttl": "30m"},
     "response_format": {"type": "json_schema", "json_schema": {"name": "n", "schema": {"type": "object"},
                                                                "strict": True}}},
]


@pytest.mark.parametrize("body", ROUND_TRIP_BODIES)
def test_decode_encode_decode_preserves_the_request(body: dict[str, Any]) -> None:
    first = OPENAI.decode_request(body)
    again = OPENAI.decode_request(OPENAI.encode_request(first, "m"))
    assert again == first


UPSTREAM_KEYS = {
    "model", "messages", "tools", "tool_choice", "parallel_tool_calls", "response_format", "stop",
    "max_tokens", "max_completion_tokens", "temperature", "top_p", "top_k", "seed", "user", "n", "stream",
    "stream_options", "frequency_penalty", "presence_penalty", "logit_bias", "logprobs", "top_logprobs",
    "reasoning_effort", "service_tier", "store", "metadata", "modalities", "verbosity", "prompt_cache_key",
    "safety_identifier", "prompt_cache_retention", "prompt_cache_options",
}
MESSAGE_KEYS = {"role", "content", "name", "tool_calls", "tool_call_id"}


@pytest.mark.parametrize("fmt", [OPENAI, OPENAI_COMPATIBLE])
@pytest.mark.parametrize("body", ROUND_TRIP_BODIES)
def test_upstream_bodies_carry_only_known_fields(fmt: Any, body: dict[str, Any]) -> None:
    sent = fmt.encode_request(OPENAI.decode_request(body), "m")
    assert set(sent) <= UPSTREAM_KEYS
    for message in sent["messages"]:
        assert set(message) <= MESSAGE_KEYS


def test_a_strict_tool_reaches_the_openai_upstream_and_not_an_anthropic_one() -> None:
    """`strict: true` makes OpenAI enforce the tool's schema: an app that sets it must not lose it in the gateway."""
    from bastion.providers.anthropic import ANTHROPIC

    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}],
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}, "strict": True}},
                      {"type": "function", "function": {"name": "g", "strict": False}},
                      {"type": "function", "function": {"name": "h"}}]}
    req = OPENAI.decode_request(body)
    sent = [t["function"] for t in OPENAI.encode_request(req, "up")["tools"]]
    assert [fn.get("strict") for fn in sent] == [True, False, None]
    assert all("strict" not in t for t in ANTHROPIC.encode_request(req, "claude")["tools"])  # no such field there
    bad = {**body, "tools": [{"type": "function", "function": {"name": "f", "strict": "yes"}}]}
    with pytest.raises(InvalidRequest) as info:
        OPENAI.decode_request(bad)
    assert info.value.param == "tools[0].function.strict"
