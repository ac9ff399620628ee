"""`bastion serve --workers N`: a supervisor and N uvicorn workers, each on its own SO_REUSEPORT socket.

uvicorn's own multi-worker mode shares one listening socket, and whichever worker wakes first takes
the connection: keep-alive clients can all end up on one worker. Here every worker binds its own
socket with SO_REUSEPORT and the kernel hashes new connections evenly across them (Linux).

The supervisor keeps a socket bound to the port for its whole life (never listening, so it gets no
connections): another program cannot take the port while workers restart. It restarts a worker
that dies (with a back-off), gives up when workers keep failing before they serve, and on
SIGTERM/SIGINT asks every worker to stop gracefully. Workers die with the supervisor (PDEATHSIG).
A worker whose event loop stops beating (hung, deadlocked, stopped) for longer than the worker
timeout is killed and restarted like a dead one (see watchdog.py): it would otherwise keep its
socket, and its share of new connections would wait in its accept queue forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import faulthandler
import logging
import multiprocessing
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from types import FrameType

import uvicorn

from bastion.cli.watchdog import (
    BEAT_SECONDS,
    WORKER_TIMEOUT,
    Heartbeat,
    Silence,
    Watchdog,
    migrate_req_disabled,
    process_state,
)

log = logging.getLogger("bastion.workers")
DUMP_SIGNAL = signal.SIGUSR1  # a worker writes every thread's Python stack to stderr (faulthandler)
DUMP_WAIT = 0.3  # seconds a hung worker gets to write its stacks before SIGKILL
_spawn = multiprocessing.get_context("spawn")

STABLE_SECONDS = 10.0  # a worker that dies after this long is restarted at once
BACKOFF_FIRST, BACKOFF_MAX = 0.25, 10.0  # restart delay after repeated early deaths: 0.25, 0.5, 1 ... 10 s
START_ATTEMPTS = 3  # a worker slot that exits this many times in a row before serving: give up
STOP_MARGIN = 5.0  # beyond twice the grace: uvicorn's drain, then the app's shutdown (audit flush)
_PR_SET_PDEATHSIG = 1


def reuseport_available() -> bool:
    """Whether the kernel balances connections over SO_REUSEPORT sockets (Linux does; BSDs/macOS do not)."""
    if not sys.platform.startswith("linux") or not hasattr(socket, "SO_REUSEPORT"):
        return False
    with socket.socket() as s:
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        except OSError:
            return False
    return True


_SockAddr = tuple[str, int] | tuple[str, int, int, int] | tuple[int, bytes]


def _bindable(host: str, port: int) -> tuple[socket.socket, _SockAddr]:
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                         flags=socket.AI_PASSIVE)[0]
    return socket.socket(family, kind, proto), address


def reserve_port(host: str, port: int, *, shared: bool) -> socket.socket:
    """A socket bound to host:port; raises OSError (EADDRINUSE) when any program listens there.

    The bind is done without SO_REUSEPORT, so it also fails against a program that uses SO_REUSEPORT
    itself (say, another Bastion still running), which our workers would otherwise join silently.
    `shared`: then switch to SO_REUSEPORT and drop SO_REUSEADDR, so that while the caller holds the
    socket only SO_REUSEPORT sockets of this user (our workers) can bind the port.
    """
    sock, address = _bindable(host, port)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past TIME_WAIT of a previous run
        sock.bind(address)
        if shared:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 0)
    except OSError:
        sock.close()
        raise
    return sock


# ---- worker process ------------------------------------------------------------------------
_stop_signals: list[int] = []


def _note_stop(sig: int, frame: FrameType | None) -> None:
    # Outside uvicorn's own handlers (before serving, and when uvicorn re-raises the signal after a
    # graceful stop): remember it, and exit 0 instead of dying by the signal.
    _stop_signals.append(sig)


class _WorkerServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, parent: int, ready: Connection, heartbeat: Heartbeat) -> None:
        super().__init__(config)
        self._parent = parent
        self._ready = ready
        self._heartbeat = heartbeat
        self._loop: asyncio.AbstractEventLoop | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if _stop_signals or os.getppid() != self._parent:  # before uvicorn's signal handlers were set
            self.should_exit = True
        elif self.started:
            self._loop = asyncio.get_running_loop()
            self._beat()  # stamped before "serving": the supervisor's first look finds it fresh
            self._ready.send_bytes(b"serving")
        self._ready.close()

    def _beat(self) -> None:
        # One timer a second on the event loop itself (also while draining): a stamp proves the loop
        # runs callbacks, not merely that the process exists.
        assert self._loop is not None
        self._heartbeat.value = time.monotonic()
        self._loop.call_later(BEAT_SECONDS, self._beat)


def _worker(config: uvicorn.Config, parent: int, ready: Connection, heartbeat: Heartbeat) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM) != 0:  # SIGTERM: drain, flush the audit, exit
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent:  # the supervisor died before prctl
        return
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _note_stop)
    config.configure_logging()
    faulthandler.register(DUMP_SIGNAL, all_threads=True)  # `kill -USR1 <pid>`: every thread's stack to stderr
    sock, address = _bindable(config.host, config.port)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    _WorkerServer(config, parent, ready, heartbeat).run(sockets=[sock])


# ---- supervisor ----------------------------------------------------------------------------
@dataclass
class _Worker:
    slot: int
    process: BaseProcess
    ready: Connection | None
    started: float
    serving: bool = False


def _exit_text(code: int | None) -> str:
    if code is not None and code < 0:
        return f"was killed by {signal.Signals(-code).name}"
    return f"exited with code {code}"


class Supervisor:
    """Runs `workers` processes serving `config` (an app import string, factory mode) on config.port.

    `worker_timeout`: seconds a serving worker's event loop may stay silent before it is killed and
    restarted; 0 turns the watchdog off.
    """

    def __init__(self, config: uvicorn.Config, workers: int, *, worker_timeout: float = WORKER_TIMEOUT) -> None:
        self.config = config
        self.workers = workers
        self.worker_timeout = worker_timeout
        self._watchdog = Watchdog(worker_timeout) if worker_timeout else None
        self._live: dict[int, _Worker] = {}
        self._restart_at: dict[int, float] = {}
        self._early_deaths = [0] * workers  # in a row, each within STABLE_SECONDS of its start
        self._start_failures = [0] * workers  # in a row, before the worker served
        self._stop: int | None = None

    def run(self) -> int:
        """Serve until SIGTERM/SIGINT (then 0) or until workers keep failing at start (then 1)."""
        wake_r, wake_w = socket.socketpair()
        wake_w.setblocking(False)
        old_wakeup = signal.set_wakeup_fd(wake_w.fileno())
        old = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            if migrate_req_disabled():
                log.info("net.ipv4.tcp_migrate_req is 0: connections still queued on a worker's socket when it "
                         "exits are reset rather than handed to another worker; sysctl -w "
                         "net.ipv4.tcp_migrate_req=1 (as root) keeps them")
            for slot in range(self.workers):
                self._start(slot)
            code = self._supervise(wake_r)
        finally:
            stopped = self._stop_all()
            signal.set_wakeup_fd(old_wakeup)
            for sig, handler in old.items():
                signal.signal(sig, handler)
            wake_r.close()
            wake_w.close()
        return code or stopped

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        self._stop = sig

    def _start(self, slot: int) -> None:
        ready_r, ready_w = _spawn.Pipe(duplex=False)
        heartbeat = _spawn.RawValue("d", 0.0)
        process = _spawn.Process(target=_worker, args=(self.config, os.getpid(), ready_w, heartbeat),
                                 name=f"bastion-worker-{slot}")
        process.start()
        ready_w.close()
        self._live[slot] = _Worker(slot, process, ready_r, time.monotonic())
        if self._watchdog is not None:
            self._watchdog.watch(slot, heartbeat)

    def _supervise(self, wake: socket.socket) -> int:
        while self._stop is None:
            now = time.monotonic()
            for slot, at in list(self._restart_at.items()):
                if at <= now:
                    del self._restart_at[slot]
                    self._start(slot)
            timers = [at - now for at in self._restart_at.values()]
            if self._watchdog is not None and (check := self._watchdog.next_check()) is not None:
                timers.append(check)
            timeout = max(0.0, min(timers)) if timers else None
            waitables: list[Connection | socket.socket | int] = [
                wake, *(w.process.sentinel for w in self._live.values()),
                *(w.ready for w in self._live.values() if w.ready is not None)]
            if wake in wait(waitables, timeout):
                wake.recv(512)
            for w in list(self._live.values()):
                if w.ready is not None and w.ready.poll():
                    self._on_ready(w)
                if w.process.exitcode is not None and self._stop is None and self._on_exit(w):
                    return 1
            if self._watchdog is not None and self._stop is None:
                for silence in self._watchdog.silent():
                    self._kill_silent(silence)
        log.info("received %s: stopping %d workers gracefully", signal.Signals(self._stop).name, len(self._live))
        return 0

    def _on_ready(self, w: _Worker) -> None:
        assert w.ready is not None
        try:
            w.ready.recv_bytes()
            w.serving = True
            self._start_failures[w.slot] = 0
            if self._watchdog is not None:
                self._watchdog.serving(w.slot)
        except EOFError:  # exited (or stopped) before serving
            pass
        w.ready.close()
        w.ready = None

    def _on_exit(self, w: _Worker) -> bool:
        """Schedule the restart of a dead worker; True when workers keep failing at start."""
        del self._live[w.slot]
        if self._watchdog is not None:
            self._watchdog.forget(w.slot)
        if w.ready is not None:
            w.ready.close()
        now, code = time.monotonic(), w.process.exitcode
        if not w.serving:
            self._start_failures[w.slot] += 1
            if self._start_failures[w.slot] >= START_ATTEMPTS:
                print(f"bastion: worker processes keep failing at start-up ({START_ATTEMPTS} attempts in a row, "
                      f"the last {_exit_text(code)}); giving up (see the worker errors above)",
                      file=sys.stderr, flush=True)
                return True
        early = now - w.started < STABLE_SECONDS
        self._early_deaths[w.slot] = self._early_deaths[w.slot] + 1 if early else 0
        n = self._early_deaths[w.slot]
        delay = min(BACKOFF_FIRST * 2 ** (n - 1), BACKOFF_MAX) if n else 0.0
        log.error("worker %d (pid %s) %s%s; restarting it in %.2f s", w.slot, w.process.pid, _exit_text(code),
                  "" if w.serving else " before it served", delay)
        self._restart_at[w.slot] = now + delay
        return False

    def _kill_silent(self, silence: Silence) -> None:
        """SIGKILL a worker whose event loop went silent; its exit is then handled like any death."""
        w = self._live.get(silence.key)
        if w is None or w.process.exitcode is not None:
            return
        state = process_state(w.process.pid)
        if silence.starting:
            log.warning("worker %d (pid %s) did not start serving within %.1f s%s; killing it (SIGKILL)",
                        w.slot, w.process.pid, silence.seconds, state)
        else:
            log.warning("worker %d (pid %s) is hung: its event loop has been silent for %.1f s (worker timeout "
                        "%g s)%s; its threads' stacks follow on stderr; killing it (SIGKILL)", w.slot,
                        w.process.pid, silence.seconds, self.worker_timeout, state)
            # where it hangs, for the operator: the dump runs in a C signal handler, so a loop stuck
            # in Python or in a C call still writes it (a stopped process does not)
            if w.process.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(w.process.pid, DUMP_SIGNAL)
                w.process.join(DUMP_WAIT)
        w.process.kill()

    def _stop_all(self) -> int:
        """SIGTERM every worker (uvicorn drains, then the app shuts down); SIGKILL what outlives that."""
        self._restart_at.clear()
        live = list(self._live.values())
        self._live.clear()
        for w in live:
            w.process.terminate()
        deadline = time.monotonic() + 2 * (self.config.timeout_graceful_shutdown or 0) + STOP_MARGIN
        for w in live:
            w.process.join(max(0.0, deadline - time.monotonic()))
        stuck = [w for w in live if w.process.exitcode is None]
        for w in stuck:
            w.process.kill()
            w.process.join()
        for w in live:
            if w.ready is not None:
                w.ready.close()
        if stuck:
            print(f"bastion: {len(stuck)} worker(s) did not stop in time and were killed", file=sys.stderr)
            return 1
        return 0
