"""OpenAI chat-completions request bodies → canonical ChatRequest, and every way one is refused."""

from __future__ import annotations

from typing import Any

import pytest

from bastion.core.errors import InvalidRequest
from bastion.core.types import ImagePart, TextPart, ToolCall, ToolChoice
from bastion.providers.openai import OPENAI

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_current_weather",
        "description": "Get the current weather in a given location",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["location"],
        },
    },
}


def body(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hello!"}]}
    base.update(kw)
    return base


def refused(b: dict[str, Any]) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as info:
        OPENAI.decode_request(b)
    assert info.value.status == 400
    return info.value


def test_reference_default_example_keeps_system_and_developer_messages_in_order() -> None:
    req = OPENAI.decode_request({
        "model": "gpt-4o",
        "messages": [
            {"role": "developer", "content": "You are a helpful assistant."},
            {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
            {"role": "user", "content": "Hello!"},
        ],
    })
    assert [m.role for m in req.messages] == ["developer", "system", "user"]
    assert req.messages[0].text() == "You are a helpful assistant."
    assert req.messages[1].content == [TextPart("Be brief.")]
    assert req.system == []
    assert req.ingress == "openai"
    assert req.stream is False and req.include_usage is False
    assert req.extra == {}


def test_reference_vision_example_image_by_url_and_by_data_url() -> None:
    req = OPENAI.decode_request(body(messages=[{
        "role": "user",
        "content": [
            {"type": "text", "text": "What's in this image?"},
            {"type": "image_url", "image_url": {"url": "https://upload.wikimedia.org/boardwalk.jpg"}},
            {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQSkZJRg==", "detail": "high"}},
        ],
    }]))
    parts = req.messages[0].content
    assert parts[0] == TextPart("What's in this image?")
    assert parts[1] == ImagePart(url="https://upload.wikimedia.org/boardwalk.jpg")
    assert parts[2] == ImagePart(media_type="image/jpeg", data="/9j/4AAQSkZJRg==", detail="high")


def test_reference_function_calling_example() -> None:
    req = OPENAI.decode_request(body(tools=[WEATHER_TOOL], tool_choice="auto"))
    (tool,) = req.tools
    assert tool.name == "get_current_weather"
    assert tool.description == "Get the current weather in a given location"
    assert tool.parameters["required"] == ["location"]
    assert req.tool_choice == ToolChoice(mode="auto")


def test_tool_conversation_with_parallel_calls_and_results() -> None:
    req = OPENAI.decode_request(body(tools=[WEATHER_TOOL], messages=[
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "get_current_weather", "arguments": '{"location": "Paris"}'}},
            {"id": "call_2", "type": "function",
             "function": {"name": "get_current_weather", "arguments": '{"location": "Rome"}'}},
        ]},
        {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
        {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "21C"}]},
    ]))
    assistant = req.messages[1]
    assert assistant.content == []
    assert assistant.tool_calls == [ToolCall("call_1", "get_current_weather", '{"location": "Paris"}'),
                                    ToolCall("call_2", "get_current_weather", '{"location": "Rome"}')]
    assert (req.messages[2].tool_call_id, req.messages[2].text()) == ("call_1", "18C")
    assert (req.messages[3].tool_call_id, req.messages[3].text()) == ("call_2", "21C")


def test_echoed_sdk_assistant_message_is_accepted_and_its_output_only_fields_dropped() -> None:
    echoed = {"role": "assistant", "content": "Hi", "refusal": None, "annotations": [], "audio": None,
              "function_call": None, "tool_calls": None}
    req = OPENAI.decode_request(body(messages=[{"role": "user", "content": "x"}, echoed]))
    assert req.messages[1].content == [TextPart("Hi")]
    assert req.messages[1].tool_calls == []
    # what the SDK's stream helper message looks like when appended to the next request
    helper = {**echoed, "parsed": None, "tool_calls": [
        {"id": "c1", "type": "function", "index": 0,
         "function": {"name": "f", "arguments": "{}", "parsed_arguments": None}}]}
    req = OPENAI.decode_request(body(messages=[{"role": "user", "content": "x"}, helper]))
    assert req.messages[1].tool_calls == [ToolCall("c1", "f", "{}")]
    sent = OPENAI.encode_request(req, "m")["messages"][1]  # type: ignore[index]
    assert "parsed" not in sent and "index" not in sent["tool_calls"][0]  # type: ignore[index,operator]


