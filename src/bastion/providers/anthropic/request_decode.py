"""Client Messages request → canonical ChatRequest, strictly validated.

Every field Bastion does not understand is rejected with its path: an unknown block or field may
carry text a model reads, and text that the input policy never scanned must not reach a model.
Carried as canonical CacheHints: `cache_control` on content blocks, system blocks and tools
(validated in cache.py; Anthropic upstreams receive it at the same positions, OpenAI ones cache
on their own and drop it). Passed on in `extra` (to Anthropic upstreams only): `thinking`, a
validated non-text configuration; `output_config.effort`, `service_tier`, `speed`, `inference_geo` and
the top-level `cache_control` (automatic caching: one of the 4 breakpoints), each validated.
`output_config.format` (a JSON schema) becomes the canonical `response_format` (OpenAI's json_schema
form, named OUTPUT_FORMAT_NAME, strict), so the input policy scans the schema as it does OpenAI's and
OpenAI-format upstreams get a response_format. Reasoning blocks of assistant turns (`thinking` with its
`signature`, `redacted_thinking` with its `data`) are kept unchanged as the message's
ThinkingParts, for Anthropic upstreams only: the upstream checks each against its signature (a
changed or forged block is refused), which is why the input policy does not rewrite them.
"""

from __future__ import annotations

import re

import orjson

from bastion.core.errors import InvalidRequest
from bastion.core.makers import maker
from bastion.core.types import (
    JSON,
    ChatRequest,
    ImagePart,
    JSONObject,
    Message,
    Part,
    TextPart,
    ThinkingPart,
    ToolCall,
    ToolChoice,
    ToolDef,
)
from bastion.providers.anthropic.cache import Breakpoints
from bastion.providers.anthropic.fields import (
    arr,
    boolean,
    integer,
    label,
    number,
    obj,
    only_keys,
    required,
    string,
)
from bastion.providers.anthropic.options import decode_options, decode_output_config, refuse_known

_TOP = frozenset({"model", "max_tokens", "messages", "system", "temperature", "top_p", "top_k",
                  "stop_sequences", "stream", "tools", "tool_choice", "metadata", "thinking", "output_config",
                  "service_tier", "speed", "inference_geo", "cache_control"})
_TEXT_KEYS = frozenset({"type", "text", "cache_control", "citations"})
_IMAGE_KEYS = frozenset({"type", "source", "cache_control"})
_TOOL_USE_KEYS = frozenset({"type", "id", "name", "input", "cache_control"})
_TOOL_RESULT_KEYS = frozenset({"type", "tool_use_id", "content", "is_error", "cache_control"})
_TOOL_KEYS = frozenset({"type", "name", "description", "input_schema", "cache_control"})
_THINKING_KEYS = frozenset({"type", "thinking", "signature"})
_REDACTED_THINKING_KEYS = frozenset({"type", "data"})
# an image's data must be base64: anything else would be text that reaches the provider unscanned
_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")


def _block_type(block: JSONObject, path: str) -> str:
    return string(required(block, "type", path), f"{path}.type", non_empty=True)


def _unsupported_block(btype: str, path: str, where: str) -> InvalidRequest:
    return InvalidRequest(f"{path}.type: content block type '{label(btype)}' is not supported in {where} "
                          "by Bastion", param=f"{path}.type")


def _text(block: JSONObject, path: str, bp: Breakpoints) -> TextPart:
    only_keys(block, _TEXT_KEYS, path, "a text block")
    citations = block.get("citations")
    if citations is not None and citations != []:
        raise InvalidRequest(f"{path}.citations: citations in input blocks are not supported",
                             param=f"{path}.citations")
    text = string(required(block, "text", path), f"{path}.text")
    cache = bp.read(block, path)
    if cache is not None and not text:
        raise InvalidRequest(f"{path}.cache_control: a cache breakpoint cannot be set on an empty text block",
                             param=f"{path}.cache_control")
    return TextPart(text, cache=cache)


