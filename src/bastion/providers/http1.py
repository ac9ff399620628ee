"""Upstream HTTP/1.1 connections on asyncio protocols, parsed by httptools (pooled by providers/pool.py).

The transport needs little of a general HTTP client: POST a body, read the status, headers and a
Content-Length, chunked or until-close body (gzip/deflate decoded), over TCP or TLS, with keep-alive,
a bounded pool and back-pressure. Doing only that costs a fraction of aiohttp's per-call work (its
request and response objects, header multidicts, tracing hooks): see bench/RESULTS.md.
A connection carries one exchange at a time and goes back to the pool only when its response was
read to the end and the server allows keep-alive; anything else closes it.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Mapping
from typing import TYPE_CHECKING

import httptools

if TYPE_CHECKING:
    from bastion.providers.pool import Pool

_HIGH_WATER = 256 * 1024  # bytes buffered unread before the socket stops being read
MAX_HEADERS = 256  # header lines in a response head (and 1xx heads before it)
MAX_HEADER_BYTES = 64 * 1024  # bytes in one header value
MAX_HEAD_BYTES = 256 * 1024  # bytes received before the head is complete (1xx heads included)
TOKEN_BAD = frozenset("\r\n\0")


class ConnectionBroken(Exception):
    """The connection closed or failed before the response was complete."""


class ProtocolViolation(Exception):
    """The peer's answer is not HTTP/1.1 we can read (a parse error, an upgrade, an unknown encoding)."""


class BodyTooLarge(ProtocolViolation):
    """A compressed body that inflates past the response size limit."""


def header_block(headers: Mapping[str, str]) -> bytes:
    """`name: value\\r\\n` lines; refuses a name or value that could split the head (CR, LF, NUL)."""
    lines = []
    for k, v in headers.items():
        if TOKEN_BAD.intersection(k) or TOKEN_BAD.intersection(v) or not k or ":" in k:
            raise ValueError(f"header {k!r} has a name or value that cannot be sent")
        lines.append(f"{k}: {v}\r\n")
    return "".join(lines).encode("latin-1")


class Body:
    """A response body as it arrives (the subset of aiohttp's StreamReader the transport uses)."""

    __slots__ = ("_buffered", "_chunks", "_conn", "_eof", "_exc", "_waiter", "total_bytes")

    def __init__(self, conn: Connection | None) -> None:
        self._conn = conn
        self._chunks: list[bytes] = []
        self._buffered = 0
        self._eof = False
        self._exc: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self.total_bytes = 0

    def feed(self, data: bytes) -> None:
        self._chunks.append(data)
        self._buffered += len(data)
        self.total_bytes += len(data)
        if self._buffered > _HIGH_WATER and self._conn is not None:
            self._conn.pause()
        self._wake()

    def feed_eof(self) -> None:
        self._eof = True
        self._wake()

    def set_exception(self, exc: BaseException) -> None:
        self._exc = exc
        self._wake()

    def _wake(self) -> None:
        w = self._waiter
        if w is not None:
            self._waiter = None
            if not w.done():
                w.set_result(None)

    def is_eof(self) -> bool:
        return self._eof

    def at_eof(self) -> bool:
        return self._eof and not self._chunks

    def read_nowait(self) -> bytes:
        """Everything buffered (b"" when nothing is)."""
        if self._exc is not None:
            raise self._exc
        chunks = self._chunks
        if not chunks:
            return b""
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        self._chunks = []
        if self._buffered > _HIGH_WATER and self._conn is not None:
            self._conn.resume()
        self._buffered = 0
        return data

    async def readany(self) -> bytes:
        """The next bytes (waiting for some), or b"" at the end."""
        while (waiter := self.waiter()) is not None:
            await waiter
        return self.read_nowait()

    def waiter(self) -> asyncio.Future[None] | None:
        """A future done when bytes, the end or an error arrive; None when one already has (for a
        reader that awaits it in its own frame, one coroutine fewer per wait than `readany`)."""
        if self._chunks or self._eof or self._exc is not None:
            return None
        self._waiter = self.loop().create_future()
        return self._waiter

    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop it is read on: its connection's (no `get_running_loop()`, a getpid() system call
        on Python 3.11, per wait)."""
        conn = self._conn
        return conn.loop if conn is not None else asyncio.get_running_loop()


class Response:
    """Status, headers (names in lower case) and the body of one exchange on a pooled connection."""

    __slots__ = ("_conn", "content", "content_length", "headers", "status")

    def __init__(self, conn: Connection, status: int, headers: dict[str, str], body: Body) -> None:
        self._conn: Connection | None = conn
        self.status = status
        self.headers = headers
        self.content = body
        cl = headers.get("content-length")
        self.content_length = int(cl) if cl is not None and cl.isdigit() else None

    def release(self) -> None:
        """Give the connection back: kept alive if this response was read to its end and the server allows
        it, else closed (an unfinished response cannot share a connection with the next call)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.pool.put(conn, conn.reusable())

    close = release


