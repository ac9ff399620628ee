"""Thread-safe record of what the fake upstream received and how each answer ended."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from typing import Any

OUTCOMES = (
    "pending",
    "completed",
    "error_event",
    "disconnected",
    "dropped",
    "stall_timeout",
    "aborted",
    "internal_error",
)


@dataclass
class RecordedRequest:
    """One request as received. `outcome` is updated while the answer is delivered:
    pending -> completed | error_event (mid-stream error sent) | disconnected (the client went
    away first) | dropped (scripted abrupt close) | stall_timeout (stall hit its maximum) |
    aborted (server stop or `reset()`) | internal_error (the fake could not render the reply;
    see `FakeUpstream.errors`). The object is live: `outcome` and `chunks_sent` keep changing
    while the answer is delivered. `chunks_sent` counts chunks handed to the socket.

    The outcome is set just before the write that lets the client see it, so once a client
    has read a whole answer (or an error event) its outcome is already final. A client
    disconnect is noticed asynchronously: wait with `wait_for_disconnects` / `wait_for_finished`."""

    route: str | None
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str] = field(repr=False)
    body: bytes = field(repr=False)
    json: Any
    number: int
    generation: int = field(default=0, repr=False)
    outcome: str = "pending"
    chunks_sent: int = 0

    @property
    def stream(self) -> bool:
        """True when the request asked for `"stream": true`."""
        return isinstance(self.json, dict) and self.json.get("stream") is True

    @property
    def model(self) -> str | None:
        """The `model` the request named, if any."""
        value = self.json.get("model") if isinstance(self.json, dict) else None
        return value if isinstance(value, str) else None


class Recorder:
    """Requests and disconnects, guarded by one lock; waiters wake on every change."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._requests: list[RecordedRequest] = []
        self._disconnects = 0
        self._generation = 0
        self._numbers = 0

    @property
    def generation(self) -> int:
        return self._generation

    def add(self, request: RecordedRequest) -> None:
        with self._changed:
            self._requests.append(request)
            self._changed.notify_all()

    def next_number(self) -> int:
        with self._changed:
            self._numbers += 1
            return self._numbers

    def finish(self, request: RecordedRequest, outcome: str) -> None:
        """Set the final outcome once; a client disconnect counts only for the current generation."""
        with self._changed:
            if request.outcome != "pending":
                return
            request.outcome = outcome
            if outcome == "disconnected" and request.generation == self._generation:
                self._disconnects += 1
            self._changed.notify_all()

    def clear(self) -> None:
        """Forget requests and disconnects; answers still in flight stop counting."""
        with self._changed:
            self._requests.clear()
            self._disconnects = 0
            self._generation += 1
            self._changed.notify_all()

    def requests(self, route: str | None = None) -> list[RecordedRequest]:
        with self._changed:
            return [r for r in self._requests if route is None or r.route == route]

    @property
    def disconnects(self) -> int:
        with self._changed:
            return self._disconnects

    def wait(self, what: str, n: int, timeout: float, route: str | None = None) -> int:
        """Block until the count of `what` ("requests" | "disconnects" | "finished") reaches n."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while (count := self._count(what, route)) < n:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(self._timeout_message(what, n, count, timeout, route))
                self._changed.wait(remaining)
            return count

    async def wait_async(self, what: str, n: int, timeout: float, route: str | None = None) -> int:  # noqa: ASYNC109
        """Like `wait`, without blocking the caller's event loop."""
        deadline = time.monotonic() + timeout
        while True:
            with self._changed:
                count = self._count(what, route)
                if count >= n:
                    return count
                if time.monotonic() >= deadline:
                    raise TimeoutError(self._timeout_message(what, n, count, timeout, route))
            await asyncio.sleep(0.005)

    def _count(self, what: str, route: str | None) -> int:
        if what == "disconnects":
            return self._disconnects
        chosen = [r for r in self._requests if route is None or r.route == route]
        if what == "finished":
            return sum(1 for r in chosen if r.outcome != "pending")
        return len(chosen)

    def _timeout_message(self, what: str, n: int, count: int, timeout: float, route: str | None) -> str:
        seen = [f"{r.method} {r.path} ({r.outcome})" for r in self._requests]
        where = f" for route {route!r}" if route else ""
        return f"fake upstream: expected {n} {what}{where} within {timeout:g}s, saw {count}; requests: {seen}"
