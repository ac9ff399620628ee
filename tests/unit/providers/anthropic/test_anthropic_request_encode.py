"""Canonical ChatRequest → upstream Anthropic Messages body."""

from __future__ import annotations

from typing import Any

import pytest

from bastion.core.errors import InvalidRequest
from bastion.core.types import ChatRequest, ImagePart, Message, TextPart, ToolCall, ToolChoice, ToolDef
from bastion.providers.anthropic import ANTHROPIC


def user(text: str) -> Message:
    return Message(role="user", content=[TextPart(text)])


def encode(**kw: Any) -> dict[str, Any]:
    kw.setdefault("messages", [user("Hi")])
    return ANTHROPIC.encode_request(ChatRequest(model="alias", **kw), "claude-sonnet-4-5-20250929")


def test_minimal_body() -> None:
    assert encode() == {"model": "claude-sonnet-4-5-20250929", "max_tokens": 4096,
                        "messages": [{"role": "user", "content": "Hi"}]}


def test_scalars() -> None:
    b = encode(max_tokens=100, temperature=0.2, top_p=0.5, top_k=10, stop=["END"], user="u-1", stream=True,
               seed=42, include_usage=True)
    assert b == {"model": "claude-sonnet-4-5-20250929", "max_tokens": 100, "temperature": 0.2, "top_p": 0.5,
                 "top_k": 10, "stop_sequences": ["END"], "metadata": {"user_id": "u-1"}, "stream": True,
                 "messages": [{"role": "user", "content": "Hi"}]}  # seed dropped: Anthropic has none


def test_system_and_developer_messages_are_lifted() -> None:
    b = encode(system=[TextPart("From system field.")], messages=[
        Message(role="system", content=[TextPart("Be brief.")]), user("Hi"),
        Message(role="developer", content=[TextPart("Answer in French.")]), user("Again")])
    assert b["system"] == [{"type": "text", "text": "From system field."}, {"type": "text", "text": "Be brief."},
                           {"type": "text", "text": "Answer in French."}]
    assert b["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Hi"},
                                                          {"type": "text", "text": "Again"}]}]


def test_single_system_part_is_a_string() -> None:
    b = encode(messages=[Message(role="system", content=[TextPart("You are helpful.")]), user("Hi")])
    assert b["system"] == "You are helpful."
    assert "system" not in encode()


def test_system_image_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="system"):
        encode(messages=[Message(role="system", content=[ImagePart(url="https://x/y.png")]), user("Hi")])


def test_openai_tool_conversation() -> None:
    b = encode(messages=[
        user("Weather in Paris and Rome?"),
        Message(role="assistant", tool_calls=[
            ToolCall(id="call_1", name="get_weather", arguments='{"city": "Paris"}'),
            ToolCall(id="call_2", name="get_weather", arguments='{"city": "Rome"}')]),
        Message(role="tool", tool_call_id="call_1", content=[TextPart("18C")]),
        Message(role="tool", tool_call_id="call_2", content=[TextPart("boom")], is_error=True),
        user("Thanks"),
    ])
    assert b["messages"] == [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "call_2", "name": "get_weather", "input": {"city": "Rome"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "call_1", "content": "18C"},
            {"type": "tool_result", "tool_use_id": "call_2", "content": "boom", "is_error": True},
            {"type": "text", "text": "Thanks"}]},
    ]


def test_tool_results_come_first_in_a_merged_user_turn() -> None:
    b = encode(messages=[user("q"), Message(role="assistant", tool_calls=[ToolCall("c", "f", "{}")]),
                         user("note"), Message(role="tool", tool_call_id="c", content=[TextPart("r")])])
    assert [blk["type"] for blk in b["messages"][2]["content"]] == ["tool_result", "text"]


def test_tool_result_with_blocks_and_empty() -> None:
    b = encode(messages=[user("q"), Message(role="assistant", tool_calls=[ToolCall("a", "f", ""), ToolCall("b", "f", "")]),
                         Message(role="tool", tool_call_id="a",
                                 content=[TextPart("see"), ImagePart(url="https://x/chart.png")]),
                         Message(role="tool", tool_call_id="b")])
    assert b["messages"][1]["content"] == [{"type": "tool_use", "id": "a", "name": "f", "input": {}},
                                           {"type": "tool_use", "id": "b", "name": "f", "input": {}}]
    assert b["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "a", "content": [
            {"type": "text", "text": "see"}, {"type": "image", "source": {"type": "url", "url": "https://x/chart.png"}}]},
        {"type": "tool_result", "tool_use_id": "b"}]


def test_assistant_text_and_tool_use_and_merging() -> None:
    b = encode(messages=[user("a"), user("b"), Message(role="assistant", content=[TextPart("Let me look.")],
                                                       tool_calls=[ToolCall("t", "search", '{"q":"x"}')]),
                         Message(role="assistant", content=[TextPart("")])])
    assert b["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "Let me look."},
                                          {"type": "tool_use", "id": "t", "name": "search", "input": {"q": "x"}}]},
    ]


