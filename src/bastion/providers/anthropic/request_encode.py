"""Canonical ChatRequest → the body of an upstream Anthropic Messages call.

Cache hints (CacheHint) become `cache_control` on the same blocks, system blocks and tools (a
text that carries one is never shortened to a plain string). Dropped on purpose: `seed`
(Anthropic has no seed; sampling stays non-deterministic), a message's `name`, an image's
`detail`, and `extra` unless the request came in through the Anthropic ingress (then only its
vetted `thinking` and the options of options.py; from the OpenAI ingress only `safety_identifier`,
as `metadata.user_id`). A json_schema response_format becomes `output_config.format`. An
assistant turn's reasoning blocks (ThinkingPart) lead its blocks, exactly as received. Refused
(InvalidRequest): n > 1, a json_object response_format, temperature above 1, images outside
user/tool turns, tool arguments that are not a JSON object, an unsigned thinking block.
"""

from __future__ import annotations

import orjson

from bastion.core.errors import InvalidRequest
from bastion.core.types import (
    JSON,
    ChatRequest,
    ImagePart,
    JSONObject,
    Message,
    Part,
    TextPart,
    ThinkingPart,
    ToolChoice,
)
from bastion.providers.anthropic.cache import mark
from bastion.providers.anthropic.fields import label
from bastion.providers.anthropic.options import encode_options
from bastion.providers.anthropic.response import thinking_block

DEFAULT_MAX_TOKENS = 4096


def _image(part: ImagePart, where: str) -> JSONObject:
    if part.url is not None and part.url.startswith("data:"):
        header, sep, data = part.url[5:].partition(",")
        media_type, _, encoding = header.partition(";")
        if not sep or encoding != "base64" or not media_type or not data:
            raise InvalidRequest(f"{where}: image data URLs must be base64 encoded "
                                 "(data:<media type>;base64,<data>)", param="messages")
        return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
    if part.url is not None:
        return {"type": "image", "source": {"type": "url", "url": part.url}}
    if part.media_type and part.data:
        return {"type": "image", "source": {"type": "base64", "media_type": part.media_type,
                                            "data": part.data}}
    raise InvalidRequest(f"{where}: an image needs a url or media_type and data", param="messages")


def _parts(parts: list[Part], where: str, images: bool) -> list[JSON]:
    blocks: list[JSON] = []
    for part in parts:
        if isinstance(part, TextPart):
            if part.text:  # Anthropic rejects empty text blocks
                blocks.append(mark({"type": "text", "text": part.text}, part.cache))
        elif images:
            blocks.append(mark(_image(part, where), part.cache))
        else:
            raise InvalidRequest(f"{where}: images are only supported in user and tool messages "
                                 "by anthropic providers", param="messages")
    return blocks


def _tool_input(arguments: str, where: str) -> JSONObject:
    if not arguments.strip():
        return {}
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        raise InvalidRequest(f"{where}: tool call arguments are not valid JSON", param="messages") from None
    if not isinstance(value, dict):
        raise InvalidRequest(f"{where}: tool call arguments must be a JSON object", param="messages")
    return value


def _turn(i: int, m: Message) -> tuple[str, list[JSON]] | None:
    """(anthropic role, blocks) of one non-system message, or None when it has no content."""
    where = f"messages[{i}]"
    if m.role == "tool":
        if not m.tool_call_id:
            raise InvalidRequest(f"{where}: a tool message needs tool_call_id", param=f"{where}.tool_call_id")
        result: JSONObject = {"type": "tool_result", "tool_use_id": m.tool_call_id}
        blocks = _parts(m.content, where, images=True)
        only = m.content[0] if len(m.content) == 1 else None
        if len(blocks) == 1 and isinstance(only, TextPart) and only.cache is None:
            result["content"] = only.text
        elif blocks:
            result["content"] = blocks
        if m.is_error:
            result["is_error"] = True
        return "user", [mark(result, m.cache)]
    if m.role == "assistant":
        blocks = _thinking(m.thinking, where) if m.thinking else []
        blocks += _parts(m.content, where, images=False)
        for call in m.tool_calls:
            blocks.append(mark({"type": "tool_use", "id": call.id, "name": call.name,
                                "input": _tool_input(call.arguments, f"{where} (tool call '{label(call.name)}')")},
                               call.cache))
        return ("assistant", blocks) if blocks else None
    blocks = _parts(m.content, where, images=True)
    return ("user", blocks) if blocks else None


