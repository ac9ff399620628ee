"""FakeUpstream: a real HTTP server speaking the OpenAI and Anthropic wire formats, scriptable per test.

It runs in a background thread with its own event loop on a free 127.0.0.1 port, so sync tests
(official SDKs) and async tests (any loop) can use it alike::

    with FakeUpstream() as fake:
        client = openai.OpenAI(base_url=f"{fake.url}/v1", api_key="sk-test")
        fake.script("openai.chat", Reply(text="hi"), Reply.error(429, retry_after=1))
        ...
        assert fake.last("openai.chat").json["model"] == "gpt-4o-mini"

Routes: POST /v1/chat/completions ("openai.chat"), POST /v1/embeddings ("openai.embeddings"),
GET /v1/models ("openai.models"; Anthropic's shape when the request has `anthropic-version`),
POST /v1/messages ("anthropic.messages"). Anything else answers 404 and is recorded with
route None.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import deque
from collections.abc import Iterable
from typing import Any

from aiohttp import web

from tests.fakes.delivery import Delivery
from tests.fakes.plan import Plan, json_plan
from tests.fakes.recording import RecordedRequest, Recorder
from tests.fakes.rendering import gate, render, route_for, speaks_anthropic
from tests.fakes.reply import ROUTES, Reply

DEFAULT_MODELS = ("gpt-4o-mini", "gpt-4o", "text-embedding-3-small", "claude-sonnet-4-5", "claude-haiku-4-5")


class FakeUpstream:
    """The fake vendor API. Thread-safe: script and inspect it from any thread.

    `api_key`: when set, requests without `Authorization: Bearer <key>` (or, on Anthropic
    routes, `x-api-key: <key>`) get the vendor's 401. `validate`: reject requests the real
    API would reject (missing model/messages/max_tokens, stream_options without stream, a
    missing anthropic-version header) with the vendor's 400, naming the field.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        models: Iterable[str] = DEFAULT_MODELS,
        api_key: str | None = None,
        validate: bool = True,
        embedding_dimensions: int = 8,
    ) -> None:
        self.host = host
        self.port = port
        self.models = list(models)
        self.api_key = api_key
        self.validate = validate
        self.embedding_dimensions = embedding_dimensions
        self.errors: list[str] = []
        self._defaults = (api_key, validate)
        self._recorder = Recorder()
        self._lock = threading.Lock()
        self._queues: dict[str, deque[Reply]] = {route: deque() for route in ROUTES}
        self._sticky: dict[str, Reply] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._active: set[Delivery] = set()

    # ---- lifecycle ----
    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT` (an Anthropic base_url); OpenAI's base_url is `url + "/v1"`."""
        if self._thread is None:
            raise RuntimeError("FakeUpstream is not started")
        return f"http://{self.host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def anthropic_base_url(self) -> str:
        return self.url

    def start(self) -> FakeUpstream:
        """Start the server thread; returns once the port is bound."""
        if self._thread is not None:
            return self
        ready = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()

        def serve() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._start_server())
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=serve, name="fake-upstream", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure or not ready.is_set():
            self._thread = None
            raise RuntimeError(f"FakeUpstream failed to start: {failure[0] if failure else 'timeout'}")
        return self

    async def _start_server(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    def stop(self) -> None:
        """Abort answers in flight, close the server and join its thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return

        async def shutdown() -> None:
            for delivery in list(self._active):
                delivery.abort()
            if self._runner is not None:
                await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        self._thread = self._loop = None

    def __enter__(self) -> FakeUpstream:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ---- scripting ----
    def script(self, route: str, *replies: Reply) -> None:
        """Queue replies for `route`, consumed one per request (FIFO), before any sticky reply."""
        queue = self._queue(route)
        with self._lock:
            queue.extend(replies)

    def always(self, route: str, reply: Reply | None) -> None:
        """Answer every request on `route` with `reply` once its queue is empty (None = default)."""
        self._queue(route)
        with self._lock:
            if reply is None:
                self._sticky.pop(route, None)
            else:
                self._sticky[route] = reply

    def pending(self, route: str) -> int:
        """Scripted replies not consumed yet."""
        queue = self._queue(route)
        with self._lock:
            return len(queue)

    def reset(self) -> None:
        """Back to a fresh server: no scripts, no recordings, default options; aborts answers in flight."""
        with self._lock:
            for queue in self._queues.values():
                queue.clear()
            self._sticky.clear()
        self.api_key, self.validate = self._defaults
        self.errors.clear()
        self.clear()
        loop = self._loop
        if loop is not None and not loop.is_closed():
            asyncio.run_coroutine_threadsafe(self._abort_active(), loop).result(10)

    async def _abort_active(self) -> None:
        for delivery in list(self._active):
            delivery.abort()

    def _queue(self, route: str) -> deque[Reply]:
        if route not in self._queues:
            raise ValueError(f"unknown route {route!r}; expected one of {ROUTES}")
        return self._queues[route]

    def _next_reply(self, route: str) -> Reply:
        with self._lock:
            queue = self._queues[route]
            if queue:
                return queue.popleft()
            return self._sticky.get(route) or Reply()

    # ---- recording ----
    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received since the last clear/reset, in arrival order (a copy)."""
        return self._recorder.requests()

    def requests_for(self, route: str) -> list[RecordedRequest]:
        return self._recorder.requests(route)

    def last(self, route: str | None = None) -> RecordedRequest:
        """The latest request (on `route`); LookupError if there is none."""
        found = self._recorder.requests(route)
        if not found:
            raise LookupError(f"fake upstream received no request{f' on {route!r}' if route else ''}")
        return found[-1]

    @property
    def disconnects(self) -> int:
        """Clients that went away before their answer was complete (since the last clear/reset)."""
        return self._recorder.disconnects

    def clear(self) -> None:
        """Forget recorded requests and disconnects (scripts stay)."""
        self._recorder.clear()

    def wait_for_requests(
        self, n: int, timeout: float = 5.0, route: str | None = None
    ) -> list[RecordedRequest]:
        """Block until `n` requests (on `route`) arrived; TimeoutError listing what came otherwise."""
        self._recorder.wait("requests", n, timeout, route)
        return self._recorder.requests(route)

    def wait_for_disconnects(self, n: int, timeout: float = 5.0) -> int:
        """Block until `n` client disconnects were observed."""
        return self._recorder.wait("disconnects", n, timeout)

    def wait_for_finished(
        self, n: int, timeout: float = 5.0, route: str | None = None
    ) -> list[RecordedRequest]:
        """Block until `n` answers (on `route`) reached a final outcome."""
        self._recorder.wait("finished", n, timeout, route)
        return self._recorder.requests(route)

    # The async waiters take `timeout` like their sync twins (ASYNC109): on expiry they raise a
    # TimeoutError that lists what did arrive, which `asyncio.timeout` could not say.
    async def wait_for_requests_async(
        self,
        n: int,
        timeout: float = 5.0,  # noqa: ASYNC109
        route: str | None = None,
    ) -> list[RecordedRequest]:
        """`wait_for_requests` for async tests (does not block the caller's loop)."""
        await self._recorder.wait_async("requests", n, timeout, route)
        return self._recorder.requests(route)

    async def wait_for_disconnects_async(self, n: int, timeout: float = 5.0) -> int:  # noqa: ASYNC109
        return await self._recorder.wait_async("disconnects", n, timeout)

    async def wait_for_finished_async(
        self,
        n: int,
        timeout: float = 5.0,  # noqa: ASYNC109
        route: str | None = None,
    ) -> list[RecordedRequest]:
        await self._recorder.wait_async("finished", n, timeout, route)
        return self._recorder.requests(route)

    # ---- serving (runs on the server's loop) ----
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            parsed: Any = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        headers: dict[str, str] = {}
        for key, value in request.headers.items():
            k = key.lower()
            headers[k] = f"{headers[k]}, {value}" if k in headers else value
        route = route_for(request.method, request.path)
        record = RecordedRequest(
            route=route,
            method=request.method,
            path=request.path,
            query=dict(request.query),
            headers=headers,
            body=raw,
            json=parsed,
            number=self._recorder.next_number(),
            generation=self._recorder.generation,
        )
        self._recorder.add(record)
        delivery = Delivery(request, record, self._recorder)
        self._active.add(delivery)
        try:
            try:
                reply, plan = self._answer(route, record)
            except Exception as exc:
                self.errors.append(f"{request.method} {request.path}: {type(exc).__name__}: {exc}")
                self._recorder.finish(record, "internal_error")
                return web.Response(status=500, text=f"FakeUpstream internal error: {exc}")
            return await delivery.run(reply, plan)
        except asyncio.CancelledError:
            self._recorder.finish(record, "disconnected")
            raise
        except ConnectionResetError:
            self._recorder.finish(record, "disconnected")
            return web.Response(status=499)
        finally:
            self._active.discard(delivery)

    def _answer(self, route: str | None, record: RecordedRequest) -> tuple[Reply, Plan]:
        """Reject like the real API would, or consume the next reply and render it."""
        anthropic = speaks_anthropic(route, record.headers)
        rejection = gate(route, record, anthropic, self.api_key, self.validate)
        if rejection is not None or route is None:
            return Reply(), rejection or json_plan(404, {})
        reply = self._next_reply(route)
        return reply, render(route, reply, record, anthropic, self.models, self.embedding_dimensions)
