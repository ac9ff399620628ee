"""The circuit breaker: transitions, the failure-rate window, probe limits, and invariants under
arbitrary sequences of calls (hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.config.schema import CircuitConfig
from bastion.providers.circuit import UNGUARDED, CircuitBreaker, Permit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def breaker(**kw: object) -> tuple[CircuitBreaker, Clock]:
    clock = Clock()
    cfg = CircuitConfig.model_validate({"consecutive_failures": 3, "cooldown_seconds": 10, "min_calls": 10,
                                        "failure_rate": 0.5, "window_seconds": 60, **kw})
    return CircuitBreaker(cfg, "p/m", clock=clock), clock


def fail(b: CircuitBreaker, n: int = 1) -> None:
    for _ in range(n):
        p = b.acquire()
        assert p is not None
        p.failure()


def succeed(b: CircuitBreaker, n: int = 1) -> None:
    for _ in range(n):
        p = b.acquire()
        assert p is not None
        p.success()


def test_opens_after_consecutive_failures_and_refuses():
    b, _ = breaker()
    fail(b, 2)
    assert b.state == "closed"
    fail(b)
    assert b.state == "open" and b.opened_total == 1
    assert b.acquire() is None
    assert 9.9 < b.retry_after() <= 10


def test_a_success_resets_the_consecutive_count():
    b, _ = breaker()
    fail(b, 2)
    succeed(b)
    fail(b, 2)
    assert b.state == "closed"


def test_opens_on_failure_rate_once_enough_calls():
    b, _ = breaker(consecutive_failures=100)
    for _ in range(5):  # alternate: never 2 failures in a row, but half of all calls fail
        succeed(b)
        fail(b)
    assert b.state == "open"


def test_failure_rate_needs_min_calls():
    b, _ = breaker(consecutive_failures=100, min_calls=50)
    for _ in range(10):
        succeed(b)
        fail(b)
    assert b.state == "closed"


def test_old_failures_leave_the_window():
    b, clock = breaker(consecutive_failures=100, min_calls=4, failure_rate=0.5, window_seconds=10)
    fail(b)
    succeed(b)
    fail(b)  # 2 of 3
    clock.now += 11  # all of them are now outside the window
    succeed(b, 3)
    fail(b)  # 1 of 4
    assert b.state == "closed"
    assert b.window() == (4, 1)


def test_half_open_after_cooldown_allows_one_probe_and_a_success_closes():
    b, clock = breaker()
    fail(b, 3)
    clock.now += 10
    assert b.state == "half_open"
    probe = b.acquire()
    assert probe is not None
    assert b.acquire() is None  # one probe at a time
    probe.success()
    assert b.state == "closed"
    succeed(b)
    fail(b, 2)
    assert b.state == "closed"  # counts started again


def test_a_failed_probe_reopens_for_a_full_cooldown():
    b, clock = breaker()
    fail(b, 3)
    clock.now += 10
    probe = b.acquire()
    assert probe is not None
    probe.failure()
    assert b.state == "open" and b.opened_total == 2
    clock.now += 9
    assert b.acquire() is None


def test_a_released_probe_frees_its_slot_without_a_verdict():
    b, clock = breaker()
    fail(b, 3)
    clock.now += 10
    probe = b.acquire()
    assert probe is not None
    probe.release()
    assert b.state == "half_open"
    assert b.acquire() is not None


def test_permits_resolve_once():
    b, _ = breaker()
    p = b.acquire()
    assert p is not None
    p.failure()
    p.failure()
    p.success()
    fail(b, 1)
    assert b.state == "closed"  # 2 failures counted, not 3


def test_late_results_of_calls_admitted_before_opening_are_ignored():
    b, _ = breaker()
    early = [b.acquire() for _ in range(3)]
    fail(b, 3)
    for p in early:
        assert p is not None
        p.success()
    assert b.state == "open"


def test_force_gives_a_probe_even_while_open():
    b, _ = breaker()
    fail(b, 3)
    p = b.force()
    assert b.state == "half_open"
    p.success()
    assert b.state == "closed"


def test_disabled_breaker_never_refuses():
    b, _ = breaker(enabled=False)
    for _ in range(20):
        p = b.acquire()
        assert p is UNGUARDED
        p.failure()
    assert b.state == "closed"
    b.record_failure()
    assert b.state == "closed"


def test_record_failure_counts_like_a_failed_call():
    b, _ = breaker()
    fail(b, 2)
    b.record_failure()
    assert b.state == "open"


OPS = st.lists(st.one_of(
    st.just(("acquire",)), st.just(("force",)),
    st.tuples(st.just("resolve"), st.integers(0, 20), st.sampled_from(["success", "failure", "release"])),
    st.tuples(st.just("wait"), st.floats(0, 30)),
), max_size=80)


@settings(max_examples=200, deadline=None)
@given(OPS, st.integers(1, 3))
def test_invariants_under_any_sequence(ops, probes):
    b, clock = breaker(half_open_probes=probes, consecutive_failures=2, min_calls=4)
    held: list[tuple[Permit, bool]] = []
    failures_in_a_row = 0
    for op in ops:
        if op[0] == "acquire":
            state = b.state
            p = b.acquire()
            if state == "open":
                assert p is None  # an open circuit within its cool-down never lets a call through
            if p is not None:
                held.append((p, state != "closed"))
        elif op[0] == "force":
            held.append((b.force(), b.state != "closed"))
        elif op[0] == "resolve" and held:
            p, _ = held.pop(op[1] % len(held))
            counted = b.state == "closed" and not p._probe and not p.done
            getattr(p, op[2])()
            if counted and op[2] == "failure":
                failures_in_a_row += 1
                if failures_in_a_row >= 2:
                    assert b.state == "open"
            elif counted and op[2] == "success":
                failures_in_a_row = 0
        if b.state != "closed":
            failures_in_a_row = 0
        elif op[0] == "wait":
            clock.now += op[1]
        assert b.state in ("closed", "open", "half_open")
        assert b._probes >= 0
        if b._state == "half_open" and not any(forced for _, forced in held):
            assert b._probes <= probes
    for p, _ in held:
        p.release()
    assert b._probes == 0
