"""OpenAI `chat.completion.chunk` SSE ⇄ canonical stream events (decoder for upstreams, encoder for clients)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

import orjson

from bastion.core.errors import BastionError
from bastion.core.makers import maker
from bastion.core.types import (
    JSON,
    FinishReason,
    StreamEnd,
    StreamEvent,
    StreamStart,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    Usage,
    UsageEvent,
)
from bastion.providers.literal import TextTemplate
from bastion.providers.openai.errors import embedded_error, encode_error, malformed
from bastion.providers.openai.messages import arguments_text
from bastion.providers.openai.response import (
    FINISH_REASONS,
    decode_finish,
    decode_usage,
    encode_usage,
    new_id,
    wire_finish,
)

_WHAT = "stream chunk"
# The events of the usual chunks, made without a class call (core/makers.py: every field by position)
_MAKE_TEXT, _MAKE_END, _MAKE_USAGE, _MAKE_START = maker(TextDelta), maker(StreamEnd), maker(UsageEvent), maker(StreamStart)
_SENT_ID, _SENT_NAME = 1, 2
_CONTENT = b'"delta":{"content":'
# The end of a text template's head: choice 0 first, its delta opened for the text
_CHOICE0 = b'"choices":[{"index":0,"delta":{"content":'
_DELTA0 = b'"choices":[{"index":0,"delta":'
# The deltas of a first chunk that opens choice 0 with no text (OpenAI's role chunk, and an empty text)
_OPENINGS = (b'{"role":"assistant","content":""}', b'{"role":"assistant","content":"","refusal":null}',
             b'{"content":""}')
# A text chunk's tail after its text, as (before, after) its finish reason `null`: the delta, choice
# 0, the choices and the chunk closed (with or without the `usage` member of a stream with usage)
_TAILS = {b"},%s" % before + b"null" + after: (b",%s" % before, after)
          for before in (b'"finish_reason":', b'"logprobs":null,"finish_reason":')
          for after in (b"}]}", b'}],"usage":null}')}
# A finish chunk's end after `"finish_reason":`, by what closes it: its reason and the close
_REASONS = {after: {b'"%s"' % wire.encode() + after: reason for wire, reason in FINISH_REASONS.items()}
            for after in (b"}]}", b'}],"usage":null}')}
_MAKE_USAGE_COUNTS = maker(Usage)

_opening: Callable[..., tuple[bytes, bytes, tuple[bytes, bytes], StreamStart] | None] | None
_usage: Callable[..., list[StreamEvent] | None] | None
try:  # the usual first and usage chunks in C (_native_opening.c), None for any other: the Python below decides
    from bastion._native import openai_opening as _opening
    from bastion._native import openai_usage as _usage
except ImportError:  # pragma: no cover - the package works without the C accelerator
    _opening = _usage = None


class EndShapes:
    """The finish and usage chunks of a stream whose text chunks fit a template, taken by their
    bytes as the template takes text (providers/literal.py): OpenAI ends a stream with the text
    chunk's members and choice 0 with an empty delta and a finish reason, then those members with
    no choices and the usage.

    Taken only where the template's head ends in `_CHOICE0` and its tail is one of `_TAILS`. Then
    the template's chunk (valid JSON, decoded to its text alone) ends by closing the delta, the
    choice, the choices array and the chunk itself: `choices` is a member of the chunk's top level,
    with one element, choice 0; what comes before `"choices"` is the chunk's other members, whole
    (and, as they gave no event in the template's chunk, they give none in these). A chunk of those
    members with choice 0's delta `{}` and a finish reason the decoder knows (`_REASONS`), or with
    `"choices":[]` and a usage object, is read by the general decoder as that finish or usage:
    these give what it would give. Anything else (obfuscation padding, other members or spellings,
    another reason) takes the general decoder."""

    __slots__ = ("finish", "reasons", "usage")

    def __init__(self, members: bytes | None, tail: tuple[bytes, bytes] | None) -> None:
        """`members`: the chunk's bytes before `"choices"` (None: no shapes); `tail`: its `_TAILS` entry."""
        self.finish: bytes | None = None
        self.usage = b""
        self.reasons: dict[bytes, FinishReason] = {}
        if members is not None and tail is not None:
            self.finish = members + b'"choices":[{"index":0,"delta":{}' + tail[0]
            self.reasons = _REASONS[tail[1]]
            self.usage = members + b'"choices":[],"usage":'

    @classmethod
    def of(cls, template: TextTemplate) -> EndShapes:
        tail = None if template.obfuscated else _TAILS.get(template.tail)
        head = template.head
        members = head[:len(head) - len(_CHOICE0)]
        certain = tail is not None and head.endswith(_CHOICE0) and members.find(b"\\") < 0
        return cls(members if certain else None, tail)

    def events(self, data: bytes) -> list[StreamEvent] | None:
        """The events of a finish or usage chunk of these shapes; None for any other chunk."""
        finish = self.finish
        if finish is None or len(data) <= len(self.usage):  # (the end marker, in one comparison)
            return None
        if data.startswith(finish):
            reason = self.reasons.get(data[len(finish):])
            return None if reason is None else [_MAKE_END(reason, 0, None)]
        usage = self.usage
        if _usage is not None:  # the usual usage object, read in C (without a dict of it)
            taken = _usage(data, usage, _MAKE_USAGE_COUNTS, _MAKE_USAGE)
            if taken is not None:
                return taken
        if data.startswith(usage) and data[-2:] == b"}}":
            try:
                value = orjson.loads(data[len(usage):-1])
            except orjson.JSONDecodeError:
                return None
            if type(value) is dict:
                return [_MAKE_USAGE(decode_usage(value, _WHAT) or Usage())]
        return None


def opening_template(data: bytes) -> tuple[TextTemplate, EndShapes] | None:
    """The text template of a stream whose first chunk, decoded in full to its start alone, is its
    members and choice 0 opened with no text (`_OPENINGS`) and one of `_TAILS` closing it: its text
    chunks are then those members and choice 0's delta holding the text alone. As in `EndShapes`
    (and with no backslash before `"choices"`, every quote there opens or closes a string), the
    members are the chunk's top level whole, and gave no event but the start: a later chunk of them
    with a text in that delta is read by the general decoder as that text of choice 0 (none for
    an empty text), which is what the template gives. With it, the stream's `EndShapes`."""
    cut = data.rfind(_DELTA0)
    if cut < 0 or data.find(b"\\", 0, cut) >= 0:
        return None
    at = cut + len(_DELTA0)
    for opening in _OPENINGS:
        if data[at:at + len(opening)] == opening:
            tail = b"}" + data[at + len(opening):]
            ends = _TAILS.get(tail)
            if ends is None:
                return None
            members = data[:cut]
            return TextTemplate(members + _CHOICE0, tail, False), EndShapes(members, ends)
    return None


def opening_start(template: TextTemplate) -> StreamStart | None:
    """The start told by a first chunk of the usual shape (`opening_template` gave `template`),
    read with only its members parsed: choice 0 opened with no text and no finish reason gives no
    event (as the general decoder reads it), so the chunk's only event is the start, from its id,
    model and created. Taken only when the members, the chunk's bytes before `"choices"` with the
    comma there made the object's end, parse alone as a non-empty object with neither `error` nor
    `usage` (those the general decoder reads): the chunk is then that object's members followed
    by the choices and the tail's members (its `choices` is the last, which wins). None otherwise."""
    members = template.head[:len(template.head) - len(_CHOICE0)]
    if members[-1:] != b",":
        return None
    try:
        obj = orjson.loads(members[:-1] + b"}")
    except orjson.JSONDecodeError:
        return None
    if type(obj) is not dict or not obj or "error" in obj or "usage" in obj:
        return None
    get = obj.get
    rid, model, created = get("id"), get("model"), get("created")
    return _MAKE_START(rid if isinstance(rid, str) else "", model if isinstance(model, str) else "",
                       created if type(created) is int else 0, None)


class ChunkDecoder:
    """Upstream chunks → canonical events. Normalises tool-call fragments so that id and name are
    sent once per call (some servers repeat them; OpenAI SDKs would concatenate repeats).

    The usual chunk, a text delta of choice 0, is taken by a template (`providers/literal.py`) when
    it fits one: told by the stream's first chunk when that has the usual shape (`opening_template`),
    else learned from the first text chunk; the finish and usage chunks then by their shapes
    (`EndShapes`). `fast=False` decodes every chunk in full."""

    __slots__ = ("_by_id", "_calls", "_done", "_ends", "_learn", "_started", "_template")

    def __init__(self, fast: bool = True) -> None:
        self._done = False
        self._started = False
        self._calls: dict[tuple[int, int], int] = {}  # (choice, call) -> _SENT_* flags
        self._by_id: dict[tuple[int, str], int] = {}  # for servers that omit the call index
        self._template: TextTemplate | None = None
        self._ends: EndShapes | None = None  # the finish and usage chunks of the template's shape
        self._learn = fast  # no template yet: learn one from the next text-only chunk

    TEXT_EVENTS: tuple[str | None, ...] = (None,)  # providers/frames.py TemplatedDecoder

    @property
    def done(self) -> bool:
        return self._done

    def text_template(self) -> TextTemplate | None:
        """The template `feed` takes an unnamed event by now, if any (providers/frames.py)."""
        return None if self._done else self._template

    def feed(self, event: str | None, data: bytes) -> list[StreamEvent]:
        template = self._template
        if template is not None and event is None and not self._done:
            text = template.text(data)
            if text is not None:
                return [_MAKE_TEXT(text, 0)] if text else []
            ends = self._ends
            if ends is None:
                ends = self._ends = EndShapes.of(template)
            taken = ends.events(data)
            if taken is not None:
                return taken
        elif not self._started and self._learn and event is None and not self._done:
            # The first chunk: its shape may tell the text chunks' already (a text decoded in full,
            # not of that shape, still teaches one), and then its start is read from its members.
            # The usual one in C: `opening_template` and `opening_start` in one pass, the same results
            if _opening is not None:
                got = _opening(data, _TAILS, _MAKE_START)
                if got is not None:
                    head, tail, shapes, first = got
                    self._template = TextTemplate(head, tail, False)
                    self._ends = EndShapes(head[:len(head) - len(_CHOICE0)], shapes)
                    self._started = True
                    return [first]
            opened = opening_template(data)
            if opened is not None:
                start = opening_start(opened[0])
                if start is not None:
                    self._template, self._ends = opened
                    self._started = True
                    return [start]
                events = self._decode(event, data)
                if len(events) == 1 and type(events[0]) is StreamStart:  # its members gave no event
                    self._template, self._ends = opened
                return events
        events = self._decode(event, data)
        if self._learn and len(events) == 1 and event is None:
            ev = events[0]
            if type(ev) is TextDelta and ev.index == 0:
                self._learn = False  # one try: a stream whose chunks fit no template pays it once
                learnt = TextTemplate.learn(data, _CONTENT, ev.text)
                if learnt is not None or template is None:  # (a text that fits no template keeps the first chunk's)
                    self._template, self._ends = learnt, None
        return events

    def _decode(self, event: str | None, data: bytes) -> list[StreamEvent]:
        if data.startswith(b"[DONE]"):
            self._done = True
            return []
        if self._done or not data or data.isspace():
            return []
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise malformed(_WHAT, "data is not JSON") from None
        if type(obj) is not dict:
            raise malformed(_WHAT, "data is not a JSON object")
        get = obj.get
        if event == "error" or get("error") is not None:
            raise embedded_error(obj, "mid-stream")
        events: list[StreamEvent] = []
        if not self._started:
            self._started = True
            rid, model, created = get("id"), get("model"), get("created")
            # (id, model, created) by position: keywords make a class call build and unpack a dict of them
            events.append(StreamStart(rid if isinstance(rid, str) else "", model if isinstance(model, str) else "",
                                      created if type(created) is int else 0))
        choices = get("choices")
        if choices is not None:
            if type(choices) is not list:
                raise malformed(_WHAT, "'choices' is not an array")
            for choice in choices:
                self._choice(choice, events)
        usage = get("usage")
        if usage is not None:
            events.append(UsageEvent(decode_usage(usage, _WHAT) or Usage()))
        return events

    def _choice(self, choice: JSON, events: list[StreamEvent]) -> None:
        if type(choice) is not dict:
            raise malformed(_WHAT, "a choice is not an object")
        get = choice.get
        index = get("index", 0)
        if type(index) is not int:
            raise malformed(_WHAT, "choice index is not an integer")
        delta = get("delta")
        if delta:  # None and {} (the finish chunk) hold nothing
            if type(delta) is not dict:
                raise malformed(_WHAT, "delta is not an object")
            dget = delta.get
            text = dget("content")
            if text:
                if type(text) is not str:
                    raise malformed(_WHAT, "delta.content is not a string")
                events.append(TextDelta(text, index))
            if len(delta) > 1 or text is None:
                self._rest_of_delta(dget, index, events)
        elif delta is not None and type(delta) is not dict:
            raise malformed(_WHAT, "delta is not an object")
        finish = get("finish_reason")
        if finish is not None:
            events.append(StreamEnd(decode_finish(finish, _WHAT) or "stop", index))

    def _rest_of_delta(self, dget: Callable[[str], JSON], index: int, events: list[StreamEvent]) -> None:
        refusal = dget("refusal")
        if refusal and isinstance(refusal, str):
            # The canonical stream has no refusal event: the refusal reaches the client (and
            # the output policy) as text.
            events.append(TextDelta(refusal, index))
        calls = dget("tool_calls")
        if calls is not None:
            if not isinstance(calls, list):
                raise malformed(_WHAT, "delta.tool_calls is not an array")
            for call in calls:
                events.append(self._tool_call(call, index))

    def _tool_call(self, call: JSON, index: int) -> ToolCallDelta:
        if not isinstance(call, dict):
            raise malformed(_WHAT, "a tool call delta is not an object")
        call_id, fn = call.get("id"), call.get("function")
        if call_id is not None and not isinstance(call_id, str):
            raise malformed(_WHAT, "a tool call id is not a string")
        if fn is not None and not isinstance(fn, dict):
            raise malformed(_WHAT, "a tool call function is not an object")
        pos = call.get("index")
        if pos is None:
            pos = self._position(index, call_id)
        elif type(pos) is not int or pos < 0:
            raise malformed(_WHAT, "a tool call index is not a non-negative integer")
        key = (index, pos)
        sent = self._calls.get(key, 0)
        name = fn.get("name") if fn else None
        args = arguments_text(fn.get("arguments")) if fn else ""
        out_id = out_name = None
        if not sent & _SENT_ID:
            # A call's first fragment always carries an id; servers that omit it get one.
            out_id = call_id or f"call_{secrets.token_hex(8)}"
            sent |= _SENT_ID
        if name and not sent & _SENT_NAME:
            if not isinstance(name, str):
                raise malformed(_WHAT, "a tool call name is not a string")
            out_name = name
            sent |= _SENT_NAME
        self._calls[key] = sent
        return ToolCallDelta(call_index=pos, id=out_id, name=out_name, arguments=args, index=index)

    def _position(self, index: int, call_id: str | None) -> int:
        known = [pos for (i, pos) in self._calls if i == index]
        if call_id is None:
            return max(known, default=0)
        pos = self._by_id.get((index, call_id))
        if pos is None:
            pos = self._by_id[(index, call_id)] = max(known, default=-1) + 1
        return pos


_ROLE_DELTA = b'{"role":"assistant","content":""}'
# A finish frame's bytes after the choice's prefix, by canonical reason (ChunkEncoder._frame of `{}`
# and the reason `wire_finish` gives, before the frame's tail); None as `encode` takes it
_FINISHES: dict[str | None, bytes] = {
    reason: b'{},"logprobs":null,"finish_reason":' + orjson.dumps(wire_finish(reason)) + b"}"
    for reason in (None, "stop", "length", "tool_calls", "content_filter", "error")}
_KINDS = (TextDelta, StreamEnd, UsageEvent)  # the events _chunk_frames takes

_chunk_frames: Callable[..., bytes | None] | None
try:  # the usual events of a burst in one C call (_native_chunks.c), None for any other burst
    from bastion._native import chunk_frames as _chunk_frames
except ImportError:  # pragma: no cover - the package works without the C accelerator
    _chunk_frames = None


class ChunkEncoder:
    """Canonical events → `data: <chat.completion.chunk>` frames for an OpenAI client. Every chunk
    shares one id, created and model (the alias); frames are assembled from pre-rendered bytes
    (per choice: everything before the delta)."""

    __slots__ = ("_head", "_include_usage", "_model", "_opened", "_prefix", "_tail", "_text", "_text_end")

    def __init__(self, model: str, include_usage: bool) -> None:
        self._model = orjson.dumps(model)
        self._include_usage = include_usage
        self._head = b""
        self._tail = b'],"usage":null}\n\n' if include_usage else b"]}\n\n"
        self._opened: set[int] = set()
        self._prefix: dict[int, bytes] = {}
        self._text: dict[int, bytes] = {}  # per opened choice: a text frame's bytes before the text
        self._text_end = b'},"logprobs":null,"finish_reason":null}' + self._tail

    def _start(self, rid: str, created: int) -> None:
        self._head = b"".join((b'data: {"id":', orjson.dumps(rid or new_id()),
                               b',"object":"chat.completion.chunk","created":', str(created or int(time.time())).encode(),
                               b',"model":', self._model, b',"choices":['))
        self._prefix.clear()
        self._text.clear()

    def _open(self, event: StreamStart) -> bytes:
        """The frame of the stream's start (`_start`, choice 0 opened, its role frame), with no head yet."""
        head = self._head = b"".join((b'data: {"id":', orjson.dumps(event.id or new_id()),
                                      b',"object":"chat.completion.chunk","created":',
                                      str(event.created or int(time.time())).encode(), b',"model":', self._model,
                                      b',"choices":['))
        prefix = head + b'{"index":0,"delta":'
        self._prefix.clear()
        self._text.clear()
        self._prefix[0] = prefix
        self._text[0] = prefix + b'{"content":'
        self._opened.add(0)
        return b"".join((prefix, _ROLE_DELTA, b',"logprobs":null,"finish_reason":null}', self._tail))

    def _frame(self, index: int, delta: bytes, finish: bytes = b"null") -> bytes:
        prefix = self._prefix.get(index)
        if prefix is None:
            if not self._head:
                self._start("", 0)
            prefix = self._prefix[index] = b"".join((self._head, b'{"index":', str(index).encode(), b',"delta":'))
        frame = b"".join((prefix, delta, b',"logprobs":null,"finish_reason":', finish, b"}", self._tail))
        if index in self._opened:
            self._text[index] = prefix + b'{"content":'
            return frame
        self._opened.add(index)
        return self._frame(index, _ROLE_DELTA) + frame

    def text_frame(self) -> tuple[bytes, bytes] | None:
        """The bytes around the JSON string of a text frame of choice 0, once that choice is open
        (providers/frames.py TextFramer)."""
        text = self._text.get(0)
        return None if text is None else (text, self._text_end)

    def encode(self, event: StreamEvent) -> bytes:
        if type(event) is TextDelta:
            if not event.text:
                return b""
            text = self._text.get(event.index)
            if text is not None:  # the usual event: `_frame`'s bytes, its choice opened already
                return b"".join((text, orjson.dumps(event.text), self._text_end))
            return self._frame(event.index, b'{"content":' + orjson.dumps(event.text) + b"}")
        if isinstance(event, ToolCallDelta):
            call: dict[str, JSON] = {"index": event.call_index}
            fn: dict[str, JSON] = {}
            if event.id is not None:
                call["id"] = event.id
                call["type"] = "function"
            if event.name is not None:
                fn["name"] = event.name
            fn["arguments"] = event.arguments
            call["function"] = fn
            return self._frame(event.index, b'{"tool_calls":[' + orjson.dumps(call) + b"]}")
        if isinstance(event, StreamEnd):
            return self._frame(event.index, b"{}", orjson.dumps(wire_finish(event.finish_reason)))
        if isinstance(event, UsageEvent):
            if not self._include_usage:
                return b""
            if not self._head:
                self._start("", 0)
            return self._head + b'],"usage":' + orjson.dumps(encode_usage(event.usage)) + b"}\n\n"
        if isinstance(event, StreamStart):
            return b"" if self._head else self._open(event)
        if isinstance(event, ThinkingDelta):
            return b""  # reasoning is not part of an OpenAI-shaped reply (README, extended thinking)
        raise TypeError(f"unknown stream event {type(event).__name__}")  # fail loudly, never pass through

    def encode_burst(self, burst: list[StreamEvent]) -> bytes:
        """`encode` of each event of `burst`, joined (pipeline/runner.py `framed`): the usual events (a
        stream's start; then text, the end of choice 0 and the usage) in one C call."""
        start, opening = 0, b""
        if burst and type(burst[0]) is StreamStart and not self._head:
            opening, start = self._open(burst[0]), 1
        text = self._text.get(0)
        if _chunk_frames is not None and text is not None:
            got = _chunk_frames(burst, start, _KINDS, text, self._text_end, self._prefix[0], self._tail,
                                self._head if self._include_usage else None, _FINISHES)
            if got is not None:
                return opening + got if opening else got
        encode = self.encode
        return b"".join([opening, *[encode(ev) for ev in burst[start:]]])

    def error(self, err: BastionError) -> bytes:
        return b"data: " + orjson.dumps(encode_error(err)) + b"\n\n"

    def close(self) -> bytes:
        return b"data: [DONE]\n\n"
