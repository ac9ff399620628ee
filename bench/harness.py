"""Process plumbing of the bench: pinned servers, /proc accounting, wrk and the stream client."""

from __future__ import annotations

import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from upstream import ECHO_MODULE, wait_http

BENCH = Path(__file__).resolve().parent
VENV_BIN = Path(sys.executable).parent
TICK = os.sysconf("SC_CLK_TCK")
PROXY_CORE, LOAD_CORE = 0, 1
PRIORITY: list[str] = []  # e.g. ["nice", "-n", "-10"]: set by run.py --nice


def measured_nice(flag: int) -> str:
    """The nice level the measured processes run at: `nice -n flag` is relative to this process's own."""
    own = os.getpriority(os.PRIO_PROCESS, 0)
    level = max(-20, min(19, own + flag))
    return f"{level}" if own == 0 else f"{level} (--nice {flag} from this process's nice {own})"


def pinned(core: int | str, argv: list[str]) -> list[str]:
    """argv pinned to one core, or a taskset cpu list such as "0,1" (and at the chosen scheduling priority)."""
    return [*PRIORITY, "taskset", "-c", str(core), *argv]


def missing_tools() -> list[str]:
    """What the bench needs and does not find, with how to get it (the bench installs nothing)."""
    out = []
    if (os.cpu_count() or 1) < 2:
        out.append("at least 2 cores (proxy on core 0; load generator and upstream on core 1)")
    for tool, how in (("wrk", "apt-get update && apt-get install -y wrk"),
                      ("nginx", "apt-get update && apt-get install -y nginx-light"),
                      ("taskset", "apt-get install -y util-linux")):
        if shutil.which(tool) is None:
            out.append(f"{tool}: {how}")
    if shutil.which("nginx") and not ECHO_MODULE.exists():
        out.append(f"{ECHO_MODULE} (nginx echo module, paced streams): apt-get install -y libnginx-mod-http-echo")
    for mod in ("uvicorn", "uvloop", "httptools", "aiohttp", "yaml", "bastion"):
        try:
            __import__(mod)
        except ImportError:
            out.append(f"python module {mod}: run with the project venv (.venv/bin/python bench/run.py); "
                       "`.venv/bin/pip install -e .[dev]`")
    if shutil.which("bastion", path=str(VENV_BIN)) is None:
        out.append(f"bastion entry point in {VENV_BIN}: `.venv/bin/pip install -e .`")
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """utime + stime of every thread of pid, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def workers(pid: int) -> list[int]:
    """The descendants of pid that serve requests (not multiprocessing's resource tracker)."""
    out = []
    for p in descendants(pid):
        try:
            if b"resource_tracker" not in Path(f"/proc/{p}/cmdline").read_bytes():
                out.append(p)
        except OSError:
            pass
    return out


def descendants(pid: int) -> list[int]:
    """pid's child processes, recursively (uvicorn's workers under `bastion serve --workers N`)."""
    out: list[int] = []
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            tasks = list(Path(f"/proc/{p}/task").iterdir())
        except OSError:
            continue
        for task in tasks:
            try:
                kids = [int(k) for k in (task / "children").read_text().split()]
            except OSError:
                continue
            out += kids
            todo += kids
    return out


def tree_cpu_seconds(pid: int) -> float:
    """utime + stime of pid and of every live descendant (equals cpu_seconds for a single process)."""
    total = 0.0
    for p in [pid, *descendants(pid)]:
        try:
            total += cpu_seconds(p)
        except OSError:  # exited between the listing and the read
            pass
    return total


def core_busy(tasks_only: bool = True) -> dict[int, float]:
    """Seconds per core since boot spent running tasks (user, nice, system; not irq or softirq, where
    loopback networking runs and which belongs to no process), or busy at all, from /proc/stat."""
    out = {}
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("cpu") and line[3:4].isdigit():
            name, *vals = line.split()
            v = [int(x) for x in vals]
            out[int(name[3:])] = (v[0] + v[1] + v[2] + (0 if tasks_only else v[5] + v[6] + v[7])) / TICK
    return out


class Accounting:
    """CPU over one run: the proxy's (its process and any worker processes under it), the load side's
    (wrk/client + nginx), and everyone else's ("foreign": other users of this shared machine) on the
    proxy core, on the load core and on all cores together."""

    upstream_pids: list[int] = []
    side_pids: list[int] = []  # servers the proxy calls besides the upstream (Redis): their own figure


    def __init__(self, pid: int | None) -> None:
        self.pid = pid
        self.t0 = time.monotonic()
        self.busy0 = core_busy()
        self.all0 = core_busy(tasks_only=False)
        self.proxy0 = tree_cpu_seconds(pid) if pid else 0.0
        self.up0 = sum(cpu_seconds(p) for p in self.upstream_pids)
        self.side0 = sum(cpu_seconds(p) for p in self.side_pids)
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.kids0 = ru.ru_utime + ru.ru_stime

    def finish(self) -> dict[str, float]:
        wall = time.monotonic() - self.t0
        busy = core_busy()
        busy_all = core_busy(tasks_only=False)
        proxy = (tree_cpu_seconds(self.pid) if self.pid else 0.0) - self.proxy0
        up = sum(cpu_seconds(p) for p in self.upstream_pids) - self.up0
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        kids = ru.ru_utime + ru.ru_stime - self.kids0
        d = {c: busy[c] - self.busy0.get(c, 0.0) for c in busy}
        c0, c1 = d.get(PROXY_CORE, 0.0), d.get(LOAD_CORE, 0.0)
        side = sum(cpu_seconds(p) for p in self.side_pids) - self.side0
        every = sum(d.values()) - proxy - up - kids - side
        c0 -= proxy
        return {"proxy_cpu_s": proxy, "wall_s": wall, "load_cpu_s": up + kids,
                "foreign_core0_pct": max(0.0, 100 * c0 / wall),
                "foreign_core1_pct": max(0.0, 100 * (c1 - up - kids) / wall),
                "load_core_busy_pct": 100 * (busy_all[LOAD_CORE] - self.all0[LOAD_CORE] - max(0.0, c1 - up - kids))
                / wall,
                "load_side_pct": 100 * (up + kids) / wall,
                "foreign_all_pct": max(0.0, 100 * every / wall),
                **({"side_cpu_s": side} if self.side_pids else {})}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class Server:
    """A proxy under test: a command pinned to PROXY_CORE (or to `cpus`), healthy at url + health."""

    name: str
    argv: list[str]
    port: int
    log: Path
    health: str = "/healthz"
    proc: subprocess.Popen[bytes] | None = None
    rss_start: float = 0.0
    notes: dict[str, str] = field(default_factory=dict)
    cpus: str | None = None  # taskset cpu list, e.g. "0,1" for several workers; default PROXY_CORE

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> Server:
        out = open(self.log, "ab")
        self.proc = subprocess.Popen(pinned(self.cpus or PROXY_CORE, self.argv), stdout=out,
                                     stderr=subprocess.STDOUT, cwd=str(self.log.parent))
        try:
            wait_http(self.url + self.health, self.proc, what=self.name, timeout=60)
        except RuntimeError as e:
            self.stop()
            raise RuntimeError(f"{e}\n--- {self.log} ---\n{self.log.read_text(errors='replace')[-3000:]}") from None
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def http(method: str, url: str, body: Any = None, token: str | None = None,
         raw: bytes | None = None) -> tuple[int, dict[str, str], Any]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    hdrs = {"content-type": "application/json", "anthropic-version": "2023-06-01"}
    if token:
        hdrs["authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            text = r.read()
            return r.status, {k.lower(): v for k, v in r.headers.items()}, _parse(text)
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, _parse(e.read())


def _parse(text: bytes) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return text[:500].decode(errors="replace")


@dataclass
class Sample:
    """One measured run of one cell."""

    rps: float
    p50_ms: float
    p99_ms: float
    cpu_us: float  # proxy CPU per request (0 when there is no proxy)
    errors: int
    extra: dict[str, float] = field(default_factory=dict)


def run_tag() -> str:
    """A tag no earlier run used: the per-request texts of one run never repeat another's."""
    return f"{os.getpid()}.{time.monotonic_ns()}"


def run_wrk(url: str, body: Path, key: str, conns: int, seconds: float, pid: int | None,
            core: int | str = LOAD_CORE, keys: Path | None = None) -> Sample:
    """One wrk run. `keys`: a file of keys, one a line; each request then picks one at random."""
    argv = pinned(core, ["wrk", "-t1", f"-c{conns}", f"-d{seconds:g}s", "--timeout", "5s", "--latency",
                         "-s", str(BENCH / "wrk" / "post.lua"), url, "--", str(body), key, run_tag(),
                         *([str(keys)] if keys is not None else [])])
    acct = Accounting(pid)
    res = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    cpu = acct.finish()
    line = next((ln for ln in res.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no summary (rc={res.returncode}): {res.stdout[-500:]} {res.stderr[-500:]}")
    s = json.loads(line.split(" ", 1)[1])
    n = max(1, s["requests"])
    errors = s["connect"] + s["read"] + s["write"] + s["status"] + s["timeout"]
    return Sample(rps=s["requests"] / (s["duration_us"] / 1e6), p50_ms=s["p50_us"] / 1000,
                  p99_ms=s["p99_us"] / 1000, cpu_us=cpu["proxy_cpu_s"] * 1e6 / n, errors=errors,
                  extra={"status_errors": s["status"], "requests": s["requests"], **cpu})


def run_ttft(url: str, body: Path, key: str, seconds: float, pid: int | None, concurrency: int = 1) -> Sample:
    argv = pinned(LOAD_CORE, [sys.executable, str(BENCH / "streams.py"), "ttft", "--url", url,
                              "--body", str(body), "--key", key, "--seconds", f"{seconds:g}",
                              "--tag", run_tag(), "--concurrency", str(concurrency)])
    acct = Accounting(pid)
    res = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    cpu = acct.finish()
    line = next((ln for ln in res.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"stream client failed (rc={res.returncode}): {res.stderr[-800:]}")
    s = json.loads(line.split(" ", 1)[1])
    n = max(1, s["n"])
    return Sample(rps=s["n"] / seconds, p50_ms=s["ttft_p50_ms"], p99_ms=s["ttft_p99_ms"],
                  cpu_us=cpu["proxy_cpu_s"] * 1e6 / n, errors=s["errors"],
                  extra={"full_p50_ms": s["full_p50_ms"], "full_p99_ms": s["full_p99_ms"], **cpu})


def drop_stores(dbs: Iterable[Path]) -> None:
    """The stores grow by ~1 kB of audit per request: remove them once counted (`--keep` keeps them)."""
    for db in dbs:
        for suffix in ("", "-wal", "-shm"):
            Path(str(db) + suffix).unlink(missing_ok=True)
