"""Anthropic message objects ⇄ canonical ChatResponse (non-streamed).

Reasoning blocks (`thinking`, `redacted_thinking`) become the choice's ThinkingParts and are shown
to the client before the text and tool_use blocks, as Anthropic orders them; the output guard scans
their text first (policy/guard.py). A thinking block whose text the policy changed is shown with an
empty `signature`: the upstream would refuse it if it came back (request_encode says so first).
"""

from __future__ import annotations

import orjson

from bastion.core.errors import UpstreamError
from bastion.core.makers import maker
from bastion.core.types import JSON, ChatResponse, Choice, JSONObject, TextPart, ThinkingPart, ToolCall
from bastion.providers.anthropic.errors import error_event
from bastion.providers.anthropic.fields import label
from bastion.providers.anthropic.mapping import finish_reason, stop_reason, usage_from_wire, usage_to_wire

THINKING_BLOCKS = frozenset({"thinking", "redacted_thinking"})


def _str(o: JSONObject, key: str, where: str) -> str:
    value = o.get(key)
    if not isinstance(value, str):
        raise UpstreamError(f"anthropic upstream sent a malformed {where}: '{key}' is not a string")
    return value


def tool_arguments(tool_input: JSON) -> str:
    """Compact JSON text of a tool_use input (the canonical `arguments`)."""
    if not isinstance(tool_input, dict):
        raise UpstreamError("anthropic upstream sent a tool_use whose input is not an object")
    return orjson.dumps(tool_input).decode()


def thinking_part(block: JSONObject) -> ThinkingPart:
    """A complete thinking or redacted_thinking block (type already checked) as a ThinkingPart."""
    if block.get("type") == "redacted_thinking":
        return ThinkingPart(redacted=_str(block, "data", "redacted_thinking block"))
    signature = block.get("signature")
    if signature is not None and not isinstance(signature, str):
        raise UpstreamError("anthropic upstream sent a malformed thinking block: 'signature' is not a string")
    return ThinkingPart(_str(block, "thinking", "thinking block"), signature=signature)


def thinking_block(part: ThinkingPart) -> JSONObject:
    """The wire block of a ThinkingPart (shown to a client, or passed back to the upstream)."""
    if part.redacted is not None:
        return {"type": "redacted_thinking", "data": part.redacted}
    return {"type": "thinking", "thinking": part.text, "signature": part.signature or ""}


# (Choice, ChatResponse and TextPart made with every field by position: core/makers.py)
_TEXT, _CHOICE, _RESPONSE = maker(TextPart), maker(Choice), maker(ChatResponse)


def decode_response(body: JSONObject) -> ChatResponse:
    if body.get("type") == "error":
        raise error_event(body)
    if body.get("type") != "message":
        raise UpstreamError("anthropic upstream sent a response that is not a message")
    content = body.get("content")
    if not isinstance(content, list):
        raise UpstreamError("anthropic upstream sent a message without a content array")
    texts: list[str] = []
    calls: list[ToolCall] = []
    thinking: list[ThinkingPart] = []
    for block in content:
        if not isinstance(block, dict):
            raise UpstreamError("anthropic upstream sent a content block that is not an object")
        btype = block.get("type")
        if btype == "text":
            texts.append(_str(block, "text", "text block"))
        elif btype == "tool_use":
            calls.append(ToolCall(id=_str(block, "id", "tool_use block"), name=_str(block, "name", "tool_use block"),
                                  arguments=tool_arguments(block.get("input"))))
        elif btype in THINKING_BLOCKS:
            thinking.append(thinking_part(block))
        else:
            raise UpstreamError("anthropic upstream sent an unsupported content block type")
    seq = body.get("stop_sequence")
    if seq is not None and not isinstance(seq, str):
        raise UpstreamError("anthropic upstream sent a stop_sequence that is not a string")
    # (index, content, tool_calls, finish_reason, refusal, thinking) and (id, model, choices, usage,
    # created, stop_sequence) by position: keywords make a class call build and unpack a dict of them
    choice = _CHOICE(0, [_TEXT(texts[0] if len(texts) == 1 else "".join(texts), "text", None)] if texts else [],
                     calls, finish_reason(body.get("stop_reason")), None, thinking)
    usage = body.get("usage")
    rid, model = _str(body, "id", "message"), _str(body, "model", "message")
    return _RESPONSE(rid, model, [choice], None if usage is None else usage_from_wire(usage), 0, seq)


def message_id(raw: str) -> str:
    return raw if raw.startswith("msg_") else f"msg_{raw}"


def encode_response(resp: ChatResponse, model: str) -> JSONObject:
    """Only choice 0 is shown (Anthropic has one reply per message). Reasoning blocks come first;
    the text block is present whenever there is text or no tool call, so `content[0].text` works
    for plain replies without reasoning."""
    choice = resp.choices[0] if resp.choices else Choice(index=0)
    text = choice.text()
    content: list[JSON] = [thinking_block(p) for p in choice.thinking] if choice.thinking else []
    if text or not choice.tool_calls:
        content.append({"type": "text", "text": text})
    for call in choice.tool_calls:
        try:
            tool_input = orjson.loads(call.arguments) if call.arguments.strip() else {}
        except orjson.JSONDecodeError:
            raise UpstreamError(f"upstream tool call '{label(call.name)}' has arguments that are not valid JSON"
                                ) from None
        if not isinstance(tool_input, dict):
            raise UpstreamError(f"upstream tool call '{label(call.name)}' has arguments that are not a JSON object")
        content.append({"type": "tool_use", "id": call.id, "name": call.name, "input": tool_input})
    seq = resp.stop_sequence if choice.finish_reason in (None, "stop") else None
    return {
        "id": message_id(resp.id),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason(choice.finish_reason, seq),
        "stop_sequence": seq,
        "usage": usage_to_wire(resp.usage),
    }
