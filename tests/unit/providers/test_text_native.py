"""The C reading of templated text chunks (`bastion._native.text_plain`, `text_join`: providers/literal.py
`TextTemplate.text` and providers/streaming.py `_decode_joined`) equals its Python reference on random
chunks: the same text for a JSON string without escapes between head and tail, None (or the run's end)
for anything else, and that text is what orjson reads there (what the general path gives)."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bastion.providers import literal
from bastion.providers.literal import TextTemplate

native = pytest.importorskip("bastion._native")
if not hasattr(native, "text_join"):
    pytest.skip("the C accelerator predates text_join", allow_module_level=True)

# Pieces a string's bytes are made of: ASCII, the bytes JSON or UTF-8 treat apart (quote, backslash, control
# characters, DEL), and UTF-8 sequences valid and not (surrogates, overlong forms, above U+10FFFF, truncated,
# a stray continuation byte)
_ATOMS = st.one_of(
    st.text(max_size=4).map(lambda t: t.encode("utf-8")),
    st.sampled_from([b'"', b"\\", b"\\n", b'\\"', b"\\u00e9", b"\x00", b"\x1f", b"\x20", b"\x7f", b"\t", b"\n",
                     b"\xc3\xa9", b"\xe2\x80\xa8", b"\xf0\x9f\x98\x80", b"\xed\x9f\xbf", b"\xed\xa0\x80",
                     b"\xed\xbf\xbf", b"\xee\x80\x80", b"\xc0\xaf", b"\xc1\xbf", b"\xc2\x80", b"\xe0\x80\xaf",
                     b"\xe0\xa0\x80", b"\xf0\x8f\xbf\xbf", b"\xf0\x90\x80\x80", b"\xf4\x8f\xbf\xbf",
                     b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80", b"\xff", b"\x80", b"\xbf", b"\xe2\x82", b"\xf0\x9f"]),
    st.binary(max_size=3),
)
_INNER = st.lists(_ATOMS, max_size=6).map(b"".join)
_HEAD = st.sampled_from([b'{"choices":[{"index":0,"delta":{"content":', b"", b"h", b'"', b'{"a":'])
_TAIL = st.sampled_from([b'},"finish_reason":null}]}', b"", b"}}", b'"', b"t"])


@st.composite
def _chunk(draw: st.DrawFn, head: bytes, tail: bytes) -> bytes:
    """Mostly head + a quoted string + tail; sometimes cut, padded or of other bytes."""
    kind = draw(st.integers(0, 5))
    inner = draw(_INNER)
    if kind <= 2:
        return head + b'"' + inner + b'"' + tail
    if kind == 3:
        return head + draw(st.sampled_from([b" ", b"", b'"'])) + inner + draw(st.sampled_from([b" ", b"", b'"'])) + tail
    if kind == 4:
        data = head + b'"' + inner + b'"' + tail
        return data[:draw(st.integers(0, len(data)))]
    return draw(st.binary(max_size=12))


def _plain_reference(data: bytes, head: bytes, tail: bytes) -> str | None:
    length = len(data) - len(head) - len(tail)
    if length < 2 or not data.startswith(head) or data[len(head) + length:] != tail:
        return None
    part = data[len(head):len(head) + length]
    inner = part[1:-1]
    if part[:1] != b'"' or part[-1:] != b'"' or any(c < 0x20 or c in b'"\\' for c in inner):
        return None
    try:
        return inner.decode("utf-8", "strict")
    except UnicodeDecodeError:
        return None


def _join_reference(sse: list[object], start: int, names: tuple[str | None, ...], head: bytes,
                    tail: bytes) -> tuple[int, list[str]]:
    texts: list[str] = []
    stop = start
    while stop < len(sse):
        pair = sse[stop]
        if type(pair) is not tuple or len(pair) != 2 or type(pair[1]) is not bytes or pair[0] not in names:
            break
        text = _plain_reference(pair[1], head, tail)
        if text is None:
            break
        texts.append(text)
        stop += 1
    joined = "".join(texts)
    return stop, [joined] if joined else []


@st.composite
def _plain_case(draw: st.DrawFn) -> tuple[bytes, bytes, bytes]:
    head, tail = draw(_HEAD), draw(_TAIL)
    return draw(_chunk(head, tail)), head, tail


@settings(max_examples=1000, deadline=None)
@given(_plain_case())
@example((b'h"\xed\xa0\x80"t', b"h", b"t"))  # an encoded surrogate: not UTF-8
@example((b'h"a\x1fb"t', b"h", b"t"))  # a control character: not in a JSON string
@example((b'h"\xf4\x90\x80\x80"t', b"h", b"t"))  # above U+10FFFF
@example((b'h"\xe0\x80\xaf"t', b"h", b"t"))  # overlong
@example((b'h"\xc3\xa9\xf0\x9f\x98\x80"t', b"h", b"t"))
def test_text_plain_is_its_reference_and_the_json_reading(case: tuple[bytes, bytes, bytes]) -> None:
    data, head, tail = case
    got = native.text_plain(data, head, tail)
    assert got == _plain_reference(data, head, tail)
    if got is not None:  # what orjson reads there, so what the template's Python reading gives
        assert orjson.loads(data[len(head):len(data) - len(tail)]) == got
        assert type(got) is str


@settings(max_examples=500, deadline=None)
@given(_plain_case())
def test_template_text_is_the_same_with_and_without_the_c_reading(case: tuple[bytes, bytes, bytes]) -> None:
    data, head, tail = case
    template = TextTemplate(head, tail, False)
    with_c = template.text(data)
    saved = literal._plain
    literal._plain = None
    try:
        assert template.text(data) == with_c
    finally:
        literal._plain = saved


_NAMES = st.sampled_from([(None,), (None, "content_block_delta"), ("content_block_delta",)])


@st.composite
def _join_case(draw: st.DrawFn) -> tuple[list[object], int, tuple[str | None, ...], bytes, bytes]:
    head, tail, names = draw(_HEAD), draw(_TAIL), draw(_NAMES)
    name = st.sampled_from([None, "content_block_delta", "message_delta", "ping"])
    pair = st.tuples(name, _chunk(head, tail))
    odd = st.sampled_from([(None,), (None, b"x", b"y"), (None, "str data"), [None, b'"a"'], b'"a"', None])
    items = draw(st.lists(st.one_of(pair, pair, pair, pair, odd), max_size=8))
    return items, draw(st.integers(0, len(items))), names, head, tail


@settings(max_examples=1000, deadline=None)
@given(_join_case())
@example(([(None, b'h"a"t'), (None, b'h"\xc3\xa9"t'), (None, b'h""t'), (None, b'h"b\\n"t')], 0, (None,), b"h", b"t"))
@example(([(None, b'h"a"t'), ("x", b'h"b"t')], 0, (None,), b"h", b"t"))
@example(([(None, b'h"a"t'), (None, b'h"\xed\xa0\x80"t')], 0, (None,), b"h", b"t"))  # an encoded surrogate
@example(([(None, b'h""t'), (None, b'h""t')], 0, (None,), b"h", b"t"))
def test_text_join_is_its_reference(case: tuple[list[object], int, tuple[str | None, ...], bytes, bytes]) -> None:
    sse, start, names, head, tail = case
    texts: list[str] = ["before"]
    stop = native.text_join(sse, start, names, head, tail, texts)
    want_stop, want_texts = _join_reference(sse, start, names, head, tail)
    assert (stop, texts) == (want_stop, ["before", *want_texts])


def test_text_join_refuses_bad_arguments() -> None:
    with pytest.raises(TypeError):
        native.text_join((), 0, (None,), b"", b"", [])
    with pytest.raises(ValueError):
        native.text_join([], 1, (None,), b"", b"", [])
    with pytest.raises(ValueError):
        native.text_join([], -1, (None,), b"", b"", [])
    with pytest.raises(TypeError):
        native.text_plain("str", b"", b"")
