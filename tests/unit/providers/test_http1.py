"""The upstream HTTP/1.1 client (providers/http1.py) against scripted raw TCP servers."""

from __future__ import annotations

import asyncio
import gzip
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from bastion.providers.http1 import BodyTooLarge, ConnectionBroken, ProtocolViolation, header_block
from bastion.providers.pool import Pool

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
LIMIT = 1 << 20


class Server:
    """A TCP server whose handler answers each request; counts connections and requests."""

    def __init__(self, answer: Callable[[int, bytes], bytes | list[bytes | float]], close_after: bool = False) -> None:
        self.answer = answer
        self.close_after = close_after
        self.connections = 0
        self.requests: list[bytes] = []
        self.disconnects = 0
        self.server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length)
                self.requests.append(head + body)
                out = self.answer(len(self.requests), head + body)
                for part in out if isinstance(out, list) else [out]:
                    if isinstance(part, float):  # a pause in the answer
                        await asyncio.sleep(part)
                        continue
                    writer.write(part)
                    await writer.drain()
                    if isinstance(out, list):
                        await asyncio.sleep(0.01)
                if self.close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            self.disconnects += 1
        finally:
            writer.close()

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/v1"


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., Awaitable[Server]]]:
    servers: list[Server] = []

    async def start(answer: Callable[[int, bytes], bytes | list[bytes | float]], close_after: bool = False) -> Server:
        s = Server(answer, close_after)
        s.server = await asyncio.start_server(s.handle, "127.0.0.1", 0)
        servers.append(s)
        return s

    yield start
    for s in servers:
        assert s.server is not None
        s.server.close()


def ok(body: bytes = b'{"ok": true}', extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n%s\r\n%s" % (
        len(body), extra, body)


def request(pool: Pool, body: bytes = b"{}") -> bytes:
    head = pool.request_line("/chat/completions", header_block({"authorization": "Bearer sk-test"}))
    return b"%scontent-length: %d\r\n\r\n%s" % (head, len(body), body)


async def read_all(pool: Pool, body: bytes = b"{}", limit: int = LIMIT) -> tuple[int, dict[str, str], bytes]:
    resp = await pool.exchange(request(pool, body), limit)
    chunks = []
    while True:
        chunk = await resp.content.readany()
        if not chunk:
            break
        chunks.append(chunk)
    resp.release()
    return resp.status, resp.headers, b"".join(chunks)


async def test_the_request_is_framed_and_keep_alive_reuses_one_connection(serve) -> None:
    s = await serve(lambda n, req: ok(b'{"n": %d}' % n))
    pool = Pool(s.url, 4, 5.0)
    for n in (1, 2, 3):
        status, headers, body = await read_all(pool, b'{"q": 1}')
        assert (status, body) == (200, b'{"n": %d}' % n)
        assert headers["content-type"] == "application/json"
    assert s.connections == 1
    head = s.requests[0].decode()
    assert head.startswith("POST /v1/chat/completions HTTP/1.1\r\n")
    assert "\r\nhost: 127.0.0.1:" in head and "authorization: Bearer sk-test\r\n" in head
    assert head.endswith('content-length: 8\r\n\r\n{"q": 1}')
    pool.close()


async def test_chunked_and_until_close_bodies(serve) -> None:
    chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    s = await serve(lambda n, req: [chunked[:40], chunked[40:]])
    pool = Pool(s.url, 4, 5.0)
    assert (await read_all(pool))[2] == b"hello world"
    assert (await read_all(pool))[2] == b"hello world"
    assert s.connections == 1
    pool.close()
    t = await serve(lambda n, req: b"HTTP/1.1 200 OK\r\n\r\nuntil the end", close_after=True)
    pool = Pool(t.url, 4, 5.0)
    assert (await read_all(pool))[2] == b"until the end"
    assert (await read_all(pool))[2] == b"until the end"
    assert t.connections == 2  # a body ended by the close cannot leave the connection reusable
    pool.close()


async def test_gzip_and_deflate_are_decoded(serve) -> None:
    data = b'{"text": "' + b"abc" * 1000 + b'"}'
    bodies = [gzip.compress(data), zlib.compress(data)]
    encs = [b"gzip", b"deflate"]
    s = await serve(lambda n, req: ok(bodies[n - 1], b"content-encoding: %s\r\n" % encs[n - 1]))
    pool = Pool(s.url, 4, 5.0)
    assert (await read_all(pool))[2] == data
    assert (await read_all(pool))[2] == data
    pool.close()


