"""OpenAI `chat.completion` objects ⇄ canonical ChatResponse, plus the usage and finish-reason maps."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

from bastion.core.makers import maker
from bastion.core.types import (
    JSON,
    ChatResponse,
    Choice,
    FinishReason,
    JSONObject,
    Part,
    TextPart,
    ToolCall,
    Usage,
)
from bastion.providers.openai.errors import embedded_error, malformed
from bastion.providers.openai.messages import arguments_text

FINISH_REASONS: dict[str, FinishReason] = {  # wire → canonical
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "content_filter": "content_filter",
    "function_call": "tool_calls",
    "error": "error",
    "abort": "error",  # vLLM
}
_WHAT = "chat completion"


def new_id() -> str:
    return "chatcmpl-" + secrets.token_hex(12)


def decode_finish(value: JSON, what: str = _WHAT) -> FinishReason | None:
    """Vendor finish reason → canonical; unknown values of compatible servers read as "stop"."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise malformed(what, "finish_reason is not a string")
    return FINISH_REASONS.get(value, "stop")


def wire_finish(reason: FinishReason | None) -> str:
    """Canonical → OpenAI; OpenAI has no "error" reason (errors travel as error envelopes)."""
    return "stop" if reason is None or reason == "error" else reason


# More tokens than any request can hold: a count beyond it is a broken upstream, and it would
# overflow the 64-bit integers of cost, the usage store, Redis and the audit record downstream.
MAX_TOKEN_COUNT = 10**9


def _count(obj: JSONObject, key: str, what: str) -> int:
    value = obj.get(key)
    if value is None:
        return 0
    if type(value) is not int or value < 0:  # JSON gives int, never a subclass but bool
        raise malformed(what, f"usage.{key} is not a non-negative integer")
    if value > MAX_TOKEN_COUNT:
        raise malformed(what, f"usage.{key} is not a plausible token count (over {MAX_TOKEN_COUNT})")
    return value


def decode_usage(value: JSON, what: str = _WHAT) -> Usage | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise malformed(what, "usage is not an object")
    # A plausible count is taken as is; anything else (absent, null, wrong) goes through _count,
    # in the same order, for its 0 or its error. (input_tokens, output_tokens) by position, as
    # ChatResponse below.
    i, o = value.get("prompt_tokens"), value.get("completion_tokens")
    usage = _USAGE(i if type(i) is int and 0 <= i <= MAX_TOKEN_COUNT else _count(value, "prompt_tokens", what),
                   o if type(o) is int and 0 <= o <= MAX_TOKEN_COUNT else _count(value, "completion_tokens", what),
                   0, 0, 0, 0)  # every field by position (core/makers.py), the others 0 as their defaults
    details = value.get("prompt_tokens_details")
    if isinstance(details, dict):
        n = details.get("cached_tokens")
        usage.cached_input_tokens = (n if type(n) is int and 0 <= n <= MAX_TOKEN_COUNT
                                     else _count(details, "cached_tokens", what))
    details = value.get("completion_tokens_details")
    if isinstance(details, dict):
        n = details.get("reasoning_tokens")
        usage.reasoning_tokens = (n if type(n) is int and 0 <= n <= MAX_TOKEN_COUNT
                                  else _count(details, "reasoning_tokens", what))
    return usage


def encode_usage(usage: Usage) -> JSONObject:
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_input_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }


_TEXT, _USAGE, _CHOICE, _RESPONSE = maker(TextPart), maker(Usage), maker(Choice), maker(ChatResponse)

_native_completion: Callable[..., ChatResponse | None] | None
try:  # the usual answer in C (_native_openai.c), None for any other: the Python paths below decide
    from bastion._native import openai_completion as _native_completion
except ImportError:  # pragma: no cover - the package works without the C accelerator
    _native_completion = None


