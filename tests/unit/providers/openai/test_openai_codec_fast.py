"""The usual-shape fast paths of the OpenAI codec (providers/openai/request.py, response.py) against the
general path: the same canonical objects (to their reprs: an int temperature is a float in both), the same
error (type, message, parameter), the same upstream and client bodies (to the byte, key order included).
The encoders are held to frozen copies of the code before the fast paths."""

from __future__ import annotations

import math
import time
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bastion.core.errors import BastionError
from bastion.core.types import (
    JSON,
    ChatRequest,
    ChatResponse,
    Choice,
    ImagePart,
    JSONObject,
    Message,
    TextPart,
    ToolCall,
    ToolDef,
    Usage,
)
from bastion.providers.openai import request, response
from bastion.providers.openai.messages import _encode_message
from bastion.providers.openai.response import encode_usage, new_id, wire_finish
from bastion.providers.openai.tools import encode_tools

FAST = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def outcome(fn: Any, *args: Any) -> tuple[Any, ...]:
    try:
        got = fn(*args)
    except BastionError as e:
        return ("error", type(e).__name__, str(e), e.param, e.status)
    return ("ok", repr(got), got)


# ---- requests -------------------------------------------------------------------------------

_MESSAGES: list[Any] = [
    {"role": "system", "content": "be brief"},
    {"role": "developer", "content": "d"},
    {"role": "user", "content": "hello"},
    {"role": "assistant", "content": "hi"},
    {"content": "hello", "role": "user"},
    {"role": "user", "content": ""},
    {"role": "user", "content": [{"type": "text", "text": "x"}, {"type": "text", "text": "y"}]},
    {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]},
    {"role": "user", "content": "x", "name": "bob"},
    {"role": "tool", "content": "42", "tool_call_id": "c1"},
    {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function",
                                                            "function": {"name": "f", "arguments": "{}"}}]},
    {"role": "tool", "content": "42"},
    {"role": "function", "content": "x"},
    {"role": ["user"], "content": "x"},
    {"role": "user", "content": 5},
    {"role": "user", "content": "x", "extra": 1},
    {"role": "user"},
    ["user", "x"],
]
_ODD: list[Any] = [None, True, False, "10", 2.5, [], {}, -1, 0]
_NUMBERS = st.one_of(st.integers(-3, 300), st.sampled_from(_ODD))
_TEMPERATURES = st.one_of(st.floats(-1.0, 3.0), st.sampled_from([math.nan, math.inf, -math.inf, 0, 1, 2, 3]),
                          st.sampled_from(_ODD))
_FIELDS: dict[str, Any] = {
    "model": st.sampled_from(["gpt-4o-mini", "m", "", 5, None, True, ["m"]]),
    "messages": st.one_of(st.lists(st.sampled_from(_MESSAGES), max_size=4), st.sampled_from(_ODD)),
    "max_tokens": _NUMBERS,
    "max_completion_tokens": _NUMBERS,
    "temperature": _TEMPERATURES,
    "stream": st.sampled_from([True, False, None, 0, "yes"]),
    "top_p": st.sampled_from([0.5, 2.0, None]),
    "user": st.sampled_from(["u", 5]),
    "stream_options": st.sampled_from([{"include_usage": True}, None]),
    "logprobs": st.sampled_from([True, "x"]),
    "functions": st.just([]),
    "bogus": st.just(1),
}
_USUAL = ["model", "messages", "max_tokens", "max_completion_tokens", "temperature", "stream"]


@st.composite
def bodies(draw: st.DrawFn) -> Any:
    keys = draw(st.lists(st.sampled_from(list(_FIELDS) + _USUAL * 3), max_size=8, unique=True))
    if draw(st.booleans()):  # the usual body, each value valid: the fast path's whole way
        keys = [k for k in keys if k in _USUAL] + ["model", "messages"]
    body = {k: draw(_FIELDS[k]) for k in keys}
    if "model" in body and draw(st.booleans()):
        body["model"] = "gpt-4o-mini"
    if draw(st.booleans()):
        body["messages"] = draw(st.lists(st.sampled_from(_MESSAGES[:5]), min_size=1, max_size=3))
    return draw(st.sampled_from([body, body, body, [body], "x", None]))