def test_assistant_refusal_part_and_refusal_field_become_text() -> None:
    req = OPENAI.decode_request(body(messages=[
        {"role": "user", "content": "x"},
        {"role": "assistant", "content": [{"type": "refusal", "refusal": "I can't help with that."}]},
        {"role": "assistant", "content": None, "refusal": "No."},
    ]))
    assert req.messages[1].text() == "I can't help with that."
    assert req.messages[2].text() == "No."


def test_message_name_is_kept() -> None:
    req = OPENAI.decode_request(body(messages=[{"role": "user", "name": "alice", "content": "hi"}]))
    assert req.messages[0].name == "alice"


@pytest.mark.parametrize(("tool_choice", "parallel", "expected"), [
    ("none", None, ToolChoice(mode="none")),
    ("required", None, ToolChoice(mode="required")),
    ({"type": "function", "function": {"name": "get_current_weather"}}, None,
     ToolChoice(mode="tool", name="get_current_weather")),
    (None, False, ToolChoice(mode="auto", disable_parallel=True)),
    ("required", False, ToolChoice(mode="required", disable_parallel=True)),
    (None, True, None),
])
def test_tool_choice_and_parallel_tool_calls(tool_choice: Any, parallel: Any, expected: ToolChoice | None) -> None:
    req = OPENAI.decode_request(body(tools=[WEATHER_TOOL], tool_choice=tool_choice, parallel_tool_calls=parallel))
    assert req.tool_choice == expected


def test_sampling_and_output_parameters() -> None:
    req = OPENAI.decode_request(body(
        temperature=0.7, top_p=1, seed=42, user="user-1234", n=2, stop="END", max_completion_tokens=256,
        response_format={"type": "json_schema", "json_schema": {
            "name": "answer", "strict": True, "schema": {"type": "object", "properties": {}}}},
        stream=True, stream_options={"include_usage": True}))
    assert (req.temperature, req.top_p, req.seed, req.user, req.n) == (0.7, 1.0, 42, "user-1234", 2)
    assert req.stop == ["END"]
    assert req.max_tokens == 256
    assert req.response_format is not None and req.response_format["type"] == "json_schema"
    assert req.stream is True and req.include_usage is True


@pytest.mark.parametrize("kw", [{"max_tokens": 100}, {"max_completion_tokens": 100},
                                {"max_tokens": 100, "max_completion_tokens": 100}])
def test_either_max_tokens_field_sets_max_tokens(kw: dict[str, int]) -> None:
    assert OPENAI.decode_request(body(**kw)).max_tokens == 100


def test_stop_list_and_nulls_read_as_absent() -> None:
    req = OPENAI.decode_request(body(stop=["a", "b"], temperature=None, tools=None, tool_choice=None, n=None,
                                     stream=None, user=None, logit_bias=None))
    assert req.stop == ["a", "b"]
    assert req.temperature is None and req.tools == [] and req.tool_choice is None and req.extra == {}


def test_vetted_non_text_parameters_go_to_extra() -> None:
    extras = {
        "frequency_penalty": 0.5, "presence_penalty": -1, "logit_bias": {"50256": -100}, "logprobs": True,
        "top_logprobs": 3, "reasoning_effort": "low", "service_tier": "flex", "store": False,
        "metadata": {"team": "billing"}, "modalities": ["text"], "verbosity": "high",
    }
    req = OPENAI.decode_request(body(**extras))
    assert req.extra == {**extras, "presence_penalty": -1.0}


# ---- refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["top_k", "foo", "prompt", "mirostat"])
def test_unknown_top_level_field_is_refused_by_name(field: str) -> None:
    err = refused(body(**{field: 1}))
    assert err.param == field
    assert "Unsupported parameter" in err.message and field in err.message


@pytest.mark.parametrize(("field", "value", "reason"), [
    ("functions", [{"name": "f"}], "use 'tools'"),
    ("function_call", "auto", "use 'tool_choice'"),
    ("audio", {"voice": "alloy", "format": "wav"}, "text only"),
    ("prediction", {"type": "content", "content": "text the model would read"}, "not supported"),
])
def test_known_but_unsupported_parameters_say_why(field: str, value: Any, reason: str) -> None:
    err = refused(body(**{field: value}))
    assert err.param == field and reason in err.message


