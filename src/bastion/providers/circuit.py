"""Circuit breakers: one per upstream target; open after failures, probe again after a cool-down.

closed ──(N failures in a row, or failure rate over the window)──▶ open
open ──(cool-down elapsed; the next call becomes a probe)──▶ half_open
half_open ──(probe succeeds)──▶ closed;  half_open ──(probe fails)──▶ open

A call takes a `Permit` (or None while the circuit refuses) and resolves it exactly once:
`success()`, `failure()`, or `release()` when the call ended without saying anything about the
target (the client went away, the request was invalid before it was sent). Single-threaded by
design: every call happens on the gateway's event loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TypeAlias

from bastion.config.schema import CircuitConfig
from bastion.core.makers import maker

if TYPE_CHECKING:
    from bastion._native import CircuitCore

Breaker: TypeAlias = "CircuitBreaker | CircuitCore"
"""A target's breaker: what the router and the metrics ask of it (`circuit_breaker`)."""

_circuit_core: Callable[[CircuitConfig, str, Callable[[], float]], CircuitCore] | None
try:
    from bastion._native import circuit_core as _circuit_core
except ImportError:  # pragma: no cover - the package works without the C accelerator
    _circuit_core = None

CircuitState = Literal["closed", "open", "half_open"]
STATE_VALUES: dict[CircuitState, int] = {"closed": 0, "half_open": 1, "open": 2}
"""Numeric encoding for a gauge (e.g. bastion_circuit_state{provider,model})."""

_BUCKETS = 10

# The kinds of call `CircuitBreaker.admit` lets through.
FREE = 0  # the breaker is disabled: the call's outcome says nothing to it
CALL = 1  # a call of the closed circuit
PROBE = 2  # a probe of a half-open circuit


@dataclass(slots=True, eq=False, repr=False)
class Permit:
    """The right to make one call through a breaker; resolve it exactly once (later calls are no-ops).
    Made as `_PERMIT(breaker, probe, False)` (core/makers.py: one per call)."""

    _breaker: CircuitBreaker | None
    _probe: bool
    done: bool = False

    def success(self) -> None:
        if not self.done:
            self.done = True
            breaker = self._breaker
            if breaker is not None:
                if self._probe:
                    breaker._on_result(True, True)
                else:
                    breaker.succeeded()

    def failure(self) -> None:
        if not self.done:
            self.done = True
            if self._breaker is not None:
                self._breaker._on_result(self._probe, False)

    def release(self) -> None:
        if not self.done:
            self.done = True
            if self._breaker is not None:
                self._breaker._on_release(self._probe)


def circuit_breaker(config: CircuitConfig, name: str = "") -> Breaker:
    """A target's breaker on the monotonic clock: `CircuitBreaker`'s state machine in C when the
    accelerator is built (a closed circuit's success, every request's, in one C call, ~0.1k
    instructions where the Python one costs ~2.7k; held equal to this module's class by
    tests/unit/providers/test_circuit_native.py), else the Python class."""
    if _circuit_core is None:
        return CircuitBreaker(config, name)
    return _circuit_core(config, name, time.monotonic)


_PERMIT = maker(Permit)
UNGUARDED = Permit(None, False)
"""What a disabled breaker hands out: resolving it does nothing."""


