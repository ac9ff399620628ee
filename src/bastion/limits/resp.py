"""A minimal asyncio Redis client (RESP2): one pipelined connection, only what the limits backend needs.

Commands are written as they come and their futures queue in send order; Redis answers in that
order, so concurrent callers share one connection without locks. The oldest unanswered command
has the earliest deadline, so one timer per connection (not one per call) enforces them all.
A connection that breaks, times out or speaks anything but RESP fails every command pending on
it and is replaced on the next call: a late reply can never be handed to the wrong caller.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeAlias, cast
from urllib.parse import unquote, urlsplit

from bastion.config.loader import ConfigError

Reply: TypeAlias = "int | bytes | str | list[Reply] | ReplyError | None"
Arg: TypeAlias = "str | bytes | int | float"


class ReplyError(Exception):
    """An error reply from Redis (`-ERR ...`, `-NOSCRIPT ...`): the server is up but refused."""

    @property
    def noscript(self) -> bool:
        return str(self).startswith("NOSCRIPT")


class ConnectionBroken(ConnectionError):
    """The connection was refused, reset or closed, or the server sent something that is not RESP."""


class ReplyTimeout(TimeoutError):
    """No reply within the timeout (the connection was then closed, so a late reply goes nowhere)."""


@dataclass(frozen=True)
class RedisAddress:
    host: str
    port: int
    db: int
    tls: bool
    username: str | None = None
    password: str | None = field(default=None, repr=False)


def parse_redis_url(url: str) -> RedisAddress:
    """`redis://[user:pass@]host[:port][/db]` or `rediss://` (TLS, certificate verified)."""
    def bad(why: str) -> ConfigError:
        return ConfigError([f"limits.redis_url: {why}"])  # never echo the URL: it may hold a password

    try:
        u = urlsplit(url)
        port = u.port or 6379
    except ValueError:
        raise bad("not a valid URL (expected redis://[user:pass@]host:port/db)") from None
    if u.scheme not in ("redis", "rediss"):
        raise bad(f"scheme {u.scheme or '(none)'!r} is not supported (use redis:// or rediss://)")
    if u.query or u.fragment:
        raise bad("query parameters are not supported (the database goes in the path: /0)")
    path = u.path.strip("/")
    if path and not path.isdigit():
        raise bad("the path must be a database number (e.g. /0)")
    return RedisAddress(host=u.hostname or "127.0.0.1", port=port, db=int(path or 0), tls=u.scheme == "rediss",
                        username=unquote(u.username) if u.username else None,
                        password=unquote(u.password) if u.password is not None else None)


def _bulks(out: list[bytes], items: Sequence[Arg]) -> None:
    for a in items:
        if type(a) is str:
            b = a.encode()
        elif type(a) is int:
            b = b"%d" % a
        elif isinstance(a, bytes):
            b = a
        elif isinstance(a, float):
            b = repr(a).encode()
        else:
            raise TypeError(f"cannot send a {type(a).__name__} to Redis")
        out.append(b"$%d\r\n%b\r\n" % (len(b), b))


def encode(args: Sequence[Arg]) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    _bulks(out, args)
    return b"".join(out)


class Script:
    """A Lua script sent by SHA1 (EVALSHA), with its source kept for the NOSCRIPT fallback."""

    __slots__ = ("_head", "sha", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()  # Redis names scripts by SHA1
        self._head = b"$7\r\nEVALSHA\r\n$40\r\n%b\r\n" % self.sha.encode()

    def evalsha(self, keys: Sequence[Arg], args: Sequence[Arg]) -> bytes:
        nk = b"%d" % len(keys)
        out = [b"*%d\r\n%b$%d\r\n%b\r\n" % (3 + len(keys) + len(args), self._head, len(nk), nk)]
        _bulks(out, keys)
        _bulks(out, args)
        return b"".join(out)


class _Incomplete(Exception):
    pass


def parse(buf: bytes, pos: int) -> tuple[Reply, int]:
    """One reply starting at `pos`: (value, end). Raises _Incomplete if `buf` holds only a prefix,
    ValueError if it is not RESP2."""
    end = buf.find(b"\r\n", pos)
    if end < 0:
        raise _Incomplete
    t = buf[pos]
    if t == 58:  # ':'
        return int(buf[pos + 1:end]), end + 2
    if t == 36:  # '$'
        n = int(buf[pos + 1:end])
        if n < 0:
            return None, end + 2
        stop = end + 2 + n
        if len(buf) < stop + 2:
            raise _Incomplete
        if buf[stop:stop + 2] != b"\r\n":
            raise ValueError("bulk string not terminated")
        return buf[end + 2:stop], stop + 2
    if t == 42:  # '*'
        n = int(buf[pos + 1:end])
        if n < 0:
            return None, end + 2
        pos = end + 2
        items: list[Reply] = []
        size = len(buf)
        for _ in range(n):
            if pos < size and buf[pos] == 58:  # integers (every script reply) inline: no call each
                end = buf.find(b"\r\n", pos)
                if end < 0:
                    raise _Incomplete
                items.append(int(buf[pos + 1:end]))
                pos = end + 2
            else:
                v, pos = parse(buf, pos)
                items.append(v)
        return items, pos
    if t == 43:  # '+'
        return buf[pos + 1:end].decode(errors="replace"), end + 2
    if t == 45:  # '-'
        return ReplyError(buf[pos + 1:end].decode(errors="replace")), end + 2
    raise ValueError(f"unknown RESP type byte {t!r}")


class Connection(asyncio.Protocol):
    """One TCP connection: commands written in order, replies matched to a FIFO of futures."""

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        self._loop = loop
        self._timeout = timeout
        self._transport: asyncio.Transport | None = None
        self._pending: deque[tuple[asyncio.Future[Reply], float]] = deque()
        self._buf = b""
        self._timer: asyncio.TimerHandle | None = None
        self.closed = False
        self.lost: asyncio.Future[None] = loop.create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not an asyncio.Transport subclass

    def send(self, payload: bytes) -> asyncio.Future[Reply]:
        t = self._transport
        if self.closed or t is None or t.is_closing():
            raise ConnectionBroken("connection closed")
        try:
            t.write(payload)  # before queueing the future: a write that fails must leave no slot
        except RuntimeError:  # uvloop, on a handle already closed by a reset not yet reported
            self.close()
            raise ConnectionBroken("connection closed") from None
        fut: asyncio.Future[Reply] = self._loop.create_future()
        deadline = self._loop.time() + self._timeout
        self._pending.append((fut, deadline))
        if self._timer is None:
            self._timer = self._loop.call_at(deadline, self._watch)
        return fut

    def _watch(self) -> None:
        self._timer = None
        if not self._pending:
            return
        deadline = self._pending[0][1]
        if deadline <= self._loop.time():
            self.close(ReplyTimeout, "no reply from redis within the timeout")
        else:
            self._timer = self._loop.call_at(deadline, self._watch)

    def data_received(self, data: bytes) -> None:
        buf = self._buf + data if self._buf else data
        pos, n, pending = 0, len(buf), self._pending
        while pos < n:
            try:
                value, pos2 = parse(buf, pos)
            except _Incomplete:
                break
            except (ValueError, IndexError):
                self.close(ConnectionBroken, "redis sent a reply that is not RESP2")
                return
            if not pending:
                self.close(ConnectionBroken, "redis sent a reply nobody asked for")
                return
            pos = pos2
            fut = pending.popleft()[0]
            if not fut.done():  # a caller that gave up still owns its slot: its reply is dropped here
                if isinstance(value, ReplyError):
                    fut.set_exception(value)
                else:
                    fut.set_result(value)
        self._buf = buf[pos:] if pos < n else b""

    def eof_received(self) -> bool:
        return False  # close our side too; connection_lost fails what is pending

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(ConnectionBroken, "connection to redis lost")
        self._transport = None
        if not self.lost.done():
            self.lost.set_result(None)

    def close(self, error: type[OSError] = ConnectionBroken, why: str = "connection closed") -> None:
        """Fail every pending command with `error` and drop the connection (abort: nothing
        buffered is worth waiting for)."""
        self._fail(error, why)
        if self._transport is not None:
            self._transport.abort()

    def _fail(self, error: type[OSError], why: str) -> None:
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        pending, self._pending = self._pending, deque()
        for fut, _ in pending:
            if not fut.done():
                fut.set_exception(error(why))


class RespClient:
    """Commands over one lazily (re)opened connection. Every command is bounded by `timeout`,
    opening a connection (connect, AUTH, SELECT) too; nothing is retried."""

    def __init__(self, url: str, *, timeout: float, ssl_context: ssl.SSLContext | None = None) -> None:
        self.address = parse_redis_url(url)
        self._timeout = timeout
        self._ssl = (ssl_context or ssl.create_default_context()) if self.address.tls else None
        self._conn: Connection | None = None
        self._opening: asyncio.Task[Connection] | None = None
        self.connects = 0

    async def evalsha(self, script: Script, keys: Sequence[Arg], args: Sequence[Arg]) -> Reply:
        """EVALSHA; a server that lost the script (restart, SCRIPT FLUSH) gets EVAL, which reloads it."""
        conn = self._conn
        if conn is None or conn.closed:
            conn = await self._connection()
        try:
            return await conn.send(script.evalsha(keys, args))
        except ReplyError as e:
            if not e.noscript:
                raise
        return await self.execute("EVAL", script.source, len(keys), *keys, *args)

    async def execute(self, *args: Arg) -> Reply:
        conn = self._conn
        if conn is None or conn.closed:
            conn = await self._connection()
        return await conn.send(encode(args))

    async def script_load(self, script: Script) -> None:
        await self.execute("SCRIPT", "LOAD", script.source)

    async def hmget(self, key: str, *fields: str) -> Reply:
        return await self.execute("HMGET", key, *fields)

    async def ping(self) -> Reply:
        return await self.execute("PING")

    async def _connection(self) -> Connection:
        opening = self._opening
        if opening is None or opening.done():
            opening = self._opening = asyncio.get_running_loop().create_task(self._open())
        try:
            return await asyncio.shield(opening)  # one caller giving up must not abort it for the others
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if opening.cancelled() and task is not None and not task.cancelling():
                raise ConnectionBroken("client closed while connecting") from None  # by close(), not us
            raise

    async def _open(self) -> Connection:
        loop = asyncio.get_running_loop()
        a = self.address
        hello: list[list[Arg]] = []
        if a.password is not None:
            hello.append(["AUTH", a.password] if a.username is None else ["AUTH", a.username, a.password])
        if a.db:
            hello.append(["SELECT", a.db])
        async with asyncio.timeout(self._timeout):  # connect, AUTH and SELECT together
            _, conn = await loop.create_connection(
                lambda: Connection(loop, self._timeout), a.host, a.port, ssl=self._ssl,
                server_hostname=a.host if self._ssl is not None else None)
            self.connects += 1
            try:
                for cmd in hello:
                    await conn.send(encode(cmd))
            except BaseException:
                conn.close()
                await asyncio.shield(conn.lost)
                raise
        self._conn = conn
        return conn

    async def close(self) -> None:
        """Close the connection and any connection attempt; nothing is left running."""
        opening, self._opening = self._opening, None
        if opening is not None and not opening.done():
            opening.cancel()
            await asyncio.wait([opening])
        if opening is not None and not opening.cancelled():
            opening.exception()  # retrieved: a failed attempt is not an unhandled error
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
            await conn.lost
