"""OpenAI chat-completions request body ⇄ canonical ChatRequest (validation and serialisation).

Vetted parameters outside the canonical model ride in `ChatRequest.extra` and reach OpenAI-format
upstreams only. Two of them are free strings that reach the provider, `prompt_cache_key` and
`safety_identifier`: the input policy scans them like `user` (policy/slots.py), and an Anthropic
upstream receives `safety_identifier` as `metadata.user_id` (anthropic/options.py). A request that
came in through the Anthropic ingress brings its `output_config.effort`, sent as `reasoning_effort`.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from bastion.core.errors import InvalidRequest
from bastion.core.makers import maker
from bastion.core.types import JSON, ChatRequest, JSONObject, Message, TextPart
from bastion.providers.openai.fields import (
    as_bool,
    as_ident,
    as_int,
    as_list,
    as_number,
    as_object,
    as_str,
    invalid,
    one_of,
    reject_unknown,
    shown,
)
from bastion.providers.openai.messages import decode_messages, encode_messages
from bastion.providers.openai.tools import decode_tool_choice, decode_tools, encode_tools

_CORE = frozenset({
    "model", "messages", "tools", "tool_choice", "parallel_tool_calls", "response_format", "stop",
    "max_tokens", "max_completion_tokens", "temperature", "top_p", "seed", "user", "n", "stream",
    "stream_options",
})
# The fields of the usual request: a body of only these has none of the others to look up.
_USUAL = frozenset({"model", "messages", "max_tokens", "max_completion_tokens", "temperature", "stream"})
# Known OpenAI parameters that are not supported, with the reason the client gets.
_REFUSED = {
    "functions": "deprecated; use 'tools'",
    "function_call": "deprecated; use 'tool_choice'",
    "audio": "Bastion serves text only",
    "prediction": "predicted outputs are not supported",
    "web_search_options": "web search is not supported",
    "moderation": "OpenAI-side moderation is not supported (its scores are not carried back to the client); "
                  "Bastion's own input and output policy moderates every request",
}
_FORMAT_TYPES = ("text", "json_object", "json_schema")
_SCHEMA_KEYS = frozenset({"name", "description", "schema", "strict"})


def _penalty(v: JSON, p: str) -> JSON:
    return as_number(v, p, lo=-2.0, hi=2.0)


def _logit_bias(v: JSON, p: str) -> JSON:
    obj = as_object(v, p)
    for token, bias in obj.items():
        if not token.isdigit():
            raise invalid(f"{p}.{token[:20]}", "keys are token ids (digits)")
        as_number(bias, f"{p}.{token}", lo=-100.0, hi=100.0)
    return obj


def _metadata(v: JSON, p: str) -> JSON:
    obj = as_object(v, p)
    if len(obj) > 16:
        raise invalid(p, "at most 16 key-value pairs")
    for key, value in obj.items():
        if len(key) > 64 or len(as_str(value, f"{p}.{key[:64]}")) > 512:
            raise invalid(f"{p}.{key[:64]}", "keys are at most 64 characters and values at most 512")
    return obj


def _bounded_str(limit: int) -> Callable[[JSON, str], JSON]:
    """A free string of at most `limit` characters (OpenAI's own limit): it reaches the provider,
    so the input policy scans it (policy/slots.py)."""

    def check(v: JSON, p: str) -> JSON:
        if len(as_str(v, p, non_empty=True)) > limit:
            raise invalid(p, f"at most {limit} characters")
        return v

    return check


_CACHE_TTL = re.compile(r"[0-9]{1,4}[smhd]")


def _prompt_cache_options(v: JSON, p: str) -> JSON:
    obj = as_object(v, p)
    reject_unknown(obj, frozenset({"mode", "ttl"}), p, "prompt_cache_options")
    if obj.get("mode") is not None:
        one_of(obj["mode"], f"{p}.mode", ("implicit", "explicit"))
    if obj.get("ttl") is not None and not _CACHE_TTL.fullmatch(as_str(obj["ttl"], f"{p}.ttl")):
        raise invalid(f"{p}.ttl", "expected a duration such as '30m'")
    return obj


def _modalities(v: JSON, p: str) -> JSON:
    if as_list(v, p) != ["text"]:
        raise invalid(p, 'only ["text"] is supported')
    return v


# Vetted non-text parameters carried in ChatRequest.extra for OpenAI-format upstreams only.
_EXTRA: dict[str, Callable[[JSON, str], JSON]] = {
    "frequency_penalty": _penalty,
    "presence_penalty": _penalty,
    "logit_bias": _logit_bias,
    "logprobs": as_bool,
    "top_logprobs": lambda v, p: as_int(v, p, lo=0, hi=20),
    "reasoning_effort": as_ident,
    "service_tier": as_ident,
    "store": as_bool,
    "metadata": _metadata,
    "modalities": _modalities,
    "verbosity": as_ident,
    "prompt_cache_key": _bounded_str(64),
    "safety_identifier": _bounded_str(128),
    "prompt_cache_retention": lambda v, p: one_of(v, p, ("in_memory", "24h")),
    "prompt_cache_options": _prompt_cache_options,
}


_REQUEST = maker(ChatRequest)

_native_encode: Callable[[ChatRequest, str, bool], JSONObject | None] | None
try:  # encode_request's usual body in C (_native_openai.c), None for any other request
    from bastion._native import request_encoder as _request_encoder
except ImportError:  # pragma: no cover - the package works without the C accelerator
    _native_encode = None
else:
    _native_encode = _request_encoder(ChatRequest, Message, TextPart)


def decode_request(body: JSONObject) -> ChatRequest:
    """The client's body in canonical form; InvalidRequest naming the field on error. The usual
    body (only `_USUAL` fields, each valid) is read here without a call per field; anything else,
    and every invalid field, goes to `_decode_general` (from the start: nothing here raises before
    the messages, whose errors come after the model's in both), which returns what this returns."""
    if type(body) is not dict or not body.keys() <= _USUAL:
        return _decode_general(body)
    get = body.get
    model, items = get("model"), get("messages")
    legacy, current, temperature, stream = (get("max_tokens"), get("max_completion_tokens"), get("temperature"),
                                            get("stream"))
    if (type(model) is not str or not model or type(items) is not list or not items
            or (legacy is not None and (type(legacy) is not int or legacy < 1))
            or (current is not None and (type(current) is not int or current < 1 or legacy not in (None, current)))
            or (temperature is not None and ((type(temperature) is not float and type(temperature) is not int)
                                             or not 0.0 <= temperature <= 2.0))  # (NaN is not)
            or (stream is not None and type(stream) is not bool)):
        return _decode_general(body)
    messages = decode_messages(items)
    # ChatRequest(model, messages, max_tokens=..., temperature=..., stream=...): every field, by position
    return _REQUEST(model, messages, [], [], None, current if current is not None else legacy,
                    None if temperature is None else float(temperature), None, None, [], stream is True, False,
                    None, None, None, None, {}, "openai")


def _decode_general(body: JSONObject) -> ChatRequest:
    if not isinstance(body, dict):
        raise InvalidRequest("request body must be a JSON object")
    extras = False
    for key in body:
        if key not in _CORE:
            if key not in _EXTRA:
                reason = _REFUSED.get(key, "Bastion forwards only parameters it can check")
                raise InvalidRequest(f"Unsupported parameter {shown(key)}: {reason}.", param=key[:64])
            extras = True
    get = body.get
    rare = not body.keys() <= _USUAL  # else the look-ups of the other fields would all find nothing
    # (model, messages) by position: keywords make a class call build and unpack a dict of them
    req = ChatRequest(as_str(get("model"), "model", non_empty=True), decode_messages(get("messages")))
    if rare:
        if (tools := get("tools")) is not None:
            req.tools = decode_tools(tools)
        choice, parallel = get("tool_choice"), get("parallel_tool_calls")
        if choice is not None or parallel is not None:
            req.tool_choice = decode_tool_choice(choice, parallel, req.tools)
        if (fmt := get("response_format")) is not None:
            req.response_format = _response_format(fmt)
        if (stop := get("stop")) is not None:
            req.stop = _stop(stop)
    req.max_tokens = _max_tokens(get("max_tokens"), get("max_completion_tokens"))
    if (v := get("temperature")) is not None:
        req.temperature = as_number(v, "temperature", lo=0.0, hi=2.0)
    if rare:
        if (v := get("top_p")) is not None:
            req.top_p = as_number(v, "top_p", lo=0.0, hi=1.0)
        if (v := get("seed")) is not None:
            req.seed = as_int(v, "seed")
        if (v := get("user")) is not None:
            req.user = as_str(v, "user")
        if (v := get("n")) is not None:
            req.n = as_int(v, "n", lo=1, hi=128)
    if (v := get("stream")) is not None:
        req.stream = as_bool(v, "stream")
    if rare and (v := get("stream_options")) is not None:
        req.include_usage = _stream_options(v, req.stream)
    if extras:
        for key, check in _EXTRA.items():
            if (v := get(key)) is not None:
                req.extra[key] = check(v, key)
    return req


def _response_format(value: JSON) -> JSONObject:
    obj = as_object(value, "response_format")
    kind = one_of(obj.get("type"), "response_format.type", _FORMAT_TYPES)
    if kind != "json_schema":
        reject_unknown(obj, frozenset({"type"}), "response_format", f"a {kind} response_format")
        return obj
    reject_unknown(obj, frozenset({"type", "json_schema"}), "response_format", "a json_schema response_format")
    schema = as_object(obj.get("json_schema"), "response_format.json_schema")
    reject_unknown(schema, _SCHEMA_KEYS, "response_format.json_schema", "json_schema")
    as_str(schema.get("name"), "response_format.json_schema.name", non_empty=True)
    for key, check in (("description", as_str), ("schema", as_object), ("strict", as_bool)):
        if schema.get(key) is not None:
            check(schema[key], f"response_format.json_schema.{key}")
    return obj


def _stop(value: JSON) -> list[str]:
    if isinstance(value, str):
        return [value]
    items = as_list(value, "stop")
    if len(items) > 4:
        raise invalid("stop", "at most 4 stop sequences")
    return [as_str(s, f"stop[{i}]", non_empty=True) for i, s in enumerate(items)]


def _max_tokens(legacy: JSON, current: JSON) -> int | None:
    a = as_int(legacy, "max_tokens", lo=1) if legacy is not None else None
    b = as_int(current, "max_completion_tokens", lo=1) if current is not None else None
    if a is not None and b is not None and a != b:
        raise invalid("max_completion_tokens", "conflicts with max_tokens; send one of them")
    return b if b is not None else a


def _stream_options(value: JSON, stream: bool) -> bool:
    if not stream:
        raise invalid("stream_options", "only allowed when 'stream' is true")
    obj = as_object(value, "stream_options")
    reject_unknown(obj, frozenset({"include_usage", "include_obfuscation"}), "stream_options", "stream_options")
    if (ob := obj.get("include_obfuscation")) is not None:
        as_bool(ob, "stream_options.include_obfuscation")
    usage = obj.get("include_usage")
    return as_bool(usage, "stream_options.include_usage") if usage is not None else False


def encode_request(req: ChatRequest, model: str, *, compatible: bool) -> JSONObject:
    """The upstream body. `compatible` selects the dialect of Ollama/vLLM/llama.cpp: legacy
    `max_tokens`, `top_k` kept, text-only content sent as one string. With the C accelerator the usual
    request (text turns only, no system, tools, stop or extra) is encoded in C, the same body
    (tests/unit/providers/openai/test_request_native.py holds them equal)."""
    if _native_encode is not None:
        made = _native_encode(req, model, compatible)
        if made is not None:
            return made
    body: JSONObject = {"model": model, "messages": encode_messages(req.messages, req.system, compatible=compatible)}
    if req.tools:
        encode_tools(req.tools, req.tool_choice, body)
    if req.max_tokens is not None:
        body["max_tokens" if compatible else "max_completion_tokens"] = req.max_tokens
    if req.temperature is not None:
        body["temperature"] = req.temperature
    if req.top_p is not None:
        body["top_p"] = req.top_p
    if req.top_k is not None and compatible:
        body["top_k"] = req.top_k
    if req.stop:
        body["stop"] = list(req.stop)
    if req.seed is not None:
        body["seed"] = req.seed
    if req.user is not None:
        body["user"] = req.user
    if req.n is not None:
        body["n"] = req.n
    if req.response_format is not None:
        body["response_format"] = req.response_format
    if req.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    if not req.extra:  # most requests: no extra parameter to pass on (no generator for none)
        pass
    elif req.ingress == "openai":
        # Only vetted keys pass (never over a core field), and another ingress' extras never cross formats.
        body.update((k, v) for k, v in req.extra.items() if k in _EXTRA and k not in body)
    elif isinstance(effort := req.extra.get("effort"), str):
        # Anthropic's output_config.effort: every value it has (low ... max) is an OpenAI reasoning_effort too
        body["reasoning_effort"] = effort
    return body

