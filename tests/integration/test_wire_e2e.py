"""What the served gateway puts on the wire: a response's head leaves with its first body bytes in one
write (http/protocol.py `_Wire`), and the bytes are exactly those uvicorn produced, in their order.

Through a real uvicorn server (the in-process gateway, httptools + uvloop + Bastion's protocol) whose
protocol records, per connection, what uvicorn and the protocol hand the transport ("given": what went
to the socket, one write each, before the coalescing) and what reaches the socket ("raw"). For JSON,
streamed, HEAD and error responses, keep-alive, pipelining and a client gone mid-stream: raw bytes ==
given bytes == what the client read; a small response is one write.
"""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from bastion.http.protocol import GuardedHttpToolsProtocol
from tests.fakes.reply import Reply
from tests.gateway import base_config
from tests.integration.inprocess import InProcessGateway

pytestmark = pytest.mark.timeout(60)


class _Record:
    def __init__(self) -> None:
        self.given: list[bytes] = []
        self.raw: list[bytes] = []
        self.closed = False


class _Raw:
    """Under the wire: the socket's transport, its writes recorded."""

    def __init__(self, transport: Any, rec: _Record) -> None:
        self._t, self._rec = transport, rec

    def write(self, data: bytes) -> None:
        self._rec.raw.append(bytes(data))
        self._t.write(data)

    def close(self) -> None:
        self._rec.closed = True
        self._t.close()

    def is_closing(self) -> bool:
        return bool(self._t.is_closing())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._t, name)


class _Given(_Raw):
    """Over the wire: what uvicorn and the protocol write (each was one socket write before)."""

    def __init__(self, wire: Any, rec: _Record) -> None:
        super().__init__(wire, rec)

    def write(self, data: bytes) -> None:
        self._rec.given.append(bytes(data))
        self._t.write(data)


class RecordingProtocol(GuardedHttpToolsProtocol):
    records: dict[int, _Record] = {}  # by the client's port
    lock = threading.Lock()

    def connection_made(self, transport: Any) -> None:
        rec = _Record()
        with self.lock:
            self.records[transport.get_extra_info("peername")[1]] = rec
        super().connection_made(_Raw(transport, rec))  # type: ignore[arg-type]
        self.transport = _Given(self.transport, rec)  # type: ignore[assignment]  # (cycles take it from here)


@pytest.fixture(scope="module")
def served(fake_upstream_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[InProcessGateway, str]]:
    cfg = base_config(fake_upstream_server.url, tmp_path_factory.mktemp("wire"))
    with InProcessGateway(cfg, protocol=RecordingProtocol) as g:
        yield g, g.create_key(name="wire")


def _connect(g: InProcessGateway) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", g.port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def _record(s: socket.socket) -> _Record:
    return RecordingProtocol.records[s.getsockname()[1]]


def _request(method: str, path: str, key: str | None, body: bytes = b"") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
    if key:
        head += f"authorization: Bearer {key}\r\n"
    if body or method == "POST":
        head += f"content-length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


class _Reader:
    def __init__(self, s: socket.socket) -> None:
        self.s, self.buf, self.seen = s, b"", b""

    def _more(self) -> None:
        data = self.s.recv(65536)
        assert data, "the connection closed early"
        self.buf += data
        self.seen += data

    def response(self, head_only: bool = False) -> bytes:
        """One whole response (its bytes as received)."""
        while b"\r\n\r\n" not in self.buf:
            self._more()
        end = self.buf.index(b"\r\n\r\n") + 4
        head = self.buf[:end]
        if head_only or re.match(rb"HTTP/1.1 (1\d\d|204|304) ", head):
            size = end
        elif m := re.search(rb"(?i)\r\ncontent-length: *(\d+)", head):
            size = end + int(m.group(1))
        else:  # chunked
            pos = end
            while True:
                while b"\r\n" not in self.buf[pos:]:
                    self._more()
                line_end = self.buf.index(b"\r\n", pos)
                n = int(self.buf[pos:line_end], 16)
                while len(self.buf) < line_end + 2 + n + 2:
                    self._more()
                pos = line_end + 2 + n + 2
                if n == 0:
                    break
            size = pos
        while len(self.buf) < size:
            self._more()
        out, self.buf = self.buf[:size], self.buf[size:]
        return out


