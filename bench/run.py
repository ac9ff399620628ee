"""Bastion's benchmark: one command, one table.  `.venv/bin/python bench/run.py [--quick] [--soak N]`

Starts a fake upstream (nginx, core 1), the minimal pass-through and Bastion in two configurations
(core 0), drives them with wrk and an asyncio stream client (core 1), and prints a markdown table
(req/s, p50/p99, CPU µs per request, TTFT, RSS, ratios vs the pass-through) that is also written
to bench/out/. Loopback only; every run is bounded in time. See bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import sys
import time
from dataclasses import asdict
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness
import profiles
import report
from bodies import write_bodies
from harness import (
    BENCH,
    PROXY_CORE,
    VENV_BIN,
    Sample,
    Server,
    cpu_seconds,
    drop_stores,
    free_port,
    http,
    missing_tools,
    rss_mb,
    run_ttft,
    run_wrk,
)
from upstream import FakeUpstream

PASS_KEY = "bench-passthrough-key-0123456789"
TARGETS = ["direct", "passthrough", "bastion-min", "bastion-full"]
OPTIONAL_TARGETS = ["bastion-redis"]  # (b) with limits.backend: redis (needs Redis at profiles.REDIS_URL)
# cell -> (connections, body file, path on direct/pass-through, kind)
CELLS: dict[str, tuple[int, str, str, str]] = {
    "tput": (64, "openai.json", "/v1/chat/completions", "wrk"),
    "lat": (1, "openai.json", "/v1/chat/completions", "wrk"),
    "stream": (16, "openai_stream.json", "/stream/v1/chat/completions", "wrk"),
    "ttft": (1, "openai_paced.json", "/paced/v1/chat/completions", "ttft"),
    # 16 clients, events paced 2 ms apart as a model writes them: one upstream read per event, the proxy
    # not saturated; compared by CPU per stream (streams/s is set by the pacing)
    "pstream": (16, "openai_paced.json", "/paced/v1/chat/completions", "ttft"),
    "burst": (16, "openai_burst.json", "/burst/v1/chat/completions", "wrk"),
    "a_tput": (64, "anthropic.json", "/v1/messages", "wrk"),
    "a_stream": (16, "anthropic_stream.json", "/stream/v1/messages", "wrk"),
}


def bastion_path(path: str) -> str:
    """Bastion picks the upstream prefix by model alias, so its path is always the plain one."""
    for prefix in ("/stream", "/paced", "/burst"):
        path = path.removeprefix(prefix)
    return path


def start_bastion(profile: str, upstream: str, out: Path, *, workers: int = 1, db: Path | None = None,
                  name: str | None = None, cpus: str | None = None) -> tuple[Server, str, Path]:
    """Bastion in `profile` (see profiles.py), healthy, with a key created and the features probed.
    `workers` > 1 runs `bastion serve --workers N` (pinned to `cpus`); `db`: an existing store to use."""
    name = name or f"bastion-{profile}"
    db = db or out / f"{name}.db"
    cfg, notes = profiles.fit(profile, upstream, db)
    if workers > 1 and cfg.get("limits", {}).get("backend", "memory") == "memory":
        # `serve --workers N` refuses per-process counters (keys can get limits and budgets at any time)
        cfg["limits"] = {**cfg.get("limits", {}), "backend": "redis", "redis_url": profiles.REDIS_URL,
                         "redis_key_prefix": profiles.redis_prefix()}
        notes["limits"] = "backend redis (required with several workers)"
    cfg_path = out / f"{name}.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    port = free_port()
    srv = Server(name, [str(VENV_BIN / "bastion"), "serve", "--config", str(cfg_path), "--port",
                        str(port), "--host", "127.0.0.1", "--quiet",
                        *(["--workers", str(workers)] if workers > 1 else [])], port,
                 out / f"{name}.log", cpus=cpus).start()
    srv.notes.update(notes)
    try:  # the caller only learns of srv when this returns: stop it here if a step fails
        admin = profiles.ADMIN_KEY
        full = profile in profiles.FULL_PROFILES
        fields = {"name": f"bench-{profile}", **(profiles.FULL_KEY_FIELDS if full else {})}
        status, _, body = http("POST", srv.url + "/admin/keys", fields, admin)
        if status != 201 and full:
            srv.notes["key fields"] = f"refused ({status}: {str(body)[:120]}); plain key used"
            status, _, body = http("POST", srv.url + "/admin/keys", {"name": "bench-full"}, admin)
        if status != 201:
            raise RuntimeError(f"could not create a key on {srv.name}: {status} {body}")
        probe(srv, body["key"], out)
    except BaseException:
        srv.stop()
        raise
    return srv, body["key"], db


def probe(srv: Server, key: str, out: Path) -> None:
    """Which features are effective, observed from outside (not just accepted by the schema)."""
    ok, hdrs, _ = http("POST", srv.url + "/v1/chat/completions", raw=(out / "openai.json").read_bytes(), token=key)
    if ok != 200:
        raise RuntimeError(f"{srv.name} answered {ok} to the bench request; see {srv.log}")
    srv.notes["probe rate-limit headers"] = "yes" if "x-ratelimit-limit-requests" in hdrs else "no"
    st, _, _ = http("POST", srv.url + "/v1/chat/completions", raw=(out / "openai_secret.json").read_bytes(),
                    token=key)
    srv.notes["probe prompt with a GitHub token"] = f"{st} ({'blocked' if st >= 400 else 'passed'})"
    st, _, body = http("POST", srv.url + "/admin/keys", {"name": "bench-broke", "budget_usd": 0.000001},
                       profiles.ADMIN_KEY)
    if st == 201:
        st, _, _ = http("POST", srv.url + "/v1/chat/completions", raw=(out / "openai.json").read_bytes(),
                        token=body["key"])
        srv.notes["probe key with a $0.000001 budget"] = f"{st} ({'refused' if st >= 400 else 'served'})"


def settle(pids: list[int], limit: float = 0.02, timeout: float = 10.0) -> None:
    """Wait until the servers not under test are idle (an audit flush must not steal core 0)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = sum(cpu_seconds(p) for p in pids)
        time.sleep(0.25)
        if sum(cpu_seconds(p) for p in pids) - before <= limit * 0.25:
            return


