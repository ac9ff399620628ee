"""The stream decoders' text templates (providers/literal.py) never change what a stream decodes to:
for any sequence of upstream events — real-looking chunks with any text, OpenAI's per-chunk
obfuscation padding, chunks with one byte changed, inserted or removed, events out of order — the
decoder with templates gives exactly the events and errors of the decoder without them."""

from __future__ import annotations

import json

import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bastion.core.errors import BastionError
from bastion.core.types import StreamEnd, StreamStart, TextDelta, Usage, UsageEvent
from bastion.providers import literal
from bastion.providers.anthropic import stream_decode
from bastion.providers.anthropic.stream_decode import AnthropicStreamDecoder
from bastion.providers.anthropic.stream_encode import AnthropicStreamEncoder, frame
from bastion.providers.literal import TextTemplate
from bastion.providers.openai.stream import ChunkDecoder, ChunkEncoder

TEXT = st.text(max_size=12)
PAD = st.text(st.characters(codec="ascii", categories=["L", "N"]), max_size=8)


def dumps(value: object, ascii_only: bool) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=ascii_only)


def openai_chunk(text: str | None, pad: str | None, ascii_only: bool, index: int = 0, finish: str | None = None,
                 usage: bool = False) -> bytes:
    delta = {} if text is None else {"content": text}
    obj: dict[str, object] = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m",
                              "choices": [{"index": index, "delta": delta, "logprobs": None,
                                           "finish_reason": finish}]}
    if usage:
        obj["usage"] = None
    if pad is not None:
        obj["obfuscation"] = pad
    return dumps(obj, ascii_only).encode()


def anthropic_chunk(kind: str, text: str, ascii_only: bool, index: int = 0) -> tuple[str | None, bytes]:
    if kind == "delta":
        obj: dict[str, object] = {"type": "content_block_delta", "index": index,
                                  "delta": {"type": "text_delta", "text": text}}
    elif kind == "start":
        obj = {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}
    elif kind == "stop":
        obj = {"type": "content_block_stop", "index": index}
    elif kind == "message_delta":
        obj = {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
               "usage": {"output_tokens": 3}}
    else:
        obj = {"type": "message_stop"}
    return (obj["type"] if kind != "delta" or index % 2 == 0 else None), dumps(obj, ascii_only).encode()  # type: ignore[return-value]


def mutate(data: bytes, how: int, at: int, byte: int) -> bytes:
    if not data or how == 0:
        return data
    i = at % len(data) if at >= 0 else max(len(data) + at, 0)  # negative: from the end (OpenAI's padding)
    if how == 1:
        return data[:i] + bytes([byte]) + data[i + 1:]
    if how == 2:
        return data[:i] + bytes([byte]) + data[i:]
    return data[:i] + data[i + 1:]


def outcome(decoder: ChunkDecoder | AnthropicStreamDecoder, events: list[tuple[str | None, bytes]]) -> list[object]:
    out: list[object] = []
    for name, data in events:
        try:
            out.append(decoder.feed(name, data))
        except BastionError as e:
            out.append((type(e).__name__, e.message))
            break
    return out


MUTATION = st.tuples(st.integers(0, 3), st.one_of(st.integers(-12, -1), st.integers(0, 10_000)),
                     st.sampled_from(b'"\\\x01}a ')) | st.tuples(st.integers(0, 3), st.integers(0, 10_000), st.integers(0, 255))
OPENAI_STEP = st.tuples(st.one_of(st.none(), TEXT), st.one_of(st.none(), PAD), st.booleans(),
                        st.sampled_from([0, 0, 0, 1]), st.sampled_from([None, None, None, "stop"]), st.booleans(),
                        MUTATION)


@settings(max_examples=300, deadline=None)
@given(st.lists(OPENAI_STEP, min_size=1, max_size=12), st.booleans())
@example([(" hi", None, False, 0, None, False, (0, 0, 0))] * 3, False)
@example([(" hi", "ab", True, 0, None, True, (0, 0, 0)), ('x"},"logprobs"', "c", True, 0, None, True, (0, 0, 0))],
         False)
