"""Canonical stream events → Anthropic SSE for a client of the Messages API.

Content blocks are numbered in the order they open, as the SDKs require. The final
message_delta is written by close(), because an OpenAI upstream reports usage after the
finish reason. Events of choices other than 0 are not shown (one reply per message).
Reasoning (ThinkingDelta) opens a `thinking` block (thinking_delta, then signature_delta; an
unsigned block keeps the empty signature of its start) or a whole `redacted_thinking` block.
"""

from __future__ import annotations

import uuid

import orjson

from bastion.core.errors import BastionError, InternalError, UpstreamError
from bastion.core.types import (
    ChatRequest,
    FinishReason,
    JSONObject,
    StreamEnd,
    StreamEvent,
    StreamStart,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    Usage,
    UsageEvent,
)
from bastion.providers.anthropic.mapping import stop_reason, usage_to_wire
from bastion.providers.anthropic.response import message_id


def frame(event: str, data: JSONObject) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


_TEXT_HEAD = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":'
_TEXT_MID = b',"delta":{"type":"text_delta","text":'
# Frames every stream writes, as `frame` writes them (test_anthropic_stream_encode checks the bytes).
_STOP_HEAD = b'event: content_block_stop\ndata: {"type":"content_block_stop","index":'
_TEXT_START_HEAD = b'event: content_block_start\ndata: {"type":"content_block_start","index":'
_TEXT_START_TAIL = b',"content_block":{"type":"text","text":""}}\n\n'
_MESSAGE_STOP = b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
# message_start around its id, the client's model and the usage (`_start`), and message_delta before its
# stop reason (`close`): the bytes `frame` writes there, without the objects
_START_HEAD = b'event: message_start\ndata: {"type":"message_start","message":{"id":'
_START_MODEL = b',"type":"message","role":"assistant","model":'
_START_USAGE = b',"content":[],"stop_reason":null,"stop_sequence":null,"usage":'
_NO_USAGE = b'{"input_tokens":0,"output_tokens":0}'
_DELTA_HEAD = b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":'
_STOP_REASONS = {reason: orjson.dumps(reason) for reason in ("end_turn", "stop_sequence", "max_tokens", "tool_use",
                                                             "refusal", None)}


_TEXT_BLOCK: JSONObject = {"type": "text", "text": ""}


