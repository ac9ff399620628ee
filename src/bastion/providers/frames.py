"""One upstream read's SSE events straight to the client's frames, for a stream that no output
guard or content capture reads event by event (pipeline/runner.py `DirectStream`).

The canonical path decodes each event into canonical events, hands them through the output
guard and the observers, and encodes them for the client. Most events of a stream are the one
text chunk shape the decoder takes by its template (providers/literal.py) and the encoder writes
from cached bytes around the text; for those this module goes from the upstream bytes to the
client bytes without the canonical objects in between: the same text parse, the same frame bytes.
Every other event (start, tool calls, reasoning, finish, usage, errors, anything unknown) goes
through the decoder and the encoder exactly as on the canonical path, one event at a time and in
order, so what the decoder refuses is still refused (fail closed) and what it reports (usage,
finish reason) is still reported, through `Seen`.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from itertools import accumulate, islice
from operator import itemgetter, length_hint
from typing import Protocol, cast

import orjson

from bastion.core.types import StreamEvent
from bastion.providers.base import StreamDecoder, StreamEncoder
from bastion.providers.literal import TextTemplate

_Run = Callable[[list[tuple[str | None, bytes]], int, int, tuple[str | None, ...], bytes, bytes, bytes, bytes, int],
                tuple[int, bytes, bytes, int, int] | None]
_native_run: _Run | None
_native_one: Callable[[bytes, bytes, bytes, bytes, bytes], tuple[bytes, int] | None] | None
try:
    from bastion._native import text_one as _native_one
    from bastion._native import text_run as _native_run
except ImportError:  # not built (no C compiler at install time): the Python below
    _native_run = _native_one = None

SSEEvent = tuple[str | None, bytes]
# What a read carried besides the bytes: the events decoded in full, and the number of characters
# of text taken by the template (text deltas of choice 0 that were never made objects).
Seen = Callable[[list[StreamEvent], int], None]


class TemplatedDecoder(Protocol):
    """A stream decoder whose usual text event can be taken by a template (optional, beside
    StreamDecoder: a decoder without it has every event decoded in full)."""

    TEXT_EVENTS: tuple[str | None, ...]  # SSE event names the template may apply to

    def text_template(self) -> TextTemplate | None:
        """The template `feed` would take a text event by now (None: none would); its text is a
        TextDelta of choice 0 (none for empty text), and taking it changes no decoder state."""
        ...


class TextFramer(Protocol):
    """A stream encoder that writes a text delta of choice 0 as fixed bytes around its JSON string
    (optional, beside StreamEncoder)."""

    def text_frame(self) -> tuple[bytes, bytes] | None:
        """(before, after): `encode(TextDelta(t))` is before + orjson.dumps(t) + after for any
        non-empty t in the encoder's present state, and changes no state; None when it is not."""
        ...


class EncodeFailed(Exception):
    """The client encoder refused an event; `err` is its error (not the upstream's failure)."""

    def __init__(self, err: Exception) -> None:
        super().__init__(str(err))
        self.err = err


_NAME, _DATA = itemgetter(0), itemgetter(1)  # an SSE event's name, its data

# The fewest text events taken as one run (`_run`): a run of 3 cost more than its events one by one
_MIN_RUN = 6

# A template and a frame that apply now: head, tail, their lengths, the template when its
# text needs its own method (OpenAI's obfuscation padding), the frame's bytes before and after,
# the names a text event may have.
_Shortcut = tuple[bytes, bytes, int, int, TextTemplate | None, bytes, bytes, tuple[str | None, ...]]