@st.composite
def near_usual_bodies(draw: st.DrawFn) -> Any:
    """A valid usual body with up to two of its fields changed (the fast path's edges)."""
    body: dict[str, Any] = {"model": "gpt-4o-mini", "max_tokens": 256, "temperature": 0.2, "stream": False,
                            "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]}
    for key in draw(st.lists(st.sampled_from(list(_FIELDS)), max_size=2)):
        if key == "temperature":
            body[key] = draw(st.one_of(_TEMPERATURES, st.sampled_from([2.0, 2.2, -0.1, 0.0, 1, 2, 3, -0.0])))
        elif key in ("max_tokens", "max_completion_tokens"):
            body[key] = draw(st.sampled_from([None, 0, 1, 256, 255, True, -1, 2.0]))
        else:
            body[key] = draw(_FIELDS[key])
    if draw(st.booleans()):
        body.pop(draw(st.sampled_from(_USUAL)), None)
    return body


@FAST
@given(st.one_of(bodies(), near_usual_bodies()))
def test_decode_request_is_the_general_path(body: Any) -> None:
    fast, general = outcome(request.decode_request, body), outcome(request._decode_general, body)
    assert fast[:2] == general[:2]
    assert fast == general


def test_decode_request_takes_the_usual_body_through_the_fast_path() -> None:
    body = {"model": "m", "max_tokens": 5, "temperature": 1, "stream": False,
            "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]}
    got = request.decode_request(body)
    assert repr(got) == repr(request._decode_general(body))
    assert type(got.temperature) is float and got.max_tokens == 5 and got.stream is False


def _old_encode_request(req: ChatRequest, model: str, *, compatible: bool) -> JSONObject:
    """encode_request before the fast path (frozen copy; encode_messages spelt out as it was)."""
    body: JSONObject = {"model": model}
    body["messages"] = ([{"role": "system", "content": "\n\n".join(p.text for p in req.system)}] if req.system else []
                        ) + [_encode_message(m, i, compatible) for i, m in enumerate(req.messages)]
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
    if not req.extra:
        pass
    elif req.ingress == "openai":
        body.update((k, v) for k, v in req.extra.items() if k in request._EXTRA and k not in body)
    elif isinstance(effort := req.extra.get("effort"), str):
        body["reasoning_effort"] = effort
    return body


_CANONICAL_MESSAGES = [
    Message("user", [TextPart("u")]),
    Message("developer", [TextPart("d")]),
    Message("system", [TextPart("s")]),
    Message("assistant", [TextPart("a")]),
    Message("user", [TextPart("a"), TextPart("b")]),
    Message("user", []),
    Message("user", [ImagePart(url="https://example.com/i.png")]),
    Message("user", [TextPart("x")], name="bob"),
    Message("tool", [TextPart("42")], tool_call_id="c1"),
    Message("assistant", [TextPart("t")], tool_calls=[ToolCall("c1", "f", "{}")]),
    Message("assistant", [ImagePart(url="https://example.com/i.png")]),
]


@st.composite
def requests(draw: st.DrawFn) -> ChatRequest:
    req = ChatRequest("m", draw(st.lists(st.sampled_from(_CANONICAL_MESSAGES), min_size=1, max_size=4)))
    if draw(st.booleans()):
        req.system = [TextPart("sys")]
    if draw(st.booleans()):
        req.tools = [ToolDef("f", "d", {"type": "object"})]
    req.max_tokens = draw(st.sampled_from([None, 5]))
    req.temperature = draw(st.sampled_from([None, 0.5]))
    req.stream = draw(st.booleans())
    req.user = draw(st.sampled_from([None, "u"]))
    req.stop = draw(st.sampled_from([[], ["x"]]))
    req.extra = draw(st.sampled_from([{}, {"logprobs": True}, {"effort": "low"}]))
    req.ingress = draw(st.sampled_from(["openai", "anthropic"]))
    return req


@FAST
@given(requests(), st.booleans())
def test_encode_request_makes_the_old_body_to_the_byte(req: ChatRequest, compatible: bool) -> None:
    new, old = (outcome(lambda: orjson.dumps(request.encode_request(req, "target", compatible=compatible))),
                outcome(lambda: orjson.dumps(_old_encode_request(req, "target", compatible=compatible))))
    assert new == old


# ---- responses ------------------------------------------------------------------------------

_COUNTS = st.one_of(st.integers(0, 500), st.sampled_from([None, -1, True, 10**9, 10**9 + 1, 2.0, "3"]))


@st.composite
def usages(draw: st.DrawFn) -> Any:
    usage: dict[str, Any] = {}
    for key in draw(st.lists(st.sampled_from(["prompt_tokens", "completion_tokens", "total_tokens"]), unique=True)):
        usage[key] = draw(_COUNTS)
    for key, inner in (("prompt_tokens_details", "cached_tokens"), ("completion_tokens_details", "reasoning_tokens")):
        kind = draw(st.sampled_from(["absent", "dict", "empty", "null", "list"]))
        if kind == "dict":
            usage[key] = {inner: draw(_COUNTS), "audio_tokens": 0}
        elif kind != "absent":
            usage[key] = {"empty": {}, "null": None, "list": []}[kind]
    return draw(st.sampled_from([usage, usage, usage, None, [], "u"]))


@st.composite
def choices(draw: st.DrawFn) -> Any:
    msg: dict[str, Any] = {"role": "assistant"}
    msg["content"] = draw(st.sampled_from(["hello", "", None, 5, [{"type": "text", "text": "p"}], ["x"]]))
    if draw(st.booleans()):
        msg["refusal"] = draw(st.sampled_from([None, "no", "", 3]))
    if draw(st.booleans()):
        msg["tool_calls"] = draw(st.sampled_from([
            None, [], [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}], "x"]))
    choice: dict[str, Any] = {"message": draw(st.sampled_from([msg, msg, msg, None, "m"]))}
    if draw(st.booleans()):
        choice["index"] = draw(st.sampled_from([0, 1, True, "0", None]))
    if draw(st.booleans()):
        choice["finish_reason"] = draw(st.sampled_from(["stop", "length", "tool_calls", "abort", "weird", None, 1]))
    choice["logprobs"] = None
    return draw(st.sampled_from([choice, choice, choice, None, []]))


@st.composite
def answers(draw: st.DrawFn) -> Any:
    body: dict[str, Any] = {"choices": draw(st.one_of(st.lists(choices(), max_size=3), st.sampled_from([None, {}])))}
    for key, values in (("id", ["chatcmpl-1", "", 5]), ("model", ["gpt", 1]), ("created", [1, 0, True, 1.5, "1"]),
                        ("error", [None, {"message": "bad", "type": "server_error"}])):
        if draw(st.booleans()):
            body[key] = draw(st.sampled_from(values))
    if draw(st.booleans()):
        body["usage"] = draw(usages())
    body["system_fingerprint"] = "fp"
    return draw(st.sampled_from([body, body, body, [body], None]))


_PERTURBED: list[tuple[tuple[str, ...], Any]] = [
    (path, value)
    for path, values in (
        (("id",), [5, None, ""]), (("model",), [1, None]), (("created",), [True, 1.5, None, 0, -1]),
        (("error",), [{"message": "bad"}, None]), (("choices",), [None, {}, []]),
        (("usage",), [None, [], {}]), (("usage", "prompt_tokens"), [-1, 10**9, 10**9 + 1, True, None, 2.0]),
        (("usage", "completion_tokens"), [-1, 10**9 + 1, False, None]),
        (("usage", "prompt_tokens_details"), [None, [], {}]),
        (("usage", "prompt_tokens_details", "cached_tokens"), [-1, 10**9 + 1, True, None, "1"]),
        (("usage", "completion_tokens_details", "reasoning_tokens"), [-1, 10**9 + 1, True, None, 1.0]),
        (("choices", 0, "index"), [1, True, "0", None]), (("choices", 0, "finish_reason"), ["weird", None, 1, "abort"]),
        (("choices", 0, "message"), [None, "m"]), (("choices", 0, "message", "content"), [None, "", 5, ["x"]]),
        (("choices", 0, "message", "refusal"), ["no", "", 3]), (("choices", 0, "message", "tool_calls"), [[], "x"]),
    )
    for value in values
]


@st.composite
def near_usual_answers(draw: st.DrawFn) -> Any:
    """A valid usual answer with up to two of its fields changed (the fast path's edges)."""
    body: dict[str, Any] = {
        "id": "chatcmpl-1", "object": "chat.completion", "created": 5, "model": "gpt-x",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi", "refusal": None},
                     "logprobs": None, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4,
                  "prompt_tokens_details": {"cached_tokens": 1}, "completion_tokens_details": {"reasoning_tokens": 0}}}
    if draw(st.booleans()):
        body["choices"].append({"index": 1, "message": {"role": "assistant", "content": "second"},
                                "finish_reason": "length"})
    for path, value in draw(st.lists(st.sampled_from(_PERTURBED), max_size=2)):
        node: Any = body
        for step in path[:-1]:
            if isinstance(node, dict) and isinstance(step, str):
                node = node.get(step)
            elif isinstance(node, list) and isinstance(step, int) and step < len(node):
                node = node[step]
            else:
                node = None
        if isinstance(node, dict):
            if draw(st.booleans()) or value is not None:
                node[path[-1]] = value
            else:
                node.pop(path[-1], None)  # absent rather than null
    return body


