"""bastion._native.request_encoder (_native_openai.c) against `encode_request`'s Python path: for every request
it encodes, the same body (the same keys in the same order, holding the same objects: the same bytes on the
wire); None for anything unusual (the Python path decides), and never None for the usual request (text turns
only; no system, tools, stop or extra). Odd values (subclasses, unset slots, a non-bool stream) give None or
the same body, never a crash."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.unit.providers.openai.test_openai_codec_fast import FAST

from bastion.core.types import ChatRequest, ImagePart, Message, TextPart, ToolCall, ToolDef
from bastion.providers.openai import request

native = pytest.importorskip("bastion._native")
encoder = native.request_encoder(ChatRequest, Message, TextPart)


def python_body(req: ChatRequest, model: str, compatible: bool) -> Any:
    saved, request._native_encode = request._native_encode, None
    try:
        return request.encode_request(req, model, compatible=compatible)
    finally:
        request._native_encode = saved


def assert_same(made: Any, expected: Any) -> None:
    assert type(made) is dict and list(made) == list(expected) and made == expected
    assert orjson.dumps(made) == orjson.dumps(expected)
    for key, value in made.items():
        if key == "messages":
            for got, want in zip(value, expected[key], strict=True):
                assert type(got) is dict and list(got) == list(want)
                assert got["content"] is want["content"] and got["role"] == want["role"]
        elif key != "stream_options":
            assert value is expected[key]


_USUAL_MESSAGES = [Message(role, [TextPart(text)]) for role in ("user", "developer", "system", "assistant")
                   for text in ("u", "", "a longer text with ünïcode")]
_ODD_MESSAGES = [
    Message("user", [TextPart("a"), TextPart("b")]), Message("user", []),
    Message("user", [ImagePart(url="https://example.com/i.png")]), Message("user", [TextPart("x")], name="bob"),
    Message("tool", [TextPart("42")], tool_call_id="c1"),
    Message("assistant", [TextPart("t")], tool_calls=[ToolCall("c1", "f", "{}")]),
]


def _usual(req: ChatRequest) -> bool:
    return (type(req.messages) is list and not req.system and not req.tools and not req.stop and not req.extra
            and type(req.stream) is bool
            and all(type(m) is Message and type(m.content) is list and len(m.content) == 1
                    and type(m.content[0]) is TextPart and m.role != "tool" and m.name is None and not m.tool_calls
                    for m in req.messages))


@st.composite
def requests(draw: st.DrawFn) -> ChatRequest:
    pool = _USUAL_MESSAGES + (_ODD_MESSAGES if draw(st.booleans()) else [])
    req = ChatRequest("m", draw(st.lists(st.sampled_from(pool), max_size=4)))
    for name, values in (("max_tokens", [None, 5, 10**6]), ("temperature", [None, 0.5, 0.0]),
                         ("top_p", [None, 1.0]), ("top_k", [None, 40]), ("seed", [None, -3]),
                         ("user", [None, "u", ""]), ("n", [None, 2]),
                         ("response_format", [None, {"type": "json_object"}]), ("stream", [False, True])):
        setattr(req, name, draw(st.sampled_from(values)))
    if draw(st.integers(0, 4)) == 0:  # now and then one of the unusual ones
        name, value = draw(st.sampled_from([
            ("system", [TextPart("sys")]), ("tools", [ToolDef("f", "d", {"type": "object"})]), ("stop", ["x"]),
            ("extra", {"logprobs": True}), ("extra", {"effort": "low"}), ("stream", 1), ("messages", ()),
            ("ingress", "anthropic")]))
        setattr(req, name, value)
    return req


@FAST
@given(requests(), st.booleans(), st.sampled_from(["target", "gpt-4o"]))
def test_the_c_body_is_the_python_paths(req: ChatRequest, compatible: bool, model: str) -> None:
    made = encoder(req, model, compatible)
    if _usual(req):
        assert made is not None
    if made is not None:
        assert_same(made, python_body(req, model, compatible))
    assert orjson.dumps(request.encode_request(req, model, compatible=compatible)) == orjson.dumps(
        python_body(req, model, compatible))


class Msg(Message):
    __slots__ = ()


class Part(TextPart):
    __slots__ = ()


def test_odd_requests_give_none_or_the_same_body() -> None:
    odd: list[ChatRequest] = []
    for messages in ([Msg("user", [TextPart("x")])], [Message("user", [Part("x")])], [Message("user", (TextPart("x"),))],
                     [Message("user", [TextPart("x")], tool_calls=())], [Message("user", [TextPart(5)])],  # type: ignore[arg-type]
                     [Message(5, [TextPart("x")])], [Message("tool", [TextPart("x")])]):  # type: ignore[arg-type]
        odd.append(ChatRequest("m", messages))  # type: ignore[arg-type]
    for name, value in (("system", ()), ("tools", ()), ("stop", ()), ("extra", []), ("stream", 0), ("stream", None)):
        req = ChatRequest("m", [Message("user", [TextPart("x")])])
        setattr(req, name, value)
        odd.append(req)
    unset = ChatRequest("m", [Message("user", [TextPart("x")])])
    del unset.top_p
    odd.append(unset)
    part = TextPart("x")
    del part.text
    odd.append(ChatRequest("m", [Message("user", [part])]))
    for req in odd:
        for compatible in (False, True):
            made = encoder(req, "t", compatible)
            if made is not None:
                assert_same(made, python_body(req, "t", compatible))
    assert encoder(ChatRequest("m", [Message("user", [TextPart(5)])]), "t", False) == {  # type: ignore[arg-type]
        "model": "t", "messages": [{"role": "user", "content": 5}]}  # (the text is not the encoder's to check)


def test_compatible_dialect() -> None:
    req = ChatRequest("m", [Message("developer", [TextPart("d")]), Message("user", [TextPart("u")])],
                      max_tokens=7, top_k=3, stream=True)
    for compatible in (False, True):
        made = encoder(req, "t", compatible)
        assert made is not None
        assert_same(made, python_body(req, "t", compatible))
    assert encoder(req, "t", True)["messages"][0]["role"] == "system"
    assert "top_k" not in encoder(req, "t", False) and encoder(req, "t", True)["max_tokens"] == 7


def test_creation_and_call_are_checked() -> None:
    with pytest.raises(TypeError):
        native.request_encoder(ChatRequest, Message)
    with pytest.raises((TypeError, AttributeError)):
        native.request_encoder(Message, Message, TextPart)  # no such slots
    with pytest.raises(TypeError):
        encoder(ChatRequest("m", []), "t")
    with pytest.raises(TypeError):
        encoder(ChatRequest("m", []), "t", compatible=True)
    assert encoder("not a request", "t", False) is None