async def test_a_compressed_bomb_stops_at_the_limit(serve) -> None:
    bomb = gzip.compress(b"\0" * (8 << 20))  # 8 MB that compress to a few kB
    s = await serve(lambda n, req: ok(bomb, b"content-encoding: gzip\r\n"))
    pool = Pool(s.url, 4, 5.0)
    with pytest.raises(BodyTooLarge, match="exceeds 65536"):
        await read_all(pool, limit=65536)
    pool.close()


@pytest.mark.parametrize("encoding, payload, error", [
    (b"br", b"\x0b\x02\x80hi\x03", "unsupported content-encoding"),
    (b"gzip", b"not gzip at all", "corrupt"),
])
async def test_unreadable_encodings_are_errors(serve, encoding, payload, error) -> None:
    s = await serve(lambda n, req: ok(payload, b"content-encoding: %s\r\n" % encoding))
    pool = Pool(s.url, 4, 5.0)
    with pytest.raises(ProtocolViolation, match=error):
        await read_all(pool)
    pool.close()


async def test_connection_close_from_the_server_is_honoured(serve) -> None:
    s = await serve(lambda n, req: ok(extra=b"connection: close\r\n"), close_after=True)
    pool = Pool(s.url, 4, 5.0)
    for _ in range(3):
        assert (await read_all(pool))[0] == 200
    assert s.connections == 3
    pool.close()


