"""OpenAI chat `messages` ⇄ canonical Message: roles, content parts, images and tool calls."""

from __future__ import annotations

import re
from typing import cast

import orjson

from bastion.core.errors import InvalidRequest
from bastion.core.makers import maker
from bastion.core.types import JSON, ImagePart, JSONObject, Message, Part, Role, TextPart, ToolCall
from bastion.providers.openai.fields import (
    as_list,
    as_object,
    as_str,
    invalid,
    join,
    one_of,
    reject_unknown,
    shown,
    wrong_type,
)

_ROLES = ("system", "developer", "user", "assistant", "tool")
_KEYS = {
    "system": frozenset({"role", "content", "name"}),
    "developer": frozenset({"role", "content", "name"}),
    "user": frozenset({"role", "content", "name"}),
    # `annotations`, `parsed` (and null `audio`/`function_call`) appear when a client echoes an
    # SDK response message back; they are dropped, never forwarded.
    "assistant": frozenset({"role", "content", "name", "tool_calls", "refusal", "annotations",
                            "audio", "function_call", "parsed"}),
    "tool": frozenset({"role", "content", "tool_call_id"}),
}
_UNSUPPORTED_PARTS = {
    "input_audio": "audio input is not supported",
    "file": "file inputs are not supported",
}
# the data must be base64: anything else would be text that reaches the provider unscanned
_DATA_URL = re.compile(r"data:([\w.+\-]+/[\w.+\-]+);base64,([A-Za-z0-9+/]*={0,2})")
_DETAILS = ("auto", "low", "high")
_TEXT_PART_KEYS = frozenset({"type", "text"})
_IMAGE_PART_KEYS = frozenset({"type", "image_url"})
_IMAGE_URL_KEYS = frozenset({"url", "detail"})
_REFUSAL_PART_KEYS = frozenset({"type", "refusal"})
# `index` and `parsed_arguments` come with echoed SDK stream-helper messages; dropped.
_TOOL_CALL_KEYS = frozenset({"id", "type", "function", "index"})
_FUNCTION_KEYS = frozenset({"name", "arguments", "parsed_arguments"})


# Roles whose plainest message ({"role", "content": "non-empty text"}) decodes the same as through
# decode_message's full checks (a tool message needs its tool_call_id, so it is not among them).
_PLAIN_ROLES: dict[str, Role] = {"system": "system", "developer": "developer", "user": "user",
                                 "assistant": "assistant"}


_TEXT, _MESSAGE = maker(TextPart), maker(Message)


def decode_messages(value: JSON) -> list[Message]:
    items = as_list(value, "messages", non_empty=True)
    out: list[Message] = []
    for i, item in enumerate(items):
        # The common turn, without building error paths it will not need; anything else (an
        # extra key, a name, parts, an empty or non-string content) goes through decode_message.
        if type(item) is dict and len(item) == 2:
            role_value = item.get("role")
            role = _PLAIN_ROLES.get(role_value) if type(role_value) is str else None
            content = item.get("content")
            if role is not None and type(content) is str and content:
                # Message(role, [TextPart(content)]): every field, by position (core/makers.py)
                out.append(_MESSAGE(role, [_TEXT(content, "text", None)], [], None, None, False, None, []))
                continue
        out.append(decode_message(item, f"messages[{i}]"))
    return out


def decode_message(value: JSON, path: str) -> Message:
    obj = as_object(value, path)
    role_value = obj.get("role")
    if role_value == "function":
        raise invalid(join(path, "role"), "role 'function' is deprecated and not supported; use role 'tool'")
    role = one_of(role_value, join(path, "role"), _ROLES)
    reject_unknown(obj, _KEYS[role], path, f"{'an' if role == 'assistant' else 'a'} {role} message")
    name = obj.get("name")
    msg = Message(role=cast(Role, role), name=as_str(name, join(path, "name")) if name is not None else None)
    content = obj.get("content")
    if role == "assistant":
        _assistant(obj, msg, path)
    elif content is None:
        raise invalid(join(path, "content"), f"content is required in {role} messages")
    if role == "tool":
        msg.tool_call_id = as_str(obj.get("tool_call_id"), join(path, "tool_call_id"), non_empty=True)
    if content is not None:
        msg.content = _content(content, role, join(path, "content"))
    return msg


