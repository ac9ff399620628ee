"""bastion._native.anthropic_delta_usage (_native_opening.c) against `UsageCounter.update` of the usage orjson
parses: for every message_delta usage the C function takes, the same counter afterwards; None whenever the
Python path would not take it or would raise; never None for the usual usage. Usages are generated around
the usual shape and then broken, and whole streams are decoded both ways."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.unit.providers.openai.test_opening_native import _text, _value, broken, dumps

from bastion.core.errors import UpstreamError
from bastion.core.types import StreamEnd, StreamStart, TextDelta, Usage, UsageEvent
from bastion.providers.anthropic import stream_decode
from bastion.providers.anthropic.mapping import UsageCounter
from bastion.providers.anthropic.stream_decode import AnthropicStreamDecoder

native = pytest.importorskip("bastion._native")
MANY = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])

HEAD = b'{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":'
KEYS = ["input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"]
_count = st.integers(-5, 2 * 10**9) | st.sampled_from([0, 10**9, 10**9 + 1, 10**19, 2**64]) | st.none()


def counter_of(start: tuple[int, int, int, int, int]) -> UsageCounter:
    c = UsageCounter()
    c.input, c.output, c.cache_read, c.cache_creation, c.cache_1h = start
    return c


def state(c: UsageCounter) -> tuple[int, int, int, int, int]:
    return c.input, c.output, c.cache_read, c.cache_creation, c.cache_1h


def python_update(start: tuple[int, int, int, int, int], usage: bytes) -> Any:
    c = counter_of(start)
    try:
        c.update(orjson.loads(usage))
    except orjson.JSONDecodeError:
        return "not JSON"
    except UpstreamError as e:
        return ("error", str(e))
    return state(c)


def assert_same(usage: bytes, start: tuple[int, int, int, int, int] = (7, 8, 9, 10, 3)) -> Any:
    data = HEAD + usage + b"}"
    counts = native.anthropic_delta_usage(data, len(HEAD))
    if counts is None:
        return None
    assert type(counts) is tuple and len(counts) == 5
    assert all(v is None or type(v) is int for v in counts)
    c = counter_of(start)
    c.take(counts)
    assert state(c) == python_update(start, usage), usage
    return counts


@st.composite
def usages(draw: st.DrawFn) -> bytes:
    value: dict[str, Any] = {}
    for key in draw(st.lists(st.sampled_from([*KEYS, "server_tool_use", "service_tier"]), max_size=5)):
        value[key] = draw(_count | st.booleans() | st.floats(allow_nan=False, allow_infinity=False) | _text | _value)
    if draw(st.booleans()):
        value["cache_creation"] = draw(st.dictionaries(st.sampled_from(["ephemeral_1h_input_tokens",
                                                                        "ephemeral_5m_input_tokens"]), _count)
                                       | _value)
    return draw(broken(dumps(value)))


@MANY
@given(usages())
def test_a_usage_the_c_takes_is_taken_alike(usage: bytes) -> None:
    assert_same(usage)


@MANY
@given(st.dictionaries(st.sampled_from(KEYS), st.integers(0, 10**9) | st.none()),
       st.none() | st.integers(0, 10**9))
def test_the_usual_usage_is_taken_in_c(value: dict[str, Any], hour: int | None) -> None:
    if hour is not None:
        value["cache_creation"] = {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": hour}
    assert assert_same(dumps(value)) is not None


@pytest.mark.parametrize(("usage", "counts"), [
    (b'{"output_tokens":15}', (None, 15, None, None, None)),
    (b'{"input_tokens":null,"output_tokens":1000000000,"cache_creation":{"ephemeral_1h_input_tokens":4}}',
     (None, 10**9, None, None, 4)),
    (b'{"cache_creation":null,"cache_read_input_tokens":0,"cache_creation_input_tokens":2}', (None, None, 0, 2, None)),
    (b'{"cache_creation":{"ephemeral_1h_input_tokens":null},"server_tool_use":{"web_search_requests":0}}',
     (None, None, None, None, None)),
    (b'{"output_tokens":1,"output_tokens":2}', (None, 2, None, None, None)),
    (b'{"output_tokens":1000000001}', None), (b'{"output_tokens":-1}', None), (b'{"output_tokens":true}', None),
    (b'{"output_tokens":1.0}', None), (b'{"output_tokens":"1"}', None), (b'{"output_tokens": 1}', None),
    (b'{"cache_creation":{"ephemeral_1h_input_tokens":-2}}', None), (b'{"output_tokens":1}}', None),
    (b'{"output_tokens":1', None), (b"[]", None), (b"null", None), (b"", None),
])
def test_usages_decided(usage: bytes, counts: tuple[int | None, ...] | None) -> None:
    assert assert_same(usage) == counts


def test_a_start_past_the_data_is_left_to_python() -> None:
    assert native.anthropic_delta_usage(b"}", 1) is None
    assert native.anthropic_delta_usage(b"}", -1) is None
    assert native.anthropic_delta_usage(b"", 0) is None


# ---- whole streams -----------------------------------------------------------------------------------------

START = (b'{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],'
         b'"model":"claude-x","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":260,"output_tokens":1}}}')


def stream_of(usage: bytes) -> list[tuple[str, bytes]]:
    return [("message_start", START),
            ("content_block_start", b'{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}'),
            ("content_block_delta", b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}'),
            ("content_block_stop", b'{"type":"content_block_stop","index":0}'),
            ("message_delta", HEAD + usage + b"}"), ("message_stop", b'{"type":"message_stop"}')]


def decode_all(events: list[tuple[str, bytes]], native_on: bool) -> list[Any]:
    saved = stream_decode._delta_usage
    if not native_on:
        stream_decode._delta_usage = None
    out: list[Any] = []
    try:
        decoder = AnthropicStreamDecoder()
        for name, data in events:
            try:
                out.append(repr(decoder.feed(name, data)))
            except UpstreamError as e:
                out.append(("error", str(e)))
    finally:
        stream_decode._delta_usage = saved
    return out


@MANY
@given(usages())
def test_a_stream_decodes_alike_with_and_without_c(usage: bytes) -> None:
    events = stream_of(usage)
    assert decode_all(events, True) == decode_all(events, False)


def test_the_usual_stream_exactly() -> None:
    events = stream_of(b'{"output_tokens":15,"cache_read_input_tokens":40,"cache_creation":'
                       b'{"ephemeral_1h_input_tokens":0}}')
    decoder = AnthropicStreamDecoder()
    got = [decoder.feed(name, data) for name, data in events]
    assert got == [[StreamStart("msg_1", "claude-x", 0, Usage(260, 1, 0, 0, 0, 0))], [], [TextDelta("Hi", 0)], [],
                   [StreamEnd("stop", 0), UsageEvent(Usage(300, 15, 40, 0, 0, 0))], []]
    assert decoder.done
