"""A direct stream's translation (providers/frames.py) writes what the canonical path writes: for any
upstream stream, cut into reads anywhere, either upstream format to either client format, the
client gets the same bytes per read, the same facts are observed (text size, usage, finish reason)
and it ends the same way (the decoder's errors, the encoder's errors, the end marker). Events the
adapter does not know are still errors, also once text is being taken by the template."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from unittest.mock import patch

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from tests.unit.providers.test_stream_templates import (
    ANTHROPIC_STEP,
    MESSAGE_START,
    OPENAI_STEP,
    Shape,
    anthropic_chunk,
    mutate,
    openai_chunk,
)

from bastion.core.context import RequestContext
from bastion.core.errors import UpstreamError
from bastion.core.types import (
    StreamEnd,
    StreamEvent,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    Usage,
    UsageEvent,
)
from bastion.pipeline.runner import note
from bastion.providers import frames
from bastion.providers.anthropic.stream_decode import AnthropicStreamDecoder
from bastion.providers.anthropic.stream_encode import AnthropicStreamEncoder
from bastion.providers.frames import EncodeFailed, SSEEvent, Translator
from bastion.providers.openai.stream import ChunkDecoder, ChunkEncoder
from bastion.providers.streaming import OpenStream, RoutedStream, _decode

Decoder = ChunkDecoder | AnthropicStreamDecoder


@pytest.fixture(autouse=True, scope="module", params=["native", "python"])
def run_in(request):
    """Every test twice: with the C checks and joins of a run (`frames._native_run`, when built) and of a
    read of one text event (`frames._native_one`), and without them (the Python they stand in for)."""
    if request.param == "native" and getattr(frames, "_native_run", None) is None:
        pytest.skip("bastion._native is not built")
    with pytest.MonkeyPatch.context() as mp:
        if request.param == "python":
            mp.setattr(frames, "_native_run", None, raising=False)
            mp.setattr(frames, "_native_one", None, raising=False)
        yield request.param

Encoder = ChunkEncoder | AnthropicStreamEncoder
Outcome = tuple[list[bytes], dict[str, Any], object]


def facts(events: list[StreamEvent], chars: int = 0) -> dict[str, Any]:
    """What Pipeline._observe records, computed here independently of `note`."""
    usage = finish = None
    for ev in events:
        if isinstance(ev, TextDelta | ThinkingDelta):
            chars += len(ev.text)
        elif isinstance(ev, ToolCallDelta):
            chars += len(ev.arguments)
        elif isinstance(ev, UsageEvent):
            usage = ev.usage
        elif isinstance(ev, StreamEnd):
            finish = ev.finish_reason
    return {"chars": chars, "usage": usage, "finish": finish}


def canonical(decoder: Decoder, encoder: Encoder, reads: list[list[SSEEvent]]) -> Outcome:
    """The canonical path: each read decoded (RoutedStream), observed, encoded as one burst (http/api.py)."""
    written: list[bytes] = []
    seen: list[StreamEvent] = []
    for sse in reads:
        events: list[StreamEvent] = []
        err = _decode(decoder, sse, events)
        seen += events
        try:
            written.append(b"".join([encoder.encode(ev) for ev in events]))
        except Exception as e:
            return written, facts(seen), ("encoder", type(e).__name__, str(e))
        if err is not None:
            return written, facts(seen), ("decoder", type(err).__name__, str(err))
        if decoder.done:
            return written, facts(seen), "done"
    return written, facts(seen), "unfinished"


def direct(decoder: Decoder, encoder: Encoder, reads: list[list[SSEEvent]]) -> Outcome:
    translator = Translator(decoder, encoder)
    written: list[bytes] = []
    ctx = RequestContext(request_id="r", ingress="openai")
    end: object = "unfinished"
    for sse in reads:
        out: list[bytes] = []
        events: list[StreamEvent] = []
        chars, err = translator.read(sse, out, events)
        note(ctx, events, chars)
        if isinstance(err, EncodeFailed):
            assert not out
            end = ("encoder", type(err.err).__name__, str(err.err))
            break
        written.append(b"".join(out))
        if err is not None:
            end = ("decoder", type(err).__name__, str(err))
            break
        if decoder.done:
            end = "done"
            break
    observed = {"chars": ctx.streamed_chars, "usage": ctx.usage, "finish": ctx.finish_reason}
    assert (ctx.first_token_at is not None) == (observed["chars"] > 0)
    return written, observed, end


def cut(events: list[SSEEvent], cuts: list[int]) -> list[list[SSEEvent]]:
    reads, start = [], 0
    for n in cuts:
        reads.append(events[start:start + n])
        start += n
    reads.append(events[start:])
    return reads


ENCODERS = {"openai": lambda: ChunkEncoder("alias", True), "openai-no-usage": lambda: ChunkEncoder("alias", False),
            "anthropic": lambda: AnthropicStreamEncoder("alias")}
CUTS = st.lists(st.integers(0, 5), max_size=6)


def same(decoder: type[Decoder], events: list[SSEEvent], cuts: list[int], client: str) -> None:
    reads = cut(events, cuts)
    # one clock for both: an OpenAI client's chunks carry the time when the upstream gave none (an
    # Anthropic stream), and the two paths ran a second apart now and then (a flaky failure)
    with patch("time.time", return_value=1_764_300_000.0):
        assert direct(decoder(), ENCODERS[client](), reads) == canonical(decoder(), ENCODERS[client](), reads)


@settings(max_examples=300, deadline=None)
@given(st.lists(OPENAI_STEP, min_size=1, max_size=12), st.booleans(), CUTS, st.sampled_from(sorted(ENCODERS)))
@example([(" hi", None, False, 0, None, False, (0, 0, 0))] * 3, True, [], "openai")
@example([(' "q" \\', None, False, 0, None, False, (0, 0, 0))] * 3, True, [1], "anthropic")
@example([(" hi", "ab", True, 0, None, True, (0, 0, 0)), (" é\u2028", "c", False, 0, "stop", True, (0, 0, 0))],
         True, [2], "openai")
def test_openai_upstream_direct_is_canonical(steps: list[tuple], with_done: bool, cuts: list[int], client: str) -> None:
    same(ChunkDecoder, openai_stream(steps, with_done), cuts, client)


def openai_stream(steps: list[tuple], with_done: bool) -> list[SSEEvent]:
    """An OpenAI upstream stream of OPENAI_STEP steps (and its end marker, with a chunk after it)."""
    events: list[SSEEvent] = [(None, openai_chunk("", None, True))]
    for text, pad, ascii_only, index, finish, usage, (how, at, byte) in steps:
        events.append((None, mutate(openai_chunk(text, pad, ascii_only, index, finish, usage), how, at, byte)))
    if with_done:
        events.append((None, b"[DONE]"))
        events.append((None, openai_chunk("after", None, True)))
    return events


@settings(max_examples=300, deadline=None)
@given(st.lists(ANTHROPIC_STEP, min_size=1, max_size=14), CUTS, st.sampled_from(sorted(ENCODERS)))
@example([("start", "", True, 0, (0, 0, 0)), ("delta", "a", True, 0, (0, 0, 0)), ("delta", "b", True, 0, (0, 0, 0)),
          ("stop", "", True, 0, (0, 0, 0)), ("delta", "c", True, 0, (0, 0, 0))], [], "anthropic")
@example([("start", "", True, 0, (0, 0, 0)), ("delta", "a", True, 0, (0, 0, 0)), ("delta", "b", True, 0, (0, 0, 0)),
          ("message_delta", "", True, 0, (0, 0, 0)), ("message_stop", "", True, 0, (0, 0, 0)),
          ("delta", "c", True, 0, (0, 0, 0))], [3], "openai")
def test_anthropic_upstream_direct_is_canonical(steps: list[tuple], cuts: list[int], client: str) -> None:
    same(AnthropicStreamDecoder, anthropic_stream(steps), cuts, client)


def anthropic_stream(steps: list[tuple]) -> list[SSEEvent]:
    """An Anthropic upstream stream of ANTHROPIC_STEP steps."""
    events: list[SSEEvent] = [MESSAGE_START]
    for kind, text, ascii_only, index, (how, at, byte) in steps:
        name, data = anthropic_chunk(kind, text, ascii_only, index)
        events.append((name, mutate(data, how, at, byte)))
    return events


# Escapes the upstream may write and the encoder writes otherwise (or not at all): the text is
# re-encoded, never forwarded as the upstream spelled it; and a lone surrogate, which the client
# upstream cannot send (not JSON to the decoder: its error, as on the canonical path).
SPELLINGS = [(b'"hi"', "hi"), (b'"\\u00e9t\\u00e9"', "été"), ('"été"'.encode(), "été"), (b'"a\\/b"', "a/b"),
             (b'"\\"q\\" \\\\"', '"q" \\'), (b'"line\\nnext\\t"', "line\nnext\t"),
             ('"\u2028\u007f"'.encode(), "\u2028\u007f"), (b'"\\ud83d\\ude00"', "\U0001F600"),
             (b'"\\ud800"', None), (b'"\\u0000"', "\x00")]


@pytest.mark.parametrize("client", sorted(ENCODERS))
@pytest.mark.parametrize("spelled,text", SPELLINGS)
def test_any_spelling_of_a_text_is_written_as_the_encoder_writes_it(spelled: bytes, text: str | None,
                                                                   client: str) -> None:
    oa = [(None, openai_chunk("", None, True)), (None, openai_chunk("first", None, True)),
          (None, openai_chunk("x", None, True).replace(b'"x"', spelled)), (None, b"[DONE]")]
    if text is None:
        with pytest.raises(UpstreamError, match="not JSON"):
            ChunkDecoder(fast=False).feed(*oa[2])
    else:
        assert ChunkDecoder(fast=False).feed(*oa[2])[-1] == TextDelta(text)
    same(ChunkDecoder, oa, [], client)
    same(ChunkDecoder, oa, [2], client)
    an = _anthropic_text("first", "x")
    an[-1] = (an[-1][0], an[-1][1].replace(b'"x"', spelled))
    same(AnthropicStreamDecoder, an, [], client)


def _anthropic_text(*texts: str) -> list[SSEEvent]:
    return [MESSAGE_START, anthropic_chunk("start", "", True), *(anthropic_chunk("delta", t, True) for t in texts)]


def test_text_is_taken_by_the_template_without_the_decoder(monkeypatch: pytest.MonkeyPatch) -> None:
    """The shortcut is taken (not only equivalent): once learned, a text event never reaches `feed`."""
    decoder, encoder = AnthropicStreamDecoder(), AnthropicStreamEncoder("alias")
    translator = Translator(decoder, encoder)
    out: list[bytes] = []
    assert translator.read(_anthropic_text("a"), out, []) == (0, None)  # learned from "a" (decoded in full)
    fed: list[str | None] = []
    feed = AnthropicStreamDecoder.feed

    def counted(self: AnthropicStreamDecoder, name: str | None, data: bytes) -> list[StreamEvent]:
        fed.append(name)
        return feed(self, name, data)

    monkeypatch.setattr(AnthropicStreamDecoder, "feed", counted)
    events: list[StreamEvent] = []
    out = []
    chars, err = translator.read([anthropic_chunk("delta", t, True) for t in ("bc", "d")], out, events)
    assert (chars, err, events, fed) == (3, None, [], [])
    assert b"".join(out).count(b'"text_delta","text":') == 2


def test_an_unknown_event_is_an_error_while_text_takes_the_shortcut() -> None:
    decoder = AnthropicStreamDecoder()
    translator = Translator(decoder, AnthropicStreamEncoder("alias"))
    out: list[bytes] = []
    surprise = ("content_block_surprise", b'{"type":"content_block_surprise","index":0}')
    chars, err = translator.read([*_anthropic_text("a", "b", "c"), surprise, anthropic_chunk("delta", "d", True)],
                                 out, [])
    assert chars == 2 and isinstance(err, UpstreamError) and "unknown stream event type" in err.message
    assert b"".join(out).count(b'"text_delta"') == 3  # what came before the unknown event, nothing after it


def test_a_text_delta_after_its_block_stopped_is_refused_though_it_fits_the_template() -> None:
    """The block's stop gives no events but changes what a text event is: the shortcut is re-read."""
    translator = Translator(AnthropicStreamDecoder(), AnthropicStreamEncoder("alias"))
    reads = [_anthropic_text("a", "b"), [anthropic_chunk("stop", "", True), anthropic_chunk("delta", "c", True)]]
    assert translator.read(reads[0], [], []) == (1, None)
    chars, err = translator.read(reads[1], [], [])
    assert chars == 0 and isinstance(err, UpstreamError) and "already stopped" in err.message