def measure(cell: str, target: str, url: str, key: str, out: Path, seconds: float, pid: int | None) -> Sample:
    conns, body, _, kind = CELLS[cell]
    if kind == "ttft":
        return run_ttft(url, out / body, key, seconds, pid, conns)
    return run_wrk(url, out / body, key, conns, seconds, pid)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="1 run of 3 s per cell (development)")
    p.add_argument("--runs", type=int, help="runs per cell (default 3; quick 1)")
    p.add_argument("--seconds", type=int, help="seconds per run, a whole number (wrk takes no fraction; "
                                               "default 10; quick 3)")
    p.add_argument("--targets", default=",".join(TARGETS),
                   help="comma list of " + ",".join(TARGETS + OPTIONAL_TARGETS))
    p.add_argument("--cells", default=",".join(c for c in CELLS if c != "burst"),
                   help="comma list of " + ",".join(CELLS) + " (burst: the whole stream in one upstream write)")
    p.add_argument("--prompt-words", type=int, default=200, help="words in the user prompt")
    p.add_argument("--same-prompt", action="store_true",
                   help="send the identical prompt every time (a gateway's scan cache then answers); "
                        "default: every request's prompt is unique")
    p.add_argument("--nice", type=int, default=0,
                   help="run proxies, upstream and load generators at this nice level (e.g. -10 on a shared "
                        "machine, as root); default 0")
    p.add_argument("--keep", action="store_true",
                   help="keep Bastion's SQLite stores (and the soak's access log) in bench/out/")
    p.add_argument("--soak", type=int, metavar="N", help="soak mode: N requests through Bastion (b)")
    p.add_argument("--soak-concurrency", type=int, default=32)
    p.add_argument("--soak-max-seconds", type=float, default=3000.0)
    p.add_argument("--scaling", action="store_true",
                   help="scaling mode: Bastion (a) and (b, Redis limits) under `serve --workers 1` and 2, "
                        "plus the limits-exactness and refusal probes (see bench/scaling.py)")
    p.add_argument("--workers", default="1,2", help="scaling mode: worker counts to compare")
    p.add_argument("--keys", type=int, metavar="N",
                   help="keys mode: a store of N virtual keys vs a small one, load on 1 key and spread over "
                        "many (see bench/keyspace.py)")
    p.add_argument("--keys-stores", default="10", help="keys mode: the small store sizes to compare with N")
    p.add_argument("--keys-used", default="1,10,10000", help="keys mode: distinct keys the load is spread over")
    p.add_argument("--store-url", default="",
                   help="scaling mode: Bastion's store (e.g. postgresql://postgres@127.0.0.1:5432/bastion_bench, a "
                        "database of its own: the bench adds keys and audit rows); default a SQLite file per target")
    p.add_argument("--profiles", default="",
                   help="scaling / keys mode: Bastion profiles (default min,redis for scaling, min,full for keys)")
    a = p.parse_args()
    check_args(p, a)
    if a.store_url:
        profiles.STORE_URL[:] = [a.store_url]
    # Stop cleanly (servers and nginx are stopped in `finally`) on SIGTERM, and on SIGINT even when
    # started in the background by a shell that ignores it.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    missing = missing_tools()
    if missing:
        print("bench: missing tools (this script installs nothing):\n  " + "\n  ".join(missing), file=sys.stderr)
        return 2
    autogroup = set_autogroup_nice(a.nice) if a.nice else None
    try:
        return modes(a)
    except KeyboardInterrupt:  # every server, nginx and the Redis keys were stopped / dropped in `modes`
        print("\nbench: interrupted; every process it started is stopped", file=sys.stderr)
        return 130
    except RuntimeError as e:  # the bench's own failures (a server that did not start or answer, wrk failing)
        print(f"bench: {e}", file=sys.stderr)
        return 1
    finally:
        if autogroup is not None:  # the session's weight outlives the bench: give the shell its own back
            try:
                Path("/proc/self/autogroup").write_text(autogroup)
            except OSError:
                pass