def decode_response(body: JSONObject) -> ChatResponse:
    """The upstream's completion in canonical form. The usual answer (every choice a text or no
    content, no refusal, no tool calls; plain usage counts) is read here without a call per field;
    anything else, and every error, goes to `_decode_general` (from the start: nothing here raises),
    which returns what this returns for the usual answer (tests/unit/providers/openai hold them equal).
    With the C accelerator the usual answer is made in C, the same (test_response_native.py holds them equal)."""
    if _native_completion is not None:
        made = _native_completion(body, _TEXT, _CHOICE, _USAGE, _RESPONSE, FINISH_REASONS)
        if made is not None:
            return made
    if type(body) is not dict or body.get("error") is not None:
        return _decode_general(body)
    choices, rid, model, created = body.get("choices"), body.get("id", ""), body.get("model", ""), body.get("created", 0)
    if type(choices) is not list or type(rid) is not str or type(model) is not str or type(created) is not int:
        return _decode_general(body)
    value = body.get("usage")
    if value is None:
        usage = None
    elif type(value) is dict:
        i, o = value.get("prompt_tokens"), value.get("completion_tokens")
        if (type(i) is not int or not 0 <= i <= MAX_TOKEN_COUNT
                or type(o) is not int or not 0 <= o <= MAX_TOKEN_COUNT):
            return _decode_general(body)
        cached = reasoning = 0  # (absent or null: 0, as `_count` reads them)
        details = value.get("prompt_tokens_details")
        if isinstance(details, dict) and (n := details.get("cached_tokens")) is not None:
            if type(n) is not int or not 0 <= n <= MAX_TOKEN_COUNT:
                return _decode_general(body)
            cached = n
        details = value.get("completion_tokens_details")
        if isinstance(details, dict) and (n := details.get("reasoning_tokens")) is not None:
            if type(n) is not int or not 0 <= n <= MAX_TOKEN_COUNT:
                return _decode_general(body)
            reasoning = n
        # Usage(input, output, cached_input, cache_write, reasoning, cache_write_1h): every field, by position
        usage = _USAGE(i, o, cached, 0, reasoning, 0)
    else:
        return _decode_general(body)
    out: list[Choice] = []
    for position, c in enumerate(choices):
        if type(c) is not dict or type(msg := c.get("message")) is not dict:
            return _decode_general(body)
        content, index, finish = msg.get("content"), c.get("index", position), c.get("finish_reason")
        if (msg.get("refusal") is not None or msg.get("tool_calls") is not None or type(index) is not int
                or not (content is None or type(content) is str)):
            return _decode_general(body)
        if type(finish) is str:
            finish = FINISH_REASONS.get(finish, "stop")
        elif finish is not None:
            return _decode_general(body)
        # Choice(index, content, tool_calls, finish_reason, refusal, thinking), by position (core/makers.py)
        out.append(_CHOICE(index, [_TEXT(content, "text", None)] if content else [], [], finish, None, []))
    return _RESPONSE(rid, model, out, usage, created, None)


def _decode_general(body: JSONObject) -> ChatResponse:
    """`decode_response` of any answer, with its checks in order: the first failing one is the error."""
    if not isinstance(body, dict):
        raise malformed(_WHAT, "expected a JSON object")
    if body.get("error") is not None:
        raise embedded_error(body, "instead of a completion")
    choices = body.get("choices")
    if not isinstance(choices, list):
        raise malformed(_WHAT, "'choices' is not an array")
    rid, model, created = body.get("id", ""), body.get("model", ""), body.get("created", 0)
    if not isinstance(rid, str) or not isinstance(model, str):
        raise malformed(_WHAT, "'id' and 'model' must be strings")
    if not isinstance(created, int) or isinstance(created, bool):
        raise malformed(_WHAT, "'created' is not an integer")
    usage = decode_usage(body.get("usage"))  # checked before the choices, as ever
    # (by position: keywords make a class call build and unpack a dict of them)
    return ChatResponse(rid, model, [_choice(c, i) for i, c in enumerate(choices)], usage, created)