def _assistant(obj: JSONObject, msg: Message, path: str) -> None:
    for key in ("audio", "function_call"):
        if obj.get(key) is not None:
            raise invalid(join(path, key), f"'{key}' in assistant messages is not supported"
                          + ("; use tool_calls" if key == "function_call" else ""))
    calls = obj.get("tool_calls")
    if calls is not None:
        items = as_list(calls, join(path, "tool_calls"))
        msg.tool_calls = [_tool_call(c, f"{path}.tool_calls[{i}]") for i, c in enumerate(items)]
    refusal = obj.get("refusal")
    if refusal is not None:
        text = as_str(refusal, join(path, "refusal"))
        if obj.get("content") is None and text:
            msg.content = [TextPart(text)]
    if obj.get("content") is None and not msg.tool_calls and not msg.content:
        raise invalid(join(path, "content"), "an assistant message needs content, refusal or tool_calls")


def _tool_call(value: JSON, path: str) -> ToolCall:
    obj = as_object(value, path)
    kind = obj.get("type", "function")
    if kind != "function":
        raise invalid(join(path, "type"), f"only tool calls of type 'function' are supported, got {shown(kind)}")
    reject_unknown(obj, _TOOL_CALL_KEYS, path, "a tool call")
    fn = as_object(obj.get("function"), join(path, "function"))
    reject_unknown(fn, _FUNCTION_KEYS, join(path, "function"), "a function call")
    return ToolCall(
        id=as_str(obj.get("id"), join(path, "id"), non_empty=True),
        name=as_str(fn.get("name"), join(path, "function.name"), non_empty=True),
        arguments=as_str(fn.get("arguments"), join(path, "function.arguments")),
    )


def _content(value: JSON, role: str, path: str) -> list[Part]:
    if isinstance(value, str):
        return [TextPart(value)] if value else []
    if not isinstance(value, list):
        raise wrong_type(path, "a string or an array of content parts", value)
    if not value and role != "assistant":
        raise invalid(path, "expected a string or a non-empty array of content parts")
    return [_part(item, role, f"{path}[{i}]") for i, item in enumerate(value)]


def _part(value: JSON, role: str, path: str) -> Part:
    obj = as_object(value, path)
    kind = obj.get("type")
    type_path = join(path, "type")
    if kind == "text":
        reject_unknown(obj, _TEXT_PART_KEYS, path, "a text part")
        return TextPart(as_str(obj.get("text"), join(path, "text")))
    if kind == "image_url" and role == "user":
        reject_unknown(obj, _IMAGE_PART_KEYS, path, "an image_url part")
        return _image(obj.get("image_url"), join(path, "image_url"))
    if kind == "refusal" and role == "assistant":
        reject_unknown(obj, _REFUSAL_PART_KEYS, path, "a refusal part")
        return TextPart(as_str(obj.get("refusal"), join(path, "refusal")))
    if isinstance(kind, str) and kind in _UNSUPPORTED_PARTS:
        raise invalid(type_path, f"content part type '{kind}' is not supported: {_UNSUPPORTED_PARTS[kind]}; "
                      "send text or image_url parts")
    allowed = {"user": "text, image_url", "assistant": "text, refusal"}.get(role, "text")
    if not isinstance(kind, str):
        raise wrong_type(type_path, "a string", kind)
    raise invalid(type_path, f"content part type {shown(kind)} is not allowed in {role} messages "
                  f"(allowed: {allowed})")