def _image(block: JSONObject, path: str, bp: Breakpoints) -> ImagePart:
    only_keys(block, _IMAGE_KEYS, path, "an image block")
    spath = f"{path}.source"
    source = obj(required(block, "source", path), spath)
    stype = string(required(source, "type", spath), f"{spath}.type")
    if stype == "base64":
        only_keys(source, ("type", "media_type", "data"), spath, "a base64 image source")
        data = string(required(source, "data", spath), f"{spath}.data", non_empty=True)
        if not _BASE64.fullmatch(data):
            raise InvalidRequest(f"{spath}.data: must be base64 (A-Z, a-z, 0-9, '+', '/', '=' padding)",
                                 param=f"{spath}.data")
        return ImagePart(media_type=string(required(source, "media_type", spath), f"{spath}.media_type",
                                           non_empty=True),
                         data=data, cache=bp.read(block, path))
    if stype == "url":
        only_keys(source, ("type", "url"), spath, "a url image source")
        return ImagePart(url=string(required(source, "url", spath), f"{spath}.url", non_empty=True),
                         cache=bp.read(block, path))
    raise InvalidRequest(f"{spath}.type: image source type '{label(stype)}' is not supported "
                         "(use base64 or url)", param=f"{spath}.type")


def _tool_use(block: JSONObject, path: str, bp: Breakpoints) -> ToolCall:
    only_keys(block, _TOOL_USE_KEYS, path, "a tool_use block")
    tool_input = obj(required(block, "input", path), f"{path}.input")
    return ToolCall(id=string(required(block, "id", path), f"{path}.id", non_empty=True),
                    name=string(required(block, "name", path), f"{path}.name", non_empty=True),
                    arguments=orjson.dumps(tool_input).decode(), cache=bp.read(block, path))


def _tool_result(block: JSONObject, path: str, bp: Breakpoints) -> Message:
    only_keys(block, _TOOL_RESULT_KEYS, path, "a tool_result block")
    call_id = string(required(block, "tool_use_id", path), f"{path}.tool_use_id", non_empty=True)
    is_error = boolean(block["is_error"], f"{path}.is_error") if "is_error" in block else False
    content: list[Part] = []
    raw = block.get("content")
    if isinstance(raw, str):
        content.append(TextPart(raw))
    elif raw is not None:
        for j, item in enumerate(arr(raw, f"{path}.content")):
            ipath = f"{path}.content[{j}]"
            inner = obj(item, ipath)
            itype = _block_type(inner, ipath)
            if itype == "text":
                content.append(_text(inner, ipath, bp))
            elif itype == "image":
                content.append(_image(inner, ipath, bp))
            else:
                raise _unsupported_block(itype, ipath, "tool_result content")
    return Message(role="tool", tool_call_id=call_id, content=content, is_error=is_error,
                   cache=bp.read(block, path))


def _user(content: list[JSON], path: str, bp: Breakpoints) -> list[Message]:
    """Tool results become role "tool" messages (in order), then one user message with the rest."""
    out: list[Message] = []
    rest: list[Part] = []
    for j, item in enumerate(content):
        bpath = f"{path}[{j}]"
        block = obj(item, bpath)
        btype = _block_type(block, bpath)
        if btype == "text":
            rest.append(_text(block, bpath, bp))
        elif btype == "image":
            rest.append(_image(block, bpath, bp))
        elif btype == "tool_result":
            out.append(_tool_result(block, bpath, bp))
        else:
            raise _unsupported_block(btype, bpath, "user messages")
    if rest or not out:
        out.append(Message(role="user", content=rest))
    return out