def _thinking(parts: list[ThinkingPart], where: str) -> list[JSON]:
    for part in parts:
        if part.redacted is None and not part.signature:
            raise InvalidRequest(f"{where}: a thinking block without a signature cannot be passed back to an "
                                 "anthropic provider (its text was changed)", param="messages")
    return [thinking_block(p) for p in parts]


def _is_result(block: JSON) -> bool:
    return isinstance(block, dict) and block.get("type") == "tool_result"


def _conversation(req: ChatRequest) -> tuple[list[TextPart], list[JSON]]:
    """System text lifted out of the messages, and the turns merged so roles alternate."""
    system = list(req.system)
    turns: list[tuple[str, list[JSON]]] = []
    for i, m in enumerate(req.messages):
        if m.role in ("system", "developer"):
            for part in m.content:
                if not isinstance(part, TextPart):
                    raise InvalidRequest(f"messages[{i}]: system messages may hold only text", param="messages")
                system.append(part)
            continue
        turn = _turn(i, m)
        if turn is None:
            continue
        if turns and turns[-1][0] == turn[0]:
            turns[-1][1].extend(turn[1])
        else:
            turns.append(turn)
    messages: list[JSON] = []
    for role, blocks in turns:
        if role == "user":  # Anthropic wants a turn's tool results before its other blocks
            blocks = [b for b in blocks if _is_result(b)] + [b for b in blocks if not _is_result(b)]
        content: JSON = blocks
        single = blocks[0] if len(blocks) == 1 else None
        if isinstance(single, dict) and single.get("type") == "text" and "cache_control" not in single:
            content = single["text"]
        messages.append({"role": role, "content": content})
    return system, messages


def _tool_choice(tc: ToolChoice) -> JSONObject:
    if tc.mode == "none":
        return {"type": "none"}
    out: JSONObject
    if tc.mode == "tool":
        if not tc.name:
            raise InvalidRequest("tool_choice: a named tool choice needs the tool's name", param="tool_choice")
        out = {"type": "tool", "name": tc.name}
    else:
        out = {"type": "any" if tc.mode == "required" else "auto"}
    if tc.disable_parallel:
        out["disable_parallel_tool_use"] = True
    return out


def _check_supported(req: ChatRequest) -> None:
    if req.n is not None and req.n > 1:
        raise InvalidRequest("n > 1 is not supported by anthropic providers", param="n")
    if req.temperature is not None and not 0.0 <= req.temperature <= 1.0:
        raise InvalidRequest("temperature must be between 0 and 1 for anthropic providers", param="temperature")


def encode_request(req: ChatRequest, model: str) -> JSONObject:
    _check_supported(req)
    system, messages = _conversation(req)
    system = [p for p in system if p.text]
    body: JSONObject = {"model": model, "max_tokens": req.max_tokens or DEFAULT_MAX_TOKENS,
                        "messages": messages}
    if system:
        body["system"] = system[0].text if len(system) == 1 and system[0].cache is None else [
            mark({"type": "text", "text": p.text}, p.cache) for p in system]
    if req.temperature is not None:
        body["temperature"] = req.temperature
    if req.top_p is not None:
        body["top_p"] = req.top_p
    if req.top_k is not None:
        body["top_k"] = req.top_k
    if req.stop:
        body["stop_sequences"] = list(req.stop)
    if req.tools:
        body["tools"] = [mark(_tool(t.name, t.description, t.parameters), t.cache) for t in req.tools]
    if req.tool_choice is not None:
        body["tool_choice"] = _tool_choice(req.tool_choice)
    encode_options(req, body)
    if req.stream:
        body["stream"] = True
    if req.ingress == "anthropic" and "thinking" in req.extra:
        body["thinking"] = req.extra["thinking"]
    return body


def _tool(name: str, description: str | None, parameters: JSONObject) -> JSONObject:
    tool: JSONObject = {"name": name, "input_schema": parameters or {"type": "object", "properties": {}}}
    if description:
        tool["description"] = description
    return tool
