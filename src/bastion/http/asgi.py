"""The raw ASGI application: request id and client address (trusted proxies' when configured),
admission (load shedding), header and body limits, routing by allow-list, the credential before
the body, one error path, streaming with client-disconnect detection, lifespan hooks."""

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
    ServiceUnavailable,
)
from bastion.core.types import Ingress
from bastion.http.disconnect import EXTENSION as DISCONNECT
from bastion.http.disconnect import Disconnect
from bastion.http.errors import error_response
from bastion.http.forwarded import TrustedProxies
from bastion.http.gate import Gated
from bastion.http.gate import Routes as Routes  # built by callers from here too
from bastion.http.limits import HttpLimits, LimitedRequest
from bastion.http.relay import relay
from bastion.http.types import After, HttpResponse, StreamingResponse

_head_fields: Callable[[list[tuple[bytes, bytes]], dict[bytes, str], frozenset[str]],
                       tuple[dict[str, str], int] | str | None] | None
_response_head: Callable[[str, str, int | None, dict[str, str], dict[str, bytes]],
                         list[tuple[bytes, bytes]] | None] | None
try:  # _check_head's loop and _headers in one C call each (_native_http.c), with the same results
    from bastion._native import head_fields as _head_fields
    from bastion._native import response_head as _response_head
except ImportError:  # not built: the Python code
    _head_fields = _response_head = None

log = logging.getLogger("bastion.http")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

# Headers that must appear at most once: a second copy is how requests are smuggled past a proxy
# that reads the first while the gateway reads the last.
_SINGLETONS = frozenset({"authorization", "x-api-key", "content-length", "content-type", "host",
                         "transfer-encoding"})

# Header names of every request or answer, converted once: request names as servers hand them
# (lower-case bytes) to the text _check_head makes of them, answer names to their bytes. Any other
# name (another case included) takes the general conversion, with the same result.
_COMMON_NAMES = ("host", "user-agent", "accept", "accept-encoding", "accept-language", "connection",
                 "content-type", "content-length", "authorization", "x-api-key", "anthropic-version",
                 "anthropic-beta", "expect", "transfer-encoding", "x-request-id", "x-forwarded-for",
                 "forwarded", "x-real-ip", "traceparent", "tracestate", "openai-organization", "openai-project",
                 "x-stainless-lang", "x-stainless-package-version", "x-stainless-os", "x-stainless-arch",
                 "x-stainless-runtime", "x-stainless-runtime-version", "x-stainless-retry-count",
                 "x-stainless-timeout", "x-stainless-async", "retry-after", "x-should-retry", "allow",
                 "cache-control", "x-ratelimit-limit-requests", "x-ratelimit-remaining-requests",
                 "x-ratelimit-reset-requests", "x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens",
                 "x-ratelimit-reset-tokens", "www-authenticate")
_NAME_TEXT = {n.encode("latin-1"): n for n in _COMMON_NAMES}
_NAME_BYTES = {n: n.encode("latin-1") for n in _COMMON_NAMES}


class _ClientGone(Exception):
    """The client closed the connection before the request body arrived."""


class _Abandon:
    """Called when the client is gone: marks it and cancels the task serving it."""

    __slots__ = ("_task", "gone")

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        task = asyncio.current_task(loop)
        assert task is not None
        self._task = task
        self.gone = False

    def __call__(self) -> None:
        self.gone = True
        self._task.cancel()

    def uncancel(self) -> None:
        self._task.uncancel()


def _ingress(path: str) -> Ingress:
    return "anthropic" if path.startswith("/v1/messages") else "openai"