def _image(value: JSON, path: str) -> ImagePart:
    obj = as_object(value, path)
    reject_unknown(obj, _IMAGE_URL_KEYS, path, "an image_url")
    url = as_str(obj.get("url"), join(path, "url"), non_empty=True)
    detail_value = obj.get("detail")
    detail = one_of(detail_value, join(path, "detail"), _DETAILS) if detail_value is not None else None
    if url.startswith("data:"):
        m = _DATA_URL.fullmatch(url)
        if m is None or not m.group(2):
            raise invalid(join(path, "url"), "a data: URL must look like data:<media type>;base64,<data>, "
                          "its data base64 (A-Z, a-z, 0-9, '+', '/', '=' padding)")
        return ImagePart(media_type=m.group(1), data=m.group(2), detail=detail)
    if not url.startswith(("https://", "http://")):
        raise invalid(join(path, "url"), "expected an http(s) URL or a base64 data: URL")
    return ImagePart(url=url, detail=detail)


# ---- encoding (canonical → OpenAI) ---------------------------------------------------------


def encode_messages(messages: list[Message], system: list[TextPart], *, compatible: bool) -> list[JSON]:
    """`system` (lifted out by the Anthropic ingress) becomes one leading system message.
    `compatible` servers (Ollama, vLLM, llama.cpp chat templates) get text-only content as one
    string (Ollama splits content arrays into separate messages) and "developer" as "system"."""
    out: list[JSON] = []
    if system:
        out.append({"role": "system", "content": "\n\n".join(p.text for p in system)})
    for i, msg in enumerate(messages):
        content, role = msg.content, msg.role
        if (len(content) == 1 and role != "tool" and msg.name is None and not msg.tool_calls
                and isinstance(part := content[0], TextPart)):
            # the usual turn, one text: what _encode_message makes of it, without the call
            out.append({"role": "system" if compatible and role == "developer" else role, "content": part.text})
        else:
            out.append(_encode_message(msg, i, compatible))
    return out


def _encode_message(msg: Message, i: int, compatible: bool) -> JSONObject:
    content = msg.content
    if len(content) == 1 and msg.role != "tool" and msg.name is None and not msg.tool_calls:
        part = content[0]
        if isinstance(part, TextPart):  # the usual turn, one text: what the general path below makes of it
            return {"role": "system" if compatible and msg.role == "developer" else msg.role, "content": part.text}
    if msg.role != "user" and not _text_only(msg.content):
        path = f"messages[{i}]"
        raise InvalidRequest(f"Invalid '{path}.content': images in {msg.role} messages cannot be sent to an "
                             "OpenAI-format provider (only user messages may carry images).",
                             param=f"{path}.content")
    out: JSONObject = {"role": "system" if compatible and msg.role == "developer" else msg.role}
    if msg.role == "tool":
        out["tool_call_id"] = msg.tool_call_id or ""
    elif msg.name is not None:
        out["name"] = msg.name
    if msg.role == "assistant" and msg.tool_calls:
        out["content"] = encode_content(msg.content, compatible) if msg.content else None
        out["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in msg.tool_calls
        ]
    else:
        out["content"] = encode_content(msg.content, compatible)
    return out


def encode_content(parts: list[Part], join_text: bool) -> JSON:
    if not parts:
        return ""
    if len(parts) == 1:
        part = parts[0]
        if isinstance(part, TextPart):  # the usual message: one text
            return part.text
        return [_encode_part(part)]
    if join_text and _text_only(parts):
        return "\n".join([p.text for p in parts if isinstance(p, TextPart)])
    return [_encode_part(p) for p in parts]


def _text_only(parts: list[Part]) -> bool:
    for p in parts:
        if not isinstance(p, TextPart):
            return False
    return True


def _encode_part(part: Part) -> JSON:
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    if part.url is not None:
        url = part.url
    else:
        url = f"data:{part.media_type or 'application/octet-stream'};base64,{part.data or ''}"
    image: JSONObject = {"url": url}
    if part.detail is not None:
        image["detail"] = part.detail
    return {"type": "image_url", "image_url": image}


def arguments_text(value: JSON) -> str:
    """Tool-call arguments as JSON text (some compatible servers send an object)."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return orjson.dumps(value).decode()