class Connection(asyncio.Protocol):
    """One upstream connection, one exchange at a time; httptools calls the on_* methods."""

    def __init__(self, pool: Pool, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.pool = pool
        self.loop = loop if loop is not None else asyncio.get_running_loop()  # (made on it, by its factory)
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._parser = httptools.HttpResponseParser(self)
        self._head: asyncio.Future[Response] | None = None
        self._body: Body | None = None
        self._names: list[bytes] = []
        self._values: list[bytes] = []
        self._informational = False
        self._head_seen = 0
        self._framed = False
        self._complete = True
        self._keep = False
        self._inflate: zlib._Decompress | None = None
        self._limit = 0
        self._paused = False

    # ---- the exchange
    def send(self, data: bytes, limit: int) -> asyncio.Future[Response]:
        self._head = fut = self.loop.create_future()
        if self.closed or self.transport is None:
            fut.set_exception(ConnectionBroken("the connection closed before the request was sent"))
            return fut
        self._body = None
        self._names, self._values = [], []
        self._head_seen = 0
        self._complete = False
        self._keep = False
        self._limit = limit
        self._inflate = None
        self.transport.write(data)
        return fut

    def reusable(self) -> bool:
        return self._complete and self._keep and not self.closed

    def pause(self) -> None:
        if not self._paused and self.transport is not None and not self.closed:
            self._paused = True
            self.transport.pause_reading()

    def resume(self) -> None:
        if self._paused and self.transport is not None and not self.closed:
            self._paused = False
            self.transport.resume_reading()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    # ---- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self._complete:  # bytes while idle, or after the response: the stream is out of step
            self._fail(ProtocolViolation("unexpected bytes after the response"))
            return
        if self._body is None:  # still in the head: bounded before the parser buffers it
            self._head_seen += len(data)
            if self._head_seen > MAX_HEAD_BYTES:
                self._fail(ProtocolViolation("the response head is too large"))
                return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(ProtocolViolation("the server switched protocols"))
        except httptools.HttpParserCallbackError as e:
            self._fail(e.__context__ if isinstance(e.__context__, ProtocolViolation)
                       else ProtocolViolation("unreadable response"))
        except httptools.HttpParserError:
            self._fail(ProtocolViolation("not an HTTP/1.1 response"))

    def eof_received(self) -> bool:
        return False  # close the transport: connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._complete:
            self.pool.lost(self)
            return
        body = self._body
        if body is not None and not self._framed and exc is None:
            # a body delimited by the end of the connection: this is its end
            self._finish_inflate()
            self._complete = True
            body.feed_eof()
            return
        self._fail(ConnectionBroken("the connection closed before the response was complete"))

    def _fail(self, err: BaseException) -> None:
        self._complete = True
        self._keep = False
        head, body = self._head, self._body
        if head is not None and not head.done():
            head.set_exception(err)
        elif body is not None and not body.is_eof():
            body.set_exception(err)
        self.close()

    # ---- httptools callbacks
    def on_message_begin(self) -> None:
        if self._complete:  # a second response to one request
            raise ProtocolViolation("unexpected bytes after the response")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._names.append(name)
        self._values.append(value)
        if len(self._names) > MAX_HEADERS or len(value) > MAX_HEADER_BYTES:
            raise ProtocolViolation("the response head is too large")

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if status < 200:  # 1xx (Early Hints, Continue): wait for the real answer
            self._informational = True
            self._names, self._values = [], []
            return
        headers: dict[str, str] = {}
        for n, v in zip(self._names, self._values, strict=True):
            k = n.decode("latin-1").lower()
            s = v.decode("latin-1")
            headers[k] = f"{headers[k]}, {s}" if k in headers else s
        self._framed = "content-length" in headers or "chunked" in headers.get("transfer-encoding", "")
        enc = headers.get("content-encoding", "identity").strip().lower()
        if enc == "gzip" or enc == "x-gzip":
            self._inflate = zlib.decompressobj(31)
        elif enc == "deflate":
            self._inflate = zlib.decompressobj(47)  # zlib-wrapped (as the RFC says) or gzip
        elif enc not in ("identity", ""):
            raise ProtocolViolation(f"unsupported content-encoding {enc[:40]!r}")
        self._body = body = Body(self)
        head = self._head
        if head is not None and not head.done():
            head.set_result(Response(self, status, headers, body))

    def on_body(self, data: bytes) -> None:
        body = self._body
        if body is None:
            return
        d = self._inflate
        if d is None:
            body.feed(data)
            return
        try:
            room = self._limit + 1 - body.total_bytes
            out = d.decompress(data, max(room, 1))
        except zlib.error:
            raise ProtocolViolation("the compressed body is corrupt") from None
        if out:
            body.feed(out)
        if d.unconsumed_tail or body.total_bytes > self._limit:
            raise BodyTooLarge(f"the decompressed body exceeds {self._limit} bytes")

    def _finish_inflate(self) -> None:
        d, body = self._inflate, self._body
        if d is not None and body is not None:
            tail = d.flush()
            if tail:
                body.feed(tail)

    def on_message_complete(self) -> None:
        if self._informational:
            self._informational = False
            return
        self._finish_inflate()
        self._keep = self._parser.should_keep_alive()
        self._complete = True
        self._head = None
        if self._body is not None:
            self._body.feed_eof()