def _thinking_block(block: JSONObject, btype: str, path: str) -> ThinkingPart:
    """A reasoning block passed back: its fields exactly as the client sent them (no cache_control:
    Anthropic does not accept a breakpoint on one)."""
    if btype == "redacted_thinking":
        only_keys(block, _REDACTED_THINKING_KEYS, path, "a redacted_thinking block")
        return ThinkingPart(redacted=string(required(block, "data", path), f"{path}.data"))
    only_keys(block, _THINKING_KEYS, path, "a thinking block")
    text = string(required(block, "thinking", path), f"{path}.thinking")
    signature = string(required(block, "signature", path), f"{path}.signature")
    if not signature:
        raise InvalidRequest(f"{path}.signature: must not be empty (a thinking block whose text the output "
                             "policy redacted is unsigned and cannot be passed back)", param=f"{path}.signature")
    return ThinkingPart(text, signature=signature)


def _assistant(content: list[JSON], path: str, bp: Breakpoints) -> Message:
    msg = Message(role="assistant")
    for j, item in enumerate(content):
        bpath = f"{path}[{j}]"
        block = obj(item, bpath)
        btype = _block_type(block, bpath)
        if btype == "text":
            msg.content.append(_text(block, bpath, bp))
        elif btype == "tool_use":
            msg.tool_calls.append(_tool_use(block, bpath, bp))
        elif btype == "thinking" or btype == "redacted_thinking":
            msg.thinking.append(_thinking_block(block, btype, bpath))
        else:
            raise _unsupported_block(btype, bpath, "assistant messages")
    return msg


def _messages(raw: JSON, bp: Breakpoints) -> list[Message]:
    items = arr(raw, "messages")
    if not items:
        raise InvalidRequest("messages: at least one message is required", param="messages")
    out: list[Message] = []
    for i, item in enumerate(items):
        path = f"messages[{i}]"
        m = obj(item, path)
        only_keys(m, ("role", "content"), path, "a message")
        role = string(required(m, "role", path), f"{path}.role")
        if role not in ("user", "assistant"):
            raise InvalidRequest(f"{path}.role: must be 'user' or 'assistant' (system prompts go in "
                                 "the top-level 'system' field)", param=f"{path}.role")
        content = required(m, "content", path)
        if isinstance(content, str):
            # Message(role, [TextPart(content)]): every field, by position (core/makers.py)
            out.append(_MESSAGE("user" if role == "user" else "assistant", [_TEXT(content, "text", None)], [],
                                None, None, False, None, []))
            continue
        blocks = arr(content, f"{path}.content")
        if role == "user":
            out.extend(_user(blocks, f"{path}.content", bp))
        else:
            out.append(_assistant(blocks, f"{path}.content", bp))
    return out


def _system(raw: JSON, bp: Breakpoints) -> list[TextPart]:
    if isinstance(raw, str):
        return [TextPart(raw)]
    parts: list[TextPart] = []
    for j, item in enumerate(arr(raw, "system")):
        path = f"system[{j}]"
        block = obj(item, path)
        btype = _block_type(block, path)
        if btype != "text":
            raise _unsupported_block(btype, path, "the system prompt")
        parts.append(_text(block, path, bp))
    return parts


def _tools(raw: JSON, bp: Breakpoints) -> list[ToolDef]:
    tools: list[ToolDef] = []
    for i, item in enumerate(arr(raw, "tools")):
        path = f"tools[{i}]"
        t = obj(item, path)
        ttype = t.get("type")
        if ttype is not None and ttype != "custom":
            raise InvalidRequest(f"{path}.type: server/built-in tool '{label(ttype)}' is not supported by Bastion "
                                 "(only custom tools with name, description, input_schema)",
                                 param=f"{path}.type")
        only_keys(t, _TOOL_KEYS, path, "a tool")
        desc = t.get("description")
        tools.append(ToolDef(name=string(required(t, "name", path), f"{path}.name", non_empty=True),
                             description=None if desc is None else string(desc, f"{path}.description"),
                             parameters=obj(required(t, "input_schema", path), f"{path}.input_schema"),
                             cache=bp.read(t, path)))
    return tools


