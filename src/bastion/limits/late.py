"""Conclusions (lease releases, budget settlements) the backend failed to take, retried later.

A settlement lost for good leaves its spend uncounted once the reservation expires, so the budget
could be overspent by it; a lost release holds a concurrency slot until its lease expires. So a
conclusion that failed (Redis slow or briefly unreachable) is retried in the background with
capped backoff for up to `horizon(lease_ttl_seconds)` (15 minutes, or the TTL if longer); the
Redis backend keeps renewing the request's reservation meanwhile (limits/renewal.py). A retry after
a reply that was lost (the first call did run) counts the spend twice: the safe direction.
Pending retries are bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from bastion.core.errors import ServiceUnavailable

log = logging.getLogger("bastion.limits")

RETRY_HORIZON = 900.0


def horizon(lease_ttl: float) -> float:
    """How long a failed conclusion is retried."""
    return max(RETRY_HORIZON, lease_ttl)


class LateConclusions:
    def __init__(self, horizon: float, *, limit: int = 10_000, first_delay: float = 0.5,
                 max_delay: float = 30.0) -> None:
        self._horizon = horizon
        self._limit = limit
        self._first = first_delay
        self._max = max_delay
        self._tasks: set[asyncio.Task[None]] = set()
        self.lost = 0  # conclusions given up (too many pending, past the horizon, or at shutdown)

    @property
    def pending(self) -> int:
        return len(self._tasks)

    def retry(self, op: Callable[[], Awaitable[None]]) -> None:
        """Run `op` again later until it succeeds (it failed with ServiceUnavailable just now)."""
        if len(self._tasks) >= self._limit:
            self.lost += 1
            log.error("limits: %d conclusions already await a retry; one more is dropped (its lease and "
                      "reservation expire after limits.lease_ttl_seconds)", len(self._tasks))
            return
        task = asyncio.get_running_loop().create_task(self._run(op), name="bastion-limits-late-conclusion")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, op: Callable[[], Awaitable[None]]) -> None:
        deadline = time.monotonic() + self._horizon
        delay = self._first
        while time.monotonic() + delay < deadline:
            await asyncio.sleep(delay)
            try:
                await op()
                return
            except ServiceUnavailable:
                delay = min(delay * 2, self._max)
        self.lost += 1
        log.error("limits: a conclusion could not be written within %.0f s; given up", self._horizon)

    async def drained(self) -> None:
        """Wait until every conclusion pending now was written or given up."""
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def close(self) -> None:
        """At shutdown: give up the pending conclusions (counted and logged)."""
        tasks, self._tasks = set(self._tasks), set()
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        if tasks:
            self.lost += len(tasks)
            log.error("limits: %d conclusions still unwritten at shutdown", len(tasks))
