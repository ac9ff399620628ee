"""Scaling mode: `bastion serve --workers N` for N in 1, 2 (req/s and CPU per request summed over every
worker process), plus probes: a limit stays exact across workers with Redis, and memory-backend limits
with several workers are refused (or, where they are not, how far a per-key limit is exceeded).

  .venv/bin/python bench/run.py --scaling [--quick] [--workers 1,2] [--profiles min,redis] [--nice -10]

One worker runs in the bench's usual layout (proxy on core 0, wrk and nginx on core 1). N workers run
on cores 0..N-1 with wrk beside them (nginx stays on core 1): the load side then takes CPU from the
proxy, so req/s scales below N even when the proxy itself scales; CPU µs per request summed over all
workers is the figure that says whether the proxy scales (flat = linear).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sqlite3
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import harness
import profiles
import report
import yaml
from harness import (
    LOAD_CORE,
    PROXY_CORE,
    VENV_BIN,
    Sample,
    Server,
    cpu_seconds,
    descendants,
    drop_stores,
    free_port,
    http,
    rss_mb,
    run_wrk,
    workers,
)
from run import CELLS, settle, start_bastion
from upstream import FakeUpstream

PASS_KEY = "bench-passthrough-key-0123456789"
SCALING_CELLS = ("tput", "stream")
PROBE_RPM = 40


@dataclass
class Target:
    """One proxy configuration of the scaling table."""

    name: str
    profile: str  # "passthrough" or a profiles.py profile
    workers: int
    cpus: str  # where the proxy runs
    load_cpus: int | str  # where wrk runs
    server: Server | None = None
    key: str = ""
    db: Path | None = None
    samples: dict[str, list[Sample]] = field(default_factory=dict)
    split: dict[str, list[str]] = field(default_factory=dict)  # cell -> per-worker share of the proxy CPU


def all_cores(workers: int) -> str:
    return ",".join(str(c) for c in range(workers))


def make_targets(a: argparse.Namespace) -> list[Target]:
    counts = [int(w) for w in a.workers.split(",") if w]
    out = [Target("passthrough", "passthrough", 1, str(PROXY_CORE), LOAD_CORE)]
    for prof in [p for p in (a.profiles or "min,redis").split(",") if p]:
        for w in counts:
            one = w == 1
            out.append(Target(f"bastion-{prof}-w{w}", prof, w, str(PROXY_CORE) if one else all_cores(w),
                              LOAD_CORE if one else all_cores(w)))
    return out


def start(t: Target, upstream: FakeUpstream, out: Path) -> None:
    if t.profile == "passthrough":
        port = free_port()
        t.server = Server(t.name, [sys.executable, str(Path(__file__).parent / "passthrough.py"), "--port", str(port),
                                   "--upstream", upstream.url, "--key", PASS_KEY], port,
                          out / "passthrough.log").start()
        t.key = PASS_KEY
        return
    t.server, t.key, t.db = start_bastion(t.profile, upstream.url, out, workers=t.workers, name=t.name,
                                          cpus=t.cpus)
    if t.workers > 1:
        deadline = time.monotonic() + 30  # uvicorn starts its workers one by one
        while len(workers(t.server.pid)) < t.workers and time.monotonic() < deadline:
            time.sleep(0.2)
        t.server.notes["worker processes"] = str(len(workers(t.server.pid)))


def worker_split(pid: int, before: dict[int, float]) -> str:
    """Share of the workers' CPU per worker process since `before` (e.g. "51/49 %")."""
    d = []
    for p, c0 in before.items():
        try:
            d.append(cpu_seconds(p) - c0)
        except OSError:
            d.append(0.0)
    total = sum(d) or 1.0
    return "/".join(f"{100 * x / total:.0f}" for x in sorted(d, reverse=True)) + " %"


def measure(t: Target, cell: str, out: Path, seconds: float, upstream: FakeUpstream) -> Sample:
    assert t.server is not None
    conns, body, path, _ = CELLS[cell]
    url = t.server.url + (path if t.profile == "passthrough" else path.removeprefix("/stream"))
    kids = workers(t.server.pid)
    before = {p: cpu_seconds(p) for p in kids}
    s = run_wrk(url, out / body, t.key, conns, seconds, t.server.pid, core=t.load_cpus)
    if len(kids) > 1:
        t.split.setdefault(cell, []).append(worker_split(t.server.pid, before))
    return s


def refusal_check(upstream: FakeUpstream, out: Path) -> dict[str, str]:
    """`serve --workers 2` with the memory limits backend: refused, with which message."""
    res: dict[str, str] = {}
    db = out / "refusal.db"
    cfg, _ = profiles.fit("full", upstream.url, db)
    cases = {"(b) memory backend, `serve --workers 2`": (cfg, ["--workers", "2"]),
             "(b) memory backend, `server.workers: 2` in the config": (
                 {**cfg, "server": {**cfg["server"], "workers": 2}}, [])}
    for what, (c, extra) in cases.items():
        path = out / "refusal.yaml"
        path.write_text(yaml.safe_dump(c, sort_keys=False))
        argv = [str(VENV_BIN / "bastion"), "serve", "--config", str(path), "--port", str(free_port()),
                "--host", "127.0.0.1", "--quiet", *extra]
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=60)
            msg = " ".join((p.stderr or p.stdout).split())[:300]
            res[what] = f"exit {p.returncode}: {msg}" if p.returncode else f"STARTED (exit 0): {msg}"
        except subprocess.TimeoutExpired:
            res[what] = "STARTED (still running after 60 s; not refused)"
    drop_stores([db])
    return res


