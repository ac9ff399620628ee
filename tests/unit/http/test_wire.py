"""http/protocol.py `_Wire`: a response's head held until its first body bytes (one write), never past the
loop's next iteration nor a close; the bytes and their order unchanged."""

from __future__ import annotations

import asyncio
from typing import Any

from bastion.http.protocol import _Wire


class FakeTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False
        self.paused = False

    def write(self, data: bytes) -> None:
        assert not self.closed, "a write after close"
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        self.paused = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 1234) if name == "peername" else default


def run(body: Any) -> Any:
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(body(loop))
    finally:
        loop.close()


def test_head_and_first_body_leave_in_one_write() -> None:
    async def body(loop: asyncio.AbstractEventLoop) -> None:
        t = FakeTransport()
        w = _Wire(t, loop)  # type: ignore[arg-type]
        w.armed = True
        w.write(b"HEAD\r\n\r\n")
        assert t.writes == []
        w.write(b"body")
        w.write(b"more")  # (not armed again: straight through)
        assert t.writes == [b"HEAD\r\n\r\nbody", b"more"]
        await asyncio.sleep(0)
        assert t.writes == [b"HEAD\r\n\r\nbody", b"more"]  # the flush found nothing left

    run(body)


def test_a_head_alone_leaves_at_the_next_iteration() -> None:
    async def body(loop: asyncio.AbstractEventLoop) -> None:
        t = FakeTransport()
        w = _Wire(t, loop)  # type: ignore[arg-type]
        w.armed = True
        w.write(b"HEAD")
        assert t.writes == []
        await asyncio.sleep(0)
        assert t.writes == [b"HEAD"]
        w.write(b"later")
        assert t.writes == [b"HEAD", b"later"]

    run(body)


def test_unarmed_writes_go_straight_through() -> None:
    async def body(loop: asyncio.AbstractEventLoop) -> None:
        t = FakeTransport()
        w = _Wire(t, loop)  # type: ignore[arg-type]
        w.write(b"a")
        w.write(b"b")
        assert t.writes == [b"a", b"b"]

    run(body)


def test_close_sends_what_is_held_first() -> None:
    async def body(loop: asyncio.AbstractEventLoop) -> None:
        t = FakeTransport()
        w = _Wire(t, loop)  # type: ignore[arg-type]
        w.armed = True
        w.write(b"HEAD")  # a HEAD request's answer, then connection: close
        w.close()
        assert t.writes == [b"HEAD"] and t.closed
        await asyncio.sleep(0)  # the scheduled flush has nothing left (no write after close)
        assert t.writes == [b"HEAD"]

    run(body)


def test_a_lost_connection_drops_what_is_held() -> None:
    async def body(loop: asyncio.AbstractEventLoop) -> None:
        t = FakeTransport()
        w = _Wire(t, loop)  # type: ignore[arg-type]
        w.armed = True
        w.write(b"HEAD")
        w.drop()
        t.closed = True
        await asyncio.sleep(0)
        assert t.writes == []

    run(body)


def test_the_rest_is_the_transports() -> None:
    async def body(loop: asyncio.AbstractEventLoop) -> None:
        t = FakeTransport()
        w = _Wire(t, loop)  # type: ignore[arg-type]
        w.pause_reading()
        assert t.paused and w.get_extra_info("peername") == ("127.0.0.1", 1234)
        assert not w.is_closing()
        w.close()
        assert w.is_closing()

    run(body)


def test_a_transport_closed_underneath_gets_no_late_write() -> None:
    async def body(loop: asyncio.AbstractEventLoop) -> None:
        t = FakeTransport()
        w = _Wire(t, loop)  # type: ignore[arg-type]
        w.armed = True
        w.write(b"HEAD")
        t.closed = True  # (a reset seen by the transport before the protocol hears of it)
        await asyncio.sleep(0)
        assert t.writes == []

    run(body)
