"""The server's disconnect extension (http/disconnect.py): fired once, a callback set after the loss
still learns of it, and the protocol keeps one per unanswered request (none left once answered)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import uvicorn
from tests.gateway import free_port

from bastion.http.disconnect import EXTENSION, Disconnect
from bastion.http.protocol import GuardedHttpToolsProtocol


def test_fires_once_and_remembers_the_loss() -> None:
    calls: list[int] = []
    d = Disconnect()
    d.callback = lambda: calls.append(1)
    d.fire()
    d.fire()
    assert calls == [1] and d.lost and d.callback is None


async def test_one_per_unanswered_request_and_fired_when_the_client_leaves() -> None:
    seen: list[Disconnect] = []
    release = asyncio.Event()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        seen.append(scope["extensions"][EXTENSION])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        if scope["path"] == "/hang":
            await release.wait()  # a response under way when the client leaves
        await send({"type": "http.response.body", "body": b"ok"})

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, http=GuardedHttpToolsProtocol,
                                           lifespan="off", log_level="warning"))
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(500):
            if server.started:
                break
            await asyncio.sleep(0.01)
        async with httpx.AsyncClient() as client:
            for _ in range(3):  # kept alive: answered requests leave nothing behind
                assert (await client.get(f"http://127.0.0.1:{port}/")).status_code == 200
            (protocol,) = server.server_state.connections
            assert len(protocol._unanswered) == 0  # type: ignore[attr-defined]
        assert len(seen) == 3 and not any(d.lost for d in seen)
        fired = asyncio.Event()
        async with httpx.AsyncClient() as client:
            async with client.stream("GET", f"http://127.0.0.1:{port}/hang") as resp:
                assert resp.status_code == 200
                seen[-1].callback = fired.set
        await asyncio.wait_for(fired.wait(), 5)  # the client closed its connection mid-response
        assert seen[-1].lost
    finally:
        release.set()
        server.should_exit = True
        await task