def audit_by_writer(db: Path) -> dict[str, int]:
    """Audit records per writer (= per worker process) in the store."""
    if profiles.STORE_URL and profiles.STORE_URL[0].startswith("postgres"):
        return asyncio.run(_pg_audit_by_writer(profiles.STORE_URL[0]))
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return {w: int(n) for w, n in con.execute("SELECT writer_id, COUNT(*) FROM bastion_audit GROUP BY writer_id")}
    except sqlite3.Error:
        return {}
    finally:
        con.close()


async def _pg_audit_by_writer(url: str) -> dict[str, int]:
    import asyncpg

    con = await asyncpg.connect(url)
    try:
        rows = await con.fetch("SELECT writer_id, COUNT(*) FROM bastion_audit GROUP BY writer_id")
        return {r[0]: int(r[1]) for r in rows}
    except asyncpg.PostgresError:
        return {}
    finally:
        await con.close()


def rpm_probe(t: Target, out: Path, rpm: int = PROBE_RPM) -> str:
    """A new key with rpm N; 2N requests from 16 concurrent clients (a new connection each): how many served,
    and by how many worker processes (counted from the audit chains: one writer per process)."""
    assert t.server is not None and t.db is not None
    st, _, body = http("POST", t.server.url + "/admin/keys", {"name": f"probe-rpm-{t.name}", "rpm": rpm},
                       profiles.ADMIN_KEY)
    if st != 201:
        return f"could not create a key with rpm {rpm}: {st} {str(body)[:100]}"
    key = body["key"]
    payload = (out / "openai.json").read_bytes()
    time.sleep(1.5)
    before = audit_by_writer(t.db)
    cpu0 = {p: cpu_seconds(p) for p in workers(t.server.pid)}

    def one(_: int) -> int:
        return http("POST", t.server.url + "/v1/chat/completions", raw=payload, token=key)[0]  # type: ignore[union-attr]

    with ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(one, range(2 * rpm)))
    split = worker_split(t.server.pid, cpu0)
    time.sleep(2.5)  # audit flush
    after = audit_by_writer(t.db)
    served_by = sorted((after.get(w, 0) - before.get(w, 0) for w in after), reverse=True)
    served_by = [n for n in served_by if n > 0]
    ok = codes.count(200)
    others = {c: codes.count(c) for c in sorted(set(codes)) if c not in (200, 429)}
    return (f"rpm {rpm}, {2 * rpm} requests: {ok} served, {codes.count(429)} refused 429"
            + (f", other {others}" if others else "")
            + f"; audit records per worker {'/'.join(map(str, served_by)) or '- (audit off)'}"
            + f", worker CPU split {split}"
            + (" — EXACT" if ok == rpm else f" — NOT EXACT ({ok} vs {rpm})"))


def run_scaling(a: argparse.Namespace, runs: int, seconds: float, upstream: FakeUpstream,
                servers: dict[str, Server], out: Path) -> int:
    t0 = time.monotonic()
    targets = make_targets(a)
    if any(t.profile == "redis" for t in targets):
        if problem := profiles.redis_problem():
            print(f"bench: {problem}", file=sys.stderr)
            return 2
        harness.Accounting.side_pids = [p for p in [profiles.redis_pid()] if p is not None]
    checks = refusal_check(upstream, out)
    for k, v in checks.items():
        print(f"check {k}: {v}", flush=True)
    for t in targets:
        start(t, upstream, out)
        assert t.server is not None
        servers[t.name] = t.server
        t.samples = {c: [] for c in SCALING_CELLS}
    for t in targets:  # probes before the load (a fresh key; the audit counts are per run)
        if t.workers > 1 and t.server is not None:
            checks[f"{t.name}: per-key rpm across {t.workers} workers"] = rpm_probe(t, out)
            print(f"check {t.name}: {checks[f'{t.name}: per-key rpm across {t.workers} workers']}", flush=True)
    for t in targets:  # warm-up
        assert t.server is not None
        for c in SCALING_CELLS:
            measure(t, c, out, 2 if a.quick else 4, upstream)
        t.split.clear()
        t.server.rss_start = rss_mb(t.server.pid) + sum(rss_mb(p) for p in descendants(t.server.pid))
    for r in range(runs):
        for c in SCALING_CELLS:
            for t in targets:
                assert t.server is not None
                settle([x.server.pid for x in targets if x.server is not None])
                s = measure(t, c, out, seconds, upstream)
                t.samples[c].append(s)
                x = s.extra
                print(f"run {r + 1}/{runs} {c:<7} {t.name:<20} {s.rps:>8,.0f} req/s  cpu {s.cpu_us:6.0f} µs/req  "
                      f"foreign {x.get('foreign_all_pct', 0):3.0f}% (c0 {x.get('foreign_core0_pct', 0):3.0f}%)  "
                      f"load side {x.get('load_side_pct', 0):3.0f}%" + (f"  ERRORS {s.errors}" if s.errors else "")
                      + (f"  split {t.split[c][-1]}" if t.split.get(c) else ""), flush=True)
    for t in targets:
        if t.db is not None:
            time.sleep(1.5)
            rows = profiles.store_counts(t.db)
            assert t.server is not None
            t.server.notes["store rows"] = ", ".join(f"{k}={v}" for k, v in rows.items())
            t.server.notes["audit chains (one per worker start)"] = str(len(audit_by_writer(t.db)))
    for t in targets:
        if t.server is not None:
            t.server.stop()
    if not a.keep:
        drop_stores([t.db for t in targets if t.db is not None])
    text = render(a, runs, seconds, targets, checks, time.monotonic() - t0)
    print("\n" + text)
    (out / "scaling.md").write_text(text)
    (out / "scaling-raw.json").write_text(json.dumps({t.name: {c: [asdict(s) for s in v] for c, v in t.samples.items()}
                                                      for t in targets}, indent=1))
    print(f"\nwritten: {out / 'scaling.md'}")
    return 0


