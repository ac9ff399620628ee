"""The one upstream HTTP transport: pooled keep-alive connections (providers/http1.py), timeouts, SSE
framing, credential injection, and mapping of transport exceptions into Bastion errors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass

from bastion.core.errors import BastionError, UpstreamError, UpstreamTimeout, UpstreamUnavailable
from bastion.providers.deadline import DeadlineClock
from bastion.providers.http1 import (
    Body,
    BodyTooLarge,
    Connection,
    ConnectionBroken,
    ProtocolViolation,
    Response,
    header_block,
)
from bastion.providers.pool import Pool
from bastion.providers.sse import SSEError, SSEParser

MAX_RESPONSE_BYTES = 64 * 1024 * 1024  # the default of providers.<name>.max_response_bytes
# Client headers are never forwarded; these are the only ones Bastion sends besides credentials.
_BASE_HEADERS = {"content-type": "application/json", "user-agent": "bastion-gateway/0.1",
                 "accept-encoding": "gzip, deflate"}


@dataclass(slots=True, frozen=True)
class Endpoint:
    """A resolved provider: where to send, with which credential headers, and its timeouts (all
    per attempt; the router's retries and fallbacks each start afresh): `connect_timeout` a new
    connection's TCP connect and TLS handshake; `first_byte_timeout` from the request being
    written until the response head; `idle_timeout` each wait for body bytes (streamed or not);
    `total_timeout` a whole non-streamed attempt (waiting for a pooled connection, connect,
    head and body), and a streamed one up to its head (the stream itself has only the idle
    timeout). All of them run on the provider's DeadlineClock, except the connect (a timer per
    new connection) and the streams' idle timeout (one timer per loop and idle timeout: IdleWatch)."""

    name: str
    base_url: str
    auth_headers: Mapping[str, str]
    connect_timeout: float
    first_byte_timeout: float
    idle_timeout: float
    total_timeout: float
    max_connections: int
    max_response_bytes: int = MAX_RESPONSE_BYTES


@dataclass(slots=True)
class TransportStats:
    """Live counters, for leak checks and a debug/metrics endpoint: calls started and not yet
    finished (a stream counts until it is closed), open upstream responses (each holds a pooled
    connection), open streams, and totals since start (`failures_total`: calls the transport
    itself failed: no connection, timeout, broken or oversized body)."""

    in_flight: int = 0
    open_responses: int = 0
    open_streams: int = 0
    calls_total: int = 0
    failures_total: int = 0


def credential_headers(static: Mapping[str, str], auth: Mapping[str, str]) -> dict[str, str]:
    """Merge configured static headers with the credential headers (credentials win)."""
    merged = dict(_BASE_HEADERS)
    merged.update({k.lower(): v for k, v in static.items()})
    merged.update(auth)
    return merged


class _Stalled(Exception):
    """Set on a stream's reader when its idle timeout passed (raised where the reader is awaited)."""


class IdleWatch:
    """The idle timeout of every stream of one event loop with one `idle_timeout`: one timer, not
    one per stream. A stream's wait for bytes is noted in `waits` while it lasts, oldest first
    (waits begin in loop-time order); the timer is due when the oldest wait would pass the
    timeout. Then each wait that has: if bytes came since it began (the reader has
    yet to take them, e.g. while it writes to a slow client), it is noted again from now; else
    its reader fails with UpstreamTimeout, wherever its task is. Only the oldest wait is ever due,
    so a stalled upstream is cut at its idle timeout, as with a timer of its own."""

    __slots__ = ("_idle", "_loop", "time", "timer", "waits")

    def __init__(self, loop: asyncio.AbstractEventLoop, idle: float) -> None:
        self._loop = loop
        self._idle = idle
        self.time = loop.time
        self.timer: asyncio.TimerHandle | None = None
        # stream -> when its wait began (loop time), oldest first: a stream notes its wait here
        # (and arms the timer when none is) and takes it out when the wait ends (UpstreamStream._read)
        self.waits: dict[UpstreamStream, float] = {}

    def arm(self, since: float) -> None:
        self.timer = self._loop.call_at(since + self._idle, self._due)

    def _due(self) -> None:
        self.timer = None
        waits, idle = self.waits, self._idle
        now = self._loop.time()
        while waits:
            stream = next(iter(waits))
            since = waits[stream]
            if since + idle > now:
                self.arm(since)
                return
            del waits[stream]
            if stream.received():
                waits[stream] = now  # bytes came; the reader has yet to take them
            else:
                stream.stall()