def _choice(value: JSON, position: int) -> Choice:
    if type(value) is dict and type(msg := value.get("message")) is dict:
        # the usual choice: a text (or no) content, no refusal, no tool calls; errors name the
        # place, so anything else goes through the checks below
        content = msg.get("content")
        index = value.get("index", position)
        if ((content is None or type(content) is str) and msg.get("refusal") is None
                and msg.get("tool_calls") is None and type(index) is int):
            # index, content, tool_calls, finish_reason (by position, as ChatResponse above)
            return Choice(index, [TextPart(content)] if content else [], [],
                          decode_finish(value.get("finish_reason")))
    where = f"choices[{position}]"
    if not isinstance(value, dict):
        raise malformed(_WHAT, f"{where} is not an object")
    index = value.get("index", position)
    if not isinstance(index, int) or isinstance(index, bool):
        raise malformed(_WHAT, f"{where}.index is not an integer")
    msg = value.get("message")
    if not isinstance(msg, dict):
        raise malformed(_WHAT, f"{where}.message is not an object")
    refusal = msg.get("refusal")
    if refusal is not None and not isinstance(refusal, str):
        raise malformed(_WHAT, f"{where}.message.refusal is not a string")
    calls = msg.get("tool_calls")
    if calls is not None and not isinstance(calls, list):
        raise malformed(_WHAT, f"{where}.message.tool_calls is not an array")
    return Choice(index=index, content=_content(msg.get("content"), where), refusal=refusal,
                  tool_calls=[_tool_call(c, f"{where}.message.tool_calls[{i}]") for i, c in enumerate(calls or [])],
                  finish_reason=decode_finish(value.get("finish_reason")))


def _content(value: JSON, where: str) -> list[Part]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [TextPart(value)]
    if isinstance(value, list):  # some compatible servers answer with text parts
        texts: list[str] = []
        for part in value:
            text = part.get("text") if isinstance(part, dict) and part.get("type") == "text" else None
            if isinstance(text, str):
                texts.append(text)
            else:
                raise malformed(_WHAT, f"{where}.message.content holds a part that is not text")
        # one text, as the client receives it: a value split across parts is scanned whole
        return [TextPart("".join(texts))] if any(texts) else []
    raise malformed(_WHAT, f"{where}.message.content is not a string")


def _tool_call(value: JSON, where: str) -> ToolCall:
    fn = value.get("function") if isinstance(value, dict) else None
    if not isinstance(value, dict) or not isinstance(fn, dict):
        raise malformed(_WHAT, f"{where} is not a function tool call")
    name, call_id = fn.get("name"), value.get("id")
    if not isinstance(name, str) or not name:
        raise malformed(_WHAT, f"{where}.function.name is not a string")
    if call_id is not None and not isinstance(call_id, str):
        raise malformed(_WHAT, f"{where}.id is not a string")
    # Some compatible servers omit ids; a stable one keeps tool results matchable.
    return ToolCall(id=call_id or f"call_{secrets.token_hex(8)}", name=name,
                    arguments=arguments_text(fn.get("arguments")))


def encode_response(resp: ChatResponse, model: str) -> JSONObject:
    choices: list[JSON] = []
    for c in resp.choices:
        if not c.tool_calls and c.refusal is None:
            # the usual choice (what the general path below makes of it): its text, even empty
            parts = c.content
            text = parts[0].text if len(parts) == 1 and type(parts[0]) is TextPart else c.text()
            fr = c.finish_reason
            choices.append({"index": c.index,
                            "message": {"role": "assistant", "content": text, "refusal": None},
                            "finish_reason": "stop" if fr is None or fr == "error" else fr, "logprobs": None})
            continue
        text = c.text()
        message: JSONObject = {
            "role": "assistant",
            "content": text if text or not (c.tool_calls or c.refusal) else None,
            "refusal": c.refusal,
        }
        if c.tool_calls:
            message["tool_calls"] = [
                {"id": t.id, "type": "function", "function": {"name": t.name, "arguments": t.arguments}}
                for t in c.tool_calls
            ]
        choices.append({"index": c.index, "message": message, "finish_reason": wire_finish(c.finish_reason),
                        "logprobs": None})
    out: JSONObject = {
        "id": resp.id or new_id(),
        "object": "chat.completion",
        "created": resp.created or int(time.time()),
        "model": model,
        "choices": choices,
    }
    usage = resp.usage
    if usage is not None:  # encode_usage, inlined
        out["usage"] = {
            "prompt_tokens": usage.input_tokens,
            "completion_tokens": usage.output_tokens,
            "total_tokens": usage.input_tokens + usage.output_tokens,
            "prompt_tokens_details": {"cached_tokens": usage.cached_input_tokens},
            "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        }
    return out

