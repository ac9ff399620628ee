"""The raw ASGI application: request id, body limit, routing by allow-list, one error path,
streaming with client-disconnect detection, and lifespan hooks."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from bastion.core.errors import (
    BastionError,
    InternalError,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
)
from bastion.core.types import Ingress
from bastion.http.errors import error_response
from bastion.http.types import Handler, HttpRequest, HttpResponse, StreamingResponse

log = logging.getLogger("bastion.http")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

BODY_READ_TIMEOUT = 30.0


class Routes:
    """Exact-path routes plus prefix routes (admin). `public` paths are the ONLY ones served
    without a credential; everything else goes to handlers that authenticate first, and an
    unknown path goes to `fallback`, which authenticates before it answers 404."""

    def __init__(self, public: dict[tuple[str, str], Handler], api: dict[tuple[str, str], Handler],
                 prefixed: list[tuple[str, Handler]], fallback: Handler) -> None:
        self.public = public
        self.api = api
        self.prefixed = prefixed
        self.fallback = fallback
        self.api_paths = {p for _, p in api}

    def resolve(self, method: str, path: str) -> Handler:
        h = self.public.get((method, path))
        if h is not None:
            return h
        h = self.api.get((method, path))
        if h is not None:
            return h
        for prefix, handler in self.prefixed:
            if path == prefix or path.startswith(prefix + "/"):
                return handler
        return self.fallback


def _ingress(path: str) -> Ingress:
    return "anthropic" if path.startswith("/v1/messages") else "openai"


class BastionASGI:
    def __init__(self, routes: Routes, max_body_bytes: int,
                 on_startup: Callable[[], Awaitable[None]] | None = None,
                 on_shutdown: Callable[[], Awaitable[None]] | None = None) -> None:
        self.routes = routes
        self.max_body = max_body_bytes
        self.on_startup = on_startup
        self.on_shutdown = on_shutdown
        self._prefix = os.urandom(4).hex()
        self._counter = 0

    def _request_id(self) -> str:
        self._counter += 1
        return f"req_{self._prefix}{self._counter:010x}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                try:
                    if self.on_startup:
                        await self.on_startup()
                except Exception as e:
                    log.exception("startup failed")
                    await send({"type": "lifespan.startup.failed", "message": str(e)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                try:
                    if self.on_shutdown:
                        await self.on_shutdown()
                finally:
                    await send({"type": "lifespan.shutdown.complete"})
                return

    async def _read_body(self, headers: dict[str, str], receive: Receive) -> bytes:
        cl = headers.get("content-length")
        if cl is not None:
            if not cl.isdigit():
                raise InvalidRequest("Content-Length header is not a number")
            if int(cl) > self.max_body:
                raise PayloadTooLarge(f"request body exceeds the limit of {self.max_body} bytes")
        chunks: list[bytes] = []
        size = 0
        async with asyncio.timeout(BODY_READ_TIMEOUT):
            while True:
                msg = await receive()
                if msg["type"] == "http.disconnect":
                    raise asyncio.CancelledError()
                chunk = msg.get("body", b"")
                if chunk:
                    size += len(chunk)
                    if size > self.max_body:
                        raise PayloadTooLarge(f"request body exceeds the limit of {self.max_body} bytes")
                    chunks.append(chunk)
                if not msg.get("more_body", False):
                    break
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        method: str = scope["method"]
        headers: dict[str, str] = {}
        for k, v in scope["headers"]:
            headers[k.decode("latin-1").lower()] = v.decode("latin-1")
        rid = self._request_id()
        ingress = _ingress(path)
        resp: HttpResponse | StreamingResponse
        try:
            try:
                body = await self._read_body(headers, receive)
            except TimeoutError:
                raise InvalidRequest("request body was not received in time", code="request_timeout",
                                     status=408) from None
            qs = scope.get("query_string", b"")
            query = _parse_query(qs.decode("latin-1")) if qs else {}
            client = scope.get("client")
            req = HttpRequest(method, path, query, headers, body, client[0] if client else None, rid)
            resp = await self.routes.resolve(method, path)(req)
        except BastionError as e:
            resp = error_response(e, ingress)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("unhandled error", extra={"request_id": rid})
            resp = error_response(InternalError("internal error; see the gateway log for request " + rid),
                                  ingress)
        if isinstance(resp, StreamingResponse):
            await self._send_stream(resp, rid, receive, send)
        else:
            await self._send(resp, rid, send)

    @staticmethod
    def _headers(content_type: str, extra: dict[str, str], rid: str, length: int | None) -> list[tuple[bytes, bytes]]:
        hs = [(b"content-type", content_type.encode()), (b"x-request-id", rid.encode())]
        if length is not None:
            hs.append((b"content-length", str(length).encode()))
        for k, v in extra.items():
            hs.append((k.encode("latin-1"), v.encode("latin-1")))
        return hs

    async def _send(self, resp: HttpResponse, rid: str, send: Send) -> None:
        await send({"type": "http.response.start", "status": resp.status,
                    "headers": self._headers(resp.content_type, resp.headers, rid, len(resp.body))})
        await send({"type": "http.response.body", "body": resp.body})

    async def _send_stream(self, resp: StreamingResponse, rid: str, receive: Receive, send: Send) -> None:
        me = asyncio.current_task()
        assert me is not None
        gone = False

        async def watch() -> None:
            nonlocal gone
            while True:
                msg = await receive()
                if msg["type"] == "http.disconnect":
                    gone = True
                    me.cancel()
                    return

        watcher = asyncio.get_running_loop().create_task(watch())
        hs = self._headers(resp.content_type, resp.headers, rid, None)
        hs.append((b"cache-control", b"no-cache"))
        try:
            await send({"type": "http.response.start", "status": resp.status, "headers": hs})
            async for chunk in resp.chunks:
                if chunk:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        except asyncio.CancelledError:
            if not gone:
                raise
            me.uncancel()
        except OSError:
            gone = True
        finally:
            watcher.cancel()
            aclose = getattr(resp.chunks, "aclose", None)
            if aclose is not None:
                try:
                    await aclose()
                except Exception:
                    log.exception("closing a stream failed")
            if resp.on_close is not None:
                await resp.on_close(gone)


def _parse_query(qs: str) -> dict[str, str]:
    from urllib.parse import parse_qsl

    return dict(parse_qsl(qs, keep_blank_values=True))


def not_found(path: str) -> NotFound:
    return NotFound(f"no route {path[:200]}", code="not_found")
