"""uvicorn's httptools protocol with the limits it lacks on what a client sends before the app runs.

uvicorn puts no bound on the time or size of a request head: a client that sends one header byte
every few seconds (slowloris), or megabytes of headers, holds a connection and memory forever,
and a new connection that sends nothing is never closed. This protocol:

- closes a connection whose request line and headers do not arrive within `header_timeout`
  (counted from the connection's start, or from the first byte of each next request), with 408;
- refuses a request head larger than `max_header_bytes` with 431, while it is still arriving;
- closes a connection that keeps sending the body of a request already answered (the app
  refused it early) for longer than `body_timeout`;
- tells the app of a client lost mid-response through `scope["extensions"]["bastion.disconnect"]`
  (`http/disconnect.py`), so a stream needs no task waiting on `receive()`;
- sends a response's head with its first body bytes in one write (`_Wire`): uvicorn writes the head
  at `http.response.start` and each body message apart, a send system call (a TCP segment, a
  client read) each, though the app gives both in the same step almost always.

Use it as `uvicorn.run(app, http=GuardedHttpToolsProtocol, ...)`. The limits are the app's
`limits` (an HttpLimits; found through uvicorn's middleware wrappers), else the defaults.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from bastion.http.disconnect import EXTENSION, Disconnect
from bastion.http.limits import HttpLimits

_REASONS = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}


def find_limits(app: object) -> HttpLimits:
    """The HttpLimits of the Bastion app inside uvicorn's wrappers (ProxyHeadersMiddleware, ...)."""
    for _ in range(8):
        limits = getattr(app, "limits", None)
        if isinstance(limits, HttpLimits):
            return limits
        app = getattr(app, "app", None)
        if app is None:
            break
    return HttpLimits()


class _Wire:
    """The connection's transport as the protocol and its response cycles see it: the first write once
    `armed` (a response's head) is held, and goes out joined to the next write, or on its own at the
    loop's next iteration (`call_soon`), or before a close; every other write goes straight through.
    Bytes keep their order and nothing waits past the step that wrote it: the head of a response whose
    body comes later (a stream waiting for its provider) leaves in the next loop iteration, before the
    loop waits for I/O. The rest of the transport interface is the transport's own."""

    __slots__ = ("_held", "_loop", "_transport", "armed")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None
        self.armed = False

    def write(self, data: bytes) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held + data)
        elif self.armed:
            self.armed = False
            self._held = data
            self._loop.call_soon(self.flush)
        else:
            self._transport.write(data)

    def flush(self) -> None:
        held = self._held
        if held is not None:
            self._held = None
            if not self._transport.is_closing():  # (closed by the transport itself: the client is gone)
                self._transport.write(held)

    def drop(self) -> None:
        self._held = None

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:  # pause_reading, get_extra_info, abort, ...: the transport's
        return getattr(self._transport, name)


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, config: Config, server_state: ServerState, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        limits = find_limits(self.app)
        self._head_timeout = limits.header_timeout
        self._head_max = limits.max_header_bytes
        self._body_timeout = limits.body_timeout
        self._in_head = True
        self._head_bytes = 0
        self._timer: asyncio.TimerHandle | None = None
        self._unanswered: deque[Disconnect] = deque()  # requests whose response has not completed, in order

    # ---- connection -----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._wire = wire = _Wire(transport, self.loop)
        super().connection_made(wire)  # type: ignore[arg-type]  # every write of the connection through it
        self._arm(self._head_timeout, 408)

    def connection_lost(self, exc: Exception | None) -> None:
        self._wire.drop()  # a head held for the client gone: nobody to send it to
        self._disarm()
        super().connection_lost(exc)
        while self._unanswered:
            self._unanswered.popleft().fire()

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._in_head and self._head_bytes > self._head_max and not self.transport.is_closing():
            self._refuse(431, f"request line and headers exceed {self._head_max} bytes")

    # ---- parser callbacks -------------------------------------------------------------------
    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._timer is None:
            self._arm(self._head_timeout, 408)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._disarm()
        disconnect = Disconnect(self.loop)
        extensions: Any = self.scope.setdefault("extensions", {})
        extensions[EXTENSION] = disconnect
        self._unanswered.append(disconnect)
        self._wire.armed = True  # (a pipelined request's: the response under way has its next write held)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._disarm()  # a late body of an answered request has arrived after all
        self._in_head = True
        self._head_bytes = 0

    def on_response_complete(self) -> None:
        self._wire.armed = True  # the next response's head (a pipelined request starts now)
        super().on_response_complete()
        if self._unanswered:
            self._unanswered.popleft()
        cycle = self.cycle
        if cycle is not None and cycle.more_body and not self.transport.is_closing():
            # Answered before its body was read: the rest may be drained, but not forever.
            self._arm(self._body_timeout, None)

    # ---- timers -------------------------------------------------------------------------------
    def _arm(self, seconds: float, status: int | None) -> None:
        self._disarm()
        self._timer = self.loop.call_later(seconds, self._expired, status)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self, status: int | None) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        if status is None:
            self.transport.close()
        else:
            self._refuse(status, "request line and headers were not received in time")

    def _refuse(self, status: int, message: str) -> None:
        """Answer (only if no response is under way on this connection) and close."""
        self._disarm()
        cycle = self.cycle
        if cycle is None or cycle.response_complete:
            body = message.encode()
            self.transport.write(b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
                                 b"content-length: %d\r\nconnection: close\r\n\r\n%s"
                                 % (status, _REASONS[status], len(body), body))
            self.transport.close()
        else:
            cycle.keep_alive = False  # finish the response under way, then close
            self.transport.pause_reading()