@pytest.mark.parametrize(("kw", "param", "fragment"), [
    ({"model": None}, "model", "expected a string"),
    ({"model": ""}, "model", "non-empty"),
    ({"messages": []}, "messages", "non-empty array"),
    ({"messages": "hi"}, "messages", "expected an array"),
    ({"temperature": 3}, "temperature", "between 0 and 2"),
    ({"temperature": "1"}, "temperature", "expected a number, got a string"),
    ({"temperature": True}, "temperature", "got a boolean"),
    ({"top_p": 1.5}, "top_p", "between 0 and 1"),
    ({"n": 0}, "n", "between 1 and 128"),
    ({"n": 1.0}, "n", "expected an integer"),
    ({"max_tokens": 0}, "max_tokens", ">= 1"),
    ({"max_completion_tokens": 2.5}, "max_completion_tokens", "expected an integer"),
    ({"max_tokens": 10, "max_completion_tokens": 20}, "max_completion_tokens", "conflicts"),
    ({"seed": "1"}, "seed", "expected an integer"),
    ({"user": 5}, "user", "expected a string"),
    ({"stream": "yes"}, "stream", "expected a boolean"),
    ({"stream_options": {"include_usage": True}}, "stream_options", "only allowed when 'stream' is true"),
    ({"stream": True, "stream_options": {"include_usage": "y"}}, "stream_options.include_usage", "boolean"),
    ({"stream": True, "stream_options": {"other": 1}}, "stream_options.other", "unsupported field"),
    ({"stop": ["a", "b", "c", "d", "e"]}, "stop", "at most 4"),
    ({"stop": ["a", 5]}, "stop[1]", "expected a string"),
    ({"stop": 5}, "stop", "expected an array"),
    ({"response_format": {"type": "xml"}}, "response_format.type", "expected one of"),
    ({"response_format": {"type": "json_object", "schema": {}}}, "response_format.schema", "unsupported"),
    ({"response_format": {"type": "json_schema", "json_schema": {"schema": {}}}},
     "response_format.json_schema.name", "expected a string"),
    ({"response_format": {"type": "json_schema", "json_schema": {"name": "a", "hint": "x"}}},
     "response_format.json_schema.hint", "unsupported field"),
    ({"frequency_penalty": 2.5}, "frequency_penalty", "between -2 and 2"),
    ({"logit_bias": {"hello": 1}}, "logit_bias.hello", "token ids"),
    ({"logit_bias": {"1": 101}}, "logit_bias.1", "between -100 and 100"),
    ({"top_logprobs": 21}, "top_logprobs", "between 0 and 20"),
    ({"reasoning_effort": "think hard about it"}, "reasoning_effort", "short identifier"),
    ({"modalities": ["text", "audio"]}, "modalities", 'only ["text"]'),
    ({"metadata": {"k": 1}}, "metadata.k", "expected a string"),
    ({"store": 1}, "store", "expected a boolean"),
    ({"parallel_tool_calls": "no"}, "parallel_tool_calls", "expected a boolean"),
    ({"tool_choice": "any"}, "tool_choice", "expected one of"),
    ({"tool_choice": 1}, "tool_choice", "expected a string or an object"),
    ({"tools": [WEATHER_TOOL], "tool_choice": {"type": "function", "function": {"name": "nope"}}},
     "tool_choice.function.name", "no tool named"),
    ({"tools": [WEATHER_TOOL], "tool_choice": {"type": "allowed_tools", "allowed_tools": {}}},
     "tool_choice.type", "only 'function' is supported"),
    ({"tools": [{"type": "custom", "custom": {"name": "x"}}]}, "tools[0].type", "only tools of type 'function'"),
    ({"tools": [{"type": "function", "function": {"name": "f"}, "custom": {}}]}, "tools[0].custom",
     "unsupported field"),
    ({"tools": [{"type": "web_search"}]}, "tools[0].type", "only tools of type 'function'"),
    ({"tools": [{"type": "function", "function": {"name": "has space"}}]}, "tools[0].function.name", "1-64"),
    ({"tools": [{"type": "function", "function": {"name": "f", "parameters": []}}]},
     "tools[0].function.parameters", "expected an object"),
    ({"tools": [{"type": "function", "function": {"name": "f", "examples": ["text"]}}]},
     "tools[0].function.examples", "unsupported field"),
    ({"tools": [WEATHER_TOOL, WEATHER_TOOL]}, "tools[1].function.name", "duplicate"),
])
def test_invalid_values_name_their_field(kw: dict[str, Any], param: str, fragment: str) -> None:
    err = refused(body(**kw))
    assert err.param == param
    assert fragment in err.message
    assert f"'{param}'" in err.message


