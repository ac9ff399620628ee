"""Routes: the allow-list, and credential-first routes whose gate checks the credential from the
request head before any body is read.

Without it the ASGI layer read the whole body (up to server.max_body_bytes, for up to
server.body_timeout_seconds) before a handler could refuse a caller without a key, so anonymous
clients could make the gateway buffer bodies. A `Gated` route is served in two steps: its gate
runs on the head alone and either refuses (the body is then never read and the connection is
closed) or admits; only an admitted request has its body read, and then its `Admission` serves
it, or records it when the body never arrived complete.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from bastion.core.errors import BastionError
from bastion.http.types import Handler, HttpRequest, HttpResponse, StreamingResponse


class Admission(Protocol):
    """A request whose credential passed, before its body was read."""

    async def serve(self, req: HttpRequest) -> HttpResponse | StreamingResponse:
        """Answer the request, now with its body."""
        ...

    async def unread(self, err: BastionError | None) -> None:
        """The body was never read whole: refused with `err` (the caller answers it), or the client
        went away before it arrived (None; nothing can be answered). Records the request as its
        route records every other one; must not raise."""
        ...


Gate = Callable[[HttpRequest], Awaitable[Admission | HttpResponse]]


@dataclass(frozen=True, slots=True)
class Gated:
    """A route that authenticates before its body is read. `gate` gets the request with its body
    still unread (empty) and returns the Admission, or the refusal to send as it is, or raises a
    BastionError (rendered by the ASGI layer)."""

    gate: Gate


class Passed:
    """The Admission of a route that keeps no per-request record (the admin API): `handler` serves."""

    __slots__ = ("_handler",)

    def __init__(self, handler: Handler) -> None:
        self._handler = handler

    async def serve(self, req: HttpRequest) -> HttpResponse | StreamingResponse:
        return await self._handler(req)

    async def unread(self, err: BastionError | None) -> None:
        return None


Route = Handler | Gated


class Routes:
    """Exact-path routes plus prefix routes (admin). `public` paths are the ONLY ones served
    without a credential (their body is never read); everything else goes to routes that
    authenticate first (`Gated`: before the body is read), and an unknown path goes to
    `fallback`, which authenticates before it answers 404. A plain handler outside `public` gets
    the body read first and must authenticate itself."""

    def __init__(self, public: dict[tuple[str, str], Route], api: dict[tuple[str, str], Route],
                 prefixed: list[tuple[str, Route]], fallback: Route) -> None:
        self.public = public
        self.api = api
        self.prefixed = prefixed
        self.fallback = fallback
        self.api_paths = {p for _, p in api}

    def resolve(self, method: str, path: str) -> Route:
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