@example([(" hi", None, True, 0, None, False, (0, 0, 0))] * 2, True)
@example([(" hi", None, True, 0, None, False, (0, 0, 0)), (" yo", None, True, 0, None, False, (1, -3, 97))], False)
@example([(" hi", "ab", True, 0, None, False, (0, 0, 0)), (" yo", "abc", True, 0, None, False, (2, -3, 34))], False)
@example([(" hi", "ab", True, 0, None, False, (0, 0, 0)), (" yo", "abc", True, 0, None, False, (1, -3, 1))], False)
def test_openai_templates_change_nothing(steps: list[tuple], with_done: bool) -> None:
    events: list[tuple[str | None, bytes]] = [(None, openai_chunk("", None, True))]
    for text, pad, ascii_only, index, finish, usage, (how, at, byte) in steps:
        events.append((None, mutate(openai_chunk(text, pad, ascii_only, index, finish, usage), how, at, byte)))
    if with_done:  # after the end marker, even a chunk of the learned shape is ignored
        text, pad, ascii_only, index, finish, usage, _ = steps[-1]
        events.append((None, b"[DONE]"))
        events.append((None, openai_chunk("after", pad, ascii_only, index, finish, usage)))
    assert outcome(ChunkDecoder(fast=True), events) == outcome(ChunkDecoder(fast=False), events)


ANTHROPIC_STEP = st.tuples(st.sampled_from(["delta"] * 6 + ["start", "stop", "message_delta", "message_stop"]), TEXT,
                           st.booleans(), st.sampled_from([0, 0, 0, 1]), MUTATION)
