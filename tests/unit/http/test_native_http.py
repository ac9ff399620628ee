"""The HTTP layer's C loops (_native_http.c) against their Python twins: the same answers, and None
(the Python path) for anything they do not take as it is."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.core.errors import InvalidRequest
from bastion.http import asgi
from bastion.http import limits as http_limits
from bastion.http.asgi import _NAME_TEXT, _SINGLETONS, BastionASGI, Routes, _head_loop
from bastion.http.limits import HttpLimits, _may_break_rules

native = pytest.importorskip("bastion._native")

# header names: the known ones (as servers send them, and in other cases), singletons, odd bytes
_NAMES = st.one_of(
    st.sampled_from(sorted(_NAME_TEXT)),
    st.sampled_from(sorted(_NAME_TEXT)).map(lambda n: n.upper()),
    st.sampled_from(sorted(s.encode() for s in _SINGLETONS)).map(lambda n: n.title()),
    st.binary(min_size=0, max_size=12),
    st.text(alphabet="aZ-_\u00c0\u00e9\u00ff\u00df", max_size=8).map(lambda t: t.encode("latin-1")),
)
_HEAD = st.lists(st.tuples(_NAMES, st.binary(max_size=20)), max_size=12)


def _python(raw: list[tuple[bytes, bytes]]) -> tuple[dict[str, str], int] | str:
    try:
        return _head_loop(raw)
    except InvalidRequest as e:
        return e.message.removeprefix("the ").removesuffix(" header appears more than once")


@settings(max_examples=400, deadline=None)
@given(_HEAD)
def test_head_fields_as_the_python_loop(raw: list[tuple[bytes, bytes]]) -> None:
    got = native.head_fields(raw, _NAME_TEXT, _SINGLETONS)
    want = _python(raw)
    assert got == want
    if isinstance(got, tuple):
        assert list(got[0]) == list(want[0])  # type: ignore[index]  (the same order of names)


def test_head_fields_refuses_a_repeated_singleton_and_keeps_the_last_of_others() -> None:
    raw = [(b"accept", b"a"), (b"Accept", b"b"), (b"authorization", b"x"), (b"AUTHORIZATION", b"y")]
    assert native.head_fields(raw, _NAME_TEXT, _SINGLETONS) == "authorization"
    assert native.head_fields(raw[:3], _NAME_TEXT, _SINGLETONS) == ({"accept": "b", "authorization": "x"}, 40)


@pytest.mark.parametrize("raw", [
    ((b"host", b"x"),),  # a tuple of headers
    [[b"host", b"x"]],  # a list for a pair
    [(b"host", b"x", b"y")],
    [(bytearray(b"host"), b"x")],
    [(b"host", bytearray(b"x"))],
    [("host", b"x")],
])
def test_head_fields_leaves_other_shapes_to_python(raw: object) -> None:
    assert native.head_fields(raw, _NAME_TEXT, _SINGLETONS) is None


def _app() -> BastionASGI:
    return BastionASGI(Routes({}, {}, [], lambda req: None), 1024, limits=HttpLimits(max_body_bytes=1024))  # type: ignore[arg-type,return-value]


@settings(max_examples=200, deadline=None)
@given(_HEAD)
def test_check_head_with_and_without_c(raw: list[tuple[bytes, bytes]]) -> None:
    app = _app()
    scope = {"headers": raw, "http_version": "1.1"}

    def run() -> object:
        try:
            return app._check_head(scope)
        except InvalidRequest as e:
            return (e.status, e.code, e.message)

    with_c = run()
    saved = asgi._head_fields
    asgi._head_fields = None
    try:
        assert run() == with_c
    finally:
        asgi._head_fields = saved


_JSONISH = st.lists(st.sampled_from([b"[", b"{", b"]", b"}", b"\\", b"u", b"0", b"\\u0000", b"\\u00", b"a", b'"']),
                    max_size=80).map(b"".join)


@settings(max_examples=500, deadline=None)
@given(_JSONISH, st.integers(min_value=0, max_value=40))
def test_json_may_break_as_python(body: bytes, depth: int) -> None:
    assert native.json_may_break(body, depth) is _may_break_rules(body, depth)


def test_json_may_break_edges() -> None:
    assert native.json_may_break(b"[" * 64, 64) is False
    assert native.json_may_break(b"[" * 32 + b"{" * 33, 64) is True
    assert native.json_may_break(b'{"a": "\\\\u0000"}', 64) is True  # as the Python: a bound, not a parse
    assert native.json_may_break(b'{"a": "\\u000"}', 64) is False
    assert native.json_may_break(bytearray(b"{}"), 64) is None
    assert native.json_may_break(b"{}", 2**70) is None
    assert http_limits._json_may_break is native.json_may_break


_HEADER_TEXT = st.text(alphabet=st.characters(max_codepoint=0x2ff), max_size=12)


def _python_headers(content_type: str, extra: dict[str, str], rid: str, length: int | None) -> object:
    saved = asgi._response_head
    asgi._response_head = None
    try:
        return BastionASGI._headers(content_type, extra, rid, length)
    except UnicodeError as e:
        return type(e)
    finally:
        asgi._response_head = saved


_SSIZE_MAX = 2**63 - 1
_LENGTHS = [0, 1, 9, 10, 99, 100, 1023, 10**12, _SSIZE_MAX, -1, -10, -_SSIZE_MAX - 1]


@settings(max_examples=600, deadline=None)
@given(st.sampled_from(["application/json", "text/event-stream", "text/plain; charset=utf-8", "x/\u00e9\u4e2d",
                        "x/\ud800"]),
       st.dictionaries(st.one_of(st.sampled_from(sorted(asgi._NAME_BYTES)), _HEADER_TEXT), _HEADER_TEXT, max_size=8),
       st.text(max_size=20),
       st.one_of(st.none(), st.sampled_from(_LENGTHS), st.integers(min_value=-(10**12), max_value=10**12),
                 st.integers(min_value=-(2**70), max_value=2**70)))
def test_response_head_as_the_python_list(content_type: str, extra: dict[str, str], rid: str,
                                          length: int | None) -> None:
    """Byte for byte the Python list (or its encoding error), whatever the content type before it (the C
    code keeps the last one's bytes); a length past a Py_ssize_t is left to the Python code."""
    content_type = "".join(content_type)  # (a new object each time, not the one the last call kept)
    try:
        got: object = native.response_head(content_type, rid, length, extra, asgi._NAME_BYTES)
    except UnicodeError as e:
        got = type(e)
    want = _python_headers(content_type, extra, rid, length)
    if got is None:
        assert length is not None and not -_SSIZE_MAX - 1 <= length <= _SSIZE_MAX
    else:
        assert got == want
    if not isinstance(want, type):
        assert BastionASGI._headers(content_type, extra, rid, length) == want


@pytest.mark.parametrize("length", _LENGTHS)
def test_response_head_content_length_digits(length: int) -> None:
    got = native.response_head("application/json", "r", length, {}, asgi._NAME_BYTES)
    assert got == [(b"content-type", b"application/json"), (b"x-request-id", b"r"),
                   (b"content-length", str(length).encode())]


def test_response_head_after_another_content_type() -> None:
    for ct in ["application/json", "text/event-stream", "application/json", "x/\ud800", "application/json"]:
        try:
            got: object = native.response_head(ct, "r", None, {}, asgi._NAME_BYTES)
        except UnicodeError as e:
            got = type(e)
        assert got == _python_headers(ct, {}, "r", None)


@pytest.mark.parametrize("args", [
    ("a", "r", 1.0, {}), ("a", "r", None, {"x": 1}), ("a", "r", None, {1: "x"}), (b"a", "r", None, {}),
    ("a", b"r", None, {}), ("a", "r", True, {}), ("a", "r", 5, {"allow": "GET", "x": "y", "z": 1}),
    ("a", "r", 5, {"x": "y", 2: "z"}), ("a", "r", 5, {"x": "y", 2: "\u4e2d"}), ("a", "r", 2**63, {}),
    ("a", "r", -(2**63) - 1, {}),
])
def test_response_head_leaves_other_types_to_python(args: tuple[object, ...]) -> None:
    assert native.response_head(*args, asgi._NAME_BYTES) is None


@pytest.mark.parametrize("body", [b'{"a": [1, {"b": "c"}]}', b"[1, 2]", b'"text"', b"", b"{", b'{"a": 1} x', b"\xff\xfe",
                                  b'{"a": "\xc3"}', b"null", b'{"a": "\\u0000"}', b"[" * 70 + b"]" * 70,
                                  b'{"a":' * 70 + b"1" + b"}" * 70])
def test_limited_json_as_the_general_parse(body: bytes) -> None:
    """LimitedRequest.json's inlined parse answers (or refuses, with the same message) as HttpRequest.json
    followed by the depth and NUL checks."""
    from bastion.http.limits import LimitedRequest, check_json
    from bastion.http.types import HttpRequest

    def outcome(f: object) -> object:
        try:
            return f()  # type: ignore[operator]
        except InvalidRequest as e:
            return (e.status, e.message)

    req = LimitedRequest("POST", "/", {}, {}, body, None, "r")
    req.max_json_depth = 64

    def general() -> object:
        obj = HttpRequest.json(req)
        check_json(obj, 64)
        return obj

    assert outcome(req.json) == outcome(general)
