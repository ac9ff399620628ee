"""http/asgi.py: a streamed response is finalized (its `on_close` done: budget settled, audit
written) before the last body write, as a non-streamed response is before its one write; so a
client that has read the whole answer cannot start its next request while this one still runs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from bastion.http.asgi import BastionASGI, Routes
from bastion.http.limits import HttpLimits
from bastion.http.types import HttpRequest, HttpResponse, StreamingResponse


class App:
    def __init__(self) -> None:
        self.log: list[str] = []
        self.closes: list[bool] = []
        self.finalized = asyncio.Event()  # what the finalization waits on (a slow limits backend)
        self.started = asyncio.Event()

        async def stream(req: HttpRequest) -> StreamingResponse:
            async def chunks() -> AsyncIterator[bytes]:
                yield b"data: a\n\n"
                await asyncio.sleep(0)
                yield b"data: b\n\n"

            async def on_close(gone: bool) -> None:
                self.log.append("finalize started")
                self.started.set()
                await self.finalized.wait()
                self.closes.append(gone)
                self.log.append("finalized")

            return StreamingResponse(chunks(), on_close=on_close)

        async def other(req: HttpRequest) -> HttpResponse:
            return HttpResponse.json({})

        routes = Routes(public={}, api={("POST", "/stream"): stream}, prefixed=[], fallback=other)
        self.asgi = BastionASGI(routes, 1024, limits=HttpLimits(max_body_bytes=1024))


def scope() -> dict[str, Any]:
    return {"type": "http", "method": "POST", "path": "/stream", "http_version": "1.1", "query_string": b"",
            "headers": [], "client": ("10.0.0.1", 1234)}


async def test_the_stream_is_finalized_before_its_last_write() -> None:
    a = App()
    ended = asyncio.Event()
    body: list[bytes] = []
    forever = asyncio.Event()
    pending = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive() -> dict[str, Any]:
        if pending:
            return pending.pop(0)
        await forever.wait()
        return {"type": "http.disconnect"}

    async def send(msg: dict[str, Any]) -> None:
        if msg["type"] == "http.response.body":
            body.append(msg["body"])
            if not msg.get("more_body", False):
                a.log.append("end of body")
                ended.set()

    task = asyncio.ensure_future(a.asgi(scope(), receive, send))
    await a.started.wait()
    for _ in range(20):  # the finalization is slow: the client must not have the end yet
        await asyncio.sleep(0)
    assert not ended.is_set() and a.asgi.in_flight == 1
    a.finalized.set()
    await task
    assert a.log == ["finalize started", "finalized", "end of body"]
    assert b"".join(body) == b"data: a\n\ndata: b\n\n" and a.closes == [False]
    assert a.asgi.in_flight == 0


async def test_a_client_gone_mid_stream_is_finalized_once_as_gone() -> None:
    a = App()
    a.finalized.set()
    gone = asyncio.Event()
    msgs = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive() -> dict[str, Any]:
        if msgs:
            return msgs.pop(0)
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(msg: dict[str, Any]) -> None:
        if msg["type"] == "http.response.body":
            gone.set()
            await asyncio.Event().wait()  # the write never completes: the client left

    await a.asgi(scope(), receive, send)
    assert a.closes == [True] and a.asgi.in_flight == 0