class CircuitBreaker:
    """The breaker of one target. `clock` is injectable for tests (monotonic seconds)."""

    __slots__ = ("_calls", "_clock", "_consecutive", "_epochs", "_failures", "_opened_at", "_probes",
                 "_state", "_width", "config", "name", "opened_total")

    def __init__(self, config: CircuitConfig, name: str = "",
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.name = name
        self._clock = clock
        self._state: CircuitState = "closed"
        self._consecutive = 0
        self._opened_at = 0.0
        self._probes = 0
        self._width = config.window_seconds / _BUCKETS
        self._epochs = [-1] * _BUCKETS
        self._calls = [0] * _BUCKETS
        self._failures = [0] * _BUCKETS
        self.opened_total = 0

    # ---- what callers and metrics read --------------------------------------------------
    @property
    def state(self) -> CircuitState:
        """The state as a caller would find it now (an open circuit past its cool-down reads half_open)."""
        if self._state == "open" and self._clock() >= self._opened_at + self.config.cooldown_seconds:
            return "half_open"
        return self._state

    def retry_after(self) -> float:
        """Seconds until this breaker would let a call through (0 when it would now)."""
        if self._state != "open":
            return 0.0
        return max(0.0, self._opened_at + self.config.cooldown_seconds - self._clock())

    def window(self) -> tuple[int, int]:
        """(calls, failures) within the sliding window."""
        now_epoch = int(self._clock() / self._width)
        calls = failures = 0
        for i in range(_BUCKETS):
            if now_epoch - self._epochs[i] < _BUCKETS:
                calls += self._calls[i]
                failures += self._failures[i]
        return calls, failures

    # ---- taking a permit ------------------------------------------------------------------
    def admit(self) -> int | None:
        """`acquire()` without its Permit, for a caller that resolves the call itself (the router):
        None while the circuit refuses calls, else the call's kind (FREE, CALL or PROBE), resolved
        exactly once with `succeeded()` (a CALL), `settle()` or `release()`."""
        if not self.config.enabled:
            return FREE
        if self._state == "closed":
            return CALL
        if self._state == "open":
            if self._clock() < self._opened_at + self.config.cooldown_seconds:
                return None
            self._state = "half_open"
            self._probes = 0
        if self._probes >= self.config.half_open_probes:
            return None
        self._probes += 1
        return PROBE

    def admit_forced(self) -> int:
        """`force()` without its Permit (see `admit`)."""
        if not self.config.enabled:
            return FREE
        if self._state == "closed":
            return CALL
        self._state = "half_open"
        self._probes += 1
        return PROBE

    def acquire(self) -> Permit | None:
        """A permit for one call, or None while the circuit refuses calls."""
        return self._permit(self.admit())

    def force(self) -> Permit:
        """A probe permit even while the circuit refuses: for a route that tries its targets
        anyway when every circuit is open. Its outcome closes or reopens the circuit."""
        return self._permit(self.admit_forced())  # type: ignore[return-value]  # (never None)

    def _permit(self, kind: int | None) -> Permit | None:
        if kind is None:
            return None
        if kind == FREE:
            return UNGUARDED
        return _PERMIT(self, kind == PROBE, False)  # Permit(self, probe)

    # ---- a call's outcome, by its kind (`admit`) ----------------------------------------------
    def settle(self, kind: int, ok: bool) -> None:
        """A call of this kind ended: the target answered (`ok`) or failed."""
        if kind == CALL:
            if ok:
                self.succeeded()
            else:
                self._on_result(False, False)
        elif kind == PROBE:
            self._on_result(True, ok)

    def release(self, kind: int) -> None:
        """A call of this kind ended without saying anything about the target."""
        if kind == PROBE:
            self._on_release(True)

    # ---- outcomes -----------------------------------------------------------------------------
    def _on_result(self, probe: bool, ok: bool) -> None:
        if probe:
            self._probes = max(0, self._probes - 1)
            if self._state != "half_open":
                return
            if ok:
                self._close()
            else:
                self._open()
            return
        if self._state != "closed":
            return  # a call admitted before the circuit opened: the state is already decided
        self._count(ok)
        if ok:
            self._consecutive = 0
            return
        self._consecutive += 1
        if self._consecutive >= self.config.consecutive_failures:
            self._open()
            return
        calls, failures = self.window()
        if calls >= self.config.min_calls and failures >= self.config.failure_rate * calls:
            self._open()

    def succeeded(self) -> None:
        """`settle(CALL, True)`: `_on_result(False, True)` (a call of the closed circuit succeeded) in
        one call, `_count(True)` inlined: every request ends so."""
        if self._state != "closed":
            return  # a call admitted before the circuit opened: the state is already decided
        epoch = int(self._clock() / self._width)
        i = epoch % _BUCKETS
        calls = self._calls
        if self._epochs[i] != epoch:
            self._epochs[i] = epoch
            calls[i] = 0
            self._failures[i] = 0
        calls[i] += 1
        self._consecutive = 0

    def _on_release(self, probe: bool) -> None:
        if probe:
            self._probes = max(0, self._probes - 1)

    def record_failure(self) -> None:
        """A failure seen outside a permit (a stream that broke after it had started)."""
        if self.config.enabled:
            self._on_result(False, False)

    def _count(self, ok: bool) -> None:
        epoch = int(self._clock() / self._width)
        i = epoch % _BUCKETS
        if self._epochs[i] != epoch:
            self._epochs[i] = epoch
            self._calls[i] = 0
            self._failures[i] = 0
        self._calls[i] += 1
        if not ok:
            self._failures[i] += 1

    def _open(self) -> None:
        self._state = "open"
        self._opened_at = self._clock()
        self._probes = 0
        self.opened_total += 1

    def _close(self) -> None:
        self._state = "closed"
        self._consecutive = 0
        self._probes = 0
        self._epochs = [-1] * _BUCKETS
        self._calls = [0] * _BUCKETS
        self._failures = [0] * _BUCKETS