def redis_us(t: Target) -> str:
    """The Redis server's CPU per request in the tput runs (a cost the proxy's own figure leaves out)."""
    if t.profile != "redis":
        return "-"
    vals = [1e6 * s.extra["side_cpu_s"] / s.extra["requests"] for s in t.samples.get("tput", [])
            if s.extra.get("requests") and "side_cpu_s" in s.extra]
    return report.f(statistics.median(vals), 1) if vals else "-"


def render(a: argparse.Namespace, runs: int, seconds: float, targets: list[Target], checks: dict[str, str],
           took: float) -> str:
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    base = {t.profile: t for t in targets if t.workers == 1}

    def g(t: Target, c: str, attr: str) -> float:
        return report.med(t.samples.get(c, []), attr)

    def x(t: Target, c: str, attr: str) -> str:
        b = base.get(t.profile)
        if b is None or b is t:
            return "1.00x" if b is t else "-"
        return f"{g(t, c, attr) / g(b, c, attr):.2f}x"

    head = ("| target | workers | proxy cores / wrk cores | req/s @64 | vs 1 worker | CPU µs/req (all workers) "
            "| vs 1 worker | stream req/s @16 | vs 1 worker | CPU µs/stream | vs 1 worker | worker CPU split per run "
            "| Redis µs/req | foreign CPU, all cores | load side | RSS (all processes) |")
    lines = [head, "|" + " --- |" * (head.count("|") - 1)]
    for t in targets:
        fa = [s.extra.get("foreign_all_pct", 0.0) for c in t.samples.values() for s in c]
        ls = [s.extra.get("load_side_pct", 0.0) for s in t.samples.get("tput", [])]
        errs = sum(s.errors for c in t.samples.values() for s in c)
        rss = f"{t.server.rss_start:.0f} MB" if t.server is not None else "-"
        lines.append("| " + " | ".join([
            t.name + (f" ⚠{errs} err" if errs else ""), str(t.workers), f"{t.cpus} / {t.load_cpus}",
            report.f(g(t, "tput", "rps")), x(t, "tput", "rps"), report.f(g(t, "tput", "cpu_us")), x(t, "tput", "cpu_us"),
            report.f(g(t, "stream", "rps")), x(t, "stream", "rps"), report.f(g(t, "stream", "cpu_us")),
            x(t, "stream", "cpu_us"),
            "; ".join(f"{c}: " + ", ".join(v) for c, v in t.split.items()) or "-", redis_us(t),
            f"{statistics.median(fa):.0f} % of a core" if fa else "-",
            f"{statistics.median(ls):.0f} % of a core" if ls else "-", rss]) + " |")
    return "\n\n".join([
        f"### Scaling {when}: median of {runs} x {seconds:g} s per cell ({took / 60:.1f} min)",
        "`bastion serve --workers N` (one SO_REUSEPORT listening socket per worker). 1 worker: proxy on core 0, wrk and "
        "nginx on core 1. N workers: proxy on cores 0..N-1 with wrk beside them (nginx on core 1). CPU µs/req = "
        "utime+stime of the server process and all its workers over the run / requests: flat from 1 to N "
        "workers = linear scaling of the proxy's own work. Foreign = CPU other users of the machine took on all "
        "cores (100 % = one core); load side = wrk + nginx. Priority of the measured processes: nice "
        f"{harness.measured_nice(a.nice)}. Profiles: min = (a), redis = (b) with limits.backend: redis; store "
        + (f"`{profiles.STORE_URL[0]}`" if profiles.STORE_URL else "SQLite (WAL), one file")
        + " shared by the workers (one audit chain per worker).",
        "\n".join(lines),
        "**Checks**\n" + "\n".join(f"- {k}: {v}" for k, v in checks.items()),
        "**Features**\n" + report.features_block({t.name: t.server.notes for t in targets
                                                   if t.server is not None and t.server.notes}),
    ])
