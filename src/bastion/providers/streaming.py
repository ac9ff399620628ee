"""A routed upstream stream: held back up to its first content, then canonical events, one list
(a burst) per upstream read.

Retries and fallback end once the first content event has been read (`first_content`); until
then nothing has reached the client. After that, `RoutedStream` decodes each upstream read into
one list of canonical events, so the layers after the router (output guard, observers, the
client encoder) pay their per-call overhead once per read rather than once per event.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import orjson

from bastion.core.errors import UpstreamError
from bastion.core.makers import maker
from bastion.core.types import StreamEvent, StreamStart, TextDelta, Usage
from bastion.providers.base import StreamDecoder, StreamEncoder
from bastion.providers.frames import EncodeFailed, Seen, Translator
from bastion.providers.transport import UpstreamStream

# Stream events that a client would see as the answer starting; until one arrives, nothing is sent
# (extended thinking counts: a long think must not leave the client with an idle connection).
CONTENT_KINDS = frozenset({"text", "tool_call", "thinking", "end"})

SSEEvent = tuple[str | None, bytes]
SSEBursts = AsyncGenerator[list[SSEEvent], None]
_MAKE_TEXT = maker(TextDelta)  # TextDelta(text, index) without a class call (core/makers.py)

_join: Callable[[list[SSEEvent], int, tuple[str | None, ...], bytes, bytes, list[str]], int] | None
try:
    from bastion._native import text_join as _join
except ImportError:  # not built (no C compiler at install time): `_decode_joined`'s loop alone
    _join = None


class Ending(Protocol):
    """How a stream read as frames ends for its client (http/api.py): its last frames, after its
    end or a failure, and the moment it is over (however it ended: finished, failed or dropped)."""

    def close(self) -> bytes: ...

    def failed(self, err: Exception) -> bytes: ...

    def closed(self) -> None: ...


@dataclass(slots=True)
class OpenStream:
    """A stream whose first content has been read (held back, not yet sent anywhere): its
    events so far, the SSE events of the same upstream read not yet decoded, and the rest."""

    stream: UpstreamStream
    decoder: StreamDecoder
    first: list[StreamEvent]
    pending: list[SSEEvent]
    rest: SSEBursts


async def first_content(provider: str, decoder: StreamDecoder, stream: UpstreamStream,
                        abandoned: Callable[[Usage], None] | None = None) -> OpenStream:
    """Read the stream up to its first content event (or its end). Nothing has reached the client
    yet, so a failure here is an ordinary failed attempt: retried, or the next target's turn.
    The rest of the read that held the first content is decoded later, as the client is served:
    an error there is a mid-stream error, exactly as if it had come in the next read.
    Cancelled here (the client left while the provider had not answered yet), `abandoned` hears of
    the usage the stream's start reported, if it did: the provider counted (and bills) that input."""
    rest = stream.bursts()
    first: list[StreamEvent] = []
    try:
        async for burst in rest:
            for i, (name, data) in enumerate(burst):
                evs = decoder.feed(name, data)
                first += evs
                if decoder.done:
                    return OpenStream(stream, decoder, first, burst[i + 1:], rest)
                for ev in evs:  # (a loop, not any() over a generator: this runs for every stream)
                    if ev.kind in CONTENT_KINDS:
                        return OpenStream(stream, decoder, first, burst[i + 1:], rest)
    except BaseException as e:
        await rest.aclose()
        if abandoned is not None and not isinstance(e, Exception):  # cancelled, not failed
            counted = [ev.usage for ev in first if isinstance(ev, StreamStart) and ev.usage is not None]
            if counted:
                abandoned(counted[0])
        raise
    raise UpstreamError(f"provider {provider} ended the stream before sending any content", retryable=True)


def _decode(decoder: StreamDecoder, sse: list[SSEEvent], out: list[StreamEvent]) -> Exception | None:
    """Decode one read's SSE events into `out`, up to the end marker; the error that stopped
    it, if one did (the events before it are still in `out`, for the client to get first).
    The end marker gives no events (`StreamDecoder.done`): `done` is asked only then."""
    feed = decoder.feed
    try:
        for name, data in sse:
            events = feed(name, data)
            if events:
                out += events
            elif decoder.done:
                break
    except Exception as e:
        return e
    return None


