"""bastion._native.openai_opening and openai_usage (_native_opening.c) against stream.py's Python paths: for
every chunk the C functions take, the same template, end shapes and events (each of its exact class) as
`opening_template` + `opening_start` and `EndShapes.events`; None whenever the Python path would not take
the chunk or would raise; never None for the usual chunk. Chunks are generated around the usual shapes and
then broken (bytes cut, changed, inserted), and whole streams are decoded both ways."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bastion.core.errors import BastionError
from bastion.core.types import StreamEnd, StreamStart, TextDelta, Usage, UsageEvent
from bastion.providers.openai import stream
from bastion.providers.openai.stream import ChunkDecoder, EndShapes, opening_start, opening_template

native = pytest.importorskip("bastion._native")
MANY = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])

DELTA0 = b'"choices":[{"index":0,"delta":'
USUAL = (b'{"id":"chatcmpl-9","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini",'
         b'"system_fingerprint":"fp_44709d6fcb",')
TAILS = list(stream._TAILS)


def c_opening(data: bytes) -> tuple[bytes, bytes, Any, Any] | None:
    got: tuple[bytes, bytes, Any, Any] | None = native.openai_opening(data, stream._TAILS, stream._MAKE_START)
    return got


def python_opening(data: bytes) -> tuple[bytes, bytes, Any, Any] | None:
    """The Python path's (head, tail, end shapes' tail, start) of a first chunk, None when it takes none."""
    opened = opening_template(data)
    if opened is None:
        return None
    start = opening_start(opened[0])
    if start is None:
        return None
    template, ends = opened
    return template.head, template.tail, (ends.finish, ends.usage, ends.reasons), start


def assert_same_opening(data: bytes) -> tuple[bytes, bytes, Any, Any] | None:
    made, expected = c_opening(data), python_opening(data)
    if made is None:
        return None
    assert expected is not None, data
    head, tail, ends, start = made
    shapes = EndShapes(head[:len(head) - len(stream._CHOICE0)], ends)
    assert (head, tail, (shapes.finish, shapes.usage, shapes.reasons)) == expected[:3]
    assert type(start) is StreamStart and repr(start) == repr(expected[3]) and start == expected[3]
    assert type(start.id) is str and type(start.model) is str and type(start.created) is int
    return made


# ---- generated first chunks ---------------------------------------------------------------------------------

_text = st.text(st.characters(codec="utf-8"), max_size=12) | st.sampled_from(["", "é", "日本", "a\"b", "a\\b",
                                                                              "\x00", "\x7f", "\U0001f600"])
_scalar = (_text | st.integers(-(10**20), 10**20) | st.sampled_from([0, -0, 1, 10**17, 10**18, 10**19, 2**63, 2**64])
           | st.floats(allow_nan=False, allow_infinity=False) | st.none() | st.booleans())
_value = st.recursive(_scalar, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.sampled_from(["a", "id", "cached_tokens", "x"]), inner, max_size=3),
                      max_leaves=6)
_key = st.sampled_from(["id", "model", "created", "object", "system_fingerprint", "service_tier", "error", "usage",
                        "choices"]) | _text


@st.composite
def members(draw: st.DrawFn) -> bytes:
    """A chunk's members before `choices`, as `{` + each member and a comma: usually the usual spelling."""
    pairs = draw(st.lists(st.tuples(_key, _value), max_size=6))
    spelled = [dumps(k) + b":" + draw(st.sampled_from([dumps(v), b" " + dumps(v),
                                                               _raw_number(v)])) for k, v in pairs]
    return b"{" + b"".join(m + b"," for m in spelled)


def dumps(v: Any) -> bytes:
    """v's JSON, big integers included (orjson refuses them), text as UTF-8."""
    return json.dumps(v, ensure_ascii=False, separators=(",", ":")).encode()


def _raw_number(v: Any) -> bytes:
    """A number's other spellings (an exponent, a fraction, leading zeros), else the usual."""
    if type(v) is int:
        return str(v).encode() + b".0" if v % 3 else b"0" + str(abs(v)).encode()
    return dumps(v)


@st.composite
def first_chunks(draw: st.DrawFn) -> bytes:
    head = draw(members() | st.sampled_from([USUAL, b"{,", b"{", b"", b",", b'{"id":"a"', b'{"id":"a\\"b",']))
    opening = draw(st.sampled_from([*stream._OPENINGS, b'{"role":"assistant"}', b'{"content":"hi"}', b"{}"]))
    tail = draw(st.sampled_from([*TAILS, b"}]}", b'},"finish_reason":"stop"}]}', b""]))
    data = head + DELTA0 + opening + tail[1:]
    return draw(broken(data))


@st.composite
def broken(draw: st.DrawFn, data: bytes) -> bytes:
    """data as it is (mostly), or cut short, a byte changed, inserted or dropped."""
    how = draw(st.sampled_from(["as is", "as is", "as is", "cut", "change", "insert", "drop"]))
    if how == "as is" or not data:
        return data
    at = draw(st.integers(0, len(data) - 1))
    byte = bytes([draw(st.sampled_from([ord(c) for c in '"\\{},:[] 0-.e\x00']) | st.integers(0, 255))])
    return {"cut": data[:at], "change": data[:at] + byte + data[at + 1:], "insert": data[:at] + byte + data[at:],
            "drop": data[:at] + data[at + 1:]}[how]