def set_autogroup_nice(nice: int) -> str | None:
    """Run the measured processes at `nice`; returns the session's autogroup nice to restore, if it was set."""
    harness.PRIORITY[:] = ["nice", "-n", str(nice)]
    # With sched_autogroup, nice only ranks processes within one session; the session's own
    # weight is its autogroup nice. Set it too, so the bench's processes win over other sessions.
    try:
        before = Path("/proc/self/autogroup").read_text().split()[-1]  # "/autogroup-313 nice 0"
        Path("/proc/self/autogroup").write_text(str(nice))
        return before
    except (OSError, IndexError) as e:
        print(f"bench: could not set the autogroup priority ({e}); nice applies within this session only",
              file=sys.stderr)
        return None


def check_args(p: argparse.ArgumentParser, a: argparse.Namespace) -> None:
    """Refuse bad values before anything starts, naming the flag (not a traceback minutes into a run)."""
    def ints(flag: str, text: str) -> list[int]:
        try:
            vals = [int(v) for v in text.split(",") if v.strip()]
        except ValueError:
            vals = []
        if not vals or min(vals) < 1:
            p.error(f"{flag}: a comma list of whole numbers >= 1, got {text!r}")
        return vals

    def names(flag: str, text: str, known: list[str]) -> None:
        got = [v for v in text.split(",") if v]
        bad = [v for v in got if v not in known]
        if bad or not got:
            p.error(f"{flag}: {'unknown ' + ', '.join(bad) if bad else 'empty'} (choose from {','.join(known)})")

    if sum((a.soak is not None, a.scaling, a.keys is not None)) > 1:
        p.error("--soak, --scaling and --keys are separate modes: give one")
    for flag, value in (("--runs", a.runs), ("--seconds", a.seconds), ("--soak", a.soak), ("--keys", a.keys),
                        ("--soak-concurrency", a.soak_concurrency)):
        if value is not None and value < 1:
            p.error(f"{flag} must be at least 1, got {value}")
    names("--targets", a.targets, TARGETS + OPTIONAL_TARGETS)
    names("--cells", a.cells, list(CELLS))
    names("--profiles", a.profiles or "min", ["min", *profiles.FULL_PROFILES])
    workers = ints("--workers", a.workers)
    if a.scaling and max(workers) > (os.cpu_count() or 1):
        p.error(f"--workers {a.workers}: this machine has {os.cpu_count()} cores")
    stores, used = ints("--keys-stores", a.keys_stores), ints("--keys-used", a.keys_used)
    if a.store_url and not a.scaling:  # keys mode fills SQLite stores; the default bench counts rows in them
        p.error("--store-url applies to --scaling only")
    largest = max([*stores, a.keys or 0])
    if a.keys is not None and max(used) > largest:
        p.error(f"--keys-used {a.keys_used} (default 1,10,10000): {max(used):,} keys used is more than the largest "
                f"store holds ({largest:,}); give --keys-used at most --keys")