def test_an_encoder_error_empties_the_read_and_the_rest_is_still_observed() -> None:
    """An Anthropic client cannot take interleaved tool calls: the encoder refuses; the read's
    usage (after the refused event) is still observed, and none of the read is written."""
    decoder = ChunkDecoder()
    translator = Translator(decoder, AnthropicStreamEncoder("alias"))

    def call(pos: int, args: str, first: bool) -> SSEEvent:
        fn = f'{{"name":"f{pos}","arguments":"{args}"}}' if first else f'{{"arguments":"{args}"}}'
        head = f'"id":"c{pos}","type":"function",' if first else ""
        return None, (f'{{"id":"x","model":"m","choices":[{{"index":0,"delta":{{"tool_calls":[{{"index":{pos},{head}'
                      f'"function":{fn}}}]}},"finish_reason":null}}]}}').encode()

    usage = (None, b'{"id":"x","model":"m","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2}}')
    assert translator.read([call(0, "{", True), call(1, "{", True)], [], [])[1] is None
    out: list[bytes] = []
    events: list[StreamEvent] = []
    _, err = translator.read([(None, openai_chunk("hi", None, True)), call(0, "}", False), usage], out, events)
    assert isinstance(err, EncodeFailed) and isinstance(err.err, UpstreamError) and out == []
    assert events[-1] == UsageEvent(Usage(input_tokens=3, output_tokens=2))