@MANY
@given(first_chunks())
def test_a_first_chunk_the_c_takes_is_taken_alike(data: bytes) -> None:
    assert_same_opening(data)


@MANY
@given(st.lists(st.tuples(st.sampled_from(["id", "model", "created", "object", "service_tier"]),
                          _text | st.integers(-(10**17), 10**17) | st.none() | st.booleans()), min_size=1, max_size=6),
       st.sampled_from(stream._OPENINGS), st.sampled_from(TAILS))
def test_the_usual_first_chunk_is_taken_in_c(pairs: list[tuple[str, Any]], opening: bytes, tail: bytes) -> None:
    """Plain strings, integers of up to 18 digits, null and booleans, no white space: never left to Python
    (unless a string holds an escape, or a key is given twice: then taken as orjson takes it, the last)."""
    data = b"{" + b"".join(dumps(k) + b":" + dumps(v) + b"," for k, v in pairs) + DELTA0 + opening + tail[1:]
    made = assert_same_opening(data)
    if b"\\" not in data:
        assert made is not None


def test_the_usual_first_chunk_exactly() -> None:
    data = USUAL + DELTA0 + b'{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}]}'
    head, tail, ends, start = assert_same_opening(data) or pytest.fail("not taken")
    assert head == USUAL + b'"choices":[{"index":0,"delta":{"content":'
    assert tail == b'},"logprobs":null,"finish_reason":null}]}'
    assert ends == (b',"logprobs":null,"finish_reason":', b"}]}")
    assert start == StreamStart("chatcmpl-9", "gpt-4o-mini", 1694268190, None)


@pytest.mark.parametrize(("members", "taken"), [
    (b'{"id":"a","id":"b","created":5,"created":null,', StreamStart("b", "", 0)),  # the last wins, as orjson's
    (b'{"id":7,"model":null,"created":true,', StreamStart("", "", 0)),
    (b'{"created":-12,"model":"\xc3\xa9\xe6\x97\xa5",', StreamStart("", "é日", -12)),
    (b'{"created":999999999999999999,', StreamStart("", "", 999999999999999999)),
    (b'{"created":-0,"x":{"y":{"z":1}},', StreamStart("", "", 0)),
    (b'{"created":1234567890123456789,', None),  # 19 digits: orjson's to read
    (b'{"created":1.5,', None), (b'{"created":1e3,', None), (b'{"created":01,', None), (b'{"created":-,', None),
    (b'{"id":"a\\u0041",', None), (b'{"id":"\x01",', None), (b'{"id":"\xed\xa0\x80",', None), (b'{"id":"\xff",', None),
    (b'{"id" :"a",', None), (b'{"a":[1],', None), (b'{"error":null,', None), (b'{"usage":{},', None),
    (b"{,", None), (b'{"id":"a",,', None), (b'{"id":"a"', None), (b'{"id":"a,', None), (b'{"id":nul,', None),
    (b'{"a":{"b":{"c":{"d":{"e":1}}}},', None),  # nested deeper than the C reads
    (b'{"id":"a"},', None), (b'{"id":"a"}{,', None), (b'{"id":"a"}},', None),  # not one object
])
def test_first_chunks_decided(members: bytes, taken: StreamStart | None) -> None:
    data = members + DELTA0 + b'{"content":""},"finish_reason":null}]}'
    made = assert_same_opening(data)
    assert (made and made[3]) == taken


# ---- usage chunks ------------------------------------------------------------------------------------------

SHAPES = EndShapes(USUAL, stream._TAILS[TAILS[0]])
_count = st.integers(-5, 2 * 10**9) | st.sampled_from([0, 10**9, 10**9 + 1, 10**19, 2**64]) | st.none()
_count_like = _count | st.booleans() | st.floats(allow_nan=False, allow_infinity=False) | _text


@st.composite
def usages(draw: st.DrawFn) -> bytes:
    value: dict[str, Any] = {}
    for key in draw(st.lists(st.sampled_from(["prompt_tokens", "completion_tokens", "total_tokens"]), max_size=3)):
        value[key] = draw(_count_like if draw(st.booleans()) else _count)
    for key, inner in (("prompt_tokens_details", "cached_tokens"), ("completion_tokens_details", "reasoning_tokens")):
        if draw(st.booleans()):
            value[key] = draw(st.dictionaries(st.sampled_from([inner, "audio_tokens"]), _count) | _value)
    spelled = dumps(value)
    return draw(broken(SHAPES.usage + spelled + b"}"))


def python_events(shapes: EndShapes, data: bytes) -> Any:
    saved, stream._usage = stream._usage, None
    try:
        return shapes.events(data)
    except BastionError as e:
        return ("error", str(e))
    finally:
        stream._usage = saved