MESSAGE_START = ("message_start", json.dumps({"type": "message_start", "message": {
    "id": "msg_1", "type": "message", "role": "assistant", "content": [], "model": "claude",
    "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 3, "output_tokens": 1}}}).encode())


@settings(max_examples=300, deadline=None)
@given(st.lists(ANTHROPIC_STEP, min_size=1, max_size=14))
@example([("start", "", True, 0, (0, 0, 0)), ("delta", "a", True, 0, (0, 0, 0)), ("delta", "b", True, 0, (0, 0, 0)),
          ("stop", "", True, 0, (0, 0, 0)), ("delta", "c", True, 0, (0, 0, 0))])
@example([("start", "", True, 0, (0, 0, 0)), ("delta", "a", True, 0, (0, 0, 0)), ("delta", "b", True, 0, (0, 0, 0)),
          ("message_delta", "", True, 0, (0, 0, 0)), ("message_stop", "", True, 0, (0, 0, 0)),
          ("delta", "c", True, 0, (0, 0, 0))])
@example([("start", "", True, 0, (0, 0, 0)), ("delta", "a", True, 0, (0, 0, 0)), ("delta", "b", True, 0, (1, -2, 97))])
def test_anthropic_templates_change_nothing(steps: list[tuple]) -> None:
    events: list[tuple[str | None, bytes]] = [MESSAGE_START]
    for kind, text, ascii_only, index, (how, at, byte) in steps:
        name, data = anthropic_chunk(kind, text, ascii_only, index)
        events.append((name, mutate(data, how, at, byte)))
    assert outcome(AnthropicStreamDecoder(fast=True), events) == outcome(AnthropicStreamDecoder(fast=False), events)


def test_openai_template_takes_the_usual_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast path is taken (not only equivalent): after the first text chunk, a text chunk is
    decoded without the general decoder."""
    decoder = ChunkDecoder()
    decoder.feed(None, openai_chunk("", "pad1", True))
    assert decoder.feed(None, openai_chunk("Hello", "pad22", True)) == [TextDelta("Hello")]

    def refuse(*_: object) -> list[object]:
        raise AssertionError("the general decoder ran")

    monkeypatch.setattr(ChunkDecoder, "_decode", refuse)
    assert decoder.feed(None, openai_chunk(' "quoted" \\ é', "x", False)) == [TextDelta(' "quoted" \\ é')]
    assert decoder.feed(None, openai_chunk("", "y", True)) == []


def test_template_refuses_what_is_not_one_string() -> None:
    chunk = openai_chunk("ab", None, True)
    template = TextTemplate.learn(chunk, b'"delta":{"content":', "ab")
    assert template is not None
    assert template.text(chunk.replace(b'"ab"', b'"a","content":"b"')) is None  # two members, not one string
    assert template.text(chunk.replace(b'"ab"', b'1')) is None  # not a string
    assert template.text(chunk.replace(b'"ab"', b'"a\x01"')) is None  # a raw control character
    assert template.text(chunk.replace(b'"ab"', b'"\xff"')) is None  # not UTF-8
    assert template.text(chunk + b" ") is None
    assert TextTemplate.learn(chunk, b'"delta":{"content":', "other") is None


@settings(max_examples=200, deadline=None)
@given(TEXT, st.one_of(st.none(), PAD), st.booleans(), TEXT)
@example("a\u00e9/\"\\\n\u2028", None, True, "a")
@example("ab", None, False, "a")
@example("é", "p", False, "é")
def test_a_template_is_learned_alike_by_the_text_as_orjson_spells_it_and_by_any_other_spelling(
        text: str, pad: str | None, ascii_only: bool, other: str) -> None:
    """`learn` finds the text's end by orjson's spelling of the text when the chunk spells it so,
    and by the general match otherwise: the same template either way (the chunk's bytes before and
    after the string), which takes the chunk back as its text; a text the chunk does not hold
    learns none."""
    marker = b'"delta":{"content":'
    chunk = openai_chunk(text, pad, ascii_only)
    start = chunk.index(marker) + len(marker)
    spelled = dumps(text, ascii_only).encode()
    assert chunk.startswith(spelled, start)
    template = TextTemplate.learn(chunk, marker, text)
    assert template is not None and template.text(chunk) == text
    tail = chunk[start + len(spelled):]
    assert template.head == chunk[:start]
    assert template.tail == (tail[:tail.rindex(b'"obfuscation":"') + 15] if pad is not None else tail)
    if other != text:
        assert TextTemplate.learn(chunk, marker, other) is None


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(TEXT, st.sampled_from([0, 0, 1])), min_size=1, max_size=8), st.booleans())
def test_encoders_usual_text_frame_is_the_general_one(texts: list[tuple[str, int]], usage: bool) -> None:
    """The encoders' text shortcut writes the bytes their general path writes."""
    oa = ChunkEncoder("alias", usage)
    oa.encode(StreamStart("chatcmpl-1", "m", 7))
    an = AnthropicStreamEncoder("alias")
    an.encode(StreamStart("msg_1", "m"))
    for text, index in texts:
        before = set(oa._opened)
        got = oa.encode(TextDelta(text, index))
        general = oa._frame(index, b'{"content":' + orjson.dumps(text) + b"}") if text else b""
        if index not in before and text:  # the first text of a choice opens it with the role chunk
            assert got.endswith(general) and got.count(b"data: ") == 2
        else:
            assert got == general
        if index == 0 and text:
            was_open = an._open == "text"
            got = an.encode(TextDelta(text))
            general = frame("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                    "delta": {"type": "text_delta", "text": text}})
            assert got == general if was_open else (got.endswith(general) and got.count(b"event: ") == 2)


def test_end_markers_give_no_events() -> None:
    """Readers of a burst ask `done` only after a feed that gave no events (providers/streaming.py
    `_decode`): the end marker must give none, on either decoder."""
    oa = ChunkDecoder()
    oa.feed(None, openai_chunk("hi", None, True))
    assert oa.feed(None, b"[DONE]") == [] and oa.done
    an = AnthropicStreamDecoder()
    an.feed(*MESSAGE_START)
    for kind in ("start", "delta", "stop", "message_delta"):
        assert not an.done
        an.feed(*anthropic_chunk(kind, "hi", True))
    assert an.feed(*anthropic_chunk("message_stop", "", True)) == [] and an.done


# OpenAI's usual stream, spelt as it sends it, in its variants: the first chunk's delta (role, with
# a refusal member, an empty text), choice 0 with or without `logprobs`, the chunk with or without
# `"usage":null` after the choices (stream_options.include_usage), other members before them.
OPENINGS = [{"role": "assistant", "content": ""}, {"role": "assistant", "content": "", "refusal": None},
            {"content": ""}, {"role": "assistant"}, {"role": "assistant", "content": None}]
REASONS = st.sampled_from(["stop", "length", "tool_calls", "content_filter", "function_call", "error", "abort",
                           "other", "", 'a"b', "é", None, 3])
USAGES = st.one_of(st.none(), st.integers(-1, 3), st.dictionaries(
    st.sampled_from(["prompt_tokens", "completion_tokens", "total_tokens", "prompt_tokens_details",
                     "completion_tokens_details"]),
    st.one_of(st.integers(-2, 10**9 + 1), st.none(), st.booleans(), st.just(1.5), st.just("7"),
              st.dictionaries(st.sampled_from(["cached_tokens", "reasoning_tokens"]), st.integers(-1, 5),
                              max_size=2)), max_size=5))
MEMBERS = st.sampled_from([
    {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m", "system_fingerprint": "fp"},
    {"id": "chatcmpl-2", "object": "chat.completion.chunk", "created": 1, "model": "m", "service_tier": "default"},
    {"id": "chatcmpl-\\3", "created": 1, "model": "m"},  # a backslash: no shortcut for the ends
    {"id": "c4", "meta": {"a": [1]}, "model": "m"},
    {"id": "c5", "usage": None, "error": None},
    {"id": None, "created": "1", "model": 3},  # not a string, not an integer: "" and 0
    {"id": "c6", "choices": None, "created": True},  # a `choices` before the last (the last wins)
    {"id": "c7", "error": {"message": "overloaded"}},  # an error: raised
    {"id": "c8", "usage": {"prompt_tokens": 2}},  # a usage before the choices: its event
    {},  # `choices` first
])


class Shape:
    """One stream's spelling of its chunks."""

    def __init__(self, members: dict[str, object], logprobs: bool, usage_null: bool) -> None:
        self.members, self.logprobs, self.usage_null = members, logprobs, usage_null

    def chunk(self, delta: object, finish: object = None, choices: bool = True, usage: object = None,
              with_usage: bool = False) -> bytes:
        choice: dict[str, object] = {"index": 0, "delta": delta}
        if self.logprobs:
            choice["logprobs"] = None
        choice["finish_reason"] = finish
        obj: dict[str, object] = {**self.members, "choices": [choice] if choices else []}
        if with_usage:
            obj["usage"] = usage
        elif self.usage_null:
            obj["usage"] = None
        return dumps(obj, False).encode()


END_STEP = st.tuples(st.sampled_from(["text", "text", "finish", "usage", "other"]), TEXT, REASONS, USAGES, MUTATION)


@settings(max_examples=400, deadline=None)
@given(MEMBERS, st.booleans(), st.booleans(), st.sampled_from(range(len(OPENINGS))),
       st.lists(END_STEP, max_size=8), MUTATION)
@example({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m"},
         True, False, 0, [("text", "hi", None, None, (0, 0, 0)), ("finish", "", "stop", None, (0, 0, 0)),
                          ("usage", "", None, {"prompt_tokens": 3, "completion_tokens": 2}, (0, 0, 0))], (0, 0, 0))
@example({"id": "c", "model": "m"}, False, True, 1,
         [("finish", "", "length", None, (0, 0, 0)), ("usage", "", None, {"prompt_tokens": -1}, (0, 0, 0))], (0, 0, 0))
@example({"id": "c", "model": "m"}, False, False, 2,
         [("text", "a", None, None, (0, 0, 0)), ("finish", "", "stop", None, (1, -3, 34))], (0, 0, 0))
@example({"id": "c", "model": "m"}, False, False, 0,
         [("usage", "", None, {"prompt_tokens": 3, "completion_tokens": 2}, (2, -1, 125))], (0, 0, 0))
def test_openai_stream_ends_taken_by_their_shape_change_nothing(
        members: dict[str, object], logprobs: bool, usage_null: bool, opening: int, steps: list[tuple],
        first_mutation: tuple[int, int, int]) -> None:
    """The first chunk's shape gives the text template, and the template the finish and usage
    chunks' shapes (`EndShapes`): for any spelling of a stream, any finish reason and usage, and
    chunks with a byte changed, the decoder gives exactly what it gives with no shortcut."""
    shape = Shape(members, logprobs, usage_null)
    events = [(None, mutate(shape.chunk(OPENINGS[opening]), *first_mutation))]
    for kind, text, reason, usage, (how, at, byte) in steps:
        if kind == "text":
            data = shape.chunk({"content": text})
        elif kind == "finish":
            data = shape.chunk({}, reason)
        elif kind == "usage":
            data = shape.chunk(None, choices=False, usage=usage, with_usage=True)
        else:
            data = shape.chunk({"content": text}, reason)
        events.append((None, mutate(data, how, at, byte)))
    events.append((None, b"[DONE]"))
    assert outcome(ChunkDecoder(fast=True), events) == outcome(ChunkDecoder(fast=False), events)


def test_openai_first_chunk_gives_the_template_and_the_ends_are_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    """Taken, not only equivalent: after OpenAI's role chunk, its text, finish and usage chunks are
    read without the general decoder; the usage counted is the chunk's."""
    shape = Shape({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m",
                   "system_fingerprint": "fp"}, True, False)
    decoder = ChunkDecoder()
    assert decoder.feed(None, shape.chunk({"role": "assistant", "content": "", "refusal": None})) == [
        StreamStart("chatcmpl-1", "m", 1)]

    def refuse(*_: object) -> list[object]:
        raise AssertionError("the general decoder ran")

    monkeypatch.setattr(ChunkDecoder, "_decode", refuse)
    assert decoder.feed(None, shape.chunk({"content": "Hi"})) == [TextDelta("Hi")]
    assert decoder.feed(None, shape.chunk({}, "length")) == [StreamEnd("length", 0)]
    assert decoder.feed(None, shape.chunk({}, "function_call")) == [StreamEnd("tool_calls", 0)]
    usage = {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9,
             "prompt_tokens_details": {"cached_tokens": 3}, "completion_tokens_details": {"reasoning_tokens": 1}}
    assert decoder.feed(None, shape.chunk(None, choices=False, usage=usage, with_usage=True)) == [
        UsageEvent(Usage(input_tokens=7, output_tokens=2, cached_input_tokens=3, reasoning_tokens=1))]


@pytest.mark.parametrize("before,learnt", [(b'{"id":"c\\u0031",', False), (b'{"id":"c","choices":null,', True),
                                           (b'{"id":"c","usage":null,"error":null,', True)])
def test_openai_ends_are_decoded_in_full_when_the_shape_is_not_certain(before: bytes, learnt: bool) -> None:
    """A backslash before `choices` (a quote there may be escaped) leaves the first chunk's template
    and the ends' shapes unlearnt; members the shapes carry over whole (a duplicate `choices`, last
    wins; null usage and error) give the decoder's own answer."""
    shape = Shape({"id": "c", "model": "m"}, False, False)

    def spelt(data: bytes) -> bytes:
        return before + data[len(b'{"id":"c",'):]

    events = [(None, spelt(shape.chunk({"role": "assistant", "content": ""}))),
              (None, spelt(shape.chunk({"content": "a"}))), (None, spelt(shape.chunk({}, "stop"))),
              (None, spelt(shape.chunk(None, choices=False, usage={"prompt_tokens": 1}, with_usage=True))),
              (None, b"[DONE]")]
    assert outcome(ChunkDecoder(fast=True), events) == outcome(ChunkDecoder(fast=False), events)
    decoder = ChunkDecoder()
    decoder.feed(*events[0])
    assert (decoder._template is not None) == learnt


def test_a_first_chunk_shaped_unlike_the_texts_still_lets_the_first_text_teach_the_template(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A server whose first chunk has the usual shape but whose text chunks another (here: no
    `logprobs` in the first chunk, `logprobs` in the texts) has the template learnt from its first
    text chunk, as without the first chunk's: later texts skip the general decoder."""
    first = Shape({"id": "c", "model": "m"}, False, False).chunk({"role": "assistant", "content": ""})
    texts = Shape({"id": "c", "model": "m"}, True, False)
    decoder = ChunkDecoder()
    decoder.feed(None, first)
    assert decoder.feed(None, texts.chunk({"content": "a"})) == [TextDelta("a")]  # decoded in full

    def refuse(*_: object) -> list[object]:
        raise AssertionError("the general decoder ran")

    monkeypatch.setattr(ChunkDecoder, "_decode", refuse)
    assert decoder.feed(None, texts.chunk({"content": "b"})) == [TextDelta("b")]
    assert decoder.feed(None, texts.chunk({}, "stop")) == [StreamEnd("stop", 0)]  # the new template's shape


# Anthropic's usual events besides text, spelt as it sends them, and their variants: any stop reason,
# a stop sequence, usage of any kind (cache counts, invalid counts, not an object), blocks of other
# indexes and types, event names that disagree with the data.
STOP_REASONS = st.sampled_from(["end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal",
                                "model_context_window_exceeded", "new_reason", "", None, 3])
ANTHROPIC_USAGES = st.one_of(st.none(), st.just(3), st.just([]), st.dictionaries(
    st.sampled_from(["input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens",
                     "cache_creation", "server_tool_use"]),
    st.one_of(st.integers(-1, 40), st.none(), st.booleans(), st.just(10**9 + 1), st.just("7"),
              st.dictionaries(st.sampled_from(["ephemeral_1h_input_tokens", "ephemeral_5m_input_tokens"]),
                              st.integers(-1, 5), max_size=2)), max_size=5))
ANTHROPIC_END_STEP = st.tuples(
    st.sampled_from(["start", "start", "delta", "delta", "delta", "stop", "stop", "message_delta", "message_delta",
                     "message_stop", "ping", "tool_start", "text_start_with_text"]),
    TEXT, st.sampled_from([0, 0, 0, 1, 2]), STOP_REASONS, st.one_of(st.none(), st.just("END")), ANTHROPIC_USAGES,
    st.sampled_from(["name", "name", "none", "other"]), MUTATION)


def anthropic_event(kind: str, text: str, index: int, reason: object, seq: object, usage: object) -> bytes:
    """An event of `kind` as Anthropic spells it (compact JSON, its members in Anthropic's order)."""
    obj: dict[str, object]
    if kind == "start":
        obj = {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}
    elif kind == "text_start_with_text":
        obj = {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": text}}
    elif kind == "tool_start":
        obj = {"type": "content_block_start", "index": index,
               "content_block": {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}}
    elif kind == "delta":
        obj = {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": text}}
    elif kind == "stop":
        obj = {"type": "content_block_stop", "index": index}
    elif kind == "message_delta":
        obj = {"type": "message_delta", "delta": {"stop_reason": reason, "stop_sequence": seq}, "usage": usage}
    elif kind == "ping":
        obj = {"type": "ping"}
    else:
        obj = {"type": "message_stop"}
    return dumps(obj, False).encode()


@settings(max_examples=500, deadline=None)
@given(st.lists(ANTHROPIC_END_STEP, max_size=12), st.booleans())
@example([("start", "", 0, None, None, None, "name", (0, 0, 0)), ("delta", "hi", 0, None, None, None, "name", (0, 0, 0)),
          ("stop", "", 0, None, None, None, "name", (0, 0, 0)),
          ("message_delta", "", 0, "end_turn", None, {"output_tokens": 5, "cache_read_input_tokens": 2}, "name",
           (0, 0, 0)), ("message_stop", "", 0, None, None, None, "name", (0, 0, 0))], True)
@example([("start", "", 0, None, None, None, "name", (2, 40, 32))], False)  # a space before the index
@example([("start", "", 0, None, None, None, "other", (0, 0, 0))], False)
@example([("message_delta", "", 0, "end_turn", None, {"output_tokens": -1}, "name", (0, 0, 0))], False)
@example([("message_delta", "", 0, "end_turn", None, {"output_tokens": 1}, "name", (1, -1, 32))], False)
@example([("message_delta", "", 0, "end_turn", None, {"output_tokens": 1}, "name", (2, -2, 32))], False)
@example([("start", "", 0, None, None, None, "name", (0, 0, 0)), ("stop", "", 0, None, None, None, "name", (0, 0, 0)),
          ("stop", "", 0, None, None, None, "name", (0, 0, 0))], False)
@example([("message_delta", "", 0, "max_tokens", None, None, "name", (0, 0, 0)),
          ("start", "", 1, None, None, None, "name", (0, 0, 0))], False)
@example([("message_delta", "", 0, "end_turn", None, {"output_tokens": 1}, "name", (0, 0, 0)),
          ("message_stop", "", 0, None, None, None, "name", (0, 0, 0)),
          ("stop", "", 0, None, None, None, "name", (0, 0, 0))], True)
def test_anthropic_usual_events_taken_by_their_bytes_change_nothing(steps: list[tuple], started: bool) -> None:
    """The text block's start (telling its template), its stop, message_delta and message_stop
    taken by their bytes (`AnthropicStreamDecoder._known`): for any such events, in any order, with
    any stop reason, stop sequence and usage, named or not (or misnamed), with a byte changed,
    the decoder gives exactly the events, usage and errors it gives with no shortcut."""
    events: list[tuple[str | None, bytes]] = [MESSAGE_START] if started else []
    for kind, text, index, reason, seq, usage, naming, mutation in steps:
        data = mutate(anthropic_event(kind, text, index, reason, seq, usage), *mutation)
        etype = json.loads(anthropic_event(kind, text, index, reason, seq, usage))["type"]
        events.append(({"name": etype, "none": None, "other": "message_delta" if etype != "message_delta"
                        else "ping"}[naming], data))
    fast, full = AnthropicStreamDecoder(fast=True), AnthropicStreamDecoder(fast=False)
    assert outcome(fast, events) == outcome(full, events)
    assert fast._usage.canonical() == full._usage.canonical() and fast.done == full.done


def test_anthropic_usual_events_are_taken_without_the_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    """Taken, not only equivalent: after message_start, Anthropic's usual stream (text block start,
    its deltas, its stop, message_delta, message_stop) is read without parsing a whole event; the
    usage counted is the message_delta's, over the start's."""
    decoder = AnthropicStreamDecoder()
    decoder.feed(*MESSAGE_START)
    calls: list[bytes] = []
    loads = orjson.loads

    def counted(data: bytes) -> object:
        calls.append(data)
        return loads(data)

    monkeypatch.setattr("bastion.providers.anthropic.stream_decode.orjson.loads", counted)
    assert decoder.feed("content_block_start", anthropic_event("start", "", 0, None, None, None)) == []
    assert decoder.text_template() is not None
    assert decoder.feed("content_block_delta", anthropic_event("delta", "Hi", 0, None, None, None)) == [TextDelta("Hi")]
    assert decoder.feed("content_block_stop", anthropic_event("stop", "", 0, None, None, None)) == []
    assert decoder.text_template() is None
    for kind in ("delta", "stop"):  # the block is closed: a delta or a second stop for it is refused
        with pytest.raises(BastionError, match="already stopped"):
            decoder.feed(None, anthropic_event(kind, "x", 0, None, None, None))
    usage = {"input_tokens": 5, "cache_read_input_tokens": 2, "output_tokens": 9}
    assert decoder.feed("message_delta", anthropic_event("message_delta", "", 0, "max_tokens", None, usage)) == [
        StreamEnd("length"), UsageEvent(Usage(input_tokens=7, output_tokens=9, cached_input_tokens=2))]
    assert decoder.feed("message_stop", anthropic_event("message_stop", "", 0, None, None, None)) == []
    assert decoder.done
    # besides the refused events, only the usage object was parsed, and the text's JSON string, where the C
    # accelerator is not built (a string without escapes is read in C: providers/literal.py `_plain`; the
    # usual usage too: stream_decode.py `_delta_usage`)
    text = [b'"Hi"'] if literal._plain is None else []
    parsed = [orjson.dumps(usage)] if stream_decode._delta_usage is None else []
    assert calls[:len(text)] == text and len(calls) == 2 + len(text) + len(parsed)
    assert calls[len(calls) - len(parsed):] == parsed


def test_openai_first_chunk_of_the_usual_shape_is_read_without_the_general_decoder(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """OpenAI's role chunk: its shape tells the template, and its start is read from its members
    alone (`opening_start`), not by the general decoder; members it cannot vouch for (a usage, an
    error) take the general decoder, which gives the start and the usage."""
    shape = Shape({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 7, "model": "m",
                   "system_fingerprint": "fp"}, True, True)
    decode = ChunkDecoder._decode

    def refuse(*_: object) -> list[object]:
        raise AssertionError("the general decoder ran")

    monkeypatch.setattr(ChunkDecoder, "_decode", refuse)
    decoder = ChunkDecoder()
    assert decoder.feed(None, shape.chunk({"role": "assistant", "content": ""})) == [StreamStart("chatcmpl-1", "m", 7)]
    assert decoder.feed(None, shape.chunk({"content": "Hi"})) == [TextDelta("Hi")]
    monkeypatch.setattr(ChunkDecoder, "_decode", decode)
    counted = Shape({"id": "c", "model": "m", "usage": {"prompt_tokens": 2}}, True, False)
    decoder = ChunkDecoder()
    assert decoder.feed(None, counted.chunk({"role": "assistant", "content": ""})) == [
        StreamStart("c", "m", 0), UsageEvent(Usage(input_tokens=2))]
    assert decoder._template is None  # its text chunks would carry the usage too: no template


@pytest.mark.parametrize("index", [0, 1, 15, 16, 123])
def test_anthropic_text_blocks_of_any_index_are_taken_as_the_general_path_reads_them(index: int) -> None:
    """A text block's start tells its deltas' template and its stop, made once for the first indexes
    and made for the block beyond them: both read its deltas, its stop and a delta after it as the
    general path does."""
    events = [MESSAGE_START, *(anthropic_chunk(kind, text, True, index) for kind, text in
                               (("start", ""), ("delta", "a"), ("delta", 'q"\\'), ("stop", ""), ("delta", "late")))]
    fast = AnthropicStreamDecoder(fast=True)
    got = outcome(fast, events)
    assert got == outcome(AnthropicStreamDecoder(fast=False), events)
    assert got[2:4] == [[TextDelta("a")], [TextDelta('q"\\')]] and got[-1][0] == "UpstreamError"