class Translator:
    """Per stream: the decoder and the encoder, and whether their present state lets text skip them."""

    __slots__ = ("_cut", "_decoder", "_encode", "_frame", "_names", "_stale", "_template")

    def __init__(self, decoder: StreamDecoder, encoder: StreamEncoder) -> None:
        self._decoder = decoder
        self._encode = encoder.encode
        template = getattr(decoder, "text_template", None)
        frame = getattr(encoder, "text_frame", None)
        both = template is not None and frame is not None
        self._template: Callable[[], TextTemplate | None] | None = template if both else None
        self._frame: Callable[[], tuple[bytes, bytes] | None] | None = frame if both else None
        self._names: tuple[str | None, ...] = cast(TemplatedDecoder, decoder).TEXT_EVENTS if both else ()
        self._cut: _Shortcut | None = None
        # The decoder or the encoder may have changed state since `_cut` was asked for: asked again
        # when an event may fit it (`read`)
        self._stale = True

    def _refresh(self) -> None:
        """After the decoder or the encoder changed state: whether text can be taken directly."""
        self._cut = None
        self._stale = False
        if self._template is None or self._frame is None:
            return
        tpl = self._template()
        frame = self._frame() if tpl is not None else None
        if tpl is not None and frame is not None:
            self._cut = (tpl.head, tpl.tail, len(tpl.head), len(tpl.tail), tpl if tpl.obfuscated else None,
                         frame[0], frame[1], self._names)

    def read(self, sse: Sequence[SSEEvent], out: list[bytes], seen: list[StreamEvent],
             decoded: Sequence[StreamEvent] = ()) -> tuple[int, Exception | None]:
        """One read's events into client frames (their bytes appended to `out`, in pieces to be
        joined), up to the end marker, after `decoded` (events decoded already: those read with the
        first content). Returns the characters of templated text, and the error that stopped the
        read, if one did:
        - the decoder's: the frames before it are in `out`, for the client to get first;
        - the encoder's, as EncodeFailed: the rest of the read is decoded into `seen` first and
          `out` is emptied, as the canonical path (pipeline/runner.py) observes a whole read
          before it encodes any of it, and then writes none of it.
        The events decoded in full are appended to `seen`. A read of many events (a stream read
        whole) has its text events taken as one run when they all fit the template (`_run`).

        After an event decoded in full, the shortcut is asked for again (`_refresh`) only for an
        event of a text event's name that starts with the shortcut's head (or when there was no
        shortcut): any other goes to the decoder, as it would after asking, and the decoder gives
        what the shortcut stands for (the same events, the same bytes). So the finish, usage and
        end events of a stream read whole ask for it no more."""
        cut = self._cut
        if (len(sse) == 1 and _native_one is not None and cut is not None and not self._stale and not decoded
                and cut[4] is None and sse[0][0] in cut[7]):
            # A read of one event (most of a paced stream's): the loop's steps for a text event that the shortcut
            # takes as it is, in C (the string read there); any other event, an empty text included, is the loop's
            got = _native_one(sse[0][1], cut[0], cut[1], cut[5], cut[6])
            if got is not None:
                out.append(got[0])
                return got[1], None
        decoder = self._decoder
        feed, names = decoder.feed, self._names
        loads, dumps, malformed = orjson.loads, orjson.dumps, orjson.JSONDecodeError
        chars = 0
        stale = self._stale
        if cut is not None:
            head, tail, hl, tl, tpl, before, after, _ = cut
        events = iter(sse)
        # a read of many events: its text may go as one run, once (`_run`; a list: its iterator tells its place)
        whole = type(sse) is list and len(sse) >= _MIN_RUN
        try:
            if decoded:
                self._encode_all(decoded, out)
                stale = True
            for name, data in events:
                if stale and name in names and (cut is None or data.startswith(head)):  # may fit: ask again
                    self._refresh()
                    stale = False
                    cut = self._cut
                    if cut is not None:
                        head, tail, hl, tl, tpl, before, after, _ = cut
                if cut is not None and not stale and name in names:
                    if whole and tpl is None:
                        whole = False
                        at = len(sse) - length_hint(events) - 1  # this event's place in the read
                        # the run's end: the read's last event that may be a text event (a stream read
                        # whole ends in its finish, usage and end events)
                        end = len(sse)
                        while end > at + 1 and (sse[end - 1][0] not in names or not sse[end - 1][1].endswith(tail)):
                            end -= 1
                        if end - at >= _MIN_RUN:
                            run = _run(sse, at, end, cut)
                            if run is not None:
                                stop, block, taken = run
                                out.append(block)
                                chars += taken
                                next(islice(events, stop - at - 2, None), None)  # the run's other events
                                continue
                    if tpl is None:  # TextTemplate.text, inlined: the usual event of most streams
                        if data.startswith(head) and data.endswith(tail):
                            raw = data[hl:len(data) - tl]
                            try:
                                text = loads(raw)
                            except malformed:
                                text = None
                            if type(text) is str and raw.find(b"\\") < 0:
                                # a JSON string without escapes is the text's UTF-8 in quotes, as dumps
                                # writes it; the frame's pieces are joined with the read's others
                                if text:
                                    chars += len(text)
                                    out += (before, raw, after)
                                continue
                        else:
                            text = None
                    else:
                        text = tpl.text(data)
                    if type(text) is str:  # escapes, or taken by the template's own method
                        if not text:
                            continue
                        try:  # written as the encoder writes it
                            written = dumps(text)
                        except TypeError:  # not encodable (a lone surrogate): the encoder's error, below
                            written = None
                        if written is not None:
                            chars += len(text)
                            out += (before, written, after)
                            continue
                evs = feed(name, data)
                if evs:
                    seen += evs
                    self._encode_all(evs, out)
                elif decoder.done:
                    break
                stale = True  # the event may have changed what a text event is now
        except EncodeFailed as failed:
            out.clear()
            _decode_rest(decoder, events, seen)
            return chars, failed
        except Exception as e:
            return chars, e
        finally:
            self._stale = stale
        return chars, None

    def _encode_all(self, events: Sequence[StreamEvent], out: list[bytes]) -> None:
        encode = self._encode
        try:
            for ev in events:
                frame = encode(ev)
                if frame:
                    out.append(frame)
        except Exception as e:
            raise EncodeFailed(e) from None