@FAST
@given(st.one_of(answers(), near_usual_answers()))
def test_decode_response_is_the_general_path(body: Any) -> None:
    fast, general = outcome(response.decode_response, body), outcome(response._decode_general, body)
    assert fast[:2] == general[:2]
    assert fast == general


def _old_encode_response(resp: ChatResponse, model: str) -> JSONObject:
    """encode_response before the fast path (frozen copy)."""
    choices_: list[JSON] = []
    for c in resp.choices:
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
        choices_.append({"index": c.index, "message": message, "finish_reason": wire_finish(c.finish_reason),
                         "logprobs": None})
    out: JSONObject = {
        "id": resp.id or new_id(),
        "object": "chat.completion",
        "created": resp.created or int(time.time()),
        "model": model,
        "choices": choices_,
    }
    if resp.usage is not None:
        out["usage"] = encode_usage(resp.usage)
    return out


@st.composite
def responses(draw: st.DrawFn) -> ChatResponse:
    parts = st.sampled_from([[], [TextPart("t")], [TextPart("")], [TextPart("a"), TextPart("b")],
                             [ImagePart(url="u")], [TextPart("a"), ImagePart(url="u")]])
    made = [Choice(i, draw(parts), draw(st.sampled_from([[], [ToolCall("c", "f", "{}")]])),
                   draw(st.sampled_from([None, "stop", "length", "tool_calls", "content_filter", "error"])),
                   draw(st.sampled_from([None, "", "no"])))
            for i in range(draw(st.integers(0, 3)))]
    usage = draw(st.sampled_from([None, Usage(1, 2), Usage(3, 4, 1, 0, 2)]))
    return ChatResponse("chatcmpl-x", "gpt", made, usage, 1700000000)


@FAST
@given(responses())
def test_encode_response_makes_the_old_body_to_the_byte(resp: ChatResponse) -> None:
    assert orjson.dumps(response.encode_response(resp, "alias")) == orjson.dumps(_old_encode_response(resp, "alias"))


def test_a_decoded_usual_answer_is_encoded_as_before() -> None:
    body = {"id": "chatcmpl-1", "object": "chat.completion", "created": 5, "model": "gpt-x",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi", "refusal": None},
                         "logprobs": None, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4,
                      "prompt_tokens_details": {"cached_tokens": 1}, "completion_tokens_details": {"reasoning_tokens": 0}}}
    resp = response.decode_response(body)
    assert repr(resp) == repr(response._decode_general(body))
    assert orjson.dumps(response.encode_response(resp, "a")) == orjson.dumps(_old_encode_response(resp, "a"))
