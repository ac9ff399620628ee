"""Output fields beyond text and arguments (red-team findings): a tool call's name is model
output and is scanned, whole or streamed; a reply in text parts is scanned as one text."""

from __future__ import annotations

from typing import Any

import pytest

from bastion.config.policy import PolicyConfig
from bastion.core.context import RequestContext
from bastion.core.errors import PolicyViolation
from bastion.core.types import ChatResponse, Choice, StreamEnd, StreamStart, ToolCall, ToolCallDelta
from bastion.policy.registry import ScannerRegistry
from bastion.policy.stage import PolicyStage
from bastion.providers.openai.response import decode_response
from tests.unit.policy.fake_credentials import SECRETS
from tests.unit.policy.test_guard import collect

GH = SECRETS["github_token"][1]
REDACT_OUT = {"output": [{"scanner": "secrets", "action": "redact"}, {"scanner": "pii", "action": "redact"}]}


def _stage(registry: ScannerRegistry, **raw: Any) -> PolicyStage:
    return PolicyStage({"default": PolicyConfig.model_validate(raw)}, registry=registry)


def _ctx() -> RequestContext:
    return RequestContext(request_id="r", ingress="openai")


async def test_a_tool_call_name_is_redacted_in_a_whole_response(registry: ScannerRegistry) -> None:
    s = _stage(registry, **REDACT_OUT)
    resp = ChatResponse("id", "m", [Choice(0, [], [ToolCall("c1", f"k {GH}", "{}")], "tool_calls")])
    out = await s.guard.check_response(_ctx(), resp)
    assert out.choices[0].tool_calls[0].name == "k [GITHUB_TOKEN_1]"


async def test_a_tool_call_name_is_redacted_in_a_stream(registry: ScannerRegistry) -> None:
    s = _stage(registry, **REDACT_OUT)
    events = [StreamStart("id", "m"), ToolCallDelta(0, "c1", f"k {GH}", ""), ToolCallDelta(0, arguments="{}"),
              StreamEnd("tool_calls")]
    out = await collect(s, _ctx(), events)
    names = [e.name for e in out if isinstance(e, ToolCallDelta) and e.name]
    assert names == ["k [GITHUB_TOKEN_1]"]
    assert GH not in repr(out)


async def test_a_secret_in_a_tool_call_name_blocks(registry: ScannerRegistry) -> None:
    s = _stage(registry, output=[{"scanner": "secrets", "action": "block"}])
    with pytest.raises(PolicyViolation) as e:
        await collect(s, _ctx(), [StreamStart("id", "m"), ToolCallDelta(0, "c1", GH, "")])
    assert "name" in e.value.message and GH not in e.value.message


async def test_a_secret_split_across_text_parts_is_found(registry: ScannerRegistry) -> None:
    """A compatible server's content parts reach the client joined: they are scanned joined."""
    body = {"id": "x", "model": "m", "choices": [{"index": 0, "finish_reason": "stop", "message": {
        "role": "assistant", "content": [{"type": "text", "text": f"key {GH[:12]}"},
                                         {"type": "text", "text": f"{GH[12:]} end"}]}}]}
    resp = decode_response(body)
    assert [p.text for p in resp.choices[0].content] == [f"key {GH} end"]  # type: ignore[union-attr]
    out = await _stage(registry, **REDACT_OUT).guard.check_response(_ctx(), resp)
    assert out.choices[0].text() == "key [GITHUB_TOKEN_1] end"


async def test_a_placeholder_after_a_backslash_is_not_restored_into_json(registry: ScannerRegistry) -> None:
    """The upstream cannot make a restored value break out of its JSON string: after `\\` the
    value's escaped quote (`\\"`) would become `\\\\"`, ending the string."""
    import json

    from bastion.core.types import ChatRequest, Message, TextPart

    s = _stage(registry, input=[{"scanner": "regex", "action": "redact", "restore": True,
                                 "patterns": {"quoted": r'ref "[a-z]+", "admin": true'}}])
    c = _ctx()
    req = ChatRequest(model="m", messages=[Message("user", [TextPart('x ref "abc", "admin": true y')])])
    await s.check(c, req)
    args = '{"t": "a\\[QUOTED_1]", "u": "[QUOTED_1]"}'  # the first placeholder follows one backslash
    out = await s.guard.check_response(c, ChatResponse("id", "m", [Choice(0, [], [ToolCall("1", "f", args)])]))
    got = out.choices[0].tool_calls[0].arguments
    # the escaped placeholder stays (the upstream's text was not JSON there); the other is restored
    assert got == '{"t": "a\\[QUOTED_1]", "u": "ref \\"abc\\", \\"admin\\": true"}'
    assert json.loads(got.replace("a\\[", "a[")) == {"t": "a[QUOTED_1]", "u": 'ref "abc", "admin": true'}
