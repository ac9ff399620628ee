"""http/asgi.py: a response's `after` work (the observers: metrics, access log) runs once its last byte
has been handed to the connection, also when that write fails or the client cuts a stream, and its
own failure is logged, never raised into the connection; the request still counts as in flight. An `after`
that does its work in the call (returns None, as `Pipeline.report_now` does) is not awaited; one that
returns an awaitable has it awaited: both are checked."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import pytest

from bastion.http.asgi import BastionASGI, Routes
from bastion.http.limits import HttpLimits
from bastion.http.types import After, HttpRequest, HttpResponse, StreamingResponse


class App:
    def __init__(self, *, fail_after: bool = False, plain_after: bool = False) -> None:
        self.log: list[str] = []
        self.in_flight_after: list[int] = []

        def work() -> None:
            self.log.append("after")
            self.in_flight_after.append(self.asgi.in_flight)
            if fail_after:
                raise RuntimeError("observer broke")

        async def awaited() -> None:
            work()

        def now() -> Awaitable[None] | None:  # the work done in the call: nothing to await
            work()
            return None

        after: After = now if plain_after else awaited

        async def plain(req: HttpRequest) -> HttpResponse:
            return HttpResponse.json({"ok": True}, after=after)

        async def stream(req: HttpRequest) -> StreamingResponse:
            async def chunks() -> AsyncIterator[bytes]:
                yield b"data: a\n\n"
                await asyncio.sleep(0)
                yield b"data: b\n\n"

            async def on_close(gone: bool) -> None:
                self.log.append(f"on_close gone={gone}")

            return StreamingResponse(chunks(), on_close=on_close, after=after)

        routes = Routes(public={}, api={("POST", "/plain"): plain, ("POST", "/stream"): stream}, prefixed=[],
                        fallback=plain)
        self.asgi = BastionASGI(routes, 1024, limits=HttpLimits(max_body_bytes=1024))


def scope(path: str) -> dict[str, Any]:
    return {"type": "http", "method": "POST", "path": path, "http_version": "1.1", "query_string": b"",
            "headers": [], "client": ("10.0.0.1", 1234)}


async def call(a: App, path: str, *, send_fails: bool = False, cut: bool = False) -> None:
    pending = [{"type": "http.request", "body": b"", "more_body": False}]
    forever = asyncio.Event()

    async def receive() -> dict[str, Any]:
        if pending:
            return pending.pop(0)
        await forever.wait()
        return {"type": "http.disconnect"}

    async def send(msg: dict[str, Any]) -> None:
        if cut and msg["type"] == "http.response.body":  # the client is gone at the stream's first write
            raise OSError("connection reset")
        if msg["type"] == "http.response.body" and not msg.get("more_body", False):
            if send_fails:
                raise OSError("connection reset")
            a.log.append("end of body")

    await a.asgi(scope(path), receive, send)


PLAIN = pytest.mark.parametrize("plain", [False, True], ids=["awaitable", "plain"])


@PLAIN
@pytest.mark.parametrize("path", ["/plain", "/stream"])
async def test_after_runs_once_after_the_last_byte_while_the_request_is_in_flight(
        path: str, plain: bool, caplog: pytest.LogCaptureFixture) -> None:
    a = App(plain_after=plain)
    with caplog.at_level(logging.ERROR, logger="bastion.http"):
        await call(a, path)
    tail = ["on_close gone=False", "end of body", "after"] if path == "/stream" else ["end of body", "after"]
    assert a.log == tail
    assert a.in_flight_after == [1] and a.asgi.in_flight == 0
    assert not caplog.records  # (a None awaited would be a TypeError, logged as failed after-work)


@PLAIN
async def test_after_runs_when_the_last_write_fails(plain: bool) -> None:
    a = App(plain_after=plain)
    with pytest.raises(OSError):
        await call(a, "/plain", send_fails=True)
    assert a.log == ["after"]


@PLAIN
async def test_after_runs_when_the_client_cuts_a_stream(plain: bool) -> None:
    a = App(plain_after=plain)
    await call(a, "/stream", cut=True)  # a failed write is a client gone, not an error
    assert a.log == ["on_close gone=True", "after"]


@PLAIN
@pytest.mark.parametrize("path", ["/plain", "/stream"])
async def test_a_failing_after_is_logged_and_never_raised(path: str, plain: bool,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    a = App(fail_after=True, plain_after=plain)  # (plain: it raises in the call itself)
    with caplog.at_level(logging.ERROR, logger="bastion.http"):
        await call(a, path)
    assert a.log[-2:] == ["end of body", "after"]
    assert any("after-response work failed" in r.getMessage() for r in caplog.records)
