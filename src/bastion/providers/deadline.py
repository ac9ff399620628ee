"""Deadlines for upstream calls on one timer per event loop (cheaper than `asyncio.timeout` per call)."""

from __future__ import annotations

import asyncio
import math


class Deadline:
    """A timeout around the awaits of one task, kept by a `DeadlineClock`. When it fires it cancels
    the task; `expired()`, asked when CancelledError arrives, tells a cancellation of its own (a
    timeout) from one that came from elsewhere (the client went away), which must propagate as
    it is. `cancel()` it once the awaits are done."""

    __slots__ = ("_cancelling", "_clock", "_task", "fired", "when")

    def __init__(self, clock: DeadlineClock, task: asyncio.Task[object], when: float) -> None:
        self._clock = clock
        self._task = task
        self._cancelling = task.cancelling()
        self.when = when
        self.fired = False

    def _fire(self) -> None:
        self.fired = True
        self._task.cancel()

    def cancel(self) -> None:
        self._clock.pending.discard(self)

    def expired(self) -> bool:
        """On CancelledError: whether it was this deadline's alone (then the task's cancellation
        request is withdrawn and the caller raises its timeout instead)."""
        self.cancel()
        return self.fired and self._task.uncancel() <= self._cancelling


class DeadlineClock:
    """The deadlines of one event loop's calls on a single timer (no `asyncio.timeout`: that looks
    the running loop and the current task up on every use, a getpid() system call each on Python
    3.11, and arms and cancels a timer of its own per call). The timer is armed for the earliest
    pending deadline; a deadline that ends before it fires is only dropped from the set, and
    when the timer fires it expires what is due and re-arms for the earliest one left. With one
    timeout per provider, a new deadline is never earlier than the armed one, so a call costs a
    set insertion and removal, not a timer."""

    # Due within the loop's clock resolution counts as due (as asyncio's own scheduler does), so
    # a timer that fires a hair early cannot re-arm itself in a loop.
    RESOLUTION = 0.001

    __slots__ = ("_armed_at", "_timer", "loop", "pending")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.pending: set[Deadline] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._armed_at = math.inf

    def start(self, task: asyncio.Task[object], delay: float) -> Deadline:
        when = self.loop.time() + delay
        d = Deadline(self, task, when)
        self.pending.add(d)
        if when < self._armed_at:
            self._arm(when)
        return d

    def _arm(self, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._armed_at = when
        self._timer = self.loop.call_at(when, self._tick)

    def _tick(self) -> None:
        self._timer = None
        self._armed_at = math.inf
        due = self.loop.time() + self.RESOLUTION
        expired = [d for d in self.pending if d.when <= due]
        for d in expired:
            self.pending.discard(d)
            d._fire()
        if self.pending:
            self._arm(min(d.when for d in self.pending))

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._armed_at = math.inf