class _Upstream:
    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True


async def _reads(reads: list[list[SSEEvent]]) -> AsyncIterator[list[SSEEvent]]:
    for r in reads:
        yield r


def _routed(decoder: Decoder, first: list[StreamEvent], pending: list[SSEEvent], reads: list[list[SSEEvent]],
            failures: list[UpstreamError], ended: list[bool]) -> RoutedStream:
    opened = OpenStream(_Upstream(), decoder, first, pending, _reads(reads))  # type: ignore[arg-type]
    return RoutedStream("p", opened, failures.append, lambda: ended.append(True))


async def test_routed_frames_end_at_the_marker_with_usage_seen_and_the_target_released() -> None:
    decoder = ChunkDecoder()
    first = decoder.feed(None, openai_chunk("", None, True)) + decoder.feed(None, openai_chunk("Hel", None, True))
    finish = (None, openai_chunk(None, None, True, finish="stop"))
    usage = (None, b'{"id":"x","model":"m","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2}}')
    failures: list[UpstreamError] = []
    ended: list[bool] = []
    routed = _routed(decoder, first, [(None, openai_chunk("lo", None, True))],
                     [[(None, openai_chunk(" you", None, True)), finish], [usage, (None, b"[DONE]")]], failures, ended)
    ctx = RequestContext(request_id="r", ingress="openai")
    frames = [f async for f in routed.frames(ChunkEncoder("alias", True), lambda evs, n: note(ctx, evs, n))]
    body = b"".join(frames)
    assert len(frames) == 3 and body.count(b'"content":') == 4  # role chunk + Hel, lo, you
    assert (ctx.streamed_chars, ctx.finish_reason, ctx.usage) == (9, "stop", Usage(input_tokens=3, output_tokens=2))
    assert ended == [True] and failures == [] and routed._opened.stream.closed