_watches: dict[tuple[asyncio.AbstractEventLoop, float], IdleWatch] = {}


def idle_watch(loop: asyncio.AbstractEventLoop, idle: float) -> IdleWatch:
    """The loop's watch for `idle` (made when first asked for; a closed loop's are dropped then)."""
    watch = _watches.get((loop, idle))
    if watch is None:
        for key in [k for k in _watches if k[0].is_closed()]:
            del _watches[key]
        watch = _watches[(loop, idle)] = IdleWatch(loop, idle)
    return watch


class UpstreamStream:
    """An open streamed upstream response; iterate `bursts()` (or `events()`); always `close()`
    (idempotent).

    The idle timeout (no byte for `idle_timeout` seconds) is kept by the loop's `IdleWatch`, one
    timer for all streams: a wait for bytes is noted there while it lasts."""

    def __init__(self, resp: Response, ep: Endpoint, stats: TransportStats | None = None) -> None:
        self._resp = resp
        self._idle = ep.idle_timeout
        self._limit = ep.max_response_bytes
        self._name = ep.name
        self._stats = stats
        self._closed = False
        self._watch: IdleWatch | None = None
        self._waits: dict[UpstreamStream, float] = {}  # its watch's waits, once it waited
        self._seen = 0  # bytes received when the current wait began
        if stats is not None:
            stats.open_streams += 1

    def received(self) -> bool:
        """Whether bytes came (or the end) since the current wait began (IdleWatch)."""
        content = self._resp.content
        return content.total_bytes != self._seen or content.is_eof()

    def stall(self) -> None:
        """The current wait passed the idle timeout (IdleWatch): its reader fails."""
        self._resp.content.set_exception(_Stalled())

    async def _read(self, content: Body) -> bytes:
        """The next bytes the upstream sent (b"" at its end), within the idle timeout, when none
        has arrived yet (`bursts` takes what has without a call)."""
        watch = self._watch
        if watch is None:
            watch = self._watch = idle_watch(content.loop(), self._idle)
            self._waits = watch.waits
        waits = self._waits
        self._seen = content.total_bytes
        since = waits[self] = watch.time()
        if watch.timer is None:
            watch.arm(since)
        try:
            while (waiter := content.waiter()) is not None:  # content.readany(), inline: one frame fewer per read
                await waiter
            return content.read_nowait()
        except _Stalled:
            raise UpstreamTimeout(f"provider {self._name} stream stalled for more than {self._idle:g}s "
                                  "(timeouts.idle)",
                                  retryable=True) from None
        finally:
            waits.pop(self, None)  # (gone already when it stalled)

    async def bursts(self) -> AsyncGenerator[list[tuple[str | None, bytes]], None]:
        """The SSE events of each upstream read, as (event name, data) pairs; a read that holds
        no complete event gives none (no empty burst)."""
        parser = SSEParser()
        content = self._resp.content
        size = 0
        try:
            while True:
                chunk = content.read_nowait()  # what has arrived already: no wait, so no timer
                if not chunk and not content.is_eof():
                    chunk = await self._read(content)
                if not chunk:
                    tail = parser.flush()
                    if tail:
                        yield tail
                    return
                size += len(chunk)
                if size > self._limit:
                    raise UpstreamError(f"provider {self._name} stream exceeds {self._limit} bytes")
                burst = parser.feed(chunk)
                if burst:
                    yield burst
        except (ConnectionBroken, ProtocolViolation) as e:
            raise UpstreamError(f"provider {self._name} connection broke mid-stream ({e})",
                                retryable=True) from None
        except SSEError as e:
            raise UpstreamError(f"provider {self._name}: {e}") from None
        finally:
            self._waits.pop(self, None)

    async def events(self) -> AsyncGenerator[tuple[str | None, bytes], None]:
        """The SSE events one by one (`bursts()` flattened)."""
        bursts = self.bursts()
        try:
            async for burst in bursts:
                for ev in burst:
                    yield ev
        finally:
            await bursts.aclose()

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._waits.pop(self, None)
        self._resp.close()
        if self._stats is not None:
            self._stats.open_streams -= 1
            self._stats.open_responses -= 1
            self._stats.in_flight -= 1