def _decode_joined(decoder: StreamDecoder, sse: list[SSEEvent], out: list[StreamEvent]) -> Exception | None:
    """`_decode`, with each run of adjacent events that the decoder's text template takes (the
    usual text chunk of choice 0, providers/literal.py) given as one text delta of their texts
    joined, none when all are empty: the events the output guard makes of them
    (policy/guard.py `_coalesced` joins a read's adjacent text deltas of one choice), without an
    event, a list and a decoder call per chunk. Taken exactly as `TextTemplate.text` takes
    it (head, one JSON string, tail; taking it changes no decoder state), else by `feed`.
    With the C accelerator, each run of such events whose strings hold no escape is taken in one
    call (`_join`: the same checks, their texts joined); the event that ends a run, the loop's."""
    template = getattr(decoder, "text_template", None)
    tpl = template() if template is not None else None
    if tpl is None or tpl.obfuscated:
        return _decode(decoder, sse, out)
    names: tuple[str | None, ...] = getattr(decoder, "TEXT_EVENTS", ())
    head, tail, hl, tl = tpl.head, tpl.tail, len(tpl.head), len(tpl.tail)
    loads, malformed = orjson.loads, orjson.JSONDecodeError
    feed = decoder.feed
    texts: list[str] = []
    join = _join if type(sse) is list else None
    i, n = 0, len(sse)
    try:
        while i < n:
            if join is not None and tpl is not None:
                i = join(sse, i, names, head, tail, texts)
                if i == n:
                    break
            name, data = sse[i]
            i += 1
            if tpl is not None and name in names and data.startswith(head) and data.endswith(tail):
                try:
                    text = loads(data[hl:len(data) - tl])
                except malformed:
                    text = None
                if type(text) is str:
                    if text:
                        texts.append(text)
                    continue
            if texts:
                out.append(_MAKE_TEXT(texts[0] if len(texts) == 1 else "".join(texts), 0))
                texts = []
            events = feed(name, data)
            if events:
                out += events
            elif decoder.done:
                break
            tpl = template() if template is not None else None  # the event may have changed it
            if tpl is not None:
                if tpl.obfuscated:
                    tpl = None
                else:
                    head, tail, hl, tl = tpl.head, tpl.tail, len(tpl.head), len(tpl.tail)
    except Exception as e:
        return e
    if texts:
        out.append(_MAKE_TEXT(texts[0] if len(texts) == 1 else "".join(texts), 0))
    return None


class _Bursts:
    """`RoutedStream.bursts()`: its generator of bursts, made when first iterated. The pipeline
    asks for `bursts()` to see whether the output guard hands them back unchanged (pipeline/runner.py
    `guarded`), and a stream then read as frames never iterates them: no generator is made (and
    dropped unstarted, which costs a throw into it) for nothing."""

    __slots__ = ("_routed",)

    def __init__(self, routed: RoutedStream) -> None:
        self._routed = routed

    def __aiter__(self) -> AsyncGenerator[list[StreamEvent], None]:
        return self._routed._bursts()

    def __anext__(self) -> Awaitable[list[StreamEvent]]:
        return self._routed._bursts().__anext__()


