"""Property tests of the SSE parser (providers/sse.py): chunk boundaries never change the events,
line endings and comments are handled, arbitrary bytes never crash it, and its size bound holds."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.providers import sse
from bastion.providers.sse import MAX_EVENT_BYTES, SSEError, SSEParser


@pytest.fixture(autouse=True, scope="module", params=["native", "python"])
def split_in(request):
    """Every test twice: with the C split of whole reads (`sse._split`, when built) and without it
    (the Python paths it stands in for)."""
    if request.param == "native" and sse._split is None:
        pytest.skip("bastion._native is not built")
    with pytest.MonkeyPatch.context() as mp:
        if request.param == "python":
            mp.setattr(sse, "_split", None)
        yield request.param

# A data or event line's value: any bytes but the line terminators.
VALUE = st.binary(max_size=40).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))
NAME = st.text(st.characters(codec="ascii", exclude_characters="\r\n:"), min_size=1, max_size=12)
EVENT = st.tuples(st.one_of(st.none(), NAME), st.lists(VALUE, min_size=1, max_size=4))


def render(events: list[tuple[str | None, list[bytes]]], eol: bytes, comments: bool) -> bytes:
    out = b""
    for name, lines in events:
        if comments:
            out += b": keep-alive" + eol
        if name is not None:
            out += b"event: " + name.encode() + eol
        for line in lines:
            out += b"data: " + line + eol
        out += eol
    return out


def expected(events: list[tuple[str | None, list[bytes]]]) -> list[tuple[str | None, bytes]]:
    # A value that itself starts with a space loses exactly one space (the one after the colon).
    return [(name, b"\n".join(lines)) for name, lines in events]


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    out, prev = [], 0
    for p in points:
        out.append(data[prev:p])
        prev = p
    out.append(data[prev:])
    return out


def feed_all(chunks: list[bytes]) -> list[tuple[str | None, bytes]]:
    parser = SSEParser()
    got: list[tuple[str | None, bytes]] = []
    for c in chunks:
        got.extend(parser.feed(c))
    got.extend(parser.flush())
    return got


@settings(max_examples=300, deadline=None)
@given(st.lists(EVENT, max_size=8), st.sampled_from([b"\n", b"\r\n", b"\r"]), st.booleans(),
       st.lists(st.integers(0, 10_000), max_size=12))
def test_events_survive_any_chunking_and_line_ending(events, eol, comments, cuts):
    data = render(events, eol, comments)
    assert feed_all(split(data, cuts)) == expected(events)
    assert feed_all([bytes([b]) for b in data]) == expected(events)  # one byte at a time


@settings(max_examples=100, deadline=None)
@given(st.lists(EVENT, min_size=1, max_size=4), st.sampled_from([b"\n", b"\r\n", b"\r"]))
def test_a_missing_final_blank_line_is_flushed(events, eol):
    data = render(events, eol, comments=False)
    data = data[: -len(eol)]  # the stream ends right after the last data line
    assert feed_all([data]) == expected(events)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=10))
def test_arbitrary_bytes_never_crash(chunks):
    parser = SSEParser()
    for c in chunks:
        for name, data in parser.feed(c):
            assert name is None or isinstance(name, str)
            assert isinstance(data, bytes)
    parser.flush()


def test_an_event_larger_than_the_limit_is_refused():
    parser = SSEParser()
    with pytest.raises(SSEError):
        for _ in range(MAX_EVENT_BYTES // (1024 * 1024) + 2):
            parser.feed(b"data: " + b"x" * (1024 * 1024) + b"\n")


def test_a_line_without_end_larger_than_the_limit_is_refused():
    parser = SSEParser()
    with pytest.raises(SSEError):
        parser.feed(b"data: " + b"x" * (MAX_EVENT_BYTES + 1))


def test_fields_other_than_event_and_data_are_ignored():
    assert feed_all([b"id: 7\nretry: 10\nfoo: bar\ndata: x\n\n"]) == [(None, b"x")]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(EVENT, st.sampled_from([b"\n", b"\r\n", b"\r"])), max_size=8),
       st.lists(st.integers(0, 10_000), max_size=12))
def test_line_endings_may_change_from_event_to_event(events_eols, cuts):
    data = b"".join(render([ev], eol, comments=True) for ev, eol in events_eols)
    want = expected([ev for ev, _ in events_eols])
    assert feed_all(split(data, cuts)) == want
    assert feed_all([bytes([b]) for b in data]) == want


def test_bare_cr_events_are_given_out_as_soon_as_their_blank_line_arrives():
    parser = SSEParser()
    assert parser.feed(b"data: a\r\r") == [(None, b"a")]  # not held back for a possible \n
    assert parser.feed(b"data: b\r") == []
    assert parser.feed(b"\r") == [(None, b"b")]


def test_a_crlf_split_between_chunks_is_one_line_end():
    parser = SSEParser()
    assert parser.feed(b"data: a\r") == []
    assert parser.feed(b"\ndata: b\r") == []  # the \n completes the first line end, not a blank line
    assert parser.feed(b"\n\r\n") == [(None, b"a\nb")]


def test_every_event_of_a_chunk_comes_out_of_one_feed():
    chunk = b"".join(b"data: {\"n\":%d}\n\n" % i for i in range(20)) + b"event: x\ndata: y\n\ndata: par"
    parser = SSEParser()
    got = parser.feed(chunk)
    assert got == [(None, b'{"n":%d}' % i) for i in range(20)] + [("x", b"y")]
    assert parser.feed(b"tial\n\n") == [(None, b"partial")]


# One event per upstream read is the usual shape (OpenAI: a data line; Anthropic: an event line and
# a data line): the parser answers it on a fast path, which must give what the general path gives.
PART = st.one_of(st.just(b"data: "), st.just(b"event: "), st.just(b"data:"), st.just(b"\n"),
                 st.just(b":"), st.binary(max_size=12))
READ = st.lists(PART, max_size=6).map(lambda parts: b"".join(parts) + b"\n\n")


@settings(max_examples=300, deadline=None)
@given(st.lists(EVENT, max_size=8), st.booleans())
def test_one_event_per_read_gives_the_same_events(events, comments):
    assert feed_all([render([e], b"\n", comments) for e in events]) == expected(events)


@settings(max_examples=500, deadline=None)
@given(st.lists(READ, max_size=6))
def test_whole_reads_parse_as_the_same_bytes_one_at_a_time(reads):
    data = b"".join(reads)
    assert feed_all(reads) == feed_all([bytes([b]) for b in data])


@settings(max_examples=500, deadline=None)
@given(st.lists(st.one_of(st.sampled_from([b"data: ", b"event: ", b"\n", b"\n\n", b": c", b"x"]),
                          st.binary(max_size=12)), max_size=24))
def test_a_read_of_whole_events_parses_as_the_same_bytes_one_at_a_time(pieces):
    # A read that ends at a blank line takes the split-once path; byte by byte takes the loop.
    data = b"".join(pieces) + b"\n\n"
    whole = SSEParser()
    got = whole.feed(data) + whole.flush()
    assert got == feed_all([bytes([b]) for b in data])


# A whole read of OpenAI events (one `data: ` line each) is split once at "\n\ndata: "; any other
# line end in the read (a second data line, a comment, an empty line more) takes the general path.
DATA_VALUE = st.one_of(VALUE, st.sampled_from([b"", b"data: ", b"\n\ndata: x", b"\n", b"[DONE]", b":x"]))


@settings(max_examples=500, deadline=None)
@given(st.lists(DATA_VALUE, min_size=2, max_size=8))
def test_a_read_of_data_lines_parses_as_the_same_bytes_one_at_a_time(values):
    data = b"".join(b"data: " + v + b"\n\n" for v in values)
    whole = SSEParser()
    got = whole.feed(data) + whole.flush()
    assert got == feed_all([bytes([b]) for b in data])
    if all(v.find(b"\n") < 0 for v in values):
        assert got == [(None, v) for v in values]


# A whole read of Anthropic events (an `event: ` line and a `data: ` line each) is split once with
# both separators made one; any other shape (a second data line, a missing one, a comment, a name or
# value holding a separator, an empty line more) takes the general path.
NAME_VALUE = st.one_of(VALUE, st.sampled_from([b"", b"data: ", b"\ndata: x", b"\n\nevent: x", b"event: ", b"\n",
                                               b"\xff\xfe", b"message_delta"]))
ANTHROPIC_EVENT = st.tuples(NAME_VALUE, st.lists(DATA_VALUE, min_size=0, max_size=2).map(
    lambda vs: vs if vs else []), st.booleans())


@settings(max_examples=800, deadline=None)
@given(st.lists(ANTHROPIC_EVENT, min_size=2, max_size=8))
def test_a_read_of_event_and_data_lines_parses_as_the_same_bytes_one_at_a_time(events):
    data = b"".join(b"event: " + name + b"\n" + b"".join(b"data: " + v + b"\n" for v in values)
                    + (b": c\n" if comment else b"") + b"\n" for name, values, comment in events)
    whole = SSEParser()
    got = whole.feed(data) + whole.flush()
    assert got == feed_all([bytes([b]) for b in data])
    if all(n.find(b"\n") < 0 and len(vs) == 1 and vs[0].find(b"\n") < 0 and not c for n, vs, c in events):
        assert got == [(n.decode("utf-8", "replace"), vs[0]) for n, vs, _ in events]


def test_anthropic_stream_read_whole_is_its_events():
    events = [("message_start", b'{"type":"message_start"}'), ("ping", b'{"type":"ping"}'),
              ("content_block_delta", b'{"text":"a\\ndata: b"}'), ("message_stop", b"")]
    data = b"".join(b"event: %s\ndata: %s\n\n" % (n.encode(), d) for n, d in events)
    assert SSEParser().feed(data) == events
    assert SSEParser().feed(data.replace(b"event: ping\n", b"")) == [  # an event with no name
        events[0], (None, events[1][1]), *events[2:]]


# The C split (`sse._split`) answers a read of whole events of the two usual shapes with a known name,
# and None for any other read: what it answers must be what the Python parser gives.
KNOWN = st.sampled_from([n.encode() for n in ("message_start", "content_block_delta", "message_stop", "ping",
                                               "error")])
NATIVE_PIECE = st.one_of(st.sampled_from([b"data: ", b"event: ", b"\n", b"\n\n", b"\r", b": c", b"data:", b"x"]),
                         KNOWN, st.binary(max_size=12))


def python_parse(data: bytes) -> list[tuple[str | None, bytes]]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sse, "_split", None)
        parser = SSEParser()
        return parser.feed(data) + parser.flush()


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.one_of(NATIVE_PIECE, st.tuples(st.one_of(st.none(), KNOWN, NAME_VALUE), DATA_VALUE).map(
    lambda e: (b"" if e[0] is None else b"event: " + e[0] + b"\n") + b"data: " + e[1] + b"\n\n")), max_size=12))
def test_the_native_split_gives_the_python_parsers_events(pieces):
    if sse._split is None:  # under the fixture's python parameter, or not built
        pytest.skip("compares the C code with the Python: runs under the native parameter only")
    data = b"".join(pieces)
    got = sse._split(data, sse._NAME_PAIRS)
    want = python_parse(data)
    if got is not None:
        assert got == want
        assert [type(n) for n, _ in got] == [type(n) for n, _ in want]
    whole = SSEParser()
    assert whole.feed(data) + whole.flush() == want


def test_the_native_split_takes_the_usual_reads_and_leaves_the_others():
    if sse._split is None:  # under the fixture's python parameter, or not built
        pytest.skip("compares the C code with the Python: runs under the native parameter only")
    names = sse._NAME_PAIRS
    usual = b'event: message_start\ndata: {"a":1}\n\ndata: {"b":2}\n\nevent: ping\ndata: \n\n'
    assert sse._split(usual, names) == [("message_start", b'{"a":1}'), (None, b'{"b":2}'), ("ping", b"")]
    for other in (b"", b"\n\n", b"data: a\n", b"data: a\n\n\n\n", b"data: a\ndata: b\n\n", b"data: a\r\n\r\n",
                  b": c\ndata: a\n\n", b"event: nameless\ndata: a\n\n", b"event: ping\n\n", b"data:a\n\n",
                  b"event: ping\ndata: a\nevent: ping\n\n", b"data: a\n\ndata: b"):
        assert sse._split(other, names) is None, other
    with pytest.raises(TypeError):
        sse._split(bytearray(b"data: a\n\n"), names)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        sse._split(b"data: a\n\n", ((b"ping", b"ping"),))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        sse._split(b"data: a\n\n", [(b"ping", "ping")])  # type: ignore[arg-type]