def _tool_choice(raw: JSON) -> ToolChoice:
    tc = obj(raw, "tool_choice")
    ctype = string(required(tc, "type", "tool_choice"), "tool_choice.type")
    if ctype == "none":
        only_keys(tc, ("type",), "tool_choice", "tool_choice")
        return ToolChoice(mode="none")
    if ctype not in ("auto", "any", "tool"):
        raise InvalidRequest("tool_choice.type: must be one of auto, any, tool, none", param="tool_choice.type")
    allowed = ("type", "name", "disable_parallel_tool_use") if ctype == "tool" else (
        "type", "disable_parallel_tool_use")
    only_keys(tc, allowed, "tool_choice", f"tool_choice of type {ctype}")
    disable = tc.get("disable_parallel_tool_use", False)
    disable = boolean(disable, "tool_choice.disable_parallel_tool_use")
    if ctype == "tool":
        name = string(required(tc, "name", "tool_choice"), "tool_choice.name", non_empty=True)
        return ToolChoice(mode="tool", name=name, disable_parallel=disable)
    return ToolChoice(mode="auto" if ctype == "auto" else "required", disable_parallel=disable)


def _thinking(raw: JSON) -> JSONObject:
    th = obj(raw, "thinking")
    ttype = string(required(th, "type", "thinking"), "thinking.type")
    if ttype == "enabled":
        only_keys(th, ("type", "budget_tokens"), "thinking", "thinking")
        budget = integer(required(th, "budget_tokens", "thinking"), "thinking.budget_tokens", minimum=1)
        return {"type": "enabled", "budget_tokens": budget}
    if ttype in ("disabled", "adaptive"):
        only_keys(th, ("type",), "thinking", "thinking")
        return {"type": ttype}
    raise InvalidRequest("thinking.type: must be one of enabled, disabled, adaptive", param="thinking.type")


_TEXT, _MESSAGE, _REQUEST = maker(TextPart), maker(Message), maker(ChatRequest)


def decode_request(body: JSONObject) -> ChatRequest:
    if not isinstance(body, dict):
        raise InvalidRequest("the request body must be a JSON object")
    refuse_known(body)
    only_keys(body, _TOP, "", "a Messages request")
    bp = Breakpoints()
    model = string(required(body, "model", ""), "model", non_empty=True)
    max_tokens = integer(required(body, "max_tokens", ""), "max_tokens", minimum=1)
    messages = _messages(required(body, "messages", ""), bp)
    # ChatRequest(model, messages, max_tokens=..., ingress="anthropic"): every field, by position (core/makers.py)
    req = _REQUEST(model, messages, [], [], None, max_tokens, None, None, None, [], False, False, None, None, None,
                   None, {}, "anthropic")
    if (system := body.get("system")) is not None:
        req.system = _system(system, bp)
    if (temperature := body.get("temperature")) is not None:
        req.temperature = number(temperature, "temperature", low=0.0, high=1.0)
    if (top_p := body.get("top_p")) is not None:
        req.top_p = number(top_p, "top_p", low=0.0, high=1.0)
    if (top_k := body.get("top_k")) is not None:
        req.top_k = integer(top_k, "top_k", minimum=1)
    if (stops := body.get("stop_sequences")) is not None:
        req.stop = [string(s, f"stop_sequences[{i}]") for i, s in enumerate(arr(stops, "stop_sequences"))]
    if (stream := body.get("stream")) is not None:
        req.stream = boolean(stream, "stream")
        req.include_usage = req.stream  # Anthropic streams always report usage
    if (tools := body.get("tools")) is not None:
        req.tools = _tools(tools, bp)
    if (tool_choice := body.get("tool_choice")) is not None:
        req.tool_choice = _tool_choice(tool_choice)
    if (metadata := body.get("metadata")) is not None:
        meta = obj(metadata, "metadata")
        only_keys(meta, ("user_id",), "metadata", "metadata")
        if (user_id := meta.get("user_id")) is not None:
            req.user = string(user_id, "metadata.user_id")
    if (thinking := body.get("thinking")) is not None:
        req.extra["thinking"] = _thinking(thinking)
    if (output_config := body.get("output_config")) is not None:
        decode_output_config(output_config, req)
    decode_options(body, req, bp)
    bp.check()
    return req