async def test_routed_frames_without_the_end_marker_fail_against_the_target() -> None:
    decoder = AnthropicStreamDecoder()
    first: list[StreamEvent] = []
    for name, data in _anthropic_text("a"):
        first += decoder.feed(name, data)
    failures: list[UpstreamError] = []
    ended: list[bool] = []
    routed = _routed(decoder, first, [], [[anthropic_chunk("delta", "b", True)]], failures, ended)
    got: list[bytes] = []
    with pytest.raises(UpstreamError, match="ended the stream before it was complete"):
        async for f in routed.frames(AnthropicStreamEncoder("alias"), lambda evs, n: None):
            got.append(f)
    assert len(got) == 2 and len(failures) == 1 and ended == [True]


async def test_routed_frames_encoder_error_is_not_the_targets_failure() -> None:
    decoder = ChunkDecoder()
    first = decoder.feed(None, openai_chunk("", None, True))
    failures: list[UpstreamError] = []
    ended: list[bool] = []
    call = (None, b'{"id":"x","model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,'
                  b'"function":{"arguments":"{}"}}]},"finish_reason":null}]}')  # no id or name: Anthropic refuses
    routed = _routed(decoder, first, [call], [], failures, ended)
    with pytest.raises(UpstreamError, match="lacks its id or name"):
        async for _ in routed.frames(AnthropicStreamEncoder("alias"), lambda evs, n: None):
            pass
    assert failures == [] and ended == [True]


def test_a_ping_gives_nothing_by_its_shortcut_as_by_the_general_path() -> None:
    for fast in (True, False):
        decoder = AnthropicStreamDecoder(fast=fast)
        assert decoder.feed("ping", b'{"type":"ping"}') == [] and decoder.feed(None, b'{"type":"ping"}') == []
        with pytest.raises(UpstreamError, match="disagree"):
            decoder.feed("content_block_delta", b'{"type":"ping"}')


async def test_a_stream_read_as_frames_after_a_look_at_its_bursts_is_freed_without_the_collector() -> None:
    """The pipeline asks for `bursts()` to see whether the guard hands them back unchanged; a stream
    then read as frames must not keep that unread generator (a reference cycle through it would
    leave every stream to the garbage collector)."""
    import gc
    import weakref

    decoder = ChunkDecoder()
    first = decoder.feed(None, openai_chunk("", None, True)) + decoder.feed(None, openai_chunk("a", None, True))
    routed = _routed(decoder, first, [], [[(None, b"[DONE]")]], [], [])
    gone = weakref.ref(routed)
    gc.disable()
    try:
        routed.bursts()
        frames = [f async for f in routed.frames(ChunkEncoder("alias", False), lambda evs, n: None)]
        del routed
        assert frames and gone() is None
    finally:
        gc.enable()


def _calls(monkeypatch: pytest.MonkeyPatch, cls: type, name: str) -> list[object]:
    """The objects `cls.name` is called on from now on (a spy around the method)."""
    calls: list[object] = []
    method = getattr(cls, name)

    def spy(self: object, *args: Any) -> Any:
        calls.append(self)
        return method(self, *args)

    monkeypatch.setattr(cls, name, spy)
    return calls


async def test_bursts_looked_at_make_no_generator_until_iterated(monkeypatch: pytest.MonkeyPatch) -> None:
    """`bursts()` is one object however often asked for; its generator is made only when it is
    iterated, so a stream read as frames makes none. Iterated, it gives the stream's bursts, and
    the stream read to its end is freed without the collector."""
    import gc
    import weakref

    made = _calls(monkeypatch, RoutedStream, "_run")

    def opened() -> tuple[ChunkDecoder, list[StreamEvent]]:
        decoder = ChunkDecoder()
        return decoder, decoder.feed(None, openai_chunk("", None, True)) + decoder.feed(None, openai_chunk("a", None, True))

    decoder, first = opened()
    routed = _routed(decoder, first, [], [[(None, b"[DONE]")]], [], [])
    assert routed.bursts() is routed.bursts()
    assert [f async for f in routed.frames(ChunkEncoder("alias", False), lambda evs, n: None)] and made == []
    decoder, first = opened()
    ended: list[bool] = []
    routed = _routed(decoder, first, [], [[(None, openai_chunk("b", None, True)), (None, b"[DONE]")]], [], ended)
    gone = weakref.ref(routed)
    gc.disable()
    try:
        assert [b async for b in routed.bursts()] == [first, [TextDelta("b")]]
        assert made == [routed] and ended == [True]
        del routed
        made.clear()
        assert gone() is None
    finally:
        gc.enable()