CHAT = b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello there"}]}'
STREAM = b'{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hello there"}]}'


def _settled(rec: _Record, received: bytes) -> None:
    """The socket got exactly what uvicorn wrote, in order, and the client read exactly that."""
    for _ in range(200):  # (the server thread may still be recording the last write's return)
        if b"".join(rec.raw) == received:
            break
        threading.Event().wait(0.01)
    assert b"".join(rec.raw) == b"".join(rec.given) == received


def test_a_small_json_response_is_one_write_with_the_same_bytes(served, fake_upstream):
    g, key = served
    fake_upstream.always("openai.chat", Reply(text="The answer."))
    with _connect(g) as s:
        r = _Reader(s)
        s.sendall(_request("POST", "/v1/chat/completions", key, CHAT))
        resp = r.response()
        assert resp.startswith(b"HTTP/1.1 200 ") and b"The answer." in resp
        rec = _record(s)
        _settled(rec, r.seen)
        assert len(rec.given) == 2  # uvicorn wrote the head and the body apart...
        assert len(rec.raw) == 1  # ...and they left in one write


def test_keep_alive_requests_and_errors_each_leave_in_one_write(served, fake_upstream):
    g, key = served
    fake_upstream.always("openai.chat", Reply(text="Again."))
    with _connect(g) as s:
        r = _Reader(s)
        statuses = []
        for req in (_request("POST", "/v1/chat/completions", key, CHAT),
                    _request("GET", "/healthz", None),
                    _request("POST", "/v1/chat/completions", key, b'{"model": '),  # 400
                    _request("GET", "/v1/nowhere", key),  # 404
                    _request("POST", "/v1/chat/completions", key, CHAT),
                    _request("POST", "/v1/chat/completions", "bst_not-a-key", CHAT)):  # 401, and closed
            s.sendall(req)
            statuses.append(int(r.response().split(b" ", 2)[1]))
        assert statuses == [200, 200, 400, 404, 200, 401]
        assert s.recv(10) == b""  # closed after the 401's last byte
        rec = _record(s)
        _settled(rec, r.seen)
        assert len(rec.raw) == 6 < len(rec.given) and rec.closed


def test_head_responses_carry_no_body(served, fake_upstream):
    g, _ = served
    with _connect(g) as s:
        r = _Reader(s)
        s.sendall(_request("HEAD", "/healthz", None))
        first = r.response(head_only=True)
        s.sendall(_request("GET", "/healthz", None))  # the connection is still in step
        second = r.response()
        assert first.startswith(b"HTTP/1.1 ") and first.endswith(b"\r\n\r\n")
        assert second.startswith(b"HTTP/1.1 200 ")
        _settled(_record(s), r.seen)


def test_pipelined_requests_get_their_answers_in_order(served, fake_upstream):
    g, key = served
    fake_upstream.always("openai.chat", Reply(text="Piped."))
    with _connect(g) as s:
        r = _Reader(s)
        s.sendall(_request("POST", "/v1/chat/completions", key, CHAT) + _request("GET", "/healthz", None)
                  + _request("POST", "/v1/chat/completions", key, STREAM))
        one, two, three = r.response(), r.response(), r.response()
        assert b"Piped." in one and two.startswith(b"HTTP/1.1 200 ") and b"data: [DONE]" in three
        _settled(_record(s), r.seen)