@pytest.mark.parametrize(("messages", "param", "fragment"), [
    ([{"role": "bot", "content": "x"}], "messages[0].role", "expected one of system, developer, user"),
    ([{"role": "function", "name": "f", "content": "x"}], "messages[0].role", "use role 'tool'"),
    ([{"content": "x"}], "messages[0].role", "expected a string"),
    (["hello"], "messages[0]", "expected an object"),
    ([{"role": "user"}], "messages[0].content", "content is required"),
    ([{"role": "user", "content": 7}], "messages[0].content", "a string or an array"),
    ([{"role": "user", "content": []}], "messages[0].content", "non-empty array"),
    ([{"role": "user", "content": "x", "cache_control": {}}], "messages[0].cache_control", "unsupported field"),
    ([{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "", "format": "wav"}}]}],
     "messages[0].content[0].type", "'input_audio' is not supported"),
    ([{"role": "user", "content": "a"}, {"role": "user", "content": [
        {"type": "text", "text": "b"}, {"type": "file", "file": {"file_id": "file-1"}}]}],
     "messages[1].content[1].type", "'file' is not supported"),
    ([{"role": "user", "content": [{"type": "video", "url": "x"}]}], "messages[0].content[0].type",
     "not allowed in user messages (allowed: text, image_url)"),
    ([{"role": "user", "content": [{"text": "x"}]}], "messages[0].content[0].type", "expected a string"),
    ([{"role": "user", "content": [{"type": "text", "text": "x", "cache_control": {"type": "ephemeral"}}]}],
     "messages[0].content[0].cache_control", "unsupported field"),
    ([{"role": "user", "content": [{"type": "text", "text": None}]}], "messages[0].content[0].text",
     "expected a string"),
    ([{"role": "system", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}],
     "messages[0].content[0].type", "not allowed in system messages"),
    ([{"role": "user", "content": [{"type": "refusal", "refusal": "x"}]}], "messages[0].content[0].type",
     "not allowed in user messages"),
    ([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "file:///etc/passwd"}}]}],
     "messages[0].content[0].image_url.url", "http(s) URL"),
    ([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png,plain"}}]}],
     "messages[0].content[0].image_url.url", "data:<media type>;base64,<data>"),
    ([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x", "detail": "max"}}]}],
     "messages[0].content[0].image_url.detail", "expected one of auto, low, high"),
    ([{"role": "user", "content": [{"type": "image_url", "image_url": "https://x/y.png"}]}],
     "messages[0].content[0].image_url", "expected an object"),
    ([{"role": "tool", "content": "x"}], "messages[0].tool_call_id", "expected a string"),
    ([{"role": "tool", "tool_call_id": "c", "content": "x", "name": "f"}], "messages[0].name", "unsupported field"),
    ([{"role": "assistant"}], "messages[0].content", "needs content, refusal or tool_calls"),
    ([{"role": "assistant", "content": None, "function_call": {"name": "f", "arguments": "{}"}}],
     "messages[0].function_call", "use tool_calls"),
    ([{"role": "assistant", "content": None, "audio": {"id": "audio_1"}}], "messages[0].audio", "not supported"),
    ([{"role": "assistant", "tool_calls": [{"id": "c", "type": "custom", "custom": {}}]}],
     "messages[0].tool_calls[0].type", "only tool calls of type 'function'"),
    ([{"role": "assistant", "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": "{}"}}]}],
     "messages[0].tool_calls[0].id", "expected a string"),
    ([{"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f"}}]}],
     "messages[0].tool_calls[0].function.arguments", "expected a string"),
    ([{"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": {"a": 1}}}]}],
     "messages[0].tool_calls[0].function.arguments", "expected a string"),
])
def test_invalid_messages_name_the_path(messages: list[Any], param: str, fragment: str) -> None:
    err = refused(body(messages=messages))
    assert err.param == param
    assert fragment in err.message


def test_body_must_be_an_object() -> None:
    with pytest.raises(InvalidRequest):
        OPENAI.decode_request([])  # type: ignore[arg-type]


def test_error_messages_never_echo_message_text() -> None:
    secret = "my password is hunter2-correct-horse"
    err = refused(body(messages=[{"role": "user", "content": [{"type": "text", "text": secret}, {"type": "file"}]}]))
    assert "hunter2" not in err.message
    err = refused(body(messages=[{"role": "user", "content": secret, "extra": secret}]))
    assert "hunter2" not in err.message


def test_long_unknown_parameter_names_are_truncated_in_the_message() -> None:
    err = refused(body(**{"x" * 500: 1}))
    assert len(err.message) < 200 and err.param == "x" * 64