def modes(a: argparse.Namespace) -> int:
    runs = a.runs or (1 if a.quick else 3)
    seconds = a.seconds or (3.0 if a.quick else 10.0)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    out = BENCH / "out" / stamp
    out.mkdir(parents=True)
    write_bodies(out, a.prompt_words, unique=not a.same_prompt)
    upstream = FakeUpstream(out / "nginx", free_port(), core=1, priority=harness.PRIORITY).start()
    harness.Accounting.upstream_pids = upstream.worker_pids()
    servers: dict[str, Server] = {}
    try:
        if a.soak:
            from soak import run_soak

            return run_soak(a, upstream, out, start_bastion)
        if a.scaling:
            from scaling import run_scaling

            return run_scaling(a, runs, seconds, upstream, servers, out)
        if a.keys:
            from keyspace import run_keys

            return run_keys(a, runs, seconds, upstream, servers, out)
        return bench(a, runs, seconds, upstream, servers, out, stamp)
    finally:
        for s in servers.values():
            s.stop()
        upstream.stop()
        for prefix in profiles.REDIS_PREFIXES:
            try:
                profiles.drop_redis_prefix(prefix)
            except Exception as e:  # cleanup only: say so, do not mask the run's own outcome
                print(f"bench: could not drop Redis keys {prefix}* ({type(e).__name__})", file=sys.stderr)


def bench(a: argparse.Namespace, runs: int, seconds: float, upstream: FakeUpstream, servers: dict[str, Server],
          out: Path, stamp: str) -> int:
    targets = [t for t in a.targets.split(",") if t]
    cells = [c for c in a.cells.split(",") if c]
    if "bastion-redis" in targets:
        if problem := profiles.redis_problem():
            print(f"bench: {problem}", file=sys.stderr)
            return 2
        harness.Accounting.side_pids = [p for p in [profiles.redis_pid()] if p is not None]
    t0 = time.monotonic()
    # The upstream's own capacity, with wrk on the other core: it must be far above every proxy.
    nginx_pid = upstream.worker_pids()[0]
    cap = {c: run_wrk(upstream.url + CELLS[c][2], out / CELLS[c][1], "x", 64, min(seconds, 5), nginx_pid,
                      core=PROXY_CORE) for c in ("tput", "stream")}
    print(f"fake upstream capacity (wrk core 0 → nginx core 1, 64 conns): {cap['tput'].rps:,.0f} req/s "
          f"non-streamed ({cap['tput'].cpu_us:.0f} µs CPU/req), {cap['stream'].rps:,.0f} req/s streamed",
          flush=True)
    keys: dict[str, str] = {"direct": "none"}
    dbs: dict[str, Path] = {}
    for t in targets:
        if t == "passthrough":
            port = free_port()
            servers[t] = Server(t, [sys.executable, str(BENCH / "passthrough.py"), "--port", str(port),
                                    "--upstream", upstream.url, "--key", PASS_KEY], port, out / "passthrough.log").start()
            keys[t] = PASS_KEY
        elif t.startswith("bastion-"):
            servers[t], keys[t], dbs[t] = start_bastion(t.split("-", 1)[1], upstream.url, out)
    for t, s in servers.items():  # warm-up: pools, caches, first-call imports
        run_wrk(s.url + "/v1/chat/completions", out / "openai.json", keys[t], 64, 2 if a.quick else 4, None)
        st = "/stream/v1/chat/completions" if t == "passthrough" else "/v1/chat/completions"
        run_wrk(s.url + st, out / "openai_stream.json", keys[t], 16, 1, None)
        s.rss_start = rss_mb(s.pid)
    results: report.Cells = {t: {c: [] for c in cells} for t in targets}
    for r in range(runs):
        for c in cells:
            for t in targets:
                srv = servers.get(t)
                path = CELLS[c][2]
                base = upstream.url if srv is None else srv.url
                url = base + (bastion_path(path) if t.startswith("bastion-") else path)
                settle([s.pid for s in servers.values()])
                sample = measure(c, t, url, keys[t], out, seconds, srv.pid if srv else None)
                results[t][c].append(sample)
                print(f"run {r + 1}/{runs} {c:<8} {t:<13} {sample.rps:>9,.0f} req/s  p50 {sample.p50_ms:7.2f} ms  "
                      f"p99 {sample.p99_ms:7.2f} ms  cpu {sample.cpu_us:6.0f} µs/req"
                      + (f"  full {sample.extra['full_p50_ms']:.2f} ms" if "full_p50_ms" in sample.extra else "")
                      + f"  foreign c0 {sample.extra.get('foreign_core0_pct', 0):3.0f}%"
                      f" c1 {sample.extra.get('foreign_core1_pct', 0):3.0f}%"
                      f"  load core {sample.extra.get('load_core_busy_pct', 0):3.0f}%"
                      + (f"  ERRORS {sample.errors}" if sample.errors else ""), flush=True)
    rss = {t: (s.rss_start, rss_mb(s.pid)) for t, s in servers.items()}
    time.sleep(1.5)  # let async audit / usage writers flush before counting rows
    for t, db in dbs.items():
        counts = profiles.store_counts(db)
        servers[t].notes["store rows after the run"] = ", ".join(f"{k}={v}" for k, v in counts.items()) or "none"
    for s in servers.values():
        s.stop()
    if not a.keep:
        drop_stores(dbs.values())
    notes = {t: s.notes for t, s in servers.items() if s.notes}
    text = render(a, runs, seconds, cap, results, rss, notes, time.monotonic() - t0)
    print("\n" + text)
    (out / "results.md").write_text(text)
    (BENCH / "out" / "latest.md").write_text(text)
    (out / "raw.json").write_text(json.dumps({t: {c: [asdict(s) for s in v] for c, v in cs.items()}
                                              for t, cs in results.items()}, indent=1))
    print(f"\nwritten: {out / 'results.md'} (and bench/out/latest.md); logs and configs in {out}")
    return 0


