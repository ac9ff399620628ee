"""The floor: a minimal raw-ASGI pass-through (one bearer key, body forwarded, streams relayed).

uvicorn + httptools + uvloop, one aiohttp ClientSession with a keep-alive pool.
Usage: passthrough.py --port P --upstream http://127.0.0.1:U --key KEY
"""

from __future__ import annotations

import argparse
from typing import Any

import aiohttp
import uvicorn

ARGS = argparse.Namespace()
STATE: dict[str, Any] = {}
JSON_HDR = [(b"content-type", b"application/json")]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                conn = aiohttp.TCPConnector(limit=256, keepalive_timeout=60)
                STATE["s"] = aiohttp.ClientSession(connector=conn, auto_decompress=False)
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await STATE["s"].close()
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["path"] == "/healthz":
        await send({"type": "http.response.start", "status": 200, "headers": JSON_HDR})
        await send({"type": "http.response.body", "body": b"{}"})
        return
    auth = dict(scope["headers"]).get(b"authorization", b"")
    if auth != STATE["want"]:
        await send({"type": "http.response.start", "status": 401, "headers": JSON_HDR})
        await send({"type": "http.response.body", "body": b'{"error":"unauthorized"}'})
        return
    body, more = b"", True
    while more:
        msg = await receive()
        body += msg.get("body", b"")
        more = msg.get("more_body", False)
    headers = {"content-type": "application/json", "authorization": "Bearer upstream-key"}
    async with STATE["s"].post(ARGS.upstream + scope["path"], data=body, headers=headers) as r:
        ctype = r.headers.get("content-type", "application/json").encode()
        await send({"type": "http.response.start", "status": r.status, "headers": [(b"content-type", ctype)]})
        if ctype.startswith(b"text/event-stream"):
            async for chunk in r.content.iter_any():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        else:
            await send({"type": "http.response.body", "body": await r.read()})


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--upstream", required=True)
    p.add_argument("--key", required=True)
    p.parse_args(namespace=ARGS)
    STATE["want"] = b"Bearer " + ARGS.key.encode()
    uvicorn.run(app, host="127.0.0.1", port=ARGS.port, loop="uvloop", http="httptools", lifespan="on",
                access_log=False, log_level="warning", server_header=False, date_header=False)


if __name__ == "__main__":
    main()
