"""The breaker's state machine in C (`_native.circuit_core`, what `circuit_breaker` gives the router)
decides as `CircuitBreaker` does: the same answers, the same state as stored, the same clock reads,
under any sequence of calls and clock steps (hypothesis)."""

from __future__ import annotations

import math

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bastion.config.schema import CircuitConfig
from bastion.providers.circuit import CALL, FREE, PROBE, CircuitBreaker, circuit_breaker

native = pytest.importorskip("bastion._native")


class Clock:
    """Seconds as set by the test; counts its reads (both breakers must read it alike)."""

    def __init__(self, now: float) -> None:
        self.now = now
        self.reads = 0

    def __call__(self) -> float:
        self.reads += 1
        return self.now


def stored(b: CircuitBreaker) -> tuple[object, ...]:
    return (b._state, b._consecutive, b._opened_at, b._probes, list(b._epochs), list(b._calls),
            list(b._failures), b.opened_total)


CONFIGS = st.builds(
    dict, enabled=st.booleans(), consecutive_failures=st.integers(1, 4), failure_rate=st.sampled_from([0.1, 0.5, 1.0]),
    window_seconds=st.sampled_from([0.5, 10.0, 60.0]), min_calls=st.integers(1, 6),
    cooldown_seconds=st.sampled_from([0.25, 5.0, 30.0]), half_open_probes=st.integers(1, 3))
# (waits of whole buckets and windows: a bucket exactly one window old is the edge of the window)
WAITS = st.one_of(st.floats(0, 40, allow_nan=False), st.sampled_from([0.05, 1.0, 5.0, 6.0, 10.0, 60.0]))
KINDS = st.sampled_from([FREE, CALL, PROBE, 3, True])
OPS = st.lists(st.one_of(
    st.tuples(st.sampled_from(["admit", "admit_forced", "succeeded", "record_failure", "retry_after", "window",
                               "state", "opened_total"])),
    st.tuples(st.just("settle"), KINDS, st.booleans()),
    st.tuples(st.just("release"), KINDS),
    st.tuples(st.just("wait"), WAITS),
    st.tuples(st.just("buckets"), st.sampled_from([1, 5, 9, 10, 11])),  # whole buckets of the window
    st.tuples(st.just("settle"), st.just(CALL), st.just(False)),  # (failures, to open the circuit more often)
    st.tuples(st.just("admit")), st.tuples(st.just("release"), st.just(PROBE)),
), max_size=120)


@settings(max_examples=1000, deadline=None)
@given(CONFIGS, OPS, st.sampled_from([0.0, 1000.0, 123456.789]))
@example({"window_seconds": 10.0}, [("settle", CALL, True), ("buckets", 10), ("window",)], 1000.0)
@example({"half_open_probes": 2, "consecutive_failures": 1},
         [("settle", CALL, False), ("wait", 60.0), ("admit",), ("admit",), ("release", PROBE), ("admit",)], 0.0)
def test_c_decides_as_python(cfg, ops, start):
    config = CircuitConfig.model_validate(cfg)
    py_clock, c_clock = Clock(start), Clock(start)
    py = CircuitBreaker(config, "p/m", clock=py_clock)
    c = native.circuit_core(config, "p/m", c_clock)
    for op in ops:
        if op[0] in ("wait", "buckets"):
            step = op[1] if op[0] == "wait" else op[1] * config.window_seconds / 10
            py_clock.now += step
            c_clock.now += step
            continue
        if op[0] in ("state", "opened_total"):
            got, want = getattr(c, op[0]), getattr(py, op[0])
        else:
            got, want = getattr(c, op[0])(*op[1:]), getattr(py, op[0])(*op[1:])
        assert got == want and type(got) is type(want), op
        if op[0] == "retry_after":
            assert math.copysign(1, got) == math.copysign(1, want)
        assert c._internals() == stored(py), op
        assert c_clock.reads == py_clock.reads, op
    assert (c.name, c.config) == ("p/m", config)


def test_the_router_gets_the_c_core_on_the_monotonic_clock():
    b = circuit_breaker(CircuitConfig(), "p/m")
    assert type(b).__name__ == "CircuitCore" and b.state == "closed" and b.admit() == CALL


def test_a_clock_that_fails_raises_and_leaves_the_state():
    def broken() -> float:
        raise RuntimeError("clock")

    config = CircuitConfig(consecutive_failures=1)
    c = native.circuit_core(config, "p/m", broken)
    assert c.admit() == CALL
    with pytest.raises(RuntimeError):
        c.settle(CALL, False)
    assert c._internals()[0] == "closed"
    c = native.circuit_core(config, "p/m", lambda: "soon")
    with pytest.raises(TypeError):
        c.succeeded()
    with pytest.raises(OverflowError):
        native.circuit_core(config, "p/m", lambda: 1e300).succeeded()
    with pytest.raises(TypeError):
        native.circuit_core(config, "p/m", 5)