class BastionASGI:
    """`limits` (from server config) override `max_body_bytes`. `in_flight` and `shed_total` are
    live counters for metrics: requests being served (health routes excluded) and requests
    refused by the max_in_flight admission limit."""

    def __init__(self, routes: Routes, max_body_bytes: int,
                 on_startup: Callable[[], Awaitable[None]] | None = None,
                 on_shutdown: Callable[[], Awaitable[None]] | None = None,
                 limits: HttpLimits | None = None) -> None:
        self.routes = routes
        self.limits = limits if limits is not None else HttpLimits(max_body_bytes=max_body_bytes)
        self.on_startup = on_startup
        self.on_shutdown = on_shutdown
        self.in_flight = 0
        self.shed_total = 0
        self._prefix = os.urandom(4).hex()
        self._counter = 0
        proxies = TrustedProxies(self.limits.trusted_proxies)
        self._proxies = proxies if proxies else None
        self._adopted: set[str] = set()  # request ids taken from a proxy, of requests in flight

    @property
    def max_body(self) -> int:
        return self.limits.max_body_bytes

    def _request_id(self) -> str:
        self._counter += 1
        return f"req_{self._prefix}{self._counter:010x}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if self._proxies is None:
                await self._http(scope, receive, send)
            else:
                await self._proxied(scope, receive, send)
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

    async def _body(self, headers: dict[str, str], receive: Receive) -> bytes:
        """The request body, within the size and time limits (408 when it does not arrive in time)."""
        try:
            cl = headers.get("content-length")
            max_body = self.limits.max_body_bytes
            if cl is not None:
                if not cl.isdigit():
                    raise InvalidRequest("Content-Length header is not a number")
                if int(cl) > max_body:
                    raise PayloadTooLarge(f"request body exceeds the limit of {max_body} bytes")
            # The common case: the whole body is in the first message; no timer is armed for it.
            msg = await receive()
            if msg["type"] == "http.disconnect":
                raise _ClientGone
            first: bytes = msg.get("body", b"")
            if len(first) > max_body:
                raise PayloadTooLarge(f"request body exceeds the limit of {max_body} bytes")
            if not msg.get("more_body", False):
                return first
            chunks: list[bytes] = [first] if first else []
            size = len(first)
            async with asyncio.timeout(self.limits.body_timeout):
                while True:
                    msg = await receive()
                    if msg["type"] == "http.disconnect":
                        raise _ClientGone
                    chunk = msg.get("body", b"")
                    if chunk:
                        size += len(chunk)
                        if size > self.max_body:
                            raise PayloadTooLarge(f"request body exceeds the limit of {self.max_body} bytes")
                        chunks.append(chunk)
                    if not msg.get("more_body", False):
                        break
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)
        except TimeoutError:
            raise InvalidRequest("request body was not received in time", code="request_timeout",
                                 status=408) from None

    async def _proxied(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A request while trusted proxies are configured: its client and request id may be theirs."""
        assert self._proxies is not None
        peer = scope.get("client")
        if not peer:
            await self._http(scope, receive, send)
            return
        client, adopted = self._proxies.resolve(peer[0], scope["headers"])
        if adopted is None or adopted in self._adopted:  # two in flight with one id would share limit leases
            await self._http(scope, receive, send, self._request_id(), client)
            return
        self._adopted.add(adopted)
        try:
            await self._http(scope, receive, send, adopted, client)
        finally:
            self._adopted.discard(adopted)

    async def _http(self, scope: Scope, receive: Receive, send: Send, rid: str | None = None,
                    client: str | None = None) -> None:
        path: str = scope["path"]
        method: str = scope["method"]
        if method == "HEAD" and ("GET", path) in self.routes.public:
            method = "GET"  # a probe's HEAD is its GET; the server sends no body for a HEAD
        if rid is None:
            self._counter += 1  # _request_id, inlined
            rid = f"req_{self._prefix}{self._counter:010x}"
            peer = scope.get("client")
            client = peer[0] if peer else None
        public = (method, path) in self.routes.public
        if not public and self.in_flight >= self.limits.max_in_flight:
            self.shed_total += 1
            await self._send(error_response(self._overloaded(), _ingress(path)), rid, send)
            return
        self.in_flight += not public
        try:  # the request served here, not in a method of its own: a coroutine less per request
            resp: HttpResponse | StreamingResponse
            unread = True  # until the body is read: one declared and left unread closes the connection
            try:
                headers = self._check_head(scope)
                qs = scope.get("query_string", b"")
                query = _parse_query(qs.decode("latin-1")) if qs else {}
                req = LimitedRequest(method, path, query, headers, b"", client, rid)
                req.max_json_depth = self.limits.max_json_depth
                route = self.routes.resolve(method, path)
                if isinstance(route, Gated):
                    outcome = await route.gate(req)  # the credential, from the head alone
                    if isinstance(outcome, HttpResponse):
                        resp = outcome
                    else:
                        try:
                            req.body = await self._body(headers, receive)
                        except _ClientGone:  # when the body cannot be read, the admission records why
                            await outcome.unread(None)
                            raise
                        except BastionError as e:
                            await outcome.unread(e)
                            raise
                        unread = False
                        # Served; when its client goes away before the answer is ready, work stops for nobody (as
                        # nginx does by default): the handler is cancelled (the upstream call with it: its
                        # connection is closed, so the provider stops generating) and the admission records the
                        # request as one whose client went away (status 499, its budget settled on the estimate,
                        # as a stream the client cuts). Only admissions that ask for it (`abandonable`: the API
                        # routes, not the admin API, whose changes must complete with their audit record), and
                        # only under Bastion's own server protocol, which reports the lost connection
                        # (http/disconnect.py); under another server the request runs to its end. (Inlined here,
                        # as the body's read above: two coroutines less per request than methods of their own.)
                        ext = scope.get("extensions")
                        hook = ext.get(DISCONNECT) if ext and getattr(outcome, "abandonable", False) else None
                        if not isinstance(hook, Disconnect):
                            resp = await outcome.serve(req)
                        else:
                            lost = _Abandon(hook.loop)
                            if hook.lost:
                                lost()
                            else:
                                hook.callback = lost
                            try:
                                resp = await outcome.serve(req)
                            except asyncio.CancelledError:
                                if not lost.gone:
                                    raise
                                lost.uncancel()
                                await outcome.unread(None)
                                raise _ClientGone from None
                            finally:
                                if hook.callback is lost:
                                    hook.callback = None
                elif public:  # the allow-list needs no body: never read one for a caller without a credential
                    resp = await route(req)
                else:
                    req.body = await self._body(headers, receive)
                    unread = False
                    resp = await route(req)
            except _ClientGone:
                return  # nobody to answer; a gated route has recorded it
            except BastionError as e:  # (the ingress by path: only an error needs it)
                resp = error_response(e, _ingress(path))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("unhandled error", extra={"request_id": rid})
                resp = error_response(InternalError("internal error; see the gateway log for request " + rid),
                                      _ingress(path))
            if isinstance(resp, StreamingResponse):
                await self._send_stream(resp, rid, receive, send, scope)
            else:  # _send, inlined: a coroutine less per request
                hs = (_response_head(resp.content_type, rid, len(resp.body), resp.headers, _NAME_BYTES)
                      if _response_head is not None else None)
                if hs is None:  # (_headers' C path above, without its call)
                    hs = self._headers(resp.content_type, resp.headers, rid, len(resp.body))
                if unread and _declares_body(scope["headers"]):
                    # Closed, not drained: what the client still sends is never read, let alone taken for a request.
                    hs.append((b"connection", b"close"))
                try:
                    await send({"type": "http.response.start", "status": resp.status, "headers": hs})
                    await send({"type": "http.response.body", "body": resp.body})
                finally:
                    if resp.after is not None and (pending := _after(resp.after, rid)) is not None:
                        await _awaited(pending, rid)
        finally:
            self.in_flight -= not public

    def _overloaded(self) -> ServiceUnavailable:
        return ServiceUnavailable(
            f"the gateway is serving its maximum of {self.limits.max_in_flight} requests; retry shortly",
            code="overloaded", retry_after=self.limits.overload_retry_after)

    def _check_head(self, scope: Scope) -> dict[str, str]:
        """Lower-cased headers, after the checks the HTTP parser does not make."""
        raw = scope["headers"]
        lim = self.limits
        if len(raw) > lim.max_headers:
            raise InvalidRequest(f"too many request headers ({len(raw)} > {lim.max_headers})",
                                 code="request_header_fields_too_large", status=431)
        got = _head_fields(raw, _NAME_TEXT, _SINGLETONS) if _head_fields is not None else None
        if got is None:
            headers, size = _head_loop(raw)
        elif isinstance(got, str):
            raise _repeated(got)
        else:
            headers, size = got
        if size > lim.max_header_bytes:
            raise InvalidRequest(f"request headers exceed {lim.max_header_bytes} bytes",
                                 code="request_header_fields_too_large", status=431)
        if "transfer-encoding" in headers and scope.get("http_version") == "1.0":
            raise InvalidRequest("Transfer-Encoding is not allowed in an HTTP/1.0 request", code="bad_framing")
        return headers

    @staticmethod
    def _headers(content_type: str, extra: dict[str, str], rid: str, length: int | None) -> list[tuple[bytes, bytes]]:
        if _response_head is not None:
            got = _response_head(content_type, rid, length, extra, _NAME_BYTES)
            if got is not None:
                return got
        hs = [(b"content-type", content_type.encode()), (b"x-request-id", rid.encode())]
        if length is not None:
            hs.append((b"content-length", str(length).encode()))
        if extra:  # (none on most answers without rate limits: no comprehension for nothing)
            known = _NAME_BYTES
            hs += [(known.get(k) or k.encode("latin-1"), v.encode("latin-1"))  # no append call each
                   for k, v in extra.items()]
        return hs

    async def _send(self, resp: HttpResponse, rid: str, send: Send) -> None:
        """An answer refused before any work (load shedding: no after-work, no body read); the served
        answers are sent by `_http` itself, as this does."""
        hs = self._headers(resp.content_type, resp.headers, rid, len(resp.body))
        await send({"type": "http.response.start", "status": resp.status, "headers": hs})
        await send({"type": "http.response.body", "body": resp.body})

    async def _send_stream(self, resp: StreamingResponse, rid: str, receive: Receive, send: Send,
                           scope: Scope) -> None:
        # The server tells of a lost client (http/disconnect.py), or a task waits on receive() for it.
        hook = scope.get("extensions", {}).get(DISCONNECT)
        lost = _Abandon(hook.loop if isinstance(hook, Disconnect) else None)

        async def watch() -> None:
            while True:
                msg = await receive()
                if msg["type"] == "http.disconnect":
                    lost()
                    return

        watcher: asyncio.Task[None] | None = None
        if isinstance(hook, Disconnect):
            if hook.lost:
                lost()
            else:
                hook.callback = lost
        else:
            watcher = asyncio.get_running_loop().create_task(watch())
        hs = self._headers(resp.content_type, resp.headers, rid, None)
        hs.append((b"cache-control", b"no-cache"))
        closed = False

        async def close() -> None:
            # The stream's end (and the request's finalization: the budget settled, the audit
            # record written) comes before the body's last write, as a non-streamed response's
            # does: a client that has read the whole answer finds its spend recorded, and its
            # next request cannot start while this one still runs (finalization left to after
            # the end piled up unbounded behind a slow limits backend, past max_in_flight).
            nonlocal closed
            closed = True
            if watcher is not None:
                watcher.cancel()
            elif isinstance(hook, Disconnect):
                hook.callback = None
            aclose = getattr(resp.chunks, "aclose", None)
            if aclose is not None:
                try:
                    await aclose()
                except Exception:
                    log.exception("closing a stream failed")
            if resp.on_close is not None:
                await resp.on_close(lost.gone)

        try:
            await send({"type": "http.response.start", "status": resp.status, "headers": hs})
            await relay(resp.chunks, send, close)
        except asyncio.CancelledError:
            if not lost.gone:
                raise
            lost.uncancel()
        except OSError:
            lost.gone = True
        finally:
            if not closed:
                await close()
            if resp.after is not None and (pending := _after(resp.after, rid)) is not None:
                await _awaited(pending, rid)


def _after(after: After, rid: str) -> Awaitable[None] | None:
    """A response's after-work, called: it must neither fail the connection nor be skipped by a send error
    (callers call it in a `finally`). What it returns, if not None, the caller awaits by `_awaited`; None
    (the call did the work, as `Pipeline.report_now` does) leaves no coroutine to create."""
    try:
        return after()
    except Exception:
        log.exception("after-response work failed", extra={"request_id": rid})
        return None


async def _awaited(pending: Awaitable[None], rid: str) -> None:
    try:
        await pending
    except Exception:
        log.exception("after-response work failed", extra={"request_id": rid})


def _head_loop(raw: list[tuple[bytes, bytes]]) -> tuple[dict[str, str], int]:
    """`_check_head`'s loop in Python (what head_fields does in C; any head it does not take): the
    lower-cased headers (a repeated one keeps its last value) and the head's size."""
    headers: dict[str, str] = {}
    size = 0
    known = _NAME_TEXT
    for k, v in raw:
        name = known.get(k) if k.__class__ is bytes else None
        if name is None:
            name = k.decode("latin-1").lower()
        size += len(k) + len(v) + 4
        if name in headers and name in _SINGLETONS:
            raise _repeated(name)
        headers[name] = v.decode("latin-1")
    return headers, size


def _repeated(name: str) -> InvalidRequest:
    return InvalidRequest(f"the {name} header appears more than once", code="duplicate_header")


def _declares_body(raw: list[tuple[bytes, bytes]]) -> bool:
    for k, v in raw:
        name = k.lower()
        if name == b"transfer-encoding" or (name == b"content-length" and v.strip(b"0 \t")):
            return True
    return False


def _parse_query(qs: str) -> dict[str, str]:
    from urllib.parse import parse_qsl

    return dict(parse_qsl(qs, keep_blank_values=True))


def not_found(path: str) -> NotFound:
    return NotFound(f"no route {path[:200]}", code="not_found")
