"""Prompt-cache breakpoints (`cache_control`): Anthropic client → canonical → Anthropic upstream at
the same positions, strict validation with the field path, dropped for OpenAI upstreams, kept
through input redaction."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest

from bastion.config.policy import PolicyConfig
from bastion.core.context import RequestContext
from bastion.core.errors import InvalidRequest
from bastion.core.types import CacheHint, ChatRequest, Message, TextPart
from bastion.policy.engine import PolicyEngine
from bastion.policy.slots import text_slots
from bastion.providers.anthropic import ANTHROPIC
from bastion.providers.openai import OPENAI, OPENAI_COMPATIBLE

PNG = {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgoAAAANSUhEUg=="}
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}

# A client body already in the shape Bastion's encoder produces, so that a round trip through the
# canonical model must give back exactly this body (with cache_control wherever the client put it).
BASE: dict[str, Any] = {
    "model": "claude-sonnet-4-6", "max_tokens": 256,
    "system": [{"type": "text", "text": "You are terse."},
               {"type": "text", "text": "A long, stable policy document."}],
    "tools": [{"name": "get_weather", "description": "Weather for a city", "input_schema": SCHEMA},
              {"name": "get_time", "input_schema": SCHEMA}],
    "messages": [
        {"role": "user", "content": [
            {"type": "text", "text": "A big reference document."},
            {"type": "image", "source": PNG},
            {"type": "text", "text": "Weather and time in Paris?"}]},
        {"role": "assistant", "content": [
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "toolu_02", "name": "get_time", "input": {"city": "Paris"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_01", "content": "sunny"},
            {"type": "tool_result", "tool_use_id": "toolu_02", "content": [
                {"type": "text", "text": "12:00"}, {"type": "image", "source": PNG}]},
            {"type": "text", "text": "Thanks."}]},
    ],
}

EPHEMERAL = {"type": "ephemeral"}
HOUR = {"type": "ephemeral", "ttl": "1h"}
FIVE = {"type": "ephemeral", "ttl": "5m"}


def _at(body: Any, path: tuple[Any, ...]) -> dict[str, Any]:
    node = body
    for key in path:
        node = node[key]
    assert isinstance(node, dict)
    return node


def with_marks(marks: dict[tuple[Any, ...], dict[str, Any] | None]) -> dict[str, Any]:
    body = copy.deepcopy(BASE)
    for path, cc in marks.items():
        _at(body, path)["cache_control"] = cc
    return body


def round_trip(body: dict[str, Any]) -> dict[str, Any]:
    req = ANTHROPIC.decode_request(copy.deepcopy(body))
    return ANTHROPIC.encode_request(req, body["model"])


def found(node: Any, path: str = "") -> dict[str, Any]:
    """Every cache_control in a JSON body, by path."""
    out: dict[str, Any] = {}
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "cache_control":
                out[path] = v
            else:
                out.update(found(v, f"{path}.{k}" if path else k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.update(found(v, f"{path}[{i}]"))
    return out


def test_base_body_round_trips_unchanged() -> None:
    assert round_trip(BASE) == BASE


@pytest.mark.parametrize("marks", [
    {("system", 1): HOUR, ("tools", 1): HOUR, ("messages", 0, "content", 1): EPHEMERAL,
     ("messages", 2, "content", 2): FIVE},
    {("tools", 0): EPHEMERAL, ("messages", 0, "content", 0): EPHEMERAL,
     ("messages", 1, "content", 1): FIVE, ("messages", 2, "content", 0): EPHEMERAL},
    {("messages", 1, "content", 0): EPHEMERAL, ("messages", 2, "content", 1): HOUR,
     ("messages", 2, "content", 1, "content", 0): EPHEMERAL,
     ("messages", 2, "content", 1, "content", 1): EPHEMERAL},
    {("system", 0): HOUR, ("messages", 1, "content", 2): EPHEMERAL},
], ids=["system-tool-image-text", "tool-text-tool_use-tool_result", "tool_result-and-inside", "system0-tool_use"])
def test_cache_control_reaches_the_upstream_at_the_same_positions(marks: dict[Any, Any]) -> None:
    body = with_marks(marks)
    upstream = round_trip(body)
    assert upstream == body  # byte-for-byte the client's markers, ttl present only when given
    assert len(found(upstream)) == len(marks)


def test_hints_sit_on_the_canonical_parts() -> None:
    req = ANTHROPIC.decode_request(with_marks({
        ("system", 1): HOUR, ("tools", 0): EPHEMERAL, ("messages", 1, "content", 1): FIVE,
        ("messages", 2, "content", 0): EPHEMERAL}))
    assert [p.cache for p in req.system] == [None, CacheHint("1h")]
    assert [t.cache for t in req.tools] == [CacheHint(), None]
    assert [c.cache for c in req.messages[1].tool_calls] == [CacheHint("5m"), None]
    tool_msgs = [m for m in req.messages if m.role == "tool"]
    assert [m.cache for m in tool_msgs] == [CacheHint(), None]
    assert all(p.cache is None for m in tool_msgs for p in m.content)


def test_a_single_marked_block_is_not_collapsed_to_a_string() -> None:
    body = {"model": "claude-sonnet-4-6", "max_tokens": 10,
            "system": [{"type": "text", "text": "Rules.", "cache_control": EPHEMERAL}],
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "Hi", "cache_control": HOUR}]},
                {"role": "assistant", "content": [
                    {"type": "tool_use", "id": "t1", "name": "f", "input": {}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": [
                    {"type": "text", "text": "done", "cache_control": EPHEMERAL}]}]}]}
    assert round_trip(body) == body


def test_unmarked_single_blocks_still_collapse() -> None:
    body = {"model": "claude-sonnet-4-6", "max_tokens": 10,
            "system": [{"type": "text", "text": "Rules."}],
            "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]}
    upstream = round_trip(body)
    assert upstream["system"] == "Rules." and upstream["messages"][0]["content"] == "Hi"


def test_null_cache_control_is_no_breakpoint_and_not_counted() -> None:
    marks: dict[tuple[Any, ...], dict[str, Any] | None] = {
        ("system", 0): None, ("system", 1): EPHEMERAL, ("tools", 0): None, ("tools", 1): EPHEMERAL,
        ("messages", 0, "content", 0): None, ("messages", 0, "content", 2): EPHEMERAL,
        ("messages", 2, "content", 2): EPHEMERAL}
    upstream = round_trip(with_marks(marks))
    assert sorted(found(upstream)) == ["messages[0].content[2]", "messages[2].content[2]", "system[1]",
                                       "tools[1]"]


POSITIONS: list[tuple[tuple[Any, ...], str]] = [
    (("system", 0), "system[0]"),
    (("tools", 1), "tools[1]"),
    (("messages", 0, "content", 0), "messages[0].content[0]"),
    (("messages", 0, "content", 1), "messages[0].content[1]"),
    (("messages", 1, "content", 1), "messages[1].content[1]"),
    (("messages", 2, "content", 0), "messages[2].content[0]"),
    (("messages", 2, "content", 1, "content", 0), "messages[2].content[1].content[0]"),
    (("messages", 2, "content", 1, "content", 1), "messages[2].content[1].content[1]"),
]
BAD: list[tuple[Any, str, str]] = [
    ({"type": "persistent"}, ".cache_control.type", "must be 'ephemeral'"),
    ({}, ".cache_control.type", "required field is missing"),
    ({"type": "ephemeral", "ttl": "2h"}, ".cache_control.ttl", "must be '5m' or '1h'"),
    ({"type": "ephemeral", "ttl": 3600}, ".cache_control.ttl", "expected a string"),
    ({"type": "ephemeral", "ttl": None}, ".cache_control.ttl", "expected a string"),
    ({"type": "ephemeral", "note": "text a model might read"}, ".cache_control.note", "unsupported field"),
    ({"type": ["ephemeral"]}, ".cache_control.type", "expected a string"),
    ("ephemeral", ".cache_control", "expected an object"),
    ([EPHEMERAL], ".cache_control", "expected an object"),
]


@pytest.mark.parametrize(("position", "where"), POSITIONS, ids=[w for _, w in POSITIONS])
@pytest.mark.parametrize(("value", "suffix", "message"), BAD, ids=[s + ":" + m for _, s, m in BAD])
def test_invalid_cache_control_is_a_400_naming_the_path(position: tuple[Any, ...], where: str, value: Any,
                                                       suffix: str, message: str) -> None:
    body = copy.deepcopy(BASE)
    _at(body, position)["cache_control"] = value
    with pytest.raises(InvalidRequest) as e:
        ANTHROPIC.decode_request(body)
    assert e.value.status == 400
    assert e.value.param == where + suffix
    assert str(e.value).startswith(f"{where}{suffix}: {message}")
    assert "text a model might read" not in str(e.value)


def test_more_than_four_breakpoints_is_a_400_naming_the_fifth() -> None:
    four = {("system", 1): EPHEMERAL, ("tools", 1): EPHEMERAL, ("messages", 0, "content", 0): EPHEMERAL,
            ("messages", 1, "content", 2): EPHEMERAL}
    assert len(found(round_trip(with_marks(four)))) == 4
    five = {**four, ("messages", 2, "content", 2): HOUR}
    with pytest.raises(InvalidRequest) as e:
        ANTHROPIC.decode_request(with_marks(five))
    assert e.value.param == "messages[2].content[2].cache_control"  # the 5th in prompt order
    assert "at most 4 cache_control breakpoints, found 5" in str(e.value)


def test_a_breakpoint_on_an_empty_text_block_is_refused() -> None:
    body = {"model": "claude-sonnet-4-6", "max_tokens": 10, "messages": [{"role": "user", "content": [
        {"type": "text", "text": "", "cache_control": EPHEMERAL}, {"type": "text", "text": "Hi"}]}]}
    with pytest.raises(InvalidRequest) as e:
        ANTHROPIC.decode_request(body)
    assert e.value.param == "messages[0].content[0].cache_control"


@pytest.mark.parametrize("fmt", [OPENAI, OPENAI_COMPATIBLE], ids=["openai", "openai_compatible"])
def test_openai_upstreams_get_no_cache_control(fmt: Any) -> None:
    marks = {("system", 1): HOUR, ("tools", 0): EPHEMERAL, ("messages", 0, "content", 0): EPHEMERAL,
             ("messages", 2, "content", 0): EPHEMERAL}
    body = with_marks(marks)
    del _at(body, ("messages", 2, "content", 1))["content"][1]  # OpenAI tool messages carry no images
    req = ANTHROPIC.decode_request(body)
    sent = fmt.encode_request(req, "gpt-4o-mini")
    raw = orjson.dumps(sent).decode()
    assert "cache_control" not in raw and "ephemeral" not in raw
    # the marked text still reaches the model
    assert "A long, stable policy document." in raw and "A big reference document." in raw
    assert "get_weather" in raw and "sunny" in raw


def test_openai_ingress_to_anthropic_carries_no_cache_control() -> None:
    req = OPENAI.decode_request({"model": "claude-sonnet-4-6", "messages": [
        {"role": "system", "content": [{"type": "text", "text": "Rules."}]},
        {"role": "user", "content": [{"type": "text", "text": "Hi"}]}]})
    assert "cache_control" not in orjson.dumps(ANTHROPIC.encode_request(req, "claude-sonnet-4-6")).decode()


def test_redaction_keeps_the_marker_and_the_scan_sees_every_marked_text() -> None:
    body = with_marks({("system", 1): HOUR, ("messages", 0, "content", 0): EPHEMERAL,
                       ("messages", 2, "content", 1, "content", 0): EPHEMERAL})
    _at(body, ("system", 1))["text"] = "Escalate to ops@example.com."
    _at(body, ("messages", 0, "content", 0))["text"] = "Contact jane.doe@example.org today."
    _at(body, ("messages", 2, "content", 1, "content", 0))["text"] = "owner: bob@example.net"
    req = ANTHROPIC.decode_request(body)
    marked = {"Escalate to ops@example.com.", "Contact jane.doe@example.org today.", "owner: bob@example.net"}
    assert marked <= {s.text for s in text_slots(req)}
    engine = PolicyEngine("p", PolicyConfig.model_validate(
        {"input": [{"scanner": "pii", "action": "redact", "types": ["email"]}]}))
    ctx = RequestContext(request_id="r", ingress="anthropic")
    engine.scan_request(ctx, req)
    assert len(ctx.findings) == 3
    upstream = ANTHROPIC.encode_request(req, "claude-sonnet-4-6")
    assert "@example" not in orjson.dumps(upstream).decode()
    assert found(upstream) == {"system[1]": HOUR, "messages[0].content[0]": EPHEMERAL,
                               "messages[2].content[1].content[0]": EPHEMERAL}
    assert _at(upstream, ("system", 1))["text"] == "Escalate to [EMAIL_1]."


def test_canonical_parts_without_hints_compare_as_before() -> None:
    req = ChatRequest(model="m", messages=[Message("user", [TextPart("x")])])
    assert req.messages[0].content[0] == TextPart("x") and req.messages[0].content[0].cache is None


def test_one_hour_cache_writes_are_read_from_the_usage_and_given_back() -> None:
    from bastion.providers.anthropic.mapping import usage_from_wire, usage_to_wire

    wire = {"input_tokens": 10, "output_tokens": 5, "cache_read_input_tokens": 100,
            "cache_creation_input_tokens": 300,
            "cache_creation": {"ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 200}}
    u = usage_from_wire(wire)
    assert (u.input_tokens, u.cached_input_tokens, u.cache_write_tokens, u.cache_write_1h_tokens) == (410, 100, 300, 200)
    assert usage_to_wire(u) == wire
    plain = usage_from_wire({"input_tokens": 10, "output_tokens": 5, "cache_creation_input_tokens": 30})
    assert plain.cache_write_1h_tokens == 0 and "cache_creation" not in usage_to_wire(plain)
