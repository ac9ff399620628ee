"""bastion._native.openai_completion (_native_openai.c) against `decode_response`'s Python path: for every
answer the C function makes, the same ChatResponse (to its repr, each object of its exact class); None for
every answer the Python fast path hands to `_decode_general`, and never None for one it makes itself; odd
inputs (dict and str subclasses, big ints, a key whose __eq__ raises or changes the body) give None (the
Python path decides), the same error, or the same answer, never a crash."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.unit.providers.openai.test_openai_codec_fast import FAST, answers, near_usual_answers

from bastion.core.types import ChatResponse, Choice, TextPart, Usage
from bastion.providers.openai import response

native = pytest.importorskip("bastion._native")


def made_in_c(body: Any) -> ChatResponse | None:
    got: ChatResponse | None = native.openai_completion(body, response._TEXT, response._CHOICE, response._USAGE,
                                                        response._RESPONSE, response.FINISH_REASONS)
    return got


def python_path(body: Any) -> tuple[bool, Any]:
    """(whether the Python fast path made it itself, its outcome), the C function out of the way."""
    general = response._decode_general
    handed = []

    def spy(b: Any) -> ChatResponse:
        handed.append(b)
        return general(b)

    saved = response._native_completion, response._decode_general
    response._native_completion, response._decode_general = None, spy
    try:
        try:
            got: Any = response.decode_response(body)
        except Exception as e:
            got = ("error", type(e).__name__, str(e))
    finally:
        response._native_completion, response._decode_general = saved
    return not handed, got


def assert_same(made: ChatResponse, expected: ChatResponse) -> None:
    assert type(made) is ChatResponse and repr(made) == repr(expected) and made == expected
    assert made.usage is None or type(made.usage) is Usage
    for c in made.choices:
        assert type(c) is Choice and all(type(p) is TextPart for p in c.content)
        assert type(c.content) is list and type(c.tool_calls) is list and type(c.thinking) is list


@FAST
@given(st.one_of(answers(), near_usual_answers()))
def test_the_c_answer_is_the_python_fast_paths(body: Any) -> None:
    made = made_in_c(body)
    fast, expected = python_path(body)
    if fast:
        assert made is not None
        assert_same(made, expected)
    else:
        assert made is None


def test_the_usual_answer_and_its_objects() -> None:
    body = {"id": "x", "model": "m", "created": 7, "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "weird"},
        {"message": {"content": None}, "finish_reason": None}, {"message": {}, "finish_reason": "length"}],
        "usage": {"prompt_tokens": 10**9, "completion_tokens": 0, "prompt_tokens_details": None,
                  "completion_tokens_details": {"reasoning_tokens": 3}}}
    made = made_in_c(body)
    assert made is not None
    assert_same(made, python_path(body)[1])
    assert made.choices[0].finish_reason == "stop" and made.choices[1].index == 1 and made.choices[2].index == 2
    assert made.choices[0].content[0].text is body["choices"][0]["message"]["content"]  # type: ignore[index]
    assert made_in_c({"choices": []}) == ChatResponse("", "", [], None, 0)


class Dict(dict):  # type: ignore[type-arg]
    pass


class Str(str):
    pass


@pytest.mark.parametrize("body", [
    Dict(choices=[]),
    {"choices": [Dict(message={"content": "x"})]},
    {"choices": [{"message": Dict(content="x")}]},
    {"choices": [], "usage": Dict(prompt_tokens=1, completion_tokens=1)},
    {"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 1, "prompt_tokens_details": Dict()}},
    {"choices": [], "id": Str("x")},
    {"choices": [{"message": {"content": Str("x")}}]},
    {"choices": [{"message": {"content": "x"}, "finish_reason": Str("stop")}]},
    {"choices": [], "usage": {"prompt_tokens": 2**64, "completion_tokens": 1}},
    {"choices": [], "usage": {"prompt_tokens": -(2**64), "completion_tokens": 1}},
    {"choices": [], "created": 2**70},
    {"choices": (), "usage": None},
])
def test_odd_answers_match_the_python_path(body: Any) -> None:
    made = made_in_c(body)  # None (the Python path decides) or the Python path's answer
    fast, expected = python_path(body)
    if made is not None:
        assert fast
        assert_same(made, expected)


class Nasty:
    """A key of the hash of a str the look-ups look for and do not find: its __eq__ runs in that look-up,
    and raises or empties the dict it is in."""

    def __init__(self, text: str, action: str, where: dict[Any, Any] | None = None) -> None:
        self.text, self.action, self.where = text, action, where

    def __hash__(self) -> int:
        return hash(self.text)

    def __eq__(self, other: object) -> bool:
        if self.action == "raise":
            raise RuntimeError("eq")
        if self.where is not None:
            self.where.clear()
        return False


# (the absent key whose look-up meets the Nasty key, the dict it is in)
_ABSENT = [("error", "body"), ("index", "choice"), ("refusal", "message"), ("prompt_tokens_details", "usage")]


def _answer() -> tuple[dict[Any, Any], dict[str, dict[Any, Any]]]:
    msg: dict[Any, Any] = {"content": "x" * 50}
    choice: dict[Any, Any] = {"message": msg, "finish_reason": "stop"}
    usage: dict[Any, Any] = {"prompt_tokens": 10**6, "completion_tokens": 1}
    body: dict[Any, Any] = {"choices": [choice], "id": "i" * 30, "usage": usage}
    return body, {"body": body, "choice": choice, "message": msg, "usage": usage}


@pytest.mark.parametrize(("key", "where"), _ABSENT)
def test_a_key_whose_eq_raises_raises_the_same(key: str, where: str) -> None:
    body, dicts = _answer()
    dicts[where][Nasty(key, "raise")] = 1
    with pytest.raises(RuntimeError):
        made_in_c(body)
    with pytest.raises(RuntimeError):
        response.decode_response(body)


@pytest.mark.parametrize(("key", "where"), _ABSENT)
def test_a_key_that_empties_its_dict_while_looked_up_is_no_crash(key: str, where: str) -> None:
    body, dicts = _answer()
    dicts[where][Nasty(key, "clear", dicts[where])] = 1
    made = made_in_c(body)  # made of the objects it held from their look-ups: no crash, no freed object
    assert made is None or type(made) is ChatResponse
    repr(made)


def test_the_arguments_are_checked() -> None:
    with pytest.raises(TypeError):
        native.openai_completion({})
    with pytest.raises(TypeError):
        native.openai_completion({}, response._TEXT, response._CHOICE, response._USAGE, response._RESPONSE, [])