def _run(sse: Sequence[SSEEvent], start: int, end: int, cut: _Shortcut) -> tuple[int, bytes, int] | None:
    """The client's frames of the text events sse[start:stop] at once, and the characters of their
    text, when each has a text event's name and is the template's head + a non-empty JSON string
    without escapes + its tail: (stop, frames, characters), where stop is `end` or the first event
    with an escape (a text with one is written by the loop, as the encoder writes it). None when any
    is not so, or the run is short (then they go one event at a time, as before). An event of another
    name is the decoder's to refuse (Anthropic: the name and the data's type must agree), whatever
    its data.

    Each event's bytes between head and tail (a slice: empty for data shorter than both) rebuilt
    into head + part + tail and joined are the events' data joined exactly when every event is
    head + its part + tail (a data too short makes the rebuilt text longer, so each rebuilt piece
    has its event's length and place); the parts read as the items of one JSON array are one
    string each exactly when each part opens and closes with the only two quotes it holds and the array
    reads as strings. The frames are those
    the loop writes one by one (before + part + after each), in one join; no event changes a state.
    With the C accelerator (`_native_run`: the same checks and joins in one pass) only the array is
    read here: a part is a JSON string when the array reads (no control character, valid UTF-8)."""
    head, tail, hl, tl, _, before, after, names = cut
    if _native_run is not None and type(sse) is list:
        got = _native_run(sse, start, end, names, head, tail, before, after, _MIN_RUN)
        if got is None:
            return None
        stop, frames, items, chars, count = got
        try:
            texts = orjson.loads(items)
        except orjson.JSONDecodeError:
            return None
        return (stop, frames, chars) if type(texts) is list and len(texts) == count else None
    datas = list(map(_DATA, sse[start:end]))
    joined = b"".join(datas)
    escape = joined.find(b"\\")
    if escape >= 0:
        count = bisect_right(list(accumulate(map(len, datas))), escape)  # the event holding it
        end = start + count
        del datas[count:]
        joined = b"".join(datas)
    # the run's events only (as the C does): from the escape's event on they go one at a time, where the
    # decoder refuses another name
    if not set(map(_NAME, sse[start:end])).issubset(names):
        return None
    if escape >= 0 and end - start < _MIN_RUN:  # stopped at an escape: the run would be short
        return None
    parts = [data[hl:len(data) - tl] for data in datas]
    if head + (tail + head).join(parts) + tail != joined:
        return None
    items = b",".join(parts)
    # every part one string of its own: it opens and closes with a quote and holds no other (no escapes
    # here), so the array's items are the parts one for one (two malformed parts can otherwise make as
    # many strings between them as they are parts: '"a","b' then '"' read as "a", "b,")
    if items.count(b'"') != 2 * len(parts) or not all(len(p) > 1 and p[0] == 34 and p[-1] == 34 for p in parts):
        return None
    if items.find(b'""') >= 0:  # an empty text (no frame)
        return None
    try:
        texts = orjson.loads(b"[" + items + b"]")
        chars = len("".join(texts))  # TypeError unless every item is a string
    except (orjson.JSONDecodeError, TypeError):
        return None
    if len(texts) != len(parts):
        return None
    return end, before + (after + before).join(parts) + after, chars


def _decode_rest(decoder: StreamDecoder, events: Iterable[SSEEvent], seen: list[StreamEvent]) -> None:
    """The rest of a read, decoded for what it reports; a decoder error there ends it quietly (the
    stream already ends with the encoder's error)."""
    try:
        for name, data in events:
            evs = decoder.feed(name, data)
            if evs:
                seen += evs
            elif decoder.done:
                return
    except Exception:
        return
