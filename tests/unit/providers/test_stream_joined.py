"""A read decoded with its templated text chunks joined (providers/streaming.py `_decode_joined`, for a
stream the output guard reads) gives what the general decoding gives once the guard has joined a
read's adjacent text deltas (policy/guard.py `_coalesced`): for any upstream stream of either format,
cut into reads anywhere, the same events per read, the same error, the same end."""

from __future__ import annotations

from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st
from tests.unit.providers.test_stream_frames import CUTS, anthropic_stream, cut, openai_stream
from tests.unit.providers.test_stream_templates import ANTHROPIC_STEP, OPENAI_STEP, openai_chunk

from bastion.core.types import StreamEvent, TextDelta
from bastion.policy.guard import _coalesced
from bastion.providers.anthropic.stream_decode import AnthropicStreamDecoder
from bastion.providers.frames import SSEEvent
from bastion.providers.openai.stream import ChunkDecoder
from bastion.providers.streaming import _decode, _decode_joined

Decoder = ChunkDecoder | AnthropicStreamDecoder


def _outcome(decoder: Decoder, reads: list[list[SSEEvent]], joined: bool) -> list[Any]:
    out: list[Any] = []
    for sse in reads:
        events: list[StreamEvent] = []
        err = _decode_joined(decoder, sse, events) if joined else _decode(decoder, sse, events)
        out.append((_coalesced(events), None if err is None else (type(err).__name__, str(err)), decoder.done))
        if err is not None or decoder.done:
            break
    return out


def _same(decoder: type[Decoder], events: list[SSEEvent], cuts: list[int]) -> None:
    reads = cut(events, cuts)
    assert _outcome(decoder(), reads, True) == _outcome(decoder(), reads, False)


@settings(max_examples=400, deadline=None)
@given(st.lists(OPENAI_STEP, min_size=1, max_size=14), st.booleans(), CUTS)
@example([(" hi", None, False, 0, None, False, (0, 0, 0))] * 3, True, [])
@example([(' "q" \\', None, False, 0, None, False, (0, 0, 0))] * 3, True, [1])
@example([(" hi", "ab", True, 0, None, True, (0, 0, 0)), (" é\u2028", "c", False, 0, "stop", True, (0, 0, 0))],
         True, [2])
def test_openai_joined_is_the_coalesced_general_decoding(steps: list[tuple], with_done: bool, cuts: list[int]) -> None:
    _same(ChunkDecoder, openai_stream(steps, with_done), cuts)


@settings(max_examples=400, deadline=None)
@given(st.lists(ANTHROPIC_STEP, min_size=1, max_size=16), CUTS)
@example([("start", "", True, 0, (0, 0, 0)), ("delta", "a", True, 0, (0, 0, 0)), ("delta", "b", True, 0, (0, 0, 0)),
          ("stop", "", True, 0, (0, 0, 0)), ("delta", "c", True, 0, (0, 0, 0))], [])
def test_anthropic_joined_is_the_coalesced_general_decoding(steps: list[tuple], cuts: list[int]) -> None:
    _same(AnthropicStreamDecoder, anthropic_stream(steps), cuts)


def test_a_read_of_many_text_chunks_is_one_delta_without_a_decoder_call(monkeypatch: Any) -> None:
    decoder = ChunkDecoder()
    decoder.feed(None, openai_chunk("", None, True))
    decoder.feed(None, openai_chunk("a", None, True))  # the template is known
    calls: list[object] = []
    feed = ChunkDecoder.feed
    monkeypatch.setattr(ChunkDecoder, "feed", lambda self, *a: calls.append(a) or feed(self, *a))
    events: list[StreamEvent] = []
    sse = [(None, openai_chunk(t, None, True)) for t in ("b", "", "c", "d")] + [(None, b"[DONE]")]
    assert _decode_joined(decoder, sse, events) is None
    assert events == [TextDelta("bcd", 0)] and len(calls) == 1 and decoder.done  # the end marker only
