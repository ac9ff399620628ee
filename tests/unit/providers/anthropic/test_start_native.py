"""bastion._native.anthropic_start (_native_opening.c) against `AnthropicStreamDecoder._message_start` of the
event orjson parses: for every message_start the C function takes, the same start (id, model, usage) and the
same counter afterwards; None whenever the Python path would not take the event or would raise; never None
for the usual event. Events are generated around the usual shape and then broken (bytes cut, changed,
inserted, dropped), and fed to a decoder both ways, under each event name."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.unit.providers.anthropic.test_delta_usage_native import _count, state
from tests.unit.providers.openai.test_opening_native import _text, _value, broken, dumps

from bastion.core.errors import UpstreamError
from bastion.core.types import StreamStart, Usage
from bastion.providers.anthropic import stream_decode
from bastion.providers.anthropic.mapping import UsageCounter
from bastion.providers.anthropic.stream_decode import AnthropicStreamDecoder

native = pytest.importorskip("bastion._native")
MANY = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])

USUAL = (b'{"type":"message_start","message":{"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message",'
         b'"role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,'
         b'"stop_sequence":null,"usage":{"input_tokens":472,"cache_creation_input_tokens":0,'
         b'"cache_read_input_tokens":0,"cache_creation":{"ephemeral_5m_input_tokens":0,'
         b'"ephemeral_1h_input_tokens":0},"output_tokens":2,"service_tier":"standard"}}}')
USAGE_KEYS = ["input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"]


def decode(data: bytes, event: str | None, native_on: bool) -> Any:
    """What a new decoder gives for data (its events, or its error) and its counter and state after."""
    saved = stream_decode._start
    if not native_on:
        stream_decode._start = None
    try:
        decoder = AnthropicStreamDecoder()
        try:
            got: Any = decoder.feed(event, data)
            assert all(type(e) is StreamStart for e in got)
            got = [(repr(e), type(e.id), type(e.model)) for e in got]
        except UpstreamError as e:
            got = ("error", type(e), str(e))
        except orjson.JSONDecodeError:  # (never: `feed` refuses what is not JSON as malformed)
            got = "not JSON"
    finally:
        stream_decode._start = saved
    return got, state(decoder._usage), decoder._started


def assert_same(data: bytes, event: str | None = "message_start") -> Any:
    """The C reading of data, checked against the Python path's (the decoder's, both ways, under `event`)."""
    taken = native.anthropic_start(data)
    if taken is not None:
        mid, model, counts = taken
        assert type(mid) is str and type(model) is str and type(counts) is tuple and len(counts) == 5
        assert all(v is None or type(v) is int for v in counts)
        payload = orjson.loads(data)  # what C takes, orjson reads as the same message
        assert payload["type"] == "message_start"
        assert (mid, model) == (payload["message"]["id"], payload["message"]["model"])
    with_c = decode(data, event, True)
    assert with_c == decode(data, event, False), data
    if taken is not None and event in (None, "message_start"):  # the start of a fresh counter taking the counts
        counter = UsageCounter()
        counter.take(counts)
        usage = counter.canonical()
        assert with_c == ([(repr(StreamStart(mid, model, 0, usage if usage.input_tokens > 0 else None)), str, str)],
                          state(counter), True)
    return taken


# ---- generated events ---------------------------------------------------------------------------------------

@st.composite
def usages(draw: st.DrawFn) -> Any:
    value: dict[str, Any] = {}
    for key in draw(st.lists(st.sampled_from([*USAGE_KEYS, "server_tool_use", "service_tier"]), max_size=5)):
        value[key] = draw(st.one_of(*[_in_range] * 8, _count, st.booleans(),
                                    st.floats(allow_nan=False, allow_infinity=False), _text, _value))
    if draw(st.booleans()):
        value["cache_creation"] = draw(st.dictionaries(st.sampled_from(["ephemeral_1h_input_tokens",
                                                                        "ephemeral_5m_input_tokens"]), _count)
                                       | _value)
    return draw(st.one_of(st.just(value), st.just(value), st.sampled_from([None, [], 0, "", True])))


_plain = st.text(st.characters(codec="utf-8", blacklist_categories=("Cs", "Cc"), blacklist_characters='"\\'),
                 max_size=20)
_in_range = st.integers(0, 10**9)
_strings = st.one_of(_plain, _plain, _plain, _text, st.none(), st.integers(-3, 3), st.sampled_from([[], {}]))
_content = st.sampled_from([[]] * 8 + [None, "", 0, False, {}, [{"type": "text", "text": ""}], "x", 1, True, [[]]])


@st.composite
def messages(draw: st.DrawFn, breaking: bool = True) -> bytes:
    """A message_start, its members in some order (some left out, some twice, some unknown), its values
    usually the usual kinds; then maybe broken."""
    message: list[tuple[str, Any]] = [
        ("id", draw(_strings)), ("type", "message"), ("role", "assistant"), ("model", draw(_strings)),
        ("content", draw(_content)), ("stop_reason", None), ("stop_sequence", None), ("usage", draw(usages()))]
    message = draw(st.permutations(message))
    kept = [m for m in message if draw(st.integers(0, 19)) > 0]
    if draw(st.integers(0, 3)) == 0:
        kept += draw(st.lists(st.tuples(st.sampled_from(["id", "model", "content", "usage", "container", "x"]),
                                        _value | st.sampled_from([[], "m"])), max_size=2))
    body = b"{" + b",".join(dumps(k) + b":" + dumps(v) for k, v in kept) + b"}"
    top = [(b'"type"', dumps(draw(st.sampled_from(["message_start"] * 6 + ["ping", "message_stop", ""])))),
           (b'"message"', body)]
    top = draw(st.permutations(top))
    if draw(st.integers(0, 3)) == 0:
        top += draw(st.lists(st.tuples(st.sampled_from([b'"type"', b'"message"', b'"x"']),
                                       st.sampled_from([b'"message_start"', b"null", b"[]", b"{}", body])), max_size=1))
    data = b"{" + b",".join(k + b":" + v for k, v in top) + b"}"
    return draw(broken(data)) if breaking else data


_event = st.sampled_from(["message_start", "message_start", None, "ping", "message_delta"])


@MANY
@given(messages(), _event)
def test_a_start_the_c_takes_is_taken_alike(data: bytes, event: str | None) -> None:
    assert_same(data, event)


@MANY
@given(messages(breaking=False), _event)
def test_a_whole_start_the_c_takes_is_taken_alike(data: bytes, event: str | None) -> None:
    assert_same(data, event)


@MANY
@given(st.integers(0, len(USUAL)), st.binary(max_size=2), _event)
def test_the_usual_start_broken_anywhere_is_taken_alike(at: int, byte: bytes, event: str | None) -> None:
    for data in (USUAL[:at], USUAL[:at] + byte + USUAL[at:], USUAL[:at] + byte + USUAL[at + 1:]):
        assert_same(data, event)


@MANY
@given(_plain, _plain, st.dictionaries(st.sampled_from(USAGE_KEYS), st.integers(0, 10**9) | st.none()),
       st.none() | st.integers(0, 10**9), st.booleans())
def test_the_usual_start_is_taken_in_c(mid: str, model: str, usage: dict[str, Any], hour: int | None,
                                       tier: bool) -> None:
    """Plain strings and counts in range, whatever their order, with the members Anthropic adds: never left
    to Python."""
    if hour is not None:
        usage["cache_creation"] = {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": hour}
    if tier:
        usage["service_tier"] = "standard"
    message = {"id": mid, "type": "message", "role": "assistant", "model": model, "content": [],
               "stop_reason": None, "stop_sequence": None, "usage": usage}
    data = dumps({"type": "message_start", "message": message})
    assert assert_same(data) is not None
    assert assert_same(data, None) is not None


@pytest.mark.parametrize(("data", "taken"), [
    (USUAL, ("msg_01XFDUDYJgAACzvnptvVoYEL", "claude-sonnet-4-5-20250929", (472, 2, 0, 0, 0))),
    (b'{"type":"message_start","message":{"id":"","model":"","content":[]}}', ("", "", (None,) * 5)),
    (b'{"message":{"model":"m","id":"\xc3\xa9","usage":null},"type":"message_start"}', ("\xe9", "m", (None,) * 5)),
    (b'{"type":"message_start","message":{"id":"a","model":"m","content":null,"usage":{}}}', ("a", "m", (None,) * 5)),
    (b'{"type":"message_start","message":{"id":"a","model":"m","usage":{"input_tokens":1},"id":"b"}}',
     ("b", "m", (1, None, None, None, None))),
    (b'{"type":"ping","message":{"id":"a","model":"m"},"type":"message_start"}', ("a", "m", (None,) * 5)),
    (b'{"type":"message_start","message":{"id":"a","model":"m","usage":{"cache_creation":{"ephemeral_1h_input_tokens'
     b'":7},"input_tokens":1000000000}}}', ("a", "m", (10**9, None, None, None, 7))),
    (b'{"type":"message_start","message":{"id":"a","model":"m","container":null,"x":[],"y":{"z":[]}}}',
     ("a", "m", (None,) * 5)),
    # left to Python: it refuses, or takes what C does not read
    (b'{"type":"message_start","message":{"id":"a","model":"m","content":[{}]}}', None),
    (b'{"type":"message_start","message":{"id":"a","model":"m","content":[ ]}}', None),
    (b'{"type":"message_start","message":{"id":"a","model":"m","content":""}}', None),
    (b'{"type":"message_start","message":{"id":"a","model":"m","content":"x"}}', None),
    (b'{"type":"message_start","message":{"id":"a","model":"m","content":[],"extra":[1]}}', None),
    (b'{"type":"message_start","message":{"id":"a\\"","model":"m"}}', None),
    (b'{"type":"message_start","message":{"id":"a","model":"m\\u00e9"}}', None),
    (b'{"type":"message_start","message":{"id":"a","model":null}}', None),
    (b'{"type":"message_start","message":{"id":1,"model":"m"}}', None),
    (b'{"type":"message_start","message":{"model":"m"}}', None),
    (b'{"type":"message_start","message":{"id":"a","model":"m"},"message":null}', None),
    (b'{"type":"message_start","message":[]}', None),
    (b'{"type":"message_start"}', None),
    (b'{"type":"message_stop","message":{"id":"a","model":"m"}}', None),
    (b'{"type":"message_stArt","message":{"id":"a","model":"m"}}', None),
    (b'{"type":"message_start\\u0000","message":{"id":"a","model":"m"}}', None),
    (b'{"type":"message_start","message":{"id":"a","model":"m","usage":[]}}', None),
    (b'{"type":"message_start","message":{"id":"a","model":"m","usage":1}}', None),
    (b'{"type":"message_start","message":{"id":"a","model":"m","usage":{"input_tokens":1000000001}}}', None),
    (b'{"type":"message_start","message":{"id":"a","model":"m","usage":{"input_tokens":-1}}}', None),
    (b'{"type":"message_start","message":{"id":"a","model":"m","usage":{"input_tokens":1.0}}}', None),
    (b'{"type":"message_start","message":{"id":"a","model":"m","usage":{"input_tokens":01}}}', None),
    (b'{"type":"message_start","message":{"id":"a","model":"m","usage":{"input_tokens":1234567890123456789}}}', None),
    (b'{"type":"message_start","message":{"id":"a","model":"m","usage":{"cache_creation":{"ephemeral_1h_input_tokens'
     b'":true}}}}', None),
    (b'{"type":"message_start","message":{"id":"a","model":"m"}} ', None),
    (b' {"type":"message_start","message":{"id":"a","model":"m"}}', None),
    (b'{"type": "message_start","message":{"id":"a","model":"m"}}', None),
    (b'{"type":"message_start","message":{"id":"a","model":"m"}}}', None),
    (b'{"type":"message_start","message":{"id":"a","model":"m"}', None),
    (b'{"type":"message_start","message":{"id":"a","model":"\xff"}}', None),
    (b'{"type":"message_start","message":{"id":"a","model":"m","a":{"b":{"c":{}}}}}', None),
    (b"[]", None), (b"{}", None), (b"", None), (b"{", None), (b"[", None), (b'{"type":"message_start","message":[', None),
])
def test_starts_decided(data: bytes, taken: tuple[str, str, tuple[int | None, ...]] | None) -> None:
    assert assert_same(data) == taken
    assert assert_same(data, None) == taken


def test_the_usual_start_is_not_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Taken, not only equivalent: the usual message_start gives its start without orjson; a second one, a
    start under another event name, and a start with fast=False take the general path (which refuses the
    first two)."""
    calls: list[bytes] = []
    loads = orjson.loads

    def counted(data: bytes) -> object:
        calls.append(data)
        return loads(data)

    monkeypatch.setattr("bastion.providers.anthropic.stream_decode.orjson.loads", counted)
    decoder = AnthropicStreamDecoder()
    assert decoder.feed("message_start", USUAL) == [
        StreamStart("msg_01XFDUDYJgAACzvnptvVoYEL", "claude-sonnet-4-5-20250929", 0, Usage(472, 2, 0, 0, 0, 0))]
    assert calls == []
    with pytest.raises(UpstreamError, match="a second message_start"):
        decoder.feed("message_start", USUAL)
    with pytest.raises(UpstreamError, match="disagree"):
        AnthropicStreamDecoder().feed("ping", USUAL)
    assert AnthropicStreamDecoder(fast=False).feed(None, USUAL) == AnthropicStreamDecoder().feed(None, USUAL)
    assert calls == [USUAL] * 3


def test_arguments_are_checked() -> None:
    with pytest.raises(TypeError):
        native.anthropic_start(bytearray(USUAL))
    with pytest.raises(TypeError):
        native.anthropic_start(USUAL, 0)