class RoutedStream:
    """The canonical events of an upstream stream chosen by the router: `bursts()` gives one
    list per upstream read; `async for` gives the same events one by one.

    Ending it in any way (exhausted, failed, `aclose()`, or dropped even before its first
    event) closes the upstream response and calls `end` (the router frees the target's slot and
    circuit permit there): an async generator that was never started would run no `finally`,
    so this is a class. `failed` hears of an upstream failure after the first content."""

    def __init__(self, provider: str, opened: OpenStream, failed: Callable[[UpstreamError], None],
                 end: Callable[[], None]) -> None:
        self._provider = provider
        self._opened = opened
        self._failed = failed
        self._end = end
        self._ended = False
        self._view: _Bursts | None = None  # what bursts() gives
        self._gen: AsyncGenerator[list[StreamEvent], None] | None = None  # made when first iterated
        self._flat: AsyncGenerator[StreamEvent, None] | None = None
        self._framed: AsyncGenerator[bytes, None] | None = None
        self._join = False  # `join_text`

    def join_text(self) -> None:
        """What reads the bursts joins adjacent text deltas of one choice (the output guard): a
        read's run of templated text chunks may be decoded as one delta (`_decode_joined`)."""
        self._join = True

    def bursts(self) -> AsyncIterator[list[StreamEvent]]:
        if self._view is None:
            self._view = _Bursts(self)
        return self._view

    def _bursts(self) -> AsyncGenerator[list[StreamEvent], None]:
        if self._gen is None:
            self._gen = self._run()
            self._view = None  # held by what iterates it, if anything: no reference cycle through it
        return self._gen

    def frames(self, encoder: StreamEncoder, seen: Seen, ending: Ending | None = None) -> AsyncIterator[bytes]:
        """The client's frames of each upstream read, by `encoder` (providers/frames.py), in place
        of `bursts()` (a stream is read one way: not both); `seen` hears, per read, of the events
        decoded in full and the characters of text taken by the template. With `ending`, the
        stream's end or failure gives its last frames (after the upstream is closed) in place of
        ending the iteration or raising: the client's whole stream, with no generator around it."""
        # What `bursts()` gave only to be looked at (pipeline/runner.py: the output guard's answer)
        # and never read: dropped, or it and this stream would wait in a reference cycle for the
        # garbage collector.
        self._view = None
        self._framed = self._translated(Translator(self._opened.decoder, encoder), seen, ending)
        return self._framed

    def __aiter__(self) -> AsyncIterator[StreamEvent]:
        if self._flat is None:
            self._flat = self._events()
        return self._flat

    async def __anext__(self) -> StreamEvent:
        return await self.__aiter__().__anext__()

    async def aclose(self) -> None:
        try:
            if self._flat is not None:
                await self._flat.aclose()
            if self._framed is not None:
                await self._framed.aclose()
            if self._gen is not None:
                await self._gen.aclose()
        finally:
            self._release()

    def _release(self) -> None:
        if not self._ended:
            self._ended = True
            self._opened.stream.close()
            self._end()

    def __del__(self) -> None:
        self._release()

    async def _events(self) -> AsyncGenerator[StreamEvent, None]:
        async for burst in self._bursts():
            for ev in burst:
                yield ev

    async def _run(self) -> AsyncGenerator[list[StreamEvent], None]:
        opened, decoder = self._opened, self._opened.decoder
        join = self._join
        try:
            events, opened.first = opened.first, []
            pending = opened.pending
            err = (None if decoder.done else _decode_joined(decoder, pending, events) if join and len(pending) > 1
                   else _decode(decoder, pending, events))
            while True:
                if events:
                    yield events
                if err is not None:
                    raise err
                if decoder.done:
                    return
                try:
                    sse = await opened.rest.__anext__()
                except StopAsyncIteration:
                    break
                events = []
                # (a read of one event, as most of a paced stream's, has nothing to join)
                err = _decode_joined(decoder, sse, events) if join and len(sse) > 1 else _decode(decoder, sse, events)
            raise UpstreamError(f"provider {self._provider} ended the stream before it was complete",
                                retryable=False)
        except UpstreamError as e:
            self._failed(e)
            raise
        finally:
            try:
                await opened.rest.aclose()
            finally:
                self._release()

    async def _translated(self, translator: Translator, seen: Seen, ending: Ending | None
                          ) -> AsyncGenerator[bytes, None]:
        """`_run`, with each read translated straight to client frames. An error of the client's
        encoder is its own, never the upstream's: it does not count against the target."""
        opened, decoder = self._opened, self._opened.decoder
        failure: Exception | None = None
        try:
            try:
                try:
                    out: list[bytes] = []
                    events, opened.first = opened.first, []
                    chars, err = translator.read(() if decoder.done else opened.pending, out, events, events[:])
                    while True:
                        if events or chars:
                            seen(events, chars)
                        if out:
                            yield out[0] if len(out) == 1 else b"".join(out)
                        if err is not None:
                            raise err
                        if decoder.done:
                            break
                        try:
                            sse = await opened.rest.__anext__()
                        except StopAsyncIteration:
                            raise UpstreamError(f"provider {self._provider} ended the stream before it was complete",
                                                retryable=False) from None
                        out, events = [], []
                        chars, err = translator.read(sse, out, events)
                except UpstreamError as e:
                    self._failed(e)
                    raise
            except EncodeFailed as e:
                failure = e.err
            except Exception as e:
                failure = e
            finally:
                try:
                    await opened.rest.aclose()
                finally:
                    self._release()
            if ending is not None:
                yield ending.close() if failure is None else ending.failed(failure)
            elif failure is not None:
                raise failure
        finally:
            if ending is not None:
                ending.closed()
