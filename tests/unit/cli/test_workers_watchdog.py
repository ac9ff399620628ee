"""The worker watchdog's judgement on an injected clock, and how the supervisor acts on it."""

from __future__ import annotations

import logging
import multiprocessing.process
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn

import bastion.cli.workers as workers_mod
from bastion.cli.watchdog import (
    MIN_TIMEOUT,
    START_GRACE,
    Silence,
    Watchdog,
    migrate_req_disabled,
    process_state,
)
from bastion.cli.workers import Supervisor, _Worker

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Beat:
    """Stands for the RawValue a worker's event loop stamps with time.monotonic()."""

    value: float = 0.0


def _serving(dog: Watchdog, clock: Clock, key: int = 0) -> Beat:
    beat = Beat()
    dog.watch(key, beat)
    clock.now += 3.0  # start-up
    beat.value = clock.now
    dog.serving(key)
    return beat


def test_a_worker_that_keeps_beating_is_never_reported() -> None:
    clock = Clock()
    dog = Watchdog(5.0, clock=clock)
    beat = _serving(dog, clock)
    for _ in range(100):  # 20 timeout periods, a stamp a second
        clock.now += 1.0
        beat.value = clock.now
        assert dog.silent() == []
    assert dog.next_check() == pytest.approx(5.01)


def test_a_silent_worker_is_reported_once_just_past_the_timeout_with_how_long_it_was_silent() -> None:
    clock = Clock()
    dog = Watchdog(5.0, clock=clock)
    beat = _serving(dog, clock)
    last = beat.value
    clock.now = last + 5.0
    assert dog.silent() == []  # exactly at the timeout: not yet
    assert dog.next_check() == pytest.approx(0.01)
    clock.now += dog.next_check() or 0.0  # where the supervisor wakes up
    assert dog.silent() == [Silence(0, pytest.approx(5.01), starting=False)]
    assert dog.silent() == []  # reported once: the supervisor is killing it
    assert dog.next_check() is None


def test_only_the_silent_worker_is_reported_among_several() -> None:
    clock = Clock()
    dog = Watchdog(3.0, clock=clock)
    beats = {key: _serving(dog, clock, key) for key in range(3)}
    for _ in range(10):
        clock.now += 1.0
        beats[0].value = beats[2].value = clock.now  # worker 1 hung
        found = dog.silent()
        if found:
            break
    assert [s.key for s in found] == [1]
    assert found[0].seconds > 3.0 and not found[0].starting


def test_a_starting_worker_is_judged_by_its_start_up_allowance_not_its_heartbeat() -> None:
    clock = Clock()
    dog = Watchdog(2.0, start_grace=60.0, clock=clock)
    dog.watch(0, Beat())  # no stamp yet: loading the model, not listening
    clock.now += 59.0
    assert dog.silent() == []
    assert dog.next_check() == pytest.approx(1.01)
    clock.now += 1.5
    assert dog.silent() == [Silence(0, pytest.approx(60.5), starting=True)]


def test_the_start_up_allowance_is_never_shorter_than_the_timeout() -> None:
    assert Watchdog(300.0).start_grace == 300.0
    assert Watchdog(30.0).start_grace == START_GRACE


def test_a_worker_that_just_began_serving_is_not_killed_for_its_stale_first_stamp() -> None:
    # the supervisor may learn that it serves after a long start, before it sees a fresh stamp
    clock = Clock()
    dog = Watchdog(5.0, clock=clock)
    dog.watch(0, Beat(value=clock.now))
    clock.now += 50.0
    dog.serving(0)
    clock.now += 4.0
    assert dog.silent() == []
    clock.now += 1.5
    assert [s.key for s in dog.silent()] == [0]


def test_a_forgotten_or_replaced_worker_is_judged_afresh() -> None:
    clock = Clock()
    dog = Watchdog(5.0, clock=clock)
    _serving(dog, clock, 0)
    dog.forget(0)  # exited
    clock.now += 100.0
    assert dog.silent() == [] and dog.next_check() is None
    dog.watch(0, Beat())  # its replacement: a start-up allowance of its own
    clock.now += 10.0
    assert dog.silent() == []


def test_a_timeout_the_heartbeat_cannot_meet_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 2 s"):
        Watchdog(MIN_TIMEOUT / 2)


