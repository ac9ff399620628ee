"""Messages request options of today's anthropic SDK (2.14): output_config, service_tier, speed,
inference_geo, top-level cache_control; decoded strictly, passed to Anthropic upstreams as sent."""

from __future__ import annotations

from typing import Any

import pytest

from bastion.core.errors import InvalidRequest
from bastion.core.types import CacheHint, ChatRequest, Message, TextPart
from bastion.providers.anthropic import ANTHROPIC
from bastion.providers.anthropic.options import OUTPUT_FORMAT_NAME

SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"],
          "additionalProperties": False}
OPTIONS: dict[str, Any] = {
    "output_config": {"format": {"type": "json_schema", "schema": SCHEMA}, "effort": "xhigh"},
    "service_tier": "auto", "speed": "fast", "inference_geo": "us", "cache_control": {"type": "ephemeral", "ttl": "1h"},
}
EPHEMERAL = {"type": "ephemeral"}


def body(**kw: Any) -> dict[str, Any]:
    return {"model": "m", "max_tokens": 64, "messages": [{"role": "user", "content": "Hi"}], **kw}


def refused(b: dict[str, Any]) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as info:
        ANTHROPIC.decode_request(b)
    assert info.value.status == 400
    return info.value


def test_options_reach_an_anthropic_upstream_exactly_as_sent() -> None:
    req = ANTHROPIC.decode_request(body(**OPTIONS))
    assert req.response_format == {"type": "json_schema", "json_schema": {
        "name": OUTPUT_FORMAT_NAME, "schema": SCHEMA, "strict": True}}
    assert req.extra == {"effort": "xhigh", "service_tier": "auto", "speed": "fast", "inference_geo": "us",
                         "cache_control": {"type": "ephemeral", "ttl": "1h"}}
    sent = ANTHROPIC.encode_request(req, "claude-opus-4-8")
    assert {k: sent[k] for k in OPTIONS} == OPTIONS


@pytest.mark.parametrize("config", [{"effort": "low"}, {"format": {"type": "json_schema", "schema": SCHEMA}},
                                    {"format": None, "effort": None}, {}])
def test_output_config_parts_are_independent(config: dict[str, Any]) -> None:
    sent = ANTHROPIC.encode_request(ANTHROPIC.decode_request(body(output_config=config)), "c")
    given = {k: v for k, v in config.items() if v is not None}
    assert sent.get("output_config", {}) == given


def test_openai_ingress_extras_never_reach_anthropic_as_options() -> None:
    req = ChatRequest(model="m", messages=[Message("user", [TextPart("Hi")])],
                      extra={"service_tier": "flex", "effort": "low", "speed": "fast"})
    sent = ANTHROPIC.encode_request(req, "c")
    assert not {"service_tier", "speed", "output_config"} & set(sent)


def test_top_level_cache_control_counts_toward_the_four_breakpoints() -> None:
    blocks = [{"type": "text", "text": f"part {i}", "cache_control": EPHEMERAL} for i in range(4)]
    four = body(messages=[{"role": "user", "content": blocks}])
    assert ANTHROPIC.decode_request(four).messages[0].content[3].cache == CacheHint()
    err = refused({**four, "cache_control": EPHEMERAL})
    assert err.param == "cache_control" and "at most 4" in err.message
    three = body(messages=[{"role": "user", "content": blocks[:3]}], cache_control=EPHEMERAL)
    assert ANTHROPIC.decode_request(three).extra["cache_control"] == EPHEMERAL


@pytest.mark.parametrize(("patch", "param"), [
    ({"output_config": "json"}, "output_config"),
    ({"output_config": {"schema": SCHEMA}}, "output_config.schema"),
    ({"output_config": {"format": {"type": "json_object"}}}, "output_config.format.type"),
    ({"output_config": {"format": {"type": "json_schema"}}}, "output_config.format.schema"),
    ({"output_config": {"format": {"type": "json_schema", "schema": "{}"}}}, "output_config.format.schema"),
    ({"output_config": {"format": {"type": "json_schema", "schema": SCHEMA, "name": "x"}}},
     "output_config.format.name"),
    ({"output_config": {"effort": "extreme"}}, "output_config.effort"),
    ({"output_config": {"effort": 3}}, "output_config.effort"),
    ({"service_tier": "priority"}, "service_tier"),
    ({"speed": "turbo"}, "speed"),
    ({"speed": True}, "speed"),
    ({"inference_geo": "US"}, "inference_geo"),
    ({"inference_geo": "us east"}, "inference_geo"),
    ({"inference_geo": "x" * 33}, "inference_geo"),
    ({"inference_geo": 1}, "inference_geo"),
    ({"cache_control": {"type": "persistent"}}, "cache_control.type"),
    ({"cache_control": {"type": "ephemeral", "ttl": "24h"}}, "cache_control.ttl"),
    ({"cache_control": {"type": "ephemeral", "scope": "org"}}, "cache_control.scope"),
    ({"cache_control": "ephemeral"}, "cache_control"),
])
def test_bad_values_are_refused_naming_the_field(patch: dict[str, Any], param: str) -> None:
    err = refused(body(**patch))
    assert err.param == param and param in err.message


@pytest.mark.parametrize(("field", "value", "reason"), [
    ("container", "container_01", "containers"),
    ("context_management", {"edits": []}, "context editing"),
    ("mcp_servers", [{"type": "url", "url": "https://mcp.example.com", "name": "x"}], "MCP"),
    ("diagnostics", {"previous_message_id": "msg_1"}, "diagnostics"),
])
def test_known_but_unsupported_parameters_say_why(field: str, value: Any, reason: str) -> None:
    err = refused(body(**{field: value}))
    assert err.param == field and reason in err.message