class Transport:
    """Owns one keep-alive connection pool per provider (bounded by its max_connections)."""

    def __init__(self) -> None:
        self._pools: dict[str, Pool] = {}
        self._heads: dict[str, tuple[Endpoint, bytes]] = {}  # per provider: its static header block
        self._clocks: dict[str, DeadlineClock] = {}  # one per pool (the loop it lives on)
        self.stats = TransportStats()

    def _pool(self, ep: Endpoint) -> Pool:
        pool = self._pools.get(ep.name)
        if pool is None:
            loop = asyncio.get_running_loop()
            clock = self._clocks.get(ep.name)
            if clock is None or clock.loop is not loop:
                self._clocks[ep.name] = DeadlineClock(loop)
            pool = self._pools[ep.name] = Pool(ep.base_url, ep.max_connections, ep.connect_timeout)
        return pool

    def _loop(self, ep: Endpoint) -> asyncio.AbstractEventLoop:
        """The running loop: that of the provider's pool once it has one (`get_running_loop()`
        is a getpid() system call per call on Python 3.11)."""
        clock = self._clocks.get(ep.name)  # (made with the pool, on the loop it runs on; dropped with it)
        return clock.loop if clock is not None else asyncio.get_running_loop()

    def _static(self, ep: Endpoint) -> bytes:
        cached = self._heads.get(ep.name)
        if cached is None or cached[0] is not ep:
            cached = self._heads[ep.name] = (ep, header_block(ep.auth_headers))
        return cached[1]

    async def _open(self, ep: Endpoint, path: str, body: bytes, extra: Mapping[str, str] | None,
                    end: float) -> Response:
        """Send the request and wait for the response head, all before `end` (loop time: the
        attempt's `total`); a new connection within `connect`, the head within `first_byte` of
        the request being written."""
        pool = self._pool(ep)
        clock = self._clocks[ep.name]
        task = asyncio.current_task(clock.loop)
        assert task is not None
        head = pool.request_line(path, self._static(ep))
        if extra:
            # only Bastion's own headers (W3C traceparent); credentials always win
            head += header_block({k: v for k, v in extra.items() if k.lower() not in ep.auth_headers})
        data = b"%scontent-length: %d\r\n\r\n%s" % (head, len(body), body)
        try:
            conn = pool.take_idle()  # the hot path: a kept-alive connection, no wait and no connect
            if conn is None:
                conn = await self._connection(ep, pool, clock, task, end)
            try:
                sent = clock.loop.time()
                head_by = sent + ep.first_byte_timeout
                deadline = clock.start(task, min(head_by, end) - sent)
                try:
                    resp = await conn.send(data, ep.max_response_bytes)
                finally:
                    deadline.cancel()
            except asyncio.CancelledError:
                pool.put(conn, False)
                if not deadline.expired():
                    raise
                if head_by <= end:
                    raise UpstreamTimeout(f"provider {ep.name} did not answer within {ep.first_byte_timeout:g}s "
                                          "of the request (timeouts.first_byte)", retryable=True) from None
                raise _over_total(ep, "waiting for the response head") from None
            except BaseException:
                pool.put(conn, False)
                raise
            self.stats.open_responses += 1
            return resp
        except ConnectionBroken as e:
            raise UpstreamError(f"provider {ep.name} connection failed ({e})", retryable=True) from None
        except ProtocolViolation as e:
            raise UpstreamError(f"provider {ep.name} sent an unreadable answer ({e})", retryable=True) from None
        except OSError as e:  # refused, unreachable, DNS, TLS handshake
            raise UpstreamUnavailable(f"cannot connect to provider {ep.name} ({type(e).__name__})",
                                      retryable=True) from None

    @staticmethod
    async def _connection(ep: Endpoint, pool: Pool, clock: DeadlineClock, task: asyncio.Task[object],
                          end: float) -> Connection:
        """A pooled connection when none is idle: a wait for a free slot and a connect, both
        bounded by the attempt's `total` (the connect by `connect` too, inside the pool)."""
        deadline = clock.start(task, end - clock.loop.time())
        try:
            try:
                return await pool.acquire()
            finally:
                deadline.cancel()
        except asyncio.CancelledError:
            if not deadline.expired():
                raise
            raise _over_total(ep, "waiting for a connection") from None
        except TimeoutError:  # the pool's connect timeout (TCP connect and TLS handshake)
            raise UpstreamTimeout(f"provider {ep.name} did not accept a connection within "
                                  f"{ep.connect_timeout:g}s (timeouts.connect)", retryable=True) from None

    async def _read_body(self, ep: Endpoint, resp: Response, end: float) -> bytes:
        """The whole body, each wait for bytes within `idle` and all of it before `end`."""
        limit = ep.max_response_bytes
        if resp.content_length is not None and resp.content_length > limit:
            raise UpstreamError(f"provider {ep.name} response exceeds {limit} bytes")
        content = resp.content
        try:
            # Fast path: a small answer is usually buffered whole already; take it without timers.
            first = content.read_nowait()
            if content.at_eof():
                if len(first) > limit:
                    raise UpstreamError(f"provider {ep.name} response exceeds {limit} bytes")
                return first
            clock = self._clocks[ep.name]
            task = asyncio.current_task(clock.loop)
            assert task is not None
            chunks: list[bytes] = [first] if first else []
            size = len(first)
            while True:
                now = clock.loop.time()
                idle_by = now + ep.idle_timeout
                deadline = clock.start(task, min(idle_by, end) - now)
                try:
                    try:
                        chunk = await content.readany()
                    finally:
                        deadline.cancel()
                except asyncio.CancelledError:
                    if not deadline.expired():
                        raise
                    if idle_by <= end:
                        raise UpstreamTimeout(f"provider {ep.name} sent nothing for {ep.idle_timeout:g}s while "
                                              "sending its response (timeouts.idle)", retryable=True) from None
                    raise _over_total(ep, "reading the response body") from None
                if not chunk:
                    break
                size += len(chunk)
                if size > limit:
                    raise UpstreamError(f"provider {ep.name} response exceeds {limit} bytes")
                chunks.append(chunk)
            return b"".join(chunks)
        except BodyTooLarge:
            raise UpstreamError(f"provider {ep.name} response exceeds {limit} bytes") from None
        except (ConnectionBroken, ProtocolViolation) as e:
            raise UpstreamError(f"provider {ep.name} connection broke ({e})", retryable=True) from None

    def _done(self, resp: Response | None, ok: bool) -> None:
        """Bookkeeping of a call that ends here (not handed over as a stream)."""
        if resp is not None:
            # release() returns a fully read connection to the pool; close() drops one that is not.
            if ok:
                resp.release()
            else:
                resp.close()
            self.stats.open_responses -= 1
        self.stats.in_flight -= 1
        if not ok:
            self.stats.failures_total += 1

    async def post(self, ep: Endpoint, path: str, body: bytes,
                   extra: Mapping[str, str] | None = None) -> tuple[int, Mapping[str, str], bytes]:
        """A non-streamed call: (status, headers, body)."""
        self.stats.in_flight += 1
        self.stats.calls_total += 1
        resp: Response | None = None
        ok = False
        try:
            end = self._loop(ep).time() + ep.total_timeout
            resp = await self._open(ep, path, body, extra, end)
            data = await self._read_body(ep, resp, end)
            ok = True
            return resp.status, resp.headers, data
        finally:
            self._done(resp, ok)

    async def post_stream(self, ep: Endpoint, path: str, body: bytes,
                          extra: Mapping[str, str] | None = None
                          ) -> tuple[int, Mapping[str, str], UpstreamStream | bytes]:
        """A streamed call: on 2xx an open UpstreamStream (the caller must close it), else the error body."""
        self.stats.in_flight += 1
        self.stats.calls_total += 1
        resp: Response | None = None
        ok = False
        try:
            end = self._loop(ep).time() + ep.total_timeout  # up to the head (and an error body)
            resp = await self._open(ep, path, body, extra, end)
            if resp.status >= 300:
                data = await self._read_body(ep, resp, end)
                ok = True
                return resp.status, resp.headers, data
            ctype = resp.headers.get("content-type", "")
            if "text/event-stream" not in ctype:
                raise UpstreamError(f"provider {ep.name} answered a stream request with "
                                    f"{ctype[:100] or 'no content type'}", retryable=False)
            status, headers = resp.status, resp.headers
            stream = UpstreamStream(resp, ep, self.stats)
            resp = None  # the stream owns it now: its close() does the bookkeeping
            ok = True
            return status, headers, stream
        finally:
            if resp is not None or not ok:
                self._done(resp, ok)

    async def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()
        for c in self._clocks.values():
            c.close()
        self._clocks.clear()


def _over_total(ep: Endpoint, phase: str) -> UpstreamTimeout:
    return UpstreamTimeout(f"provider {ep.name} did not complete the call within {ep.total_timeout:g}s "
                           f"(timeouts.total; while {phase})", retryable=True)


def retry_after_seconds(headers: Mapping[str, str], err: BastionError) -> float | None:
    """The provider's Retry-After (seconds form), if it sent one."""
    v = headers.get("retry-after") or headers.get("Retry-After")
    if v:
        try:
            return max(0.0, float(v))
        except ValueError:
            return None
    return err.retry_after