@pytest.mark.parametrize("arguments", ['{"city": ', "[1, 2]", "null"])
def test_bad_tool_arguments_name_the_message(arguments: str) -> None:
    with pytest.raises(InvalidRequest) as exc:
        encode(messages=[user("q"), Message(role="assistant", tool_calls=[ToolCall("c", "get_weather", arguments)])])
    assert "messages[1]" in exc.value.message and "get_weather" in exc.value.message


def test_images() -> None:
    b = encode(messages=[Message(role="user", content=[
        ImagePart(url="https://example.com/cat.png", detail="high"),
        ImagePart(url="data:image/png;base64,iVBORw0KGgo="),
        ImagePart(media_type="image/webp", data="UklGRg=="),
        TextPart("What are these?")])])
    assert b["messages"][0]["content"] == [
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
        {"type": "image", "source": {"type": "base64", "media_type": "image/webp", "data": "UklGRg=="}},
        {"type": "text", "text": "What are these?"}]


@pytest.mark.parametrize("part", [ImagePart(url="data:image/png,rawbytes"), ImagePart(url="data:;base64,AAAA"),
                                  ImagePart(), ImagePart(media_type="image/png")])
def test_bad_images(part: ImagePart) -> None:
    with pytest.raises(InvalidRequest):
        encode(messages=[Message(role="user", content=[part])])


def test_assistant_image_refused() -> None:
    with pytest.raises(InvalidRequest, match="images"):
        encode(messages=[user("q"), Message(role="assistant", content=[ImagePart(url="https://x/y.png")])])


def test_tools_and_choices() -> None:
    tools = [ToolDef(name="get_weather", description="Weather",
                     parameters={"type": "object", "properties": {"city": {"type": "string"}}}),
             ToolDef(name="now")]
    b = encode(tools=tools, tool_choice=ToolChoice(mode="auto"))
    assert b["tools"] == [{"name": "get_weather", "description": "Weather",
                           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}},
                          {"name": "now", "input_schema": {"type": "object", "properties": {}}}]
    assert b["tool_choice"] == {"type": "auto"}


@pytest.mark.parametrize(("choice", "wire"), [
    (ToolChoice(mode="auto"), {"type": "auto"}),
    (ToolChoice(mode="required"), {"type": "any"}),
    (ToolChoice(mode="none"), {"type": "none"}),
    (ToolChoice(mode="tool", name="f"), {"type": "tool", "name": "f"}),
    (ToolChoice(mode="auto", disable_parallel=True), {"type": "auto", "disable_parallel_tool_use": True}),
    (ToolChoice(mode="required", disable_parallel=True), {"type": "any", "disable_parallel_tool_use": True}),
    (ToolChoice(mode="tool", name="f", disable_parallel=True),
     {"type": "tool", "name": "f", "disable_parallel_tool_use": True}),
])
def test_tool_choice_mapping(choice: ToolChoice, wire: dict[str, Any]) -> None:
    assert encode(tool_choice=choice)["tool_choice"] == wire


def test_unsupported_parameters_are_refused_not_ignored() -> None:
    with pytest.raises(InvalidRequest, match="n > 1 is not supported by anthropic providers"):
        encode(n=2)
    with pytest.raises(InvalidRequest, match="json_object is not supported by anthropic providers") as exc:
        encode(response_format={"type": "json_object"})
    assert exc.value.param == "response_format.type"
    with pytest.raises(InvalidRequest) as exc:
        encode(temperature=1.5)
    assert exc.value.param == "temperature"
    assert encode(n=1, response_format={"type": "text"})["messages"]


def test_thinking_only_for_anthropic_ingress() -> None:
    thinking = {"type": "enabled", "budget_tokens": 2048}
    assert encode(extra={"thinking": thinking}, ingress="anthropic")["thinking"] == thinking
    assert "thinking" not in encode(extra={"thinking": thinking}, ingress="openai")
    b = encode(extra={"logit_bias": {"50256": -100}}, ingress="openai")
    assert "logit_bias" not in b


def test_anthropic_body_survives_decode_then_encode() -> None:
    """The same-format pair stays a near pass-through."""
    wire = {
        "model": "claude-sonnet-4-5-20250929", "max_tokens": 512, "system": "Be terse.",
        "messages": [
            {"role": "user", "content": "What's the weather in SF?"},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"location": "SF"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "15C", "is_error": True},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"}},
                {"type": "text", "text": "And now?"}]},
        ],
        "tools": [{"name": "get_weather", "description": "d", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
        "temperature": 0.3, "top_k": 5, "stop_sequences": ["###"], "metadata": {"user_id": "u"}, "stream": True,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
    }
    assert ANTHROPIC.encode_request(ANTHROPIC.decode_request(wire), "claude-sonnet-4-5-20250929") == wire