async def test_an_unfinished_response_does_not_go_back_to_the_pool(serve) -> None:
    s = await serve(lambda n, req: [b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n", b"partial"])
    pool = Pool(s.url, 4, 5.0)
    resp = await pool.exchange(request(pool), LIMIT)
    resp.close()  # the caller gives up before the end
    for _ in range(50):
        if s.disconnects:
            break
        await asyncio.sleep(0.01)
    assert s.disconnects == 1 and pool._open == 0


async def test_extra_bytes_after_a_response_break_the_connection_not_the_next_call(serve) -> None:
    s = await serve(lambda n, req: ok() + ok(b'{"smuggled": 1}') if n == 1 else ok(b'{"n": 2}'))
    pool = Pool(s.url, 4, 5.0)
    assert (await read_all(pool))[2] == b'{"ok": true}'
    assert (await read_all(pool))[2] == b'{"n": 2}'  # never the smuggled answer
    assert s.connections == 2
    pool.close()


async def test_informational_responses_are_skipped(serve) -> None:
    s = await serve(lambda n, req: b"HTTP/1.1 103 Early Hints\r\nlink: </x>\r\n\r\n" + ok())
    pool = Pool(s.url, 4, 5.0)
    status, headers, body = await read_all(pool)
    assert (status, body) == (200, b'{"ok": true}') and "link" not in headers
    pool.close()


async def test_not_http_and_a_drop_before_the_head_are_errors(serve) -> None:
    s = await serve(lambda n, req: b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
    pool = Pool(s.url, 4, 5.0)
    with pytest.raises(ProtocolViolation):
        await read_all(pool)
    t = await serve(lambda n, req: b"", close_after=True)
    pool = Pool(t.url, 4, 5.0)
    with pytest.raises(ConnectionBroken):
        await read_all(pool)
    assert pool._open == 0


async def test_a_body_cut_short_is_an_error(serve) -> None:
    s = await serve(lambda n, req: b"HTTP/1.1 200 OK\r\ncontent-length: 50\r\n\r\nshort", close_after=True)
    pool = Pool(s.url, 4, 5.0)
    with pytest.raises(ConnectionBroken):
        await read_all(pool)


async def test_the_pool_bounds_connections_and_queues_callers(serve) -> None:
    s = await serve(lambda n, req: [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n", b"ok"])
    pool = Pool(s.url, 2, 5.0)
    results = await asyncio.gather(*(read_all(pool) for _ in range(10)))
    assert [r[2] for r in results] == [b"ok"] * 10
    assert s.connections <= 2
    pool.close()


async def test_a_cancelled_waiter_gives_its_turn_on(serve) -> None:
    s = await serve(lambda n, req: ok())
    pool = Pool(s.url, 1, 5.0)
    held = await pool.exchange(request(pool), LIMIT)  # the only connection, not yet released
    waiter = asyncio.ensure_future(read_all(pool))
    await asyncio.sleep(0.01)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    await held.content.readany()
    held.release()
    assert (await asyncio.wait_for(read_all(pool), 5))[0] == 200
    assert s.connections == 1
    pool.close()


async def test_an_idle_connection_closed_by_the_server_is_replaced(serve) -> None:
    s = await serve(lambda n, req: ok(), close_after=True)  # closes without saying so
    pool = Pool(s.url, 4, 5.0)
    assert (await read_all(pool))[0] == 200
    for _ in range(50):
        if pool._open == 0:
            break
        await asyncio.sleep(0.01)
    assert (await read_all(pool))[0] == 200
    assert s.connections == 2


async def test_a_slow_reader_pauses_the_socket(serve) -> None:
    big = b"x" * (4 << 20)
    s = await serve(lambda n, req: ok(big))
    pool = Pool(s.url, 4, 5.0)
    resp = await pool.exchange(request(pool), 8 << 20)
    for _ in range(100):
        if resp._conn is not None and resp._conn._paused:
            break
        await asyncio.sleep(0.01)
    assert resp._conn is not None and resp._conn._paused
    assert resp.content._buffered < len(big)  # not everything was read into memory
    got = b""
    while chunk := await resp.content.readany():
        got += chunk
    assert got == big
    resp.release()
    pool.close()


@pytest.mark.parametrize("headers", [{"x-a": "ok\r\nx-injected: 1"}, {"x-a\n": "v"}, {"": "v"}, {"a:b": "v"}])
def test_header_values_cannot_split_the_head(headers) -> None:
    with pytest.raises(ValueError, match="cannot be sent"):
        header_block(headers)


def test_paths_and_urls_are_checked() -> None:
    pool = Pool("http://127.0.0.1:1/v1", 1, 1.0)
    with pytest.raises(ValueError, match="cannot be sent"):
        pool.request_line("/x HTTP/1.1\r\nhost: evil", b"")
    with pytest.raises(ValueError, match="only http"):
        Pool("ftp://example.com", 1, 1.0)
    assert Pool("https://api.openai.com/v1", 1, 1.0).authority == "api.openai.com"
    assert Pool("http://[::1]:8000", 1, 1.0).authority == "[::1]:8000"


@pytest.fixture
def tls_pair(tmp_path):
    """A self-signed certificate for 127.0.0.1 (openssl CLI), as (server context, client context)."""
    import shutil
    import ssl
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    client = ssl.create_default_context(cafile=str(cert))
    return server, client


async def test_tls_is_verified(tls_pair) -> None:
    server_ctx, client_ctx = tls_pair
    s = Server(lambda n, req: ok())
    s.server = await asyncio.start_server(s.handle, "127.0.0.1", 0, ssl=server_ctx)
    port = s.server.sockets[0].getsockname()[1]
    try:
        pool = Pool(f"https://127.0.0.1:{port}/v1", 2, 5.0, ssl_context=client_ctx)
        assert (await read_all(pool))[2] == b'{"ok": true}'
        pool.close()
        untrusting = Pool(f"https://127.0.0.1:{port}/v1", 2, 5.0)  # the system's trust store
        with pytest.raises(OSError):  # ssl.SSLCertVerificationError
            await read_all(untrusting)
        assert untrusting._open == 0
    finally:
        s.server.close()


def sse_answer(n: int, req: bytes) -> list[bytes | float]:
    events = [b'data: {"n": %d, "i": %d}\n\n' % (n, i) for i in range(3)] + [b"data: [DONE]\n\n"]
    head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
    return [head] + [b"%x\r\n%s\r\n" % (len(e), e) for e in events] + [b"0\r\n\r\n"]


def endpoint(url: str):
    from bastion.providers.transport import Endpoint

    return Endpoint(name="p", base_url=url, auth_headers={"authorization": "Bearer sk-x"}, connect_timeout=2.0,
                    first_byte_timeout=5.0, idle_timeout=5.0, total_timeout=10.0, max_connections=4)


async def test_a_stream_read_to_its_end_leaves_its_connection_for_the_next_call(serve) -> None:
    from bastion.providers.transport import Transport, UpstreamStream

    s = await serve(sse_answer)
    t = Transport()
    ep = endpoint(s.url)
    for n in (1, 2):
        status, _, stream = await t.post_stream(ep, "/chat/completions", b"{}")
        assert status == 200 and isinstance(stream, UpstreamStream)
        got = [data async for burst in stream.bursts() for _, data in burst]
        stream.close()
        assert got == [b'{"n": %d, "i": %d}' % (n, i) for i in range(3)] + [b"[DONE]"]
    assert s.connections == 1 and t.stats.open_responses == 0 and t.stats.in_flight == 0
    await t.close()


async def test_a_stream_closed_early_drops_its_connection(serve) -> None:
    from bastion.providers.transport import Transport, UpstreamStream

    def paused(n: int, req: bytes) -> list[bytes | float]:
        parts: list[bytes | float] = list(sse_answer(n, req))
        return [*parts[:2], 1.0, *parts[2:]] if n == 1 else parts  # the rest of the first stream comes late

    s = await serve(paused)
    t = Transport()
    ep = endpoint(s.url)
    _, _, stream = await t.post_stream(ep, "/chat/completions", b"{}")
    assert isinstance(stream, UpstreamStream)
    async for _ in stream.bursts():
        break  # the client went away after the first burst
    stream.close()
    status, _, body = await t.post_stream(ep, "/chat/completions", b"{}")
    assert status == 200 and isinstance(body, UpstreamStream)
    body.close()
    assert s.connections == 2  # the half-read connection was not handed to the second call
    await t.close()


@pytest.mark.parametrize("head", [
    b"".join(b"x-h%d: v\r\n" % i for i in range(300)),  # too many lines
    b"x-big: " + b"v" * (70 * 1024) + b"\r\n",  # one huge value
])
async def test_an_oversized_response_head_is_refused(serve, head) -> None:
    s = await serve(lambda n, req: b"HTTP/1.1 200 OK\r\n" + head + b"content-length: 2\r\n\r\nok")
    pool = Pool(s.url, 4, 5.0)
    with pytest.raises(ProtocolViolation, match="too large"):
        await read_all(pool)
    pool.close()


async def test_a_head_that_never_ends_is_cut_off(serve) -> None:
    endless = [b"HTTP/1.1 200 OK\r\nx-endless: "] + [b"v" * 65536] * 8  # no CRLF ever
    s = await serve(lambda n, req: endless)
    pool = Pool(s.url, 4, 5.0)
    with pytest.raises(ProtocolViolation, match="too large"):
        await read_all(pool)
    pool.close()


# Ambiguous framing: a response whose length two parsers could read differently is how one
# caller's answer ends up in another's (response desync). Each is refused, and the connection
# never serves the next call.
@pytest.mark.parametrize("head", [
    b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n",  # CL and TE
    b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\n",  # two lengths
    b"HTTP/1.1 200 OK\r\ncontent-length: 5, 6\r\n\r\n",
    b"HTTP/1.1 200 OK\r\ncontent-length: -5\r\n\r\n",
    b"HTTP/1.1 200 OK\r\ncontent-length: 0x5\r\n\r\n",
    b"HTTP/1.1 200 OK\r\ncontent-length : 5\r\n\r\n",  # space before the colon
    b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nffffffffffffffffff\r\nhello\r\n0\r\n\r\n",  # chunk size overflow
    b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5;\x00\r\nhello\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n content-length: 5\r\n\r\n",  # obsolete line folding
])
async def test_ambiguous_framing_is_refused_and_the_connection_dropped(serve, head: bytes) -> None:
    s = await serve(lambda n, req: head + b"hello" + ok(b'{"smuggled": 1}') if n == 1 else ok(b'{"n": 2}'))
    pool = Pool(s.url, 4, 5.0)
    with pytest.raises((ProtocolViolation, ConnectionBroken)):
        await read_all(pool)
    assert (await read_all(pool))[2] == b'{"n": 2}'  # a fresh connection, never the smuggled answer
    assert s.connections == 2
    pool.close()
