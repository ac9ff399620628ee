"""Upstream Anthropic SSE events → canonical stream events.

Strict by design: an event or block type nobody handles, an event out of order or a malformed
payload raises UpstreamError, so no upstream text can slip past the output policy unseen.
Reasoning blocks become ThinkingDelta events (numbered per message): their text deltas, then the
block's signature; a redacted_thinking block arrives whole at its start. A thinking_delta after the
block's signature is malformed (the signature covers the text before it).
"""

from __future__ import annotations

from collections.abc import Callable

import orjson

from bastion.core.errors import UpstreamError
from bastion.core.makers import maker
from bastion.core.types import (
    JSON,
    FinishReason,
    JSONObject,
    StreamEnd,
    StreamEvent,
    StreamStart,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    UsageEvent,
)
from bastion.providers.anthropic.errors import error_event
from bastion.providers.anthropic.fields import label
from bastion.providers.anthropic.mapping import STOP_REASONS, UsageCounter, finish_reason
from bastion.providers.anthropic.response import tool_arguments
from bastion.providers.literal import TextTemplate

# The usual events, made without a class call (core/makers.py: every field by position)
_MAKE_TEXT, _MAKE_END, _MAKE_USAGE = maker(TextDelta), maker(StreamEnd), maker(UsageEvent)

_SIGNED = "thinking+signature"  # block state of a thinking block whose signature has arrived
_TEXT = b'"delta":{"type":"text_delta","text":'
_PING = b'{"type":"ping"}'
# The usual events besides text, as Anthropic spells them (`AnthropicStreamDecoder._known`)
_BLOCK_START = b'{"type":"content_block_start","index":'
_TEXT_OPEN = b',"content_block":{"type":"text","text":""}}'
_DELTA_HEAD = b'{"type":"content_block_delta","index":'
_BLOCK_STOP = b'{"type":"content_block_stop","index":'
_MESSAGE_STOP = b'{"type":"message_stop"}'
_MESSAGE_DELTA = b'{"type":"message_delta","delta":{"stop_reason":'
_USAGE = b',"usage":'
# The template of a text block's deltas and the bytes of its content_block_stop, by the block's index
# as spelled (`_known`), made once for the first indexes (a text block is almost always 0): a
# TextTemplate changes no state
_OPENED = {digits: (TextTemplate(_DELTA_HEAD + digits + b"," + _TEXT, b"}}", False), _BLOCK_STOP + digits + b"}")
           for digits in (b"%d" % index for index in range(16))}
# A message_delta's bytes up to its usage, by its stop reason (no stop sequence)
_ENDS = {_MESSAGE_DELTA + b'"%s","stop_sequence":null}' % reason.encode() + _USAGE: finish_reason(reason)
         for reason in STOP_REASONS}

_Counts = tuple[int | None, int | None, int | None, int | None, int | None]  # `UsageCounter.take`'s
_delta_usage: Callable[[bytes, int], _Counts | None] | None
_start: Callable[[bytes], tuple[str, str, _Counts] | None] | None
try:  # the usual usage of a message_delta and the usual message_start read in C (_native_opening.c), None
    # for any other: orjson's below
    from bastion._native import anthropic_delta_usage as _delta_usage
    from bastion._native import anthropic_start as _start
except ImportError:  # pragma: no cover - the package works without the C accelerator
    _delta_usage = _start = None


def _malformed(what: str) -> UpstreamError:
    return UpstreamError(f"anthropic upstream sent a malformed stream: {what}")