def assert_same_usage(data: bytes) -> list[Any] | None:
    made = native.openai_usage(data, SHAPES.usage, stream._MAKE_USAGE_COUNTS, stream._MAKE_USAGE)
    expected = python_events(SHAPES, data)
    if made is None:
        return None
    assert type(made) is list and len(made) == 1 and type(made[0]) is UsageEvent and type(made[0].usage) is Usage
    assert repr(made) == repr(expected) and made == expected, data
    return made


@MANY
@given(usages())
def test_a_usage_chunk_the_c_takes_is_taken_alike(data: bytes) -> None:
    assert_same_usage(data)


@MANY
@given(*[st.integers(0, 10**9) | st.none() for _ in range(4)])
def test_the_usual_usage_chunk_is_taken_in_c(i: int | None, o: int | None, c: int | None, r: int | None) -> None:
    value = {"prompt_tokens": i, "completion_tokens": o, "total_tokens": (i or 0) + (o or 0),
             "prompt_tokens_details": {"cached_tokens": c, "audio_tokens": 0},
             "completion_tokens_details": {"reasoning_tokens": r, "audio_tokens": 0,
                                           "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}}
    assert assert_same_usage(SHAPES.usage + orjson.dumps(value) + b"}") is not None


@pytest.mark.parametrize(("usage", "taken"), [
    (b'{"prompt_tokens":12,"completion_tokens":7,"prompt_tokens_details":{"cached_tokens":3},'
     b'"completion_tokens_details":{"reasoning_tokens":2}}', Usage(12, 7, 3, 0, 2, 0)),
    (b"{}", Usage()), (b'{"prompt_tokens":null,"prompt_tokens_details":null}', Usage()),
    (b'{"prompt_tokens":1,"prompt_tokens":2,"prompt_tokens_details":7}', Usage(2)),
    (b'{"prompt_tokens_details":{"cached_tokens":4},"prompt_tokens_details":{}}', Usage()),
    (b'{"completion_tokens":1000000000}', Usage(0, 10**9)),
    (b'{"completion_tokens":1000000001}', None), (b'{"completion_tokens":-1}', None),
    (b'{"completion_tokens":true}', None), (b'{"completion_tokens":"1"}', None), (b'{"completion_tokens":1.0}', None),
    (b'{"prompt_tokens_details":{"cached_tokens":-1}}', None), (b'{"prompt_tokens": 1}', None),
    (b'{"prompt_tokens":1', None), (b'{"prompt_tokens":1}}', None), (b'{"prompt_tokens":1}{}', None), (b"[]", None), (b'"x"', None),
])
def test_usage_chunks_decided(usage: bytes, taken: Usage | None) -> None:
    made = assert_same_usage(SHAPES.usage + usage + b"}")
    assert (made and made[0].usage) == taken


# ---- whole streams -----------------------------------------------------------------------------------------

def decode_all(chunks: list[bytes], native_on: bool) -> list[Any]:
    saved = stream._opening, stream._usage
    if not native_on:
        stream._opening = stream._usage = None
    out: list[Any] = []
    try:
        decoder = ChunkDecoder()
        for data in chunks:
            try:
                out.append(repr(decoder.feed(None, data)))
            except BastionError as e:
                out.append(("error", str(e)))
    finally:
        stream._opening, stream._usage = saved
    return out


@MANY
@given(first_chunks(), st.lists(st.text(max_size=5), max_size=3), usages())
def test_a_stream_decodes_alike_with_and_without_c(first: bytes, texts: list[str], usage: bytes) -> None:
    members = USUAL if c_opening(first) is None else c_opening(first)[0][:-len(stream._CHOICE0)]  # type: ignore[index]
    chunks = [first, *[members + b'"choices":[{"index":0,"delta":{"content":' + orjson.dumps(t)
                       + b'},"logprobs":null,"finish_reason":null}]}' for t in texts],
              members + b'"choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}',
              members + usage[len(USUAL):] if usage.startswith(USUAL) else usage, b"[DONE]"]
    assert decode_all(chunks, True) == decode_all(chunks, False)


def test_the_usual_stream_exactly() -> None:
    tail = b',"logprobs":null,"finish_reason":null}],"usage":null}'
    chunks = [USUAL + DELTA0 + b'{"role":"assistant","content":""}' + tail,
              USUAL + DELTA0 + b'{"content":"Hel"}' + tail, USUAL + DELTA0 + b'{"content":"lo"}' + tail,
              USUAL + DELTA0 + b'{},"logprobs":null,"finish_reason":"length"}],"usage":null}',
              USUAL + b'"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11,'
                      b'"prompt_tokens_details":{"cached_tokens":1},"completion_tokens_details":{"reasoning_tokens":0}}}',
              b"[DONE]"]
    decoder = ChunkDecoder()
    events = [decoder.feed(None, c) for c in chunks]
    assert events == [[StreamStart("chatcmpl-9", "gpt-4o-mini", 1694268190)], [TextDelta("Hel", 0)],
                      [TextDelta("lo", 0)], [StreamEnd("length", 0)], [UsageEvent(Usage(9, 2, 1))], []]
    assert decoder.done
    assert decode_all(chunks, True) == decode_all(chunks, False)
