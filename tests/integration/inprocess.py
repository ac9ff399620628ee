"""The gateway app under uvicorn in a thread of the test process, for tests that must look inside
it while it runs: asyncio tasks, transport counters, circuit states, admission counters.

It is built like `bastion serve` builds it (`create_app`, httptools, uvloop, the same uvicorn
options) plus the hardened protocol. Until the composition root mounts the hardening pieces
itself.
"""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import uvicorn
import uvloop

from bastion.app import create_app
from bastion.config.schema import BastionConfig
from bastion.http.protocol import GuardedHttpToolsProtocol
from tests.gateway import ADMIN_KEY, free_port

T = TypeVar("T")


class InProcessGateway:
    def __init__(self, config: dict[str, Any], grace: float = 2.0,
                 protocol: type[GuardedHttpToolsProtocol] = GuardedHttpToolsProtocol) -> None:
        self.config = BastionConfig.model_validate(config)
        self.app = create_app(self.config)
        self.gateway = self.app.gateway  # type: ignore[attr-defined]
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, http=protocol, lifespan="on",
            access_log=False, log_level="warning", timeout_graceful_shutdown=int(grace) or 1,
            server_header=False, date_header=False))
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> InProcessGateway:
        loop = uvloop.new_event_loop()
        self.loop = loop

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self.server.serve())
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._thread = threading.Thread(target=run, name="bastion-inprocess", daemon=True)
        self._thread.start()
        for _ in range(400):
            if self.server.started:
                return self
            if not self._thread.is_alive():
                raise RuntimeError("the in-process gateway failed to start")
            threading.Event().wait(0.01)
        raise RuntimeError("the in-process gateway did not start")

    def stop(self) -> None:
        if self._thread is None:
            return
        self.server.should_exit = True
        self._thread.join(15)
        self._thread = None

    def __enter__(self) -> InProcessGateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- looking inside ---------------------------------------------------------------------
    def call(self, fn: Callable[[], Awaitable[T]], timeout: float = 10.0) -> T:
        """Run a coroutine on the gateway's own loop and return its result."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(fn(), self.loop).result(timeout)

    def task_count(self) -> int:
        async def count() -> int:
            return len(asyncio.all_tasks()) - 1  # not this one

        return self.call(count)

    def quiet(self, baseline_tasks: int, timeout: float = 5.0) -> dict[str, int]:
        """Wait until nothing is in flight (tasks back to `baseline_tasks`, transport counters at
        zero); return what is still open if that never happens."""
        deadline = timeout / 0.02
        state: dict[str, int] = {}
        for _ in range(int(deadline)):
            st = self.gateway.transport.stats
            state = {"tasks": self.task_count() - baseline_tasks, "in_flight": st.in_flight,
                     "open_responses": st.open_responses, "open_streams": st.open_streams,
                     "app_in_flight": self.app.in_flight,
                     "balancer_in_flight": self.gateway.router.balancer.total_in_flight()}
            if not any(state.values()):
                return state
            threading.Event().wait(0.02)
        return state

    # ---- admin ------------------------------------------------------------------------------
    def create_key(self, **fields: Any) -> str:
        fields.setdefault("name", "test-app")
        req = urllib.request.Request(f"{self.url}/admin/keys", data=json.dumps(fields).encode(), method="POST",
                                     headers={"authorization": f"Bearer {ADMIN_KEY}",
                                              "content-type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                key: str = json.loads(r.read())["key"]
                return key
        except urllib.error.HTTPError as e:
            raise AssertionError(f"create key failed: {e.code} {e.read()!r}") from None


def upstream_connections(port: int) -> int:
    """ESTABLISHED TCP connections to 127.0.0.1:`port` made from this host (Linux /proc)."""
    n = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            parts = line.split()
            remote, state = parts[2], parts[3]
            if state == "01" and int(remote.rsplit(":", 1)[1], 16) == port:
                n += 1
    return n
