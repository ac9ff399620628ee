"""The keep-alive connection pool of one upstream origin (connections: providers/http1.py)."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from urllib.parse import urlsplit

from bastion.providers.http1 import TOKEN_BAD, Connection, ConnectionBroken, Response


class Pool:
    """Keep-alive connections to one origin: at most `limit` open, idle ones closed after `keepalive` s."""

    def __init__(self, base_url: str, limit: int, connect_timeout: float, keepalive: float = 30.0,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        u = urlsplit(base_url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError(f"cannot call {base_url!r}: only http:// and https:// URLs are supported")
        self.host = u.hostname
        self.port = u.port or (443 if u.scheme == "https" else 80)
        self.prefix = u.path.rstrip("/")
        default_port = (u.scheme == "https" and self.port == 443) or (u.scheme == "http" and self.port == 80)
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.authority = host if default_port else f"{host}:{self.port}"
        self._ssl: ssl.SSLContext | None = None
        if u.scheme == "https":
            self._ssl = ssl_context or _default_tls()
        self.limit = max(1, limit)
        self.keepalive = keepalive
        self.connect_timeout = connect_timeout
        self._idle: list[Connection] = []
        self._open = 0  # connections open or opening
        self._waiters: deque[asyncio.Future[Connection | None]] = deque()
        self._all: set[Connection] = set()
        self._heads: dict[tuple[str, int], bytes] = {}

    def request_line(self, path: str, static: bytes) -> bytes:
        """The request line, Host and the static header block for `path` (cached per path)."""
        key = (path, id(static))
        head = self._heads.get(key)
        if head is None:
            if TOKEN_BAD.intersection(path) or " " in path:
                raise ValueError(f"path {path!r} cannot be sent")
            head = f"POST {self.prefix}{path} HTTP/1.1\r\nhost: {self.authority}\r\n".encode("latin-1") + static
            if len(self._heads) > 64:
                self._heads.clear()
            self._heads[key] = head
        return head

    async def exchange(self, data: bytes, limit: int) -> Response:
        """Send one request (head and body, already framed) and wait for the response head."""
        conn = self.take_idle() or await self.acquire()
        try:
            return await conn.send(data, limit)
        except BaseException:
            self.put(conn, False)
            raise

    def take_idle(self) -> Connection | None:
        """A kept-alive connection ready for a request, if there is one (no wait, no connect)."""
        idle = self._idle
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            if not conn.closed and now - conn.idle_since < self.keepalive:
                return conn
            self._drop(conn)
        return None

    async def acquire(self) -> Connection:
        """A connection for one exchange: a kept-alive one, else a new one once the pool has room
        (waiting for a free slot, then connecting within `connect_timeout`: TimeoutError when not).
        Give it back with `put()`."""
        conn = self.take_idle()
        if conn is not None:
            return conn
        while self._open >= self.limit:
            fut: asyncio.Future[Connection | None] = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            try:
                handed = await fut
            except BaseException:
                if fut.done() and not fut.cancelled() and fut.result() is not None:
                    self.put(fut.result(), True)  # type: ignore[arg-type]
                elif fut.done() and not fut.cancelled():
                    self._wake()  # pass the free slot on
                else:
                    self._waiters.remove(fut)
                raise
            if handed is not None:
                return handed
        self._open += 1
        try:
            return await self._connect()
        except BaseException:
            self._open -= 1
            self._wake()
            raise

    async def _connect(self) -> Connection:
        # A timer per new connection (TCP connect and TLS handshake), not per call: a call on a
        # kept-alive connection never gets here.
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(self.connect_timeout):
            _, conn = await loop.create_connection(
                lambda: Connection(self, loop), self.host, self.port, ssl=self._ssl,
                server_hostname=self.host if self._ssl is not None else None)
        self._all.add(conn)
        return conn

    def put(self, conn: Connection, reusable: bool) -> None:
        """A connection back from an exchange: to a waiter, to the idle list, or closed."""
        if not reusable or conn.closed:
            self._drop(conn)
            return
        conn.idle_since = time.monotonic()
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(conn)
                return
        self._idle.append(conn)

    def lost(self, conn: Connection) -> None:
        """The server closed an idle connection."""
        if conn in self._idle:
            self._idle.remove(conn)
            self._drop(conn)

    def _drop(self, conn: Connection) -> None:
        conn.close()
        if conn in self._all:
            self._all.discard(conn)
            self._open -= 1
            self._wake()

    def _wake(self) -> None:
        """A slot is free: let the first waiter open a connection of its own."""
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                return

    def close(self) -> None:
        for conn in list(self._all):
            conn.close()
        self._all.clear()
        self._idle.clear()
        self._open = 0
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_exception(ConnectionBroken("the transport is closing"))


_TLS: ssl.SSLContext | None = None


def _default_tls() -> ssl.SSLContext:
    """The system's trust store, certificate and host name checks on, HTTP/1.1 by ALPN."""
    global _TLS
    if _TLS is None:
        ctx = ssl.create_default_context()
        ctx.set_alpn_protocols(["http/1.1"])
        _TLS = ctx
    return _TLS