def test_a_stream_read_whole_asks_for_the_shortcut_at_its_first_text_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """After an event decoded in full the shortcut is asked for again only when an event may fit
    it: a stream read whole (its role and first text decoded as the router does) asks once, at its
    next text, and not after its finish, usage and end events. It still writes what the canonical
    path writes (the tests above)."""
    sse = _one_read(["first", "a", "b", "c", "d", "e", "f", "g"])
    decoder = ChunkDecoder()
    first = decoder.feed(*sse[0]) + decoder.feed(*sse[1])
    asked = _calls(monkeypatch, ChunkDecoder, "text_template")
    translator = Translator(decoder, ChunkEncoder("alias", True))
    out: list[bytes] = []
    seen = list(first)
    assert translator.read(sse[2:], out, seen, first[:]) == (len("abcdefg"), None)
    assert len(asked) == 1 and decoder.done
    assert [type(ev).__name__ for ev in seen] == ["StreamStart", "TextDelta", "StreamEnd", "UsageEvent"]


def _one_read(texts: list[str]) -> list[SSEEvent]:
    """An OpenAI stream in one read, as a fast upstream sends it: role, texts, finish, usage, end."""
    usage = b'{"id":"x","model":"m","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2}}'
    return [(None, openai_chunk("", None, True)), *((None, openai_chunk(t, None, False)) for t in texts),
            (None, openai_chunk(None, None, True, finish="stop")), (None, usage), (None, b"[DONE]")]


def _read_whole(decoder: Decoder, encoder: Encoder, sse: list[SSEEvent]) -> tuple[bytes, int, list[StreamEvent], object]:
    out: list[bytes] = []
    seen: list[StreamEvent] = []
    chars, err = Translator(decoder, encoder).read(sse, out, seen)
    return b"".join(out), chars, seen, err


@pytest.mark.parametrize("client", sorted(ENCODERS))
def test_a_read_of_many_text_events_is_written_as_one_run(client: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stream read whole: its text events go through `_run` at once (from the first when the
    decoder knows the template before it (OpenAI's first chunk, Anthropic's text block start) and
    the client's encoder has its text frame already (an OpenAI client's, open from the start),
    else after the first), and the client gets what the loop writes one event at a time (bytes,
    text size, events, end)."""
    texts = ["Hel", "lo", " wor", "ld", " é\u2028", ".", " Bye", "!"]  # written without escapes (UTF-8)
    streams = [(ChunkDecoder, _one_read(texts)),
               (AnthropicStreamDecoder, [MESSAGE_START, anthropic_chunk("start", "", True),
                                         *(anthropic_chunk("delta", t, False) for t in texts),
                                         anthropic_chunk("stop", "", True), anthropic_chunk("message_delta", "", True),
                                         anthropic_chunk("message_stop", "", True)])]
    taken = frames._run
    for decoder, sse in streams:
        runs: list[tuple[int, int, object]] = []

        def spied(events: Any, start: int, end: int, shortcut: Any,
                  runs: list[tuple[int, int, object]] = runs) -> Any:
            got = taken(events, start, end, shortcut)
            runs.append((start, end, got))
            return got

        monkeypatch.setattr(frames, "_run", spied)
        at_once = _read_whole(decoder(), ENCODERS[client](), sse)
        whole = client != "anthropic"  # "Hel" in the run too
        first = 1 if decoder is ChunkDecoder else 2  # the first text's place
        assert [(s, got[0]) for s, e, got in runs if got is not None] == [
            (first if whole else first + 1, first + len(texts))]
        monkeypatch.setattr(frames, "_run", lambda *a: None)
        assert at_once == _read_whole(decoder(), ENCODERS[client](), sse)
        assert at_once[1] == len("Hello wörld é\u2028. Bye!" if whole else "lo wörld é\u2028. Bye!")
        assert at_once[3] is None


def _shortcut(texts: list[str]) -> tuple[Any, list[SSEEvent]]:
    """The shortcut a translator takes text by after a stream's first text, and the events after it."""
    sse = _one_read(texts)
    translator = Translator(ChunkDecoder(), ChunkEncoder("alias", True))
    assert translator.read(sse[:2], [], [])[1] is None
    translator._refresh()  # asked for when an event may fit it (read's next text event)
    assert translator._cut is not None
    return translator._cut, sse[2:2 + len(texts) - 1]


TEXT = openai_chunk("x", None, True)


@pytest.mark.parametrize("spelled", [
    b'"a\\nb"',  # an escape: the loop writes it as the encoder does
    b'""',  # an empty text: no frame
    b"12",  # not a string: the decoder's error
    b'"a","refusal":"b"',  # another member after the text
    b'["a"]',
    b'"a" "b"',
    b'"a',
    b'"a"},"logprobs":null,"finish_reason":null}]}' + TEXT,  # two chunks in one event's data
])
def test_a_run_is_refused_unless_every_event_is_one_plain_text_of_the_template(spelled: bytes) -> None:
    """One event in the middle of a run that is not head + a non-empty JSON string without escapes +
    tail refuses the whole run (it goes one event at a time), and the client still gets what the
    canonical path writes."""
    shortcut, run = _shortcut(["first", "a", "b", "c"])
    assert frames._run(run, 0, len(run), shortcut) is not None
    run[1] = (None, TEXT.replace(b'"x"', spelled))
    assert frames._run(run, 0, len(run), shortcut) is None
    sse = _one_read(["first", "a", "b", "c"])
    sse[3] = run[1]
    for client in sorted(ENCODERS):
        same(ChunkDecoder, sse, [], client)


