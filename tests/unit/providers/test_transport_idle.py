"""The stream idle timeout of providers/transport.py (one timer per loop and idle timeout, all
streams' waits noted in its IdleWatch): a silent upstream ends the stream with UpstreamTimeout at
its timeout, also among other streams' waits, bytes that arrived while the consumer was busy
elsewhere (writing to a slow client) do not count as silence, and no wait is left noted once the
stream is gone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bastion.core.errors import UpstreamTimeout
from bastion.http.relay import relay
from bastion.providers.http1 import Body
from bastion.providers.transport import Endpoint, UpstreamStream

# 0.05 s left a stream fed every IDLE / 2 cut when a loaded host ran the loop 25 ms late (seen in a
# full run at load 12 on 2 cores); the margins below are all relative to IDLE
IDLE = 0.1


class _Body(Body):
    """The transport's response body, fed by the test (no connection behind it)."""

    __slots__ = ()

    def feed_data(self, data: bytes) -> None:
        self.feed(data)


class _Response:
    def __init__(self) -> None:
        self.content = _Body(None)
        self.closed = False

    def close(self) -> None:
        self.closed = True


def _stream() -> tuple[UpstreamStream, _Response]:
    ep = Endpoint(name="p", base_url="http://upstream.invalid", auth_headers={}, connect_timeout=1,
                  first_byte_timeout=1, idle_timeout=IDLE, total_timeout=10, max_connections=1)
    resp = _Response()
    return UpstreamStream(resp, ep), resp  # type: ignore[arg-type]


def _event(i: int) -> bytes:
    return b"data: %d\n\n" % i


async def test_a_silent_upstream_ends_the_stream_with_a_timeout() -> None:
    stream, resp = _stream()
    resp.content.feed_data(_event(1))
    got: list[Any] = []
    with pytest.raises(UpstreamTimeout, match="stalled"):
        async for burst in stream.bursts():
            got.append(burst)
    assert got == [[(None, b"1")]]
    stream.close()
    assert stream._watch is not None and not stream._watch.waits


async def test_a_consumer_busy_elsewhere_is_not_an_idle_upstream() -> None:
    stream, resp = _stream()
    resp.content.feed_data(_event(1))
    got: list[Any] = []
    bursts = stream.bursts()
    got.append(await anext(bursts))
    loop = asyncio.get_running_loop()
    loop.call_later(IDLE / 2, resp.content.feed_data, _event(2))
    await asyncio.sleep(IDLE * 4)  # not reading: the timer finds no wait and lets it be
    got.append(await anext(bursts))
    resp.content.feed_eof()
    got += [b async for b in bursts]
    assert got == [[(None, b"1")], [(None, b"2")]]
    stream.close()


async def test_bytes_that_came_while_the_client_write_blocked_are_not_silence() -> None:
    """The relay writes to the client while the upstream read is already waiting: the upstream
    answered in time, only the client was slow, so there is no timeout."""
    stream, resp = _stream()
    resp.content.feed_data(_event(1))
    gate = asyncio.Event()
    sent: list[bytes] = []

    async def send(msg: Any) -> None:
        await gate.wait()
        sent.append(msg["body"])

    async def frames() -> AsyncIterator[bytes]:
        async for burst in stream.bursts():
            for _, data in burst:
                yield data + b";"

    task = asyncio.create_task(relay(frames(), send))
    loop = asyncio.get_running_loop()
    loop.call_later(IDLE / 4, resp.content.feed_data, _event(2))
    loop.call_later(IDLE * 4, gate.set)  # the client takes its first write late
    loop.call_later(IDLE * 4.5, resp.content.feed_eof)
    await task
    assert b"".join(sent) == b"1;2;"
    stream.close()


async def test_an_upstream_silent_while_the_client_write_blocked_times_out() -> None:
    stream, resp = _stream()
    resp.content.feed_data(_event(1))
    gate = asyncio.Event()

    async def send(msg: Any) -> None:
        await gate.wait()

    async def frames() -> AsyncIterator[bytes]:
        try:
            async for burst in stream.bursts():
                for _, data in burst:
                    yield data
        except UpstreamTimeout:
            yield b"timeout"

    got: list[bytes] = []

    async def record(msg: Any) -> None:
        await send(msg)
        got.append(msg["body"])

    task = asyncio.create_task(relay(frames(), record))
    asyncio.get_running_loop().call_later(IDLE * 4, gate.set)
    await task
    assert b"".join(got) == b"1timeout"
    stream.close()


async def test_each_stream_is_cut_at_its_own_timeout_among_others_waiting() -> None:
    """One timer for many streams: a stream that stalls is cut IDLE after its own wait began, while
    streams whose waits began later or that keep receiving bytes go on; the watch ends with none."""
    loop = asyncio.get_running_loop()
    streams = [_stream() for _ in range(3)]
    ended: dict[int, float] = {}
    start = loop.time()

    async def read(i: int) -> None:
        stream, _ = streams[i]
        try:
            async for _ in stream.bursts():
                pass
        except UpstreamTimeout:
            ended[i] = loop.time() - start
        stream.close()

    def feed(i: int, n: int) -> None:  # stream 2 gets bytes every IDLE / 2, five times, then its end
        body = streams[i][1].content
        if n < 5:
            body.feed_data(_event(n))
            loop.call_later(IDLE / 2, feed, i, n + 1)
        else:
            body.feed_eof()

    first = asyncio.create_task(read(0))
    await asyncio.sleep(IDLE / 2)
    second = asyncio.create_task(read(1))
    third = asyncio.create_task(read(2))
    feed(2, 0)
    await asyncio.gather(first, second, third)
    assert sorted(ended) == [0, 1]  # the third had bytes in time, and its end
    # never before its timeout (a busy host may run the timer late, never early)
    assert IDLE <= ended[0] <= ended[1] < IDLE * 20 and ended[1] >= IDLE * 1.5
    watch = streams[0][0]._watch
    assert watch is not None and not watch.waits and all(s._watch is watch for s, _ in streams)