class AnthropicStreamEncoder:
    __slots__ = ("_calls", "_closed", "_finish", "_model", "_next_block", "_open", "_open_call",
                 "_open_thought", "_started", "_stop_sequence", "_thoughts", "_usage")

    def __init__(self, model: str) -> None:
        self._model = model
        self._started = False
        self._closed = False
        self._next_block = 0
        self._open: str | None = None  # "text" | "tool_use" | "thinking" | "redacted_thinking" | None
        self._open_call = -1  # call_index of the open tool_use block
        self._calls: set[int] = set()  # call indexes whose block was started
        self._open_thought = -1  # number of the open reasoning block
        self._thoughts: set[int] = set()  # reasoning blocks started
        self._finish: FinishReason | None = None
        self._stop_sequence: str | None = None
        self._usage: Usage | None = None

    def _start(self, mid: str | None = None, usage: Usage | None = None) -> bytes:
        if self._started:
            return b""
        self._started = True
        mid = message_id(mid or uuid.uuid4().hex)
        # as Anthropic does, the input counted at the start when the upstream said (an Anthropic one)
        wire = _NO_USAGE if usage is None else _usage_template(usage, False)
        if wire is not None:  # the bytes `frame` writes for the message below, in its order
            return b"".join((_START_HEAD, orjson.dumps(mid), _START_MODEL, orjson.dumps(self._model), _START_USAGE,
                             wire, b"}}\n\n"))
        message: JSONObject = {
            "id": mid, "type": "message", "role": "assistant", "model": self._model, "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": usage_to_wire(usage),
        }
        return frame("message_start", {"type": "message_start", "message": message})

    def _close_block(self) -> bytes:
        if self._open is None:
            return b""
        self._open = None
        self._open_call = -1
        return b"%s%d}\n\n" % (_STOP_HEAD, self._next_block - 1)

    def _open_block(self, block: JSONObject) -> bytes:
        out = self._close_block()
        self._open = str(block["type"])
        if block is _TEXT_BLOCK:
            out += b"%s%d%s" % (_TEXT_START_HEAD, self._next_block, _TEXT_START_TAIL)
        else:
            out += frame("content_block_start", {"type": "content_block_start", "index": self._next_block,
                                                 "content_block": block})
        self._next_block += 1
        return out

    def _delta(self, delta: JSONObject) -> bytes:
        return frame("content_block_delta", {"type": "content_block_delta", "index": self._next_block - 1,
                                             "delta": delta})

    def _text(self, ev: TextDelta) -> bytes:
        if not ev.text:
            return b""
        # `_delta`'s frame, without building its objects; the first text opens its block
        opened = b"" if self._open == "text" else self._start() + self._open_block(_TEXT_BLOCK)
        return b"".join((opened, _TEXT_HEAD, str(self._next_block - 1).encode(), _TEXT_MID, orjson.dumps(ev.text),
                         b"}}\n\n"))

    def _tool(self, ev: ToolCallDelta) -> bytes:
        out = self._start()
        if ev.call_index not in self._calls:
            if not ev.id or not ev.name:
                raise UpstreamError("a tool call's first fragment lacks its id or name")
            self._calls.add(ev.call_index)
            out += self._open_block({"type": "tool_use", "id": ev.id, "name": ev.name, "input": {}})
            self._open_call = ev.call_index
        if not ev.arguments:
            return out
        if self._open != "tool_use" or self._open_call != ev.call_index:
            raise UpstreamError("tool call arguments arrived after another block began (interleaved calls)")
        return out + self._delta({"type": "input_json_delta", "partial_json": ev.arguments})

    def _thinking(self, ev: ThinkingDelta) -> bytes:
        if not ev.text and not ev.signature and ev.redacted is None:
            return b""
        out = self._start()
        if self._open_thought != ev.block or self._open not in ("thinking", "redacted_thinking"):
            if ev.block in self._thoughts:
                raise UpstreamError("reasoning arrived after another block began (interleaved blocks)")
            self._thoughts.add(ev.block)
            if ev.redacted is not None:
                out += self._open_block({"type": "redacted_thinking", "data": ev.redacted})
            else:
                out += self._open_block({"type": "thinking", "thinking": "", "signature": ""})
            self._open_thought = ev.block
            if ev.redacted is not None:
                return out
        if self._open != "thinking" or ev.redacted is not None:
            raise UpstreamError("a redacted reasoning block arrived in parts")
        if ev.text:
            out += self._delta({"type": "thinking_delta", "thinking": ev.text})
        if ev.signature:
            out += self._delta({"type": "signature_delta", "signature": ev.signature})
        return out

    def text_frame(self) -> tuple[bytes, bytes] | None:
        """The bytes around the JSON string of a text delta while a text block is open
        (providers/frames.py TextFramer)."""
        if self._closed or self._open != "text":
            return None
        return _TEXT_HEAD + str(self._next_block - 1).encode() + _TEXT_MID, b"}}\n\n"

    def encode(self, event: StreamEvent) -> bytes:
        if self._closed:
            return b""
        if isinstance(event, StreamStart):
            return self._start(event.id, event.usage)
        if isinstance(event, UsageEvent):
            self._usage = event.usage
            return b""
        if event.index != 0:
            return b""
        if isinstance(event, TextDelta):
            return self._text(event)
        if isinstance(event, ToolCallDelta):
            return self._tool(event)
        if isinstance(event, StreamEnd):
            self._finish = event.finish_reason
            self._stop_sequence = event.stop_sequence
            return self._start() + self._close_block()
        if isinstance(event, ThinkingDelta):
            return self._thinking(event)
        raise InternalError(f"unhandled stream event kind {type(event).__name__}")

    def error(self, err: BastionError) -> bytes:
        if self._closed:
            return b""
        self._closed = True
        return frame("error", {"type": "error", "error": {"type": err.anthropic_type, "message": err.message}})

    def close(self) -> bytes:
        if self._closed:
            return b""
        self._closed = True
        out = self._start() + self._close_block()
        seq = self._stop_sequence if self._finish in (None, "stop") else None
        reason = stop_reason(self._finish, seq)
        usage = self._usage or Usage()
        wire = _usage_template(usage, True)
        if wire is not None:  # the bytes `frame` writes for the message_delta below
            return b"".join((out, _DELTA_HEAD, _STOP_REASONS[reason], b',"stop_sequence":',
                             b"null" if seq is None else orjson.dumps(seq), b'},"usage":', wire, b"}\n\n",
                             _MESSAGE_STOP))
        counts = usage_to_wire(usage)
        delta: JSONObject = {"stop_reason": reason, "stop_sequence": seq}
        out += frame("message_delta", {"type": "message_delta", "delta": delta,
                                       "usage": {"output_tokens": counts.pop("output_tokens"), **counts}})
        return out + _MESSAGE_STOP


_USAGE_IN = b'{"input_tokens":%d,"output_tokens":%d,"cache_read_input_tokens":%d,"cache_creation_input_tokens":%d}'
_USAGE_OUT = b'{"output_tokens":%d,"input_tokens":%d,"cache_read_input_tokens":%d,"cache_creation_input_tokens":%d}'


def _usage_template(u: Usage, output_first: bool) -> bytes | None:
    """orjson.dumps of `usage_to_wire(u)`, its output count first when `output_first` (message_delta's
    order), when every count is a plain int in [0, 2**62) and no cache write is of one hour: then the
    wire usage is those four counts, written as %d writes them. None for any other usage (then the
    objects are dumped, which refuses what they cannot write)."""
    inp, out, read, write = u.input_tokens, u.output_tokens, u.cached_input_tokens, u.cache_write_tokens
    if (type(inp) is not int or type(out) is not int or type(read) is not int or type(write) is not int
            or (inp | out | read | write) >> 62 or u.cache_write_1h_tokens):
        return None
    inp = max(0, inp - read - write)
    return _USAGE_OUT % (out, inp, read, write) if output_first else _USAGE_IN % (inp, out, read, write)


def stream_encoder(request: ChatRequest, model: str) -> AnthropicStreamEncoder:
    return AnthropicStreamEncoder(model)
