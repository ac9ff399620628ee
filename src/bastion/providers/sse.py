"""Incremental Server-Sent Events parser (bytes in, (event, data) pairs out)."""

from __future__ import annotations

from collections.abc import Callable
from itertools import repeat

_split: Callable[[bytes, tuple[tuple[bytes, str], ...]], list[tuple[str | None, bytes]] | None] | None
try:
    from bastion._native import sse_events as _split
except ImportError:  # not built (no C compiler at install time): the Python below
    _split = None

MAX_EVENT_BYTES = 8 * 1024 * 1024

Event = tuple[str | None, bytes]


# Anthropic's event names, decoded once (a read of other names decodes its names itself)
_NAMES = {name.encode(): name for name in ("message_start", "content_block_start", "content_block_delta",
                                           "content_block_stop", "message_delta", "message_stop", "ping", "error")}
_NAME_PAIRS = tuple(_NAMES.items())  # for the C split (`_split`)


class SSEError(Exception):
    """The upstream's SSE framing is broken (an event larger than the limit)."""


class SSEParser:
    """Feed raw chunks; get complete events. Handles the three line ends of the SSE spec
    (\\n, \\r\\n and a bare \\r, also when a \\r\\n pair is split across chunks), comments,
    multi-line data, and events split anywhere across chunks.

    Line ends are normalised to \\n as chunks arrive; the text of an event is kept until its blank
    line has arrived and then parsed whole, so the usual chunk (one or more complete
    `data: {...}` events) costs a few C-level searches instead of a Python loop per line."""

    __slots__ = ("_buf", "_cr", "_scan")

    def __init__(self) -> None:
        self._buf = b""  # the start of an event whose blank line has not arrived (line ends normalised)
        self._scan = 0  # where in _buf a blank line may start (the text before was searched)
        self._cr = False  # the last chunk ended with \r: a \n opening the next one belongs to it

    def feed(self, chunk: bytes) -> list[Event]:
        if not chunk:
            return []
        # The usual read, nothing pending: whole events of the two usual shapes, split in C (one pass,
        # the pairs the general path gives; None for any other read, which the paths below take)
        if _split is not None and not self._buf and not self._cr:
            split = _split(chunk, _NAME_PAIRS)
            if split is not None:
                return split
        # The usual read, nothing pending: one event, a `data: ` line (OpenAI) or an `event: ` line
        # and a `data: ` line (Anthropic), and its blank line. The general path gives the same.
        # (bytes.find, not `in`: on Python 3.11 `b"x" in data` first tries the operand as an
        # integer and formats and discards a TypeError, 2x the cost of the search)
        if not self._buf and not self._cr and chunk.endswith(b"\n\n") and chunk.find(b"\r") < 0:
            last = len(chunk) - 2
            eol = chunk.find(b"\n")
            if eol == last:
                if chunk.startswith(b"data: "):
                    return [(None, chunk[6:last])]
            elif (chunk.startswith(b"event: ") and chunk.startswith(b"data: ", eol + 1)
                    and chunk.find(b"\n", eol + 1) == last):
                return [(chunk[7:eol].decode("utf-8", "replace"), chunk[eol + 7:last])]
            # Several complete events in one read (a whole stream, under load). When every event is
            # one `data: ` line (OpenAI), the read is `data: ` and their data joined by "\n\ndata: ",
            # with no other line end: one split there gives what the loop below would.
            if chunk.startswith(b"data: "):
                datas = chunk[6:last].split(b"\n\ndata: ")
                if b"".join(datas).find(b"\n") < 0:
                    return list(zip(repeat(None), datas))  # [(None, data) ...], built in C
            # When every event is an `event: ` line and a `data: ` line (Anthropic), the read is
            # their names and data, each name followed by "\ndata: " and each data by "\n\nevent: "
            # (but the last): with both separators made one, one split gives names and data in
            # turn. Taken when the items (none holding a line end) put back together with the
            # separators in turn are the read: then each event is exactly those two lines.
            elif chunk.startswith(b"event: "):
                items = chunk[7:last].replace(b"\n\nevent: ", b"\ndata: ").split(b"\ndata: ")
                if len(items) % 2 == 0 and b"".join(items).find(b"\n") < 0:
                    names, datas = items[0::2], items[1::2]
                    if b"\n\nevent: ".join(map(b"\ndata: ".join, zip(names, datas, strict=True))) == chunk[7:last]:
                        decoded: list[str | None] = list(map(_NAMES.get, names))
                        if None in decoded:
                            decoded = [name.decode("utf-8", "replace") for name in names]
                        return list(zip(decoded, datas, strict=True))
            # Otherwise: split once at the blank lines; the parts are those the loop below would
            # find (`_block` each).
            events: list[Event] = []
            for part in chunk[:last].split(b"\n\n"):
                eol = part.find(b"\n")
                if eol < 0 and part.startswith(b"data: "):
                    events.append((None, part[6:]))
                elif (eol > 7 and part.startswith(b"event: ") and part.startswith(b"data: ", eol + 1)
                        and part.find(b"\n", eol + 1) < 0):  # `_block`'s second shape, inlined
                    events.append((part[7:eol].decode("utf-8", "replace"), part[eol + 7:]))
                elif part:
                    _block(part, 0, len(part), events)
            return events
        if self._cr:
            self._cr = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        if chunk.find(b"\r") >= 0:
            self._cr = chunk[-1:] == b"\r"
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        buf = self._buf + chunk if self._buf else chunk
        out: list[Event] = []
        start = 0
        end = buf.find(b"\n\n", self._scan)
        while end >= 0:
            if end > start:
                _block(buf, start, end, out)
            start = end + 2
            end = buf.find(b"\n\n", start)
        rest = buf[start:] if start else buf
        if len(rest) > MAX_EVENT_BYTES:
            raise SSEError("upstream sent an SSE event larger than 8 MiB")
        self._buf = rest
        self._scan = len(rest) - 1 if rest else 0
        return out

    def flush(self) -> list[Event]:
        """Events left when the stream ended without a final blank line."""
        self._cr = False
        if not self._buf:
            return []
        return self.feed(b"\n\n")


def _block(buf: bytes, start: int, end: int, out: list[Event]) -> None:
    """Dispatch the event written in buf[start:end] (lines between two blank lines)."""
    # The common shapes: one `data: ` line (OpenAI), or an `event: ` line and a `data: ` line (Anthropic).
    if buf.startswith(b"data: ", start, end):
        if buf.find(b"\n", start, end) < 0:
            out.append((None, buf[start + 6:end]))
            return
    elif buf.startswith(b"event: ", start, end):
        eol = buf.find(b"\n", start, end)
        if eol >= 0 and buf.startswith(b"data: ", eol + 1, end) and buf.find(b"\n", eol + 1, end) < 0:
            out.append((buf[start + 7:eol].decode("utf-8", "replace"), buf[eol + 7:end]))
            return
    event: str | None = None
    data: list[bytes] = []
    for line in buf[start:end].split(b"\n"):
        if not line or line[0] == 58:  # a leading blank line; ":" comment / keep-alive
            continue
        colon = line.find(b":")
        if colon < 0:
            field, value = line, b""
        else:
            field, value = line[:colon], line[colon + 1:]
            if value[:1] == b" ":
                value = value[1:]
        if field == b"data":
            data.append(value)
        elif field == b"event":
            event = value.decode("utf-8", "replace")
        # id / retry are irrelevant for a proxy and ignored
    if data:
        out.append((event, b"\n".join(data)))
