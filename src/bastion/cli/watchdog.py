"""The worker watchdog: which workers' event loops went silent (hung, deadlocked, stopped).

With one SO_REUSEPORT socket per worker the kernel hashes every new connection to one worker's
accept queue, whatever that worker is doing. A worker whose event loop is stuck keeps its socket
open, so its share of new connections would wait there forever. Each serving worker's event loop
therefore stamps a shared clock value once a second (`Heartbeat`); the supervisor asks this watchdog
which workers have not stamped it for longer than the timeout, and replaces them.

A worker that has not started serving yet is judged by how long its start has taken instead
(loading the injection model, connecting to the store): it does not listen until it serves, so it
cannot hold connections, and it gets a generous allowance.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

BEAT_SECONDS = 1.0  # how often a serving worker's event loop stamps its heartbeat
WORKER_TIMEOUT = 30.0  # default silence after which a serving worker is replaced (as gunicorn's --timeout)
MIN_TIMEOUT = 2 * BEAT_SECONDS  # shorter would kill healthy workers whose timer fires a little late
START_GRACE = 120.0  # how long a worker may take to start serving (the 2-core test machine can be slow)
MIGRATE_REQ = Path("/proc/sys/net/ipv4/tcp_migrate_req")


class Heartbeat(Protocol):
    """A float shared with one worker (a multiprocessing RawValue): its last beat, time.monotonic()."""

    value: float


@dataclass(frozen=True)
class Silence:
    """A worker the watchdog gave up on: silent for `seconds`; `starting`: it never began serving."""

    key: int
    seconds: float
    starting: bool


@dataclass
class _Watched:
    beat: Heartbeat
    since: float  # when it started, or when the supervisor learned that it serves
    serving: bool = False


class Watchdog:
    """Tracks workers by key (the supervisor's slot number).

    `clock` must be the workers' clock: time.monotonic (CLOCK_MONOTONIC is system-wide on Linux, so
    a worker's stamp and the supervisor's reading compare). Injected in tests.
    """

    def __init__(self, timeout: float, *, start_grace: float = START_GRACE,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if timeout < MIN_TIMEOUT:
            raise ValueError(f"worker timeout must be at least {MIN_TIMEOUT:g} s (got {timeout:g})")
        self.timeout = timeout
        self.start_grace = max(start_grace, timeout)
        self._clock = clock
        self._watched: dict[int, _Watched] = {}

    def watch(self, key: int, beat: Heartbeat) -> None:
        """A worker was just started (replacing any earlier one under the same key)."""
        self._watched[key] = _Watched(beat, self._clock())

    def serving(self, key: int) -> None:
        """The worker now serves: from here on its heartbeat counts, starting now."""
        w = self._watched.get(key)
        if w is not None and not w.serving:
            w.since, w.serving = self._clock(), True

    def forget(self, key: int) -> None:
        """The worker exited (or is being killed): stop judging it."""
        self._watched.pop(key, None)

    def _deadline(self, w: _Watched) -> float:
        if not w.serving:
            return w.since + self.start_grace
        # `since` covers a worker whose first stamp the supervisor has not seen yet
        return max(w.beat.value, w.since) + self.timeout

    def silent(self) -> list[Silence]:
        """The workers past their deadline, each reported once (then forgotten): kill and replace them."""
        now = self._clock()
        out = []
        for key, w in list(self._watched.items()):
            if now > self._deadline(w):
                last = max(w.beat.value, w.since) if w.serving else w.since
                out.append(Silence(key, now - last, starting=not w.serving))
                del self._watched[key]
        return out

    def next_check(self) -> float | None:
        """Seconds from now until a worker could next be overdue (None: nothing is watched)."""
        if not self._watched:
            return None
        earliest = min(self._deadline(w) for w in self._watched.values())
        # a hair past the deadline, so that the check then finds it strictly overdue
        return max(0.0, earliest - self._clock()) + 0.01


def process_state(pid: int | None) -> str:
    """`, process state: S (sleeping)`, from /proc (tells a stopped worker from a busy or blocked one)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    states = {"R": "R (running)", "S": "S (sleeping)", "D": "D (disk sleep)", "T": "T (stopped)",
              "t": "t (tracing stop)", "Z": "Z (zombie)"}
    code = stat.rsplit(")", 1)[-1].split()[0]
    return f", process state: {states.get(code, code)}"


def migrate_req_disabled(path: Path = MIGRATE_REQ) -> bool:
    """Whether the kernel resets (instead of moving to another worker) the connections still queued
    on a worker's socket when that worker exits: net.ipv4.tcp_migrate_req = 0 (Linux >= 5.14).
    False when the setting is on, or absent (an older kernel, or not Linux: nothing to advise)."""
    try:
        return path.read_text().strip() == "0"
    except OSError:
        return False