def test_a_stream_head_leaves_with_its_first_event(served, fake_upstream):
    g, key = served
    fake_upstream.always("openai.chat", Reply(stream=["Hel", "lo", " there"]))
    with _connect(g) as s:
        r = _Reader(s)
        s.sendall(_request("POST", "/v1/chat/completions", key, STREAM))
        resp = r.response()
        assert b"text/event-stream" in resp and resp.endswith(b"0\r\n\r\n") and b"data: [DONE]" in resp
        rec = _record(s)
        _settled(rec, r.seen)
        head, _, rest = rec.raw[0].partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ") and b"data: " in rest
        assert len(rec.raw) < len(rec.given)


def test_a_client_gone_mid_stream(served, fake_upstream):
    g, key = served
    fake_upstream.always("openai.chat", Reply(stream=[f"w{i} " for i in range(40)], delay_between_chunks=0.05))
    baseline = g.task_count()
    s = _connect(g)
    r = _Reader(s)
    s.sendall(_request("POST", "/v1/chat/completions", key, STREAM))
    while b"w1 " not in r.seen:
        r._more()
    port = s.getsockname()[1]
    s.close()
    rec = RecordingProtocol.records[port]
    assert fake_upstream.wait_for_disconnects(1) >= 1  # the upstream call was cut with the client
    assert not any(g.quiet(baseline).values())
    raw, given = b"".join(rec.raw), b"".join(rec.given)
    assert given.startswith(raw) and raw.startswith(r.seen)  # in order; nothing after the client left
    fake_upstream.always("openai.chat", Reply(text="Still here."))
    with _connect(g) as s2:
        r2 = _Reader(s2)
        s2.sendall(_request("POST", "/v1/chat/completions", key, CHAT))
        assert b"Still here." in r2.response()
        _settled(_record(s2), r2.seen)


def test_a_served_request_asks_no_running_loop(fake_upstream_server, fake_upstream, tmp_path):
    """`asyncio.get_running_loop()` (and `current_task()` without a loop) costs a getpid() system call on
    Python 3.11: the request path takes the loop from the objects that live on it instead."""
    calls: list[str] = []
    counting = threading.Event()

    def profile(frame: Any, event: str, arg: Any) -> None:
        if counting.is_set() and event == "c_call" and getattr(arg, "__name__", "") in (
                "get_running_loop", "_get_running_loop", "get_event_loop"):
            frames = [f for f in (frame, frame.f_back) if f is not None]
            if any(f.f_code.co_name == "_connect" and f.f_code.co_filename.endswith("pool.py") for f in frames):
                return  # a new upstream connection's (per connection: a loaded host may read the stream's
                # last chunk after its end and close the kept-alive one), not the request path's
            where = [f"{f.f_code.co_filename}:{f.f_lineno}" for f in frames]
            if any("bastion" in w and "/asyncio/" not in w for w in where):
                calls.append(" <- ".join(where))

    threading.setprofile(profile)  # (the gateway's thread, started now, inherits it)
    try:
        gw = InProcessGateway(base_config(fake_upstream_server.url, tmp_path)).start()
    finally:
        threading.setprofile(None)  # type: ignore[arg-type]
    try:
        key = gw.create_key(name="loop")
        fake_upstream.always("openai.chat", Reply(stream=["One", " two"]))
        with _connect(gw) as s:
            r = _Reader(s)
            for body in (CHAT, STREAM):  # these make the upstream connection
                s.sendall(_request("POST", "/v1/chat/completions", key, body))
                r.response()
            # counted: a pair of requests, up to three times: a loaded host's scheduling may still cost one
            # pair a lookup off the request path; a lookup made by every request fails every pair
            seen: list[list[str]] = []
            for _ in range(3):
                calls.clear()
                counting.set()
                for body in (CHAT, STREAM):
                    s.sendall(_request("POST", "/v1/chat/completions", key, body))
                    r.response()
                counting.clear()
                seen.append(list(calls))
                if not calls:
                    break
        assert seen[-1] == [], seen
    finally:
        gw.stop()