class AnthropicStreamDecoder:
    """The usual event, a text delta of the open text block, is taken by a template
    (`providers/literal.py`): told by the block's start when that has the usual spelling, else
    learned from the block's first delta when it fits one. The other usual events, in Anthropic's
    spelling, are taken by their bytes (`_known`). `fast=False` decodes every event in full."""

    __slots__ = ("_blocks", "_calls", "_done", "_ended", "_fast", "_learn", "_started", "_stop", "_template",
                 "_text_block", "_thinking", "_usage", "_usage_sent")

    def __init__(self, fast: bool = True) -> None:
        self._template: TextTemplate | None = None  # of the open text block's deltas (its index is in it)
        self._learn = fast
        self._fast = fast
        # the content_block_stop of the text block whose start told the template, while it is open
        self._stop: bytes | None = None
        self._text_block = -1  # that block's index
        self._started = False
        self._done = False
        self._ended = False
        self._usage_sent = False
        self._usage = UsageCounter()
        # content block index -> (block type, call_index for tool_use blocks or the number of a
        # reasoning block, still open)
        self._blocks: dict[int, tuple[str, int, bool]] = {}
        self._calls = 0
        self._thinking = 0  # reasoning blocks started

    TEXT_EVENTS: tuple[str | None, ...] = (None, "content_block_delta")  # providers/frames.py TemplatedDecoder

    @property
    def done(self) -> bool:
        return self._done

    def text_template(self) -> TextTemplate | None:
        """The template `feed` takes a text delta of the open text block by, if any (providers/frames.py)."""
        return None if self._done else self._template

    def feed(self, event: str | None, data: bytes) -> list[StreamEvent]:
        template = self._template
        if template is not None and not self._done and (event is None or event == "content_block_delta"):
            text = template.text(data)
            if text is not None:
                return [_MAKE_TEXT(text, 0)] if text else []
        if data == _PING and (event is None or event == "ping"):  # the general path's answer, without the parse
            return []
        if self._fast and self._started and not self._done:
            known = self._known(event, data)
            if known is not None:
                return known
        if (not self._started and self._fast and _start is not None and (event is None or event == "message_start")
                and (opened := _start(data)) is not None):  # the usual message_start: its id, model and usage
            self._usage.take(opened[2])
            return self._opened(opened[0], opened[1])
        try:
            payload = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise _malformed("an event's data is not JSON") from None
        if not isinstance(payload, dict):
            raise _malformed("an event's data is not an object")
        etype = payload.get("type")
        if not isinstance(etype, str) or (event is not None and event != etype):
            raise _malformed("event name and data type disagree")
        if etype == "error":
            raise error_event(payload)
        if etype == "ping":
            return []
        if self._done:
            raise _malformed(f"'{label(etype)}' after message_stop")
        if etype == "message_start":
            return self._message_start(payload)
        if not self._started:
            raise _malformed(f"'{label(etype)}' before message_start")
        if etype == "content_block_start":
            return self._block_start(payload)
        if etype == "content_block_delta":
            events = self._block_delta(payload)
            if self._learn and template is None and len(events) == 1 and type(events[0]) is TextDelta:
                self._template = TextTemplate.learn(data, _TEXT, events[0].text)
                self._learn = self._template is not None  # a stream that fits no template pays once
            return events
        if etype == "content_block_stop":
            btype, call = self._block(payload, open_required=True)
            self._blocks[self._index(payload)] = (btype, call, False)
            self._template = self._stop = None  # its block is closed: a later delta for it is malformed
            return []
        if etype == "message_delta":
            return self._message_delta(payload)
        if etype == "message_stop":
            return self._message_stop()
        raise UpstreamError(f"anthropic upstream sent an unknown stream event type '{label(etype)}'")

    def _known(self, event: str | None, data: bytes) -> list[StreamEvent] | None:
        """The events of a usual event other than text, in Anthropic's spelling, after message_start
        and before message_stop; None for any other (the general path's). Each is taken by its bytes
        only where they are the whole event, as the general path would read it:
        - `content_block_start` of a text block with no text (`_BLOCK_START` + index + `_TEXT_OPEN`):
          the block opens (no event), and tells the template of its deltas: `_DELTA_HEAD` + index +
          `_TEXT` + a JSON string + `}}`, which the general path reads as that text alone;
        - that block's `content_block_stop` (`_stop`, while the block is open): it closes;
        - `message_delta` with a stop reason the decoder knows, no stop sequence and a usage
          (`_ENDS` + a JSON value + `}`): the usage value, parsed alone, is counted as the general
          path counts it (and refused as it refuses it), then the end and usage events;
        - `message_stop`."""
        if data == self._stop:
            if event is None or event == "content_block_stop":
                self._blocks[self._text_block] = ("text", -1, False)
                self._template = self._stop = None
                return []
            return None
        if data == _MESSAGE_STOP:
            return self._message_stop() if event is None or event == "message_stop" else None
        if data.startswith(_BLOCK_START):
            if not data.endswith(_TEXT_OPEN) or not (event is None or event == "content_block_start"):
                return None
            digits = data[len(_BLOCK_START):len(data) - len(_TEXT_OPEN)]
            # a JSON integer (no sign, no leading zero), of a block not seen, before the stop reason
            if not digits.isdigit() or (digits[0] == 48 and len(digits) > 1) or self._ended:
                return None
            index = int(digits)
            if index in self._blocks:
                return None
            self._blocks[index] = ("text", -1, True)
            opened = _OPENED.get(digits)
            if opened is None:
                opened = (TextTemplate(_DELTA_HEAD + digits + b"," + _TEXT, b"}}", False), _BLOCK_STOP + digits + b"}")
            self._template, self._stop = opened
            self._text_block = index
            return []
        if data.startswith(_MESSAGE_DELTA):
            if not (event is None or event == "message_delta") or data[-1:] != b"}":
                return None
            cut = data.find(_USAGE) + len(_USAGE)
            reason = _ENDS.get(data[:cut])
            if reason is None:
                return None
            counts = _delta_usage(data, cut) if _delta_usage is not None else None
            if counts is not None:
                self._usage.take(counts)
                return self._ending(reason, None)
            try:
                usage = orjson.loads(data[cut:-1])
            except orjson.JSONDecodeError:
                return None
            self._usage.update(usage)
            return self._ending(reason, None)
        return None

    def _message_start(self, payload: JSONObject) -> list[StreamEvent]:
        if self._started:
            raise _malformed("a second message_start")
        message = payload.get("message")
        if not isinstance(message, dict):
            raise _malformed("message_start without a message")
        mid, model = message.get("id"), message.get("model")
        if not isinstance(mid, str) or not isinstance(model, str):
            raise _malformed("message_start without id or model")
        if message.get("content"):
            raise _malformed("message_start with content")
        self._usage.update(message.get("usage"))
        return self._opened(mid, model)

    def _opened(self, mid: str, model: str) -> list[StreamEvent]:
        """The start of a message_start whose usage is counted."""
        self._started = True
        usage = self._usage.canonical()
        # Anthropic counts the input here, before any text: what a stream cut before its message_delta
        # is counted by. A start that counts no input at all (some compatible servers write zeros
        # and count in message_delta only) reports nothing.
        return [StreamStart(mid, model, 0, usage if usage.input_tokens > 0 else None)]  # by position: no kwargs dict

    @staticmethod
    def _index(payload: JSONObject) -> int:
        index = payload.get("index")
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise _malformed("a content block event without a valid index")
        return index

    def _block(self, payload: JSONObject, open_required: bool) -> tuple[str, int]:
        index = self._index(payload)
        if index not in self._blocks:
            raise _malformed("an event for a content block that was never started")
        btype, call, is_open = self._blocks[index]
        if open_required and not is_open:
            raise _malformed("an event for a content block that was already stopped")
        return btype, call

    def _block_start(self, payload: JSONObject) -> list[StreamEvent]:
        index = self._index(payload)
        if index in self._blocks or self._ended:
            raise _malformed("content_block_start reuses an index or follows the stop reason")
        block = payload.get("content_block")
        if not isinstance(block, dict):
            raise _malformed("content_block_start without a content_block")
        btype = block.get("type")
        if btype == "text":
            self._blocks[index] = ("text", -1, True)
            text = block.get("text", "")
            if not isinstance(text, str):
                raise _malformed("a text block whose text is not a string")
            return [TextDelta(text)] if text else []
        if btype == "tool_use":
            call = self._calls
            self._calls += 1
            self._blocks[index] = ("tool_use", call, True)
            cid, name = block.get("id"), block.get("name")
            if not isinstance(cid, str) or not isinstance(name, str):
                raise _malformed("a tool_use block without id or name")
            tool_input = block.get("input")
            arguments = "" if tool_input in (None, {}) else tool_arguments(tool_input)
            return [ToolCallDelta(call_index=call, id=cid, name=name, arguments=arguments)]
        if btype == "thinking" or btype == "redacted_thinking":
            return self._thinking_start(index, btype, block)
        raise UpstreamError("anthropic upstream started an unsupported content block type")

    def _thinking_start(self, index: int, btype: str, block: JSONObject) -> list[StreamEvent]:
        number = self._thinking
        self._thinking += 1
        if btype == "redacted_thinking":
            self._blocks[index] = (btype, number, True)
            data = block.get("data")
            if not isinstance(data, str):
                raise _malformed("a redacted_thinking block whose data is not a string")
            return [ThinkingDelta(number, redacted=data)]
        text, signature = block.get("thinking", ""), block.get("signature")
        if not isinstance(text, str) or (signature is not None and not isinstance(signature, str)):
            raise _malformed("a thinking block whose thinking or signature is not a string")
        out: list[StreamEvent] = [ThinkingDelta(number, text)] if text else []
        if signature:
            out.append(ThinkingDelta(number, signature=signature))
        self._blocks[index] = (_SIGNED if signature else btype, number, True)
        return out

    def _block_delta(self, payload: JSONObject) -> list[StreamEvent]:
        btype, call = self._block(payload, open_required=True)
        delta = payload.get("delta")
        if not isinstance(delta, dict):
            raise _malformed("content_block_delta without a delta")
        dtype = delta.get("type")
        if btype == "text" and dtype == "text_delta":
            text = delta.get("text")
            if not isinstance(text, str):
                raise _malformed("a text_delta whose text is not a string")
            return [TextDelta(text)] if text else []
        if btype == "tool_use" and dtype == "input_json_delta":
            partial = delta.get("partial_json")
            if not isinstance(partial, str):
                raise _malformed("an input_json_delta whose partial_json is not a string")
            return [ToolCallDelta(call_index=call, arguments=partial)] if partial else []
        if btype == "thinking" and dtype == "thinking_delta":
            thought = delta.get("thinking")
            if not isinstance(thought, str):
                raise _malformed("a thinking_delta whose thinking is not a string")
            return [ThinkingDelta(call, thought)] if thought else []
        if (btype == "thinking" or btype == _SIGNED) and dtype == "signature_delta":
            signature = delta.get("signature")
            if not isinstance(signature, str):
                raise _malformed("a signature_delta whose signature is not a string")
            self._blocks[self._index(payload)] = (_SIGNED, call, True)
            return [ThinkingDelta(call, signature=signature)]
        raise UpstreamError("anthropic upstream sent an unsupported content block delta type")

    def _message_delta(self, payload: JSONObject) -> list[StreamEvent]:
        delta: JSON = payload.get("delta")
        if not isinstance(delta, dict):
            raise _malformed("message_delta without a delta")
        self._usage.update(payload.get("usage"))
        reason = finish_reason(delta.get("stop_reason"))
        seq: str | None = None
        if reason is not None and not self._ended:
            given = delta.get("stop_sequence")
            if given is not None and not isinstance(given, str):
                raise _malformed("a stop_sequence that is not a string")
            seq = given
        return self._ending(reason, seq)

    def _ending(self, reason: FinishReason | None, seq: str | None) -> list[StreamEvent]:
        """A message_delta's events, its usage counted: the end (its first stop reason) and then the usage."""
        out: list[StreamEvent] = []
        if reason is not None and not self._ended:
            self._ended = True
            out.append(_MAKE_END(reason, 0, seq))  # (finish_reason, index, stop_sequence) by position
        if self._ended and not self._usage_sent:
            self._usage_sent = True
            out.append(_MAKE_USAGE(self._usage.canonical()))
        return out

    def _message_stop(self) -> list[StreamEvent]:
        if not self._ended:
            raise _malformed("message_stop without a stop_reason")
        self._done = True
        return []


def stream_decoder() -> AnthropicStreamDecoder:
    return AnthropicStreamDecoder()
