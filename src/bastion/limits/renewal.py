"""Renewal of this process's Redis leases and reservations while their requests run.

A concurrency lease and a budget reservation carry an expiry so that a replica that crashed
cannot hold them for ever; the live process pushes the expiry of everything it still holds
forward every quarter of `lease_ttl_seconds`. So the TTL only bounds how long a *crashed*
replica's holdings outlive it (a minute by default), not how long a request may run: a stream
of an hour keeps its slot and its reservation.

A lease or reservation of a request still running that Redis no longer holds (lost in a restart
without persistence, or swept after the process stalled for longer than the TTL) is put back,
the reservation's amount with it: otherwise new requests would be judged without it and a budget
could be overspent by what was in flight. Nothing is put back once its request has started to
conclude (the release or settlement is sent or awaits a retry), so a released lease or a settled
reservation is never recreated.

An entry is dropped when its request concludes. If the conclusion failed (Redis unreachable)
the entry is kept renewed until the background retry writes it, for at most the retry horizon,
so the reservation still covers the spend that is yet to be written. A request that never
concludes (a bug) is not renewed past `max_hold`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from bastion.core.errors import ServiceUnavailable
from bastion.limits.resp import Arg, Reply, Script

log = logging.getLogger("bastion.limits")

Call = Callable[[str, Script, Sequence[Arg], Sequence[Arg]], Awaitable[Reply]]


@dataclass(slots=True)
class _Held:
    leases: tuple[str, ...]  # concurrency lease zsets holding the request id
    reservations: tuple[Reservation, ...]
    deadline: float  # monotonic: not renewed after this
    concluding: bool = False  # a release/settlement was sent: renew what is there, put nothing back


Reservation = tuple[str, str, str, int]
"""(reservation zset, budget hash, member, amount) of one budget slot."""


class LeaseRenewal:
    """What this process holds in Redis, and the task that keeps it alive."""

    def __init__(self, ttl: float, call: Call, script: Script, *, max_hold: float = 86_400.0,
                 retry_horizon: float = 900.0, clock: Callable[[], float] = time.time,
                 batch: int = 256) -> None:
        self.ttl = ttl
        self.every = max(0.05, ttl / 4)
        self._call = call
        self._script = script
        self._max_hold = max_hold
        self._retry_horizon = retry_horizon
        self._clock = clock  # the budget stage's clock: reservation expiries are in its time
        self._batch = batch
        self._held: dict[str, _Held] = {}
        self._task: asyncio.Task[None] | None = None
        self.renewals = 0  # successful renewal calls (tests, metrics)

    @property
    def held(self) -> int:
        return len(self._held)

    def hold(self, rid: str, leases: Sequence[str] = (), reservations: Sequence[Reservation] = ()) -> None:
        """`rid` now holds these leases and/or reservations (added to what it held)."""
        if not leases and not reservations:
            return
        h = self._held.get(rid)
        if h is None:
            self._held[rid] = _Held(tuple(leases), tuple(reservations), time.monotonic() + self._max_hold)
        else:
            h.leases += tuple(leases)
            h.reservations += tuple(reservations)

    def concluding(self, rid: str) -> None:
        """A release or settlement of `rid` is about to be sent: from now on nothing of it is put back."""
        h = self._held.get(rid)
        if h is not None:
            h.concluding = True

    def concluded(self, rid: str, *, leases: bool, reservations: bool, ok: bool) -> None:
        """A release (`leases`) and/or settlement (`reservations`) of `rid` was written (`ok`) or
        failed and awaits a retry (renewed until the retry horizon)."""
        h = self._held.get(rid)
        if h is None:
            return
        if not ok:
            h.deadline = min(h.deadline, time.monotonic() + self._retry_horizon)
            return
        if leases:
            h.leases = ()
        if reservations:
            h.reservations = ()
        if not h.leases and not h.reservations:
            del self._held[rid]

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="bastion-limits-renewal")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            try:
                await self.renew()
            except ServiceUnavailable:
                pass  # counted and logged by the backend; the next turn tries again
            except Exception:  # never let the task die: leases would then expire under live requests
                log.exception("limits: lease renewal failed")

    async def renew(self) -> None:
        """Push forward the expiry of everything held now (one script call per `batch` requests)."""
        now = time.monotonic()
        for rid in [r for r, h in self._held.items() if h.deadline < now]:
            del self._held[rid]
        items = list(self._held.items())
        expiry = repr(self._clock() + self.ttl)
        for i in range(0, len(items), self._batch):
            lease_keys: list[Arg] = []
            lease_args: list[Arg] = []
            res_keys: list[Arg] = []
            res_args: list[Arg] = []
            for rid, h in items[i:i + self._batch]:
                back = 0 if h.concluding else 1
                for k in h.leases:
                    lease_keys.append(k)
                    lease_args.extend((rid, back))
                for z, hash_key, member, amount in h.reservations:
                    res_keys.extend((z, hash_key))
                    res_args.extend((member, amount, back))
            if lease_keys or res_keys:
                args: list[Arg] = [-1, self.ttl, len(lease_keys), expiry, *lease_args, *res_args]
                await self._call("renew", self._script, args, [*lease_keys, *res_keys])
        self.renewals += 1
