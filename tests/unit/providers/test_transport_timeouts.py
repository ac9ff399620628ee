"""What each upstream timeout bounds (docs/config.md, providers.<name>.timeouts), against a real local
HTTP server that is slow at a chosen moment: `connect` the TCP connect and TLS handshake, `first_byte`
the wait for the head after the request was sent, `idle` each wait for body bytes, `total` a whole
non-streamed attempt (pool wait and connect included) and a streamed one up to its head. Every
timeout fails the call with UpstreamTimeout naming the timeout and its value, before the server
got to answer; a retry starts a fresh `total`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import orjson
import pytest

from bastion.config.schema import RetryConfig
from bastion.core.context import RequestContext
from bastion.core.errors import UpstreamTimeout
from bastion.providers.openai import OPENAI
from bastion.providers.router import Route, Router, Target
from bastion.providers.transport import Endpoint, Transport

SLOW = 3.0  # how long the server stalls: far beyond every timeout that is meant to fire first
BODY = orjson.dumps({"id": "c1", "object": "chat.completion", "created": 1, "model": "m",
                     "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"},
                                  "finish_reason": "stop"}],
                     "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})


@dataclass
class Upstream:
    """A local HTTP/1.1 server; the request path says how it is slow:
    /ok, /late-head/S (S seconds before the head), /late-body/S (head, then the body S seconds later),
    /mid-body/S (head and half the body, the rest S seconds later), /drip/N/S (a chunked body of N
    chunks, S seconds apart), /sse/N/S (N events S seconds apart), /late-sse/S, /once-late/S (late
    head on the first request only). It records what it got to send, and when."""

    url: str = ""
    connections: int = 0
    requests: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list)  # "<path> answered" once a response is sent whole
    received: asyncio.Event = field(default_factory=asyncio.Event)  # set at the first request

    def answered(self, path: str) -> bool:
        return f"{path} answered" in self.log


async def _serve(up: Upstream, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    up.connections += 1
    while True:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        lines = head.decode("latin-1").split("\r\n")
        length = next(int(v) for k, _, v in (ln.partition(": ") for ln in lines) if k.lower() == "content-length")
        await reader.readexactly(length)
        path = lines[0].split(" ")[1]
        up.requests.append(path)
        up.received.set()
        up.log.append(f"{path} received")
        parts = path.partition("?")[0].strip("/").split("/")
        kind, args = parts[0], [float(a) for a in parts[1:] if a.replace(".", "").isdigit()]
        json_head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(BODY)
        if (kind == "once-late" and up.requests.count(path) == 1) or kind == "late-head":
            await asyncio.sleep(args[0])
        if kind in ("ok", "once-late", "late-head"):
            writer.write(json_head + BODY)
        elif kind == "late-body":
            writer.write(json_head)
            await asyncio.sleep(args[0])
            writer.write(BODY)
        elif kind == "mid-body":
            writer.write(json_head + BODY[:10])
            await writer.drain()
            await asyncio.sleep(args[0])
            writer.write(BODY[10:])
        elif kind == "drip":
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n")
            for _ in range(int(args[0])):
                writer.write(b"1\r\n \r\n")
                await writer.drain()
                await asyncio.sleep(args[1])
            writer.write(b"2\r\n{}\r\n0\r\n\r\n")
        elif kind in ("sse", "late-sse"):
            if kind == "late-sse":
                await asyncio.sleep(args[0])
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n")
            for i in range(int(args[0]) if kind == "sse" else 1):
                writer.write(b"data: %d\n\n" % i)
                await writer.drain()
                await asyncio.sleep(args[1] if kind == "sse" else 0)
            up.log.append(f"{path} answered")
            writer.close()
            return
        await writer.drain()
        up.log.append(f"{path} answered")


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    up = Upstream()
    handlers: set[asyncio.Task[object]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        try:
            await _serve(up, reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    up.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    yield up
    server.close()
    for t in handlers:
        t.cancel()
    await asyncio.gather(*handlers, return_exceptions=True)
    await server.wait_closed()


@pytest.fixture
async def transport() -> AsyncIterator[Transport]:
    t = Transport()
    yield t
    await t.close()


def endpoint(url: str, *, connect: float = 30, first_byte: float = 30, idle: float = 30, total: float = 30,
             max_connections: int = 4) -> Endpoint:
    return Endpoint(name="p", base_url=url, auth_headers={}, connect_timeout=connect,
                    first_byte_timeout=first_byte, idle_timeout=idle, total_timeout=total,
                    max_connections=max_connections)


def assert_clean(t: Transport, failures: int = 1) -> None:
    """No call, response or connection hold left behind, and the timeout withdrew its cancellation."""
    assert t.stats.in_flight == 0 and t.stats.open_responses == 0 and t.stats.open_streams == 0
    assert t.stats.failures_total == failures
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0


# ---- total -------------------------------------------------------------------------------------

async def test_total_bounds_a_non_streamed_call_whose_head_is_late(upstream: Upstream, transport: Transport) -> None:
    with pytest.raises(UpstreamTimeout, match=r"within 0\.5s \(timeouts\.total; while waiting for the response head"):
        await transport.post(endpoint(upstream.url, total=0.5), f"/late-head/{SLOW}", b"{}")
    assert not upstream.answered(f"/late-head/{SLOW}")  # it gave up before the server answered
    assert_clean(transport)


async def test_total_bounds_the_body_after_the_head(upstream: Upstream, transport: Transport) -> None:
    with pytest.raises(UpstreamTimeout, match=r"within 0\.5s \(timeouts\.total; while reading the response body"):
        await transport.post(endpoint(upstream.url, total=0.5), f"/late-body/{SLOW}", b"{}")
    assert not upstream.answered(f"/late-body/{SLOW}")
    assert_clean(transport)


async def test_total_bounds_a_body_that_keeps_dripping_within_idle(upstream: Upstream, transport: Transport) -> None:
    path = "/drip/30/0.1"  # a byte every 0.1 s for 3 s: `idle` never fires, `total` must
    with pytest.raises(UpstreamTimeout, match=r"within 0\.5s \(timeouts\.total"):
        await transport.post(endpoint(upstream.url, idle=1, total=0.5), path, b"{}")
    assert not upstream.answered(path)
    assert_clean(transport)


async def test_total_bounds_the_wait_for_a_pooled_connection(upstream: Upstream, transport: Transport) -> None:
    busy = asyncio.create_task(transport.post(endpoint(upstream.url, max_connections=1), f"/late-head/{SLOW}", b"{}"))
    await upstream.received.wait()
    ep = endpoint(upstream.url, total=0.5, max_connections=1)
    with pytest.raises(UpstreamTimeout, match=r"within 0\.5s \(timeouts\.total; while waiting for a connection"):
        await transport.post(ep, "/ok", b"{}")
    assert upstream.requests == [f"/late-head/{SLOW}"]  # the second call never got to send
    busy.cancel()
    with pytest.raises(asyncio.CancelledError):
        await busy
    assert_clean(transport, failures=2)  # the cancelled call counts too


async def test_a_retry_gets_a_fresh_total(upstream: Upstream, transport: Transport) -> None:
    """`total` is per attempt: the first attempt times out, the retry has its own 0.5 s and succeeds."""
    ep = endpoint(f"{upstream.url}/once-late/{SLOW}", total=0.5)
    target = Target(provider="p", model="m", kind="openai", fmt=OPENAI, endpoint=ep,
                    retry=RetryConfig(attempts=2, backoff_base=0, backoff_max=0))
    router = Router({"m": Route("m", "chat", (target,))}, transport)
    ctx = RequestContext(request_id="r", ingress="openai")
    req = OPENAI.decode_request({"model": "m", "messages": [{"role": "user", "content": "x"}]})
    resp = await router.chat(ctx, req)
    assert resp.choices[0].text() == "hi"
    assert [a.outcome for a in ctx.attempts] == ["upstream_timeout", "ok"]
    assert upstream.requests == [f"/once-late/{SLOW}/chat/completions"] * 2


# ---- first_byte ---------------------------------------------------------------------------------

async def test_first_byte_bounds_the_wait_for_the_head(upstream: Upstream, transport: Transport) -> None:
    with pytest.raises(UpstreamTimeout, match=r"did not answer within 0\.3s of the request \(timeouts\.first_byte\)"):
        await transport.post(endpoint(upstream.url, first_byte=0.3), f"/late-head/{SLOW}", b"{}")
    assert not upstream.answered(f"/late-head/{SLOW}")
    assert_clean(transport)


async def test_first_byte_is_counted_from_sending_not_from_waiting_for_a_connection(
        upstream: Upstream, transport: Transport) -> None:
    """Two calls on one connection, each answered 1.2 s after it is sent: the second waits 1.2 s for
    the connection and 1.2 s for its head, longer than first_byte (2 s) in all, and still succeeds."""
    ep = endpoint(upstream.url, first_byte=2, max_connections=1)
    first = asyncio.create_task(transport.post(ep, "/late-head/1.2", b"{}"))
    second = asyncio.create_task(transport.post(ep, "/late-head/1.2?second", b"{}"))
    results = await asyncio.gather(first, second)
    assert [r[0] for r in results] == [200, 200]
    assert upstream.log.index("/late-head/1.2?second received") > upstream.log.index("/late-head/1.2 answered")
    assert upstream.connections == 1


# ---- idle ----------------------------------------------------------------------------------------

async def test_idle_bounds_a_stall_mid_body(upstream: Upstream, transport: Transport) -> None:
    with pytest.raises(UpstreamTimeout, match=r"sent nothing for 0\.3s .*\(timeouts\.idle\)"):
        await transport.post(endpoint(upstream.url, idle=0.3), f"/mid-body/{SLOW}", b"{}")
    assert not upstream.answered(f"/mid-body/{SLOW}")
    assert_clean(transport)


# ---- connect -------------------------------------------------------------------------------------

@pytest.fixture
async def mute_tls() -> AsyncIterator[str]:
    """Accepts TCP connections and never speaks: a TLS handshake with it never completes."""
    held: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        await reader.read()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    yield f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    for w in held:
        w.close()
    server.close()
    await server.wait_closed()


async def test_connect_bounds_the_tls_handshake(mute_tls: str, transport: Transport) -> None:
    with pytest.raises(UpstreamTimeout, match=r"did not accept a connection within 0\.3s \(timeouts\.connect\)"):
        await transport.post(endpoint(mute_tls, connect=0.3), "/ok", b"{}")
    assert_clean(transport)


async def test_total_includes_connecting(mute_tls: str, transport: Transport) -> None:
    with pytest.raises(UpstreamTimeout, match=r"within 0\.3s \(timeouts\.total; while waiting for a connection"):
        await transport.post(endpoint(mute_tls, total=0.3), "/ok", b"{}")
    assert_clean(transport)


# ---- within the limits ---------------------------------------------------------------------------

async def test_a_server_within_every_limit_succeeds_and_keeps_its_connection(
        upstream: Upstream, transport: Transport) -> None:
    ep = endpoint(upstream.url, connect=2, first_byte=2, idle=2, total=4)
    for path in ("/late-head/0.2", "/mid-body/0.2", "/late-body/0.2", "/drip/3/0.1"):
        status, _, body = await transport.post(ep, path, b"{}")
        assert status == 200 and body in (BODY, b"   {}")
    assert upstream.connections == 1  # the slow-path reads left the connection reusable
    assert_clean(transport, failures=0)


async def test_after_a_timeout_the_connection_is_dropped_and_the_next_call_succeeds(
        upstream: Upstream, transport: Transport) -> None:
    with pytest.raises(UpstreamTimeout):
        await transport.post(endpoint(upstream.url, first_byte=0.2), f"/late-head/{SLOW}", b"{}")
    status, _, body = await transport.post(endpoint(upstream.url, first_byte=0.2), "/ok", b"{}")
    assert (status, body) == (200, BODY)
    assert upstream.connections == 2  # the late answer cannot arrive on the next call's connection


# ---- streams -------------------------------------------------------------------------------------

async def test_total_bounds_a_stream_until_its_head(upstream: Upstream, transport: Transport) -> None:
    with pytest.raises(UpstreamTimeout, match=r"within 0\.5s \(timeouts\.total; while waiting for the response head"):
        await transport.post_stream(endpoint(upstream.url, total=0.5), f"/late-sse/{SLOW}", b"{}")
    assert not upstream.answered(f"/late-sse/{SLOW}")
    assert_clean(transport)


async def test_a_stream_may_run_longer_than_total_while_it_is_not_idle(
        upstream: Upstream, transport: Transport) -> None:
    status, _, stream = await transport.post_stream(endpoint(upstream.url, idle=2, total=0.3), "/sse/6/0.15",
                                                    b"{}")
    assert status == 200 and not isinstance(stream, bytes)
    try:
        events = [data async for _, data in stream.events()]
    finally:
        stream.close()
    assert events == [b"0", b"1", b"2", b"3", b"4", b"5"]
    assert_clean(transport, failures=0)


async def test_idle_bounds_a_stream_that_stalls(upstream: Upstream, transport: Transport) -> None:
    status, _, stream = await transport.post_stream(endpoint(upstream.url, idle=0.3), f"/sse/2/{SLOW}", b"{}")
    assert status == 200 and not isinstance(stream, bytes)
    got: list[bytes] = []
    try:
        with pytest.raises(UpstreamTimeout, match=r"stalled for more than 0\.3s \(timeouts\.idle\)"):
            async for _, data in stream.events():
                got.append(data)
    finally:
        stream.close()
    assert got == [b"0"]