@pytest.mark.parametrize(("one", "two"), [(b'"a","b', b'"'), (b'"a', b'b"'), (b'"', b'"a","b'), (b'"a"', b'"b","')])
def test_two_malformed_events_that_make_as_many_strings_together_refuse_the_run(one: bytes, two: bytes) -> None:
    """Two events each not one string, whose texts together still read as two strings ('"a","b' then '"'
    is "a", "b,"), refuse the run, and the client gets the canonical path's error, not their bytes (found
    by the bstream helper's probe: the direct path once wrote them)."""
    shortcut, run = _shortcut(["first", "a", "b", "c", "d"])
    run[1] = (None, TEXT.replace(b'"x"', one))
    run[2] = (None, TEXT.replace(b'"x"', two))
    assert frames._run(run, 0, len(run), shortcut) is None
    sse = _one_read(["first", "a", "b", "c", "d"])
    sse[3], sse[4] = run[1], run[2]
    for client in sorted(ENCODERS):
        same(ChunkDecoder, sse, [], client)


def test_a_run_whose_events_are_cut_elsewhere_than_the_template_says_is_refused() -> None:
    """The run's bytes are head + text + tail for each event in turn, not only all together: texts
    joined right but cut between events elsewhere, or data shorter than head and tail, are refused."""
    shortcut, run = _shortcut(["first", "a", "b"])
    head, tail = shortcut[0], shortcut[1]
    assert frames._run(run, 0, 2, shortcut) is not None
    moved = [(None, head + b'"a"' + tail + head[:3]), (None, head[3:] + b'"b"' + tail)]
    assert b"".join(d for _, d in moved) == b"".join(d for _, d in run)
    assert frames._run(moved, 0, 2, shortcut) is None
    short = [(None, head + b'"a"' + tail + head + b'"b"'), (None, tail)]
    assert frames._run(short, 0, 2, shortcut) is None