def render(a: argparse.Namespace, runs: int, seconds: float, cap: dict[str, Sample], results: report.Cells,
           rss: dict[str, tuple[float, float]], notes: dict[str, dict[str, str]], took: float) -> str:
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "\n\n".join(part for part in [
        f"### Bench {when}: {'quick' if a.quick else 'full'} mode, median of {runs} x {seconds:g} s per cell, "
        f"{a.prompt_words}-word prompt, {'identical' if a.same_prompt else 'unique'} per request "
        f"({took / 60:.1f} min)",
        "Proxy on core 0; wrk / stream client and the nginx fake upstream on core 1. OpenAI "
        "`/v1/chat/completions` ingress and upstream. Streams: 20 SSE events (role, 16 text deltas, 87 "
        "characters in all, finish, usage, [DONE]), one upstream write each. TTFT and full stream: one client, the same stream paced "
        "2 ms apart. CPU µs/req = proxy utime+stime over the run / requests; 1-core capacity = 10⁶ / CPU µs "
        "per request (robust to other load on the machine). Foreign core 0 = median CPU that other "
        "processes of this shared machine used on the proxy core during the runs; load core max = most of "
        "the load core that the bench's own load side (wrk or client, nginx, softirq) used in a throughput "
        "cell (near 100 % would mean the load side, not the proxy, capped that cell). Priority of the "
        f"measured processes: nice {harness.measured_nice(a.nice)}.",
        report.main_table(results, rss),
        report.anthropic_table(results),
        report.paced_table(results),
        report.extra_table(results),
        report.redis_table(results) if "bastion-redis" in results else "",
        f"Fake upstream capacity (wrk on core 0, nginx on core 1, 64 conns): {cap['tput'].rps:,.0f} req/s "
        f"non-streamed at {cap['tput'].cpu_us:.0f} µs CPU/req; {cap['stream'].rps:,.0f} req/s streamed.",
        "**Targets (issue 6)**\n" + report.targets_check(results, rss),
        "**Features**\n" + report.features_block(notes),
    ] if part)


if __name__ == "__main__":
    sys.exit(main())