def test_the_tcp_migrate_req_advice_is_given_only_when_the_setting_is_off(tmp_path: Path) -> None:
    setting = tmp_path / "tcp_migrate_req"
    setting.write_text("0\n")
    assert migrate_req_disabled(setting)
    setting.write_text("1\n")
    assert not migrate_req_disabled(setting)
    assert not migrate_req_disabled(tmp_path / "absent")  # kernel older than 5.14: nothing to advise


def _eventually(pid: int, state: str) -> bool:
    deadline = time.monotonic() + 30
    while process_state(pid) != f", process state: {state}":
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@linux_only
def test_the_process_state_tells_a_stopped_process() -> None:
    with subprocess.Popen(["sleep", "30"]) as p:
        try:
            assert _eventually(p.pid, "S (sleeping)")
            p.send_signal(signal.SIGSTOP)
            assert _eventually(p.pid, "T (stopped)")
        finally:
            p.kill()
    assert process_state(p.pid) == ""  # reaped


# ---- the supervisor acting on a silence (a real process, no uvicorn) -------------------------
def _stand_in(code: str) -> multiprocessing.process.BaseProcess:
    """A process standing in for a serving worker: it registers the stack dump as `_worker`
    does, then runs `code`, which calls `ready.set()` once it is where the test wants it."""
    ready = workers_mod._spawn.Event()
    prelude = ("import faulthandler, signal\n"
               f"faulthandler.register(signal.{workers_mod.DUMP_SIGNAL.name}, all_threads=True)\n"
               )
    process = workers_mod._spawn.Process(target=exec, args=(prelude + code, {"ready": ready}),
                                         name="stands-for-a-worker")
    process.start()
    assert ready.wait(60), "the stand-in did not start"
    return process



@linux_only
def test_the_supervisor_sigkills_a_silent_worker_and_logs_its_pid_and_silence(
        caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    sup = Supervisor(uvicorn.Config("bastion.app:app_from_environment"), 1, worker_timeout=4.0)
    sup._watchdog = dog = Watchdog(4.0, clock=clock)
    process = _stand_in("import time\nready.set()\ntime.sleep(60)\n")
    try:
        sup._live[0] = _Worker(0, process, None, time.monotonic(), serving=True)
        beat = Beat(value=clock.now)
        dog.watch(0, beat)
        dog.serving(0)
        clock.now += 4.5
        with caplog.at_level(logging.WARNING, logger="bastion.workers"):
            for silence in dog.silent():
                sup._kill_silent(silence)
        process.join(30)
        assert process.exitcode == -signal.SIGKILL
        [record] = caplog.records
        assert record.getMessage().startswith(
            f"worker 0 (pid {process.pid}) is hung: its event loop has been silent for 4.5 s (worker timeout 4 s)")
        assert record.getMessage().endswith("; killing it (SIGKILL)")
        assert sup._on_exit(sup._live[0]) is False  # then restarted like any dead worker
        assert 0 in sup._restart_at and 0 not in sup._live
    finally:
        if process.exitcode is None:
            process.kill()
            process.join()


def test_a_zero_timeout_turns_the_watchdog_off() -> None:
    assert Supervisor(uvicorn.Config("x:y"), 2, worker_timeout=0)._watchdog is None
    assert Supervisor(uvicorn.Config("x:y"), 2)._watchdog is not None


# A stand-in worker whose Python code never returns to its event loop (a CPU-bound hang), with the
# stack dump registered as `_worker` registers it.
_SPIN = ("def stuck_in_a_pathological_loop():\n"
         "    ready.set()\n"
         "    while True:\n"
         "        pass\n"
         "stuck_in_a_pathological_loop()\n")


@linux_only
def test_a_hung_worker_writes_where_it_hangs_before_it_is_killed(capfd: pytest.CaptureFixture[str]) -> None:
    clock = Clock()
    sup = Supervisor(uvicorn.Config("bastion.app:app_from_environment"), 1, worker_timeout=4.0)
    sup._watchdog = dog = Watchdog(4.0, clock=clock)
    process = _stand_in(_SPIN)
    try:
        sup._live[0] = _Worker(0, process, None, time.monotonic(), serving=True)
        dog.watch(0, Beat(value=clock.now))
        dog.serving(0)
        clock.now += 5
        for silence in dog.silent():
            sup._kill_silent(silence)
        process.join(30)
        assert process.exitcode == -signal.SIGKILL
        err = capfd.readouterr().err
        assert "most recent call first" in err and "stuck_in_a_pathological_loop" in err
    finally:
        if process.exitcode is None:
            process.kill()
            process.join()
