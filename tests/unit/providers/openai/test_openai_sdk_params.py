"""Parameters of today's openai SDK (3.57): prompt caching, safety_identifier, moderation, and the
structured-output and effort options an Anthropic client's request brings to an OpenAI upstream."""

from __future__ import annotations

from typing import Any

import pytest

from bastion.core.errors import InvalidRequest
from bastion.providers.anthropic import ANTHROPIC
from bastion.providers.anthropic.options import OUTPUT_FORMAT_NAME
from bastion.providers.openai import OPENAI, OPENAI_COMPATIBLE

CACHE_PARAMS: dict[str, Any] = {
    "prompt_cache_key": "tenant-42:support-v3", "safety_identifier": "6f1c0a9e2b",
    "prompt_cache_retention": "24h", "prompt_cache_options": {"mode": "explicit", "ttl": "30m"},
}
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
          "additionalProperties": False}


def body(**kw: Any) -> dict[str, Any]:
    return {"model": "gpt-5", "messages": [{"role": "user", "content": "Hello!"}], **kw}


def refused(b: dict[str, Any], decoder: Any = OPENAI) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as info:
        decoder.decode_request(b)
    assert info.value.status == 400
    return info.value


@pytest.mark.parametrize("fmt", [OPENAI, OPENAI_COMPATIBLE])
def test_prompt_cache_and_safety_parameters_reach_openai_format_upstreams_as_sent(fmt: Any) -> None:
    req = OPENAI.decode_request(body(**CACHE_PARAMS))
    assert req.extra == CACHE_PARAMS
    sent = fmt.encode_request(req, "gpt-5")
    assert {k: sent[k] for k in CACHE_PARAMS} == CACHE_PARAMS


def test_prompt_cache_options_may_give_either_field_alone() -> None:
    for options in ({"mode": "implicit"}, {"ttl": "1h"}, {}):
        assert OPENAI.decode_request(body(prompt_cache_options=options)).extra["prompt_cache_options"] == options


@pytest.mark.parametrize(("kw", "param", "fragment"), [
    ({"prompt_cache_key": 5}, "prompt_cache_key", "expected a string"),
    ({"prompt_cache_key": ""}, "prompt_cache_key", "non-empty"),
    ({"prompt_cache_key": "k" * 65}, "prompt_cache_key", "at most 64"),
    ({"safety_identifier": "u" * 129}, "safety_identifier", "at most 128"),
    ({"safety_identifier": ["u"]}, "safety_identifier", "expected a string"),
    ({"prompt_cache_retention": "forever"}, "prompt_cache_retention", "in_memory, 24h"),
    ({"prompt_cache_retention": "in-memory"}, "prompt_cache_retention", "expected one of"),
    ({"prompt_cache_options": "explicit"}, "prompt_cache_options", "expected an object"),
    ({"prompt_cache_options": {"mode": "auto"}}, "prompt_cache_options.mode", "implicit, explicit"),
    ({"prompt_cache_options": {"ttl": "half an hour"}}, "prompt_cache_options.ttl", "duration"),
    ({"prompt_cache_options": {"ttl": 30}}, "prompt_cache_options.ttl", "expected a string"),
    ({"prompt_cache_options": {"mode": "implicit", "note": "x"}}, "prompt_cache_options.note", "unsupported"),
])
def test_bad_values_are_refused_naming_the_field(kw: dict[str, Any], param: str, fragment: str) -> None:
    err = refused(body(**kw))
    assert err.param == param and fragment in err.message


def test_moderation_is_refused_saying_why() -> None:
    err = refused(body(moderation={"model": "omni-moderation-latest"}))
    assert err.param == "moderation"
    assert "Unsupported parameter" in err.message and "policy" in err.message


def test_anthropic_upstream_gets_safety_identifier_as_metadata_user_id_and_no_cache_parameters() -> None:
    req = OPENAI.decode_request(body(user="legacy-user", **CACHE_PARAMS))
    sent = ANTHROPIC.encode_request(req, "claude-sonnet-4-6")
    assert sent["metadata"] == {"user_id": "6f1c0a9e2b"}  # the field made for it wins over legacy `user`
    assert not {"prompt_cache_key", "safety_identifier", "prompt_cache_retention", "prompt_cache_options",
                "cache_control", "service_tier"} & set(sent)
    only_user = ANTHROPIC.encode_request(OPENAI.decode_request(body(user="legacy-user")), "c")
    assert only_user["metadata"] == {"user_id": "legacy-user"}


def test_json_schema_response_format_becomes_anthropic_output_config_format() -> None:
    req = OPENAI.decode_request(body(response_format={"type": "json_schema", "json_schema": {
        "name": "weather", "description": "d", "schema": SCHEMA, "strict": True}}))
    sent = ANTHROPIC.encode_request(req, "claude-sonnet-4-6")
    assert sent["output_config"] == {"format": {"type": "json_schema", "schema": SCHEMA}}
    assert "response_format" not in sent


def test_json_object_or_a_schemaless_json_schema_is_refused_for_anthropic_upstreams() -> None:
    req = OPENAI.decode_request(body(response_format={"type": "json_object"}))
    with pytest.raises(InvalidRequest) as info:
        ANTHROPIC.encode_request(req, "c")
    assert info.value.param == "response_format.type" and "json_schema" in info.value.message
    req = OPENAI.decode_request(body(response_format={"type": "json_schema", "json_schema": {"name": "n"}}))
    with pytest.raises(InvalidRequest) as info:
        ANTHROPIC.encode_request(req, "c")
    assert info.value.param == "response_format.json_schema.schema"


def messages_body(**kw: Any) -> dict[str, Any]:
    return {"model": "m", "max_tokens": 64, "messages": [{"role": "user", "content": "Hi"}], **kw}


@pytest.mark.parametrize("fmt", [OPENAI, OPENAI_COMPATIBLE])
@pytest.mark.parametrize("effort", ["low", "medium", "high", "xhigh", "max"])
def test_anthropic_output_config_becomes_response_format_and_reasoning_effort(fmt: Any, effort: str) -> None:
    req = ANTHROPIC.decode_request(messages_body(
        output_config={"format": {"type": "json_schema", "schema": SCHEMA}, "effort": effort},
        service_tier="standard_only", speed="fast", inference_geo="us", cache_control={"type": "ephemeral"}))
    sent = fmt.encode_request(req, "gpt-5")
    assert sent["response_format"] == {"type": "json_schema", "json_schema": {
        "name": OUTPUT_FORMAT_NAME, "schema": SCHEMA, "strict": True}}
    assert sent["reasoning_effort"] == effort
    # Anthropic-only options are dropped: OpenAI's service_tier has other values, the rest no equivalent
    assert not {"output_config", "service_tier", "speed", "inference_geo", "cache_control", "effort"} & set(sent)


def test_an_openai_clients_reasoning_effort_is_not_sent_to_anthropic() -> None:
    sent = ANTHROPIC.encode_request(OPENAI.decode_request(body(reasoning_effort="high")), "c")
    assert "output_config" not in sent and "reasoning_effort" not in sent