@pytest.mark.parametrize("client", sorted(ENCODERS))
def test_an_escaped_text_ends_a_run(client: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Text with escapes (a line end, a quote) is written by the loop, as the encoder writes it: a run
    stops before the first such event, or is not taken when that leaves it short; the client gets
    what the canonical path writes."""
    plain = ["a", "b", "c", "d", "e", "f", "g"]
    taken = frames._run
    whole = client != "anthropic"  # the first text in the run too: the template is known before it
    for texts, expected in ((["first", *plain, 'line\n"q"', "h", "i"], [(1, 9) if whole else (2, 9)]),
                            (["first", "a", "b\\", *plain], [])):
        sse = _one_read(texts)
        runs: list[tuple[int, int]] = []

        def spied(events: Any, start: int, end: int, shortcut: Any, runs: list[tuple[int, int]] = runs) -> Any:
            got = taken(events, start, end, shortcut)
            if got is not None:
                runs.append((start, got[0]))
            return got

        monkeypatch.setattr(frames, "_run", spied)
        _, chars, _, err = _read_whole(ChunkDecoder(), ENCODERS[client](), sse)
        assert runs == expected and err is None and chars == len("".join(texts if whole else texts[1:]))
        monkeypatch.setattr(frames, "_run", taken)
        for cuts in ([], [3], [9]):
            same(ChunkDecoder, sse, cuts, client)


@pytest.mark.parametrize("client", sorted(ENCODERS))
@pytest.mark.parametrize("logprobs,usage_null", [(True, False), (False, True), (True, True)])
@pytest.mark.parametrize("cuts", [[], [1], [2], [5], [1, 1, 1, 1, 1, 1]])
def test_openai_stream_with_its_ends_taken_by_shape_is_written_as_on_the_canonical_path(
        client: str, logprobs: bool, usage_null: bool, cuts: list[int]) -> None:
    """OpenAI's stream as it sends it (role chunk, texts, finish, usage, end), whose text, finish and
    usage chunks the decoder takes by their shapes once it has read the first chunk: the same
    bytes, usage and finish reason as the canonical path, read whole or cut anywhere."""
    shape = Shape({"id": "chatcmpl-9", "object": "chat.completion.chunk", "created": 5, "model": "m",
                   "system_fingerprint": "fp"}, logprobs, usage_null)
    usage = {"prompt_tokens": 11, "completion_tokens": 6, "total_tokens": 17,
             "prompt_tokens_details": {"cached_tokens": 4}, "completion_tokens_details": {"reasoning_tokens": 2}}
    events = [(None, shape.chunk({"role": "assistant", "content": "", "refusal": None})),
              *((None, shape.chunk({"content": t})) for t in ["Hel", "lo", " wö", "rld", '"q"', "!", ".", "x"]),
              (None, shape.chunk({}, "length")), (None, shape.chunk(None, choices=False, usage=usage, with_usage=True)),
              (None, b"[DONE]")]
    same(ChunkDecoder, events, cuts, client)
    outcome = direct(ChunkDecoder(), ENCODERS[client](), cut(events, cuts))
    assert outcome[1] == {"chars": 17, "finish": "length",
                          "usage": Usage(input_tokens=11, output_tokens=6, cached_input_tokens=4, reasoning_tokens=2)}
    assert outcome[2] == "done"


def _anthropic_whole(texts: list[str]) -> list[SSEEvent]:
    return [MESSAGE_START, anthropic_chunk("start", "", True), *(anthropic_chunk("delta", t, False) for t in texts),
            anthropic_chunk("stop", "", True), anthropic_chunk("message_delta", "", True),
            anthropic_chunk("message_stop", "", True)]


@pytest.mark.parametrize("name", ["message_delta", "ping", "content_block_stop", "error", "x"])
@pytest.mark.parametrize("client", sorted(ENCODERS))
def test_a_text_event_of_another_name_inside_a_run_is_the_decoders_error(name: str, client: str) -> None:
    """A text delta's data under another event name, in the middle of a stream read whole, is refused
    as the decoder refuses it (Anthropic: the name and the data's type disagree), not written as text
    of the run: a run's events must each have a text event's name (the direct path once checked the
    names of a run's first and last events only)."""
    texts = ["a", "b", "c", "d", "e", "f", "g", "h"]
    sse = _anthropic_whole(texts)
    sse[6] = (name, sse[6][1])
    written, chars, seen, err = _read_whole(AnthropicStreamDecoder(), ENCODERS[client](), sse)
    assert isinstance(err, UpstreamError) and "disagree" in str(err)
    assert b'"e"' not in written and facts(seen, chars)["chars"] == len("abcd")
    same(AnthropicStreamDecoder, sse, [], client)
    openai = _one_read(["first", *texts])
    openai[5] = (name, openai[5][1])
    same(ChunkDecoder, openai, [], client)


RUN_CHANGE = st.tuples(st.integers(0, 9), st.integers(0, 4), st.integers(-40, 200),
                       st.sampled_from([0, 34, 92, 10, 1, 0xC3, 0xA9, 0x80, 0xED, 0xFF, 97]),
                       st.sampled_from([None, "content_block_delta", "ping", "message_delta"]))


@settings(max_examples=600, deadline=None)
@given(st.lists(st.text(min_size=0, max_size=6), min_size=1, max_size=10), st.lists(RUN_CHANGE, max_size=4),
       st.integers(0, 3), st.booleans())
# an escape in an event of another name: the run is the events before it, whose names are checked, not its
# (hypothesis found the Python path refusing the whole run where the C took the six before it)
@example(["0"] * 6 + ['"'], [(6, 4, 0, 0, "content_block_delta")], 0, False)
@example(["0"] * 6 + ['"'], [(6, 4, 0, 0, "other")], 0, True)
def test_the_native_run_is_the_python_run(texts: list[str], changes: list[tuple], start: int, anthropic: bool) -> None:
    """`_run` with the C checks and joins gives what the Python gives, for runs of text events with
    bytes changed, added or dropped, escapes, empty texts, malformed UTF-8 and other names."""
    if frames._native_run is None:  # under the fixture's python parameter, or not built
        pytest.skip("compares the C code with the Python: runs under the native parameter only")
    if anthropic:
        translator = Translator(AnthropicStreamDecoder(), AnthropicStreamEncoder("alias"))
        sse = _anthropic_whole(["first", *texts])
        assert translator.read(sse[:3], [], [])[1] is None
        translator._refresh()
        run = sse[3:3 + len(texts)]
    else:
        translator = Translator(ChunkDecoder(), ChunkEncoder("alias", True))
        sse = _one_read(["first", *texts])
        assert translator.read(sse[:2], [], [])[1] is None
        translator._refresh()
        run = sse[2:2 + len(texts)]
    shortcut = translator._cut
    assert shortcut is not None
    for which, how, at, byte, name in changes:  # how 4: the event's name changed, else its bytes
        i = which % len(run)
        run[i] = (name, run[i][1]) if how == 4 else (run[i][0], mutate(run[i][1], how, at, byte))
    begin = min(start, len(run))
    native = frames._run(run, begin, len(run), shortcut)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(frames, "_native_run", None)
        python = frames._run(run, begin, len(run), shortcut)
    assert native == python


def test_the_native_run_refuses_bad_inputs() -> None:
    """The C checks read only what their types promise: anything else is refused, not read."""
    native = frames._native_run
    if native is None:  # under the fixture's python parameter, or not built
        pytest.skip("tests the C code: runs under the native parameter only")
    sse = [(None, b'h"a"t')] * 3
    assert native(sse, 0, 3, (None,), b"h", b"t", b"<", b">", 6) == (3, b'<"a">' * 3, b'["a","a","a"]', 3, 3)
    assert native([(None, b'h"a"t'), ("x", b'h"a"t')], 0, 2, (None,), b"h", b"t", b"<", b">", 6) is None
    assert native([(None, b'h"a"t'), [None, b'h"a"t']], 0, 2, (None,), b"h", b"t", b"<", b">", 6) is None
    assert native([(None, b'h"a"t'), (None, bytearray(b'h"a"t'))], 0, 2, (None,), b"h", b"t", b"<", b">", 6) is None
    for start, end in ((0, 4), (-1, 2), (2, 1)):
        with pytest.raises(ValueError):
            native(sse, start, end, (None,), b"h", b"t", b"<", b">", 6)
    with pytest.raises(TypeError):
        native(tuple(sse), 0, 3, (None,), b"h", b"t", b"<", b">", 6)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        native(sse, 0, 3, [None], b"h", b"t", b"<", b">", 6)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        native(sse, 0, 3, (None,), "h", b"t", b"<", b">", 6)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        native(sse, True, 3, (None,), b"h", b"t", b"<", b">", 6)


def _read_one(anthropic: bool, event: SSEEvent) -> tuple[object, ...]:
    """A read of `event` alone, by a translator whose shortcut applies (after its stream's first text)."""
    if anthropic:
        translator = Translator(AnthropicStreamDecoder(), AnthropicStreamEncoder("alias"))
        assert translator.read(_anthropic_whole(["first"])[:3], [], [])[1] is None
    else:
        translator = Translator(ChunkDecoder(), ChunkEncoder("alias", True))
        assert translator.read(_one_read(["first"])[:2], [], [])[1] is None
    translator._refresh()
    assert translator._cut is not None
    out: list[bytes] = []
    seen: list[StreamEvent] = []
    chars, err = translator.read([event], out, seen)
    return chars, b"".join(out), seen, None if err is None else (type(err).__name__, str(err)), translator._stale


def _usual(anthropic: bool, text: str) -> SSEEvent:
    return _anthropic_whole([text])[2] if anthropic else _one_read([text])[1]


ONE_CHANGE = st.tuples(st.integers(0, 3), st.integers(-40, 200),
                       st.sampled_from([0, 1, 31, 32, 34, 92, 10, 127, 0xC3, 0xA9, 0x80, 0xED, 0xA0, 0xC0, 0xF4, 0x90,
                                        0xF5, 0xFF, 97]))


@settings(max_examples=800, deadline=None)
@given(st.text(max_size=8), st.lists(ONE_CHANGE, max_size=3), st.sampled_from([None, "content_block_delta", "ping"]),
       st.booleans())
@example("\ud7ff\ue000\U0010ffff", [], "content_block_delta", True)
def test_the_native_read_of_one_event_is_the_python_read(text: str, changes: list[tuple], name: str | None,
                                                        anthropic: bool) -> None:
    """A read of one text event gives with the C steps (`_native_one`) what it gives without them: the
    frame, the characters, the events decoded, the error, for the usual event with bytes changed, added
    or dropped (quotes, escapes, control characters, malformed UTF-8) and other names."""
    if frames._native_one is None:  # under the fixture's python parameter, or not built
        pytest.skip("compares the C code with the Python: runs under the native parameter only")
    event_name, data = _usual(anthropic, text)
    for how, at, byte in changes:
        data = mutate(data, how, at, byte)
    event = (name if anthropic else event_name, data)
    native = _read_one(anthropic, event)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(frames, "_native_one", None)
        assert native == _read_one(anthropic, event)


# Bytes between the quotes that are no plain text: escapes, quotes, control characters, a surrogate's UTF-8,
# overlong forms, a cut sequence, beyond U+10FFFF; and some that are (DEL, the last characters before a
# surrogate and before U+110000, an empty text, a space)
INSIDE = [b"a\\nb", b'a\\"b', b'a"b', b"a\nb", b"\x00", b"\x1f", b"\x7f", b"\xed\xa0\x80", b"\xed\x9f\xbf",
          b"\xc0\x81", b"\xe0\x80\xaf", b"\xc3", b"a\xe2\x82", b"\xf4\x90\x80\x80", b"\xf4\x8f\xbf\xbf", b"\xff",
          b"\xc3\xa9\xe2\x80\xa8", b"", b" "]


@pytest.mark.parametrize("anthropic", [True, False])
@pytest.mark.parametrize("inside", INSIDE)
def test_the_native_read_of_one_event_is_the_python_read_for_any_bytes_inside(inside: bytes, anthropic: bool) -> None:
    if frames._native_one is None:  # under the fixture's python parameter, or not built
        pytest.skip("compares the C code with the Python: runs under the native parameter only")
    name, data = _usual(anthropic, "x")
    assert data.count(b'"x"') == 1
    event = (name, data.replace(b'"x"', b'"' + inside + b'"'))
    native = _read_one(anthropic, event)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(frames, "_native_one", None)
        assert native == _read_one(anthropic, event)


def test_the_native_read_of_one_event_takes_plain_text_and_refuses_bad_inputs() -> None:
    """The C steps take a plain text (and count its characters), leave anything else to the Python, and
    read only what their types promise."""
    native = frames._native_one
    if native is None:  # under the fixture's python parameter, or not built
        pytest.skip("tests the C code: runs under the native parameter only")
    assert native('h"é a\x7f"t'.encode(), b"h", b"t", b"<", b">") == ('<"é a\x7f">'.encode(), 4)
    for data in (b'h""t', b'h"a\\nb"t', b'h"a\nb"t', b'h"a"b"t', b'h"\xed\xa0\x80"t', b'h"\xc0\x81"t', b'h"\xc3"t',
                 b'h"a"', b'"a"t', b'h"a', b"ht", b""):
        assert native(data, b"h", b"t", b"<", b">") is None, data
    with pytest.raises(TypeError):
        native(bytearray(b'h"a"t'), b"h", b"t", b"<", b">")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        native(b'h"a"t', "h", b"t", b"<", b">")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        native(b'h"a"t', b"h", b"t", b"<")  # type: ignore[call-arg]
