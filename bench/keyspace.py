"""Keys mode: does the number of virtual keys in the store, or spread over, change the hot path?

  .venv/bin/python bench/run.py --keys 100000 [--keys-stores 10] [--keys-used 1,10,10000]
                                [--profiles min,full] [--quick] [--nice -10]

For each profile, one store of N keys and each small store (default 10) are filled through the key
store's own API (`auth.store.issue_key` → `SqlKeyStore.create`, its INSERTs collected and run in one
transaction). The load (wrk, a key picked at random per request from a file) uses 1 key, or is spread
over K distinct keys (K ≤ the store's size). For each K, a fresh Bastion runs on every store (what a
process saw before must not weigh on the next figure), and each cell runs on every store back to back,
the order rotating per run, so the comparison sees the same machine noise. Reported: req/s, CPU µs
per request, p50/p99 at concurrency 1, RSS after warm-up and at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import math
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import profiles
import report
from harness import LOAD_CORE, Sample, Server, drop_stores, measured_nice, rss_mb, run_wrk
from run import CELLS, settle, start_bastion
from upstream import FakeUpstream

KEY_CELLS = ("tput", "lat")


class _Collector:
    """Stands in for the Database under SqlKeyStore: keeps each INSERT's SQL and parameters, so the bulk
    load writes exactly the rows `create` would, in one transaction instead of one commit per key."""

    dialect = "sqlite"

    def __init__(self) -> None:
        self.sql = ""
        self.rows: list[Sequence[Any]] = []

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        if self.sql and sql != self.sql:
            raise RuntimeError("the key store issued a statement other than its INSERT")
        self.sql = sql
        self.rows.append(params)
        return 1


def key_spec(i: int, full: bool) -> Any:
    from bastion.auth.record import KeyLimits, KeySpec
    from bastion.auth.spec import usd_to_micros

    if not full:
        return KeySpec(name=f"bulk-{i}")
    f = profiles.FULL_KEY_FIELDS
    return KeySpec(name=f"bulk-{i}", team=f["team"],
                   limits=KeyLimits(rpm=f["rpm"], tpm=f["tpm"], budget_usd_micros=usd_to_micros(f["budget_usd"]),
                                    budget_period=f["budget_period"]))


async def _fill(db: Path, n: int, full: bool, keep: int) -> list[str]:
    from bastion.auth.store import SqlKeyStore, issue_key
    from bastion.store.db import Database, SqliteDatabase

    collector = _Collector()
    store = SqlKeyStore(cast(Database, collector))
    now = time.time()
    plaintexts = [(await issue_key(store, key_spec(i, full), now=now)).plaintext for i in range(n)]
    real = SqliteDatabase(str(db))
    try:
        await SqlKeyStore(real).migrate()
        for i in range(0, len(collector.rows), 20_000):
            await real.executemany(collector.sql, collector.rows[i:i + 20_000])
        row = await real.fetchone("SELECT COUNT(*) FROM bastion_keys")
        if row is None or int(row[0]) != n:
            raise RuntimeError(f"bulk load wrote {row} keys, expected {n}")
    finally:
        await real.close()
    return plaintexts[:keep]


def fill_store(db: Path, n: int, full: bool, keep: int) -> tuple[list[str], float]:
    """A fresh SQLite store with n keys; (the first `keep` plaintexts, seconds it took)."""
    drop_stores([db])
    t0 = time.monotonic()
    keys = asyncio.run(_fill(db, n, full, keep))
    return keys, time.monotonic() - t0


@dataclass
class Store:
    """One store of `size` keys; a fresh Bastion serves it for each number of keys used."""

    profile: str
    size: int
    db: Path
    keys: list[str]
    fill_s: float
    server: Server | None = None
    samples: dict[tuple[int, str], list[Sample]] = field(default_factory=dict)  # (keys used, cell) -> runs
    rss: dict[int, tuple[float, float]] = field(default_factory=dict)  # keys used -> RSS after warm-up, at end


def keys_file(out: Path, st: Store, used: int) -> Path:
    path = out / f"keys-{st.profile}-{st.size}-{used}.txt"
    if not path.exists():
        path.write_text("\n".join(st.keys[:used]) + "\n")
    return path


def run_keys(a: argparse.Namespace, runs: int, seconds: float, upstream: FakeUpstream,
             servers: dict[str, Server], out: Path) -> int:
    t0 = time.monotonic()
    sizes = sorted({int(s) for s in a.keys_stores.split(",") if s} | {a.keys})
    used_all = sorted({int(u) for u in a.keys_used.split(",") if u})
    profs = [p for p in (a.profiles or "min,full").split(",") if p]
    if "redis" in profs and (problem := profiles.redis_problem()):
        print(f"bench: {problem}", file=sys.stderr)
        return 2
    stores: list[Store] = []
    for prof in profs:
        for size in sizes:
            db = out / f"bastion-{prof}-k{size}.db"
            keys, took = fill_store(db, size, prof in profiles.FULL_PROFILES, max(used_all))
            print(f"store {db.stem}: {size:,} keys written in {took:.1f} s ({db.stat().st_size / 1e6:.1f} MB)",
                  flush=True)
            stores.append(Store(prof, size, db, keys, took))
    for prof in profs:
        for used in used_all:
            # A fresh Bastion per (store, keys used): what a process has seen before (cached keys, counters)
            # must not weigh on the next measurement.
            group = [s for s in stores if s.profile == prof and used <= s.size]
            for st in group:
                name = f"bastion-{prof}-k{st.size}-u{used}"
                st.server, _, _ = start_bastion(prof, upstream.url, out, db=st.db, name=name)
                servers[name] = st.server
                run_wrk(st.server.url + "/v1/chat/completions", out / "openai.json", st.keys[0], 64,
                        2 if a.quick else 4, None, keys=keys_file(out, st, used))  # warm-up
                st.rss[used] = (rss_mb(st.server.pid), math.nan)
            for r in range(runs):
                k = r % len(group)  # rotate the order per run: no store always goes first
                for cell in KEY_CELLS:
                    for st in group[k:] + group[:k]:
                        assert st.server is not None
                        settle([s.server.pid for s in group if s.server is not None])
                        conns, body, _, _ = CELLS[cell]
                        smp = run_wrk(st.server.url + "/v1/chat/completions", out / body, st.keys[0], conns,
                                      seconds, st.server.pid, core=LOAD_CORE, keys=keys_file(out, st, used))
                        st.samples.setdefault((used, cell), []).append(smp)
                        print(f"run {r + 1}/{runs} {prof:<5} store {st.size:>7,} used {used:>6,} {cell:<5} "
                              f"{smp.rps:>8,.0f} req/s  p50 {smp.p50_ms:6.2f} ms  p99 {smp.p99_ms:6.2f} ms  "
                              f"cpu {smp.cpu_us:6.0f} µs/req  foreign c0 {smp.extra.get('foreign_core0_pct', 0):3.0f}%"
                              + (f"  ERRORS {smp.errors}" if smp.errors else ""), flush=True)
            for st in group:
                assert st.server is not None
                st.rss[used] = (st.rss[used][0], rss_mb(st.server.pid))
                st.server.stop()
                servers.pop(st.server.name, None)
                st.server = None
    if not a.keep:
        drop_stores([st.db for st in stores])
    text = render(a, runs, seconds, stores, used_all, time.monotonic() - t0)
    print("\n" + text)
    (out / "keys.md").write_text(text)
    (out / "keys-raw.json").write_text(json.dumps(
        {f"{st.profile}-{st.size}": {f"{u}-{c}": [asdict(s) for s in v] for (u, c), v in st.samples.items()}
         for st in stores}, indent=1))
    print(f"\nwritten: {out / 'keys.md'}")
    return 0


def render(a: argparse.Namespace, runs: int, seconds: float, stores: list[Store], used_all: list[int],
           took: float) -> str:
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    head = ("| profile | keys in store | keys used | req/s @64 | CPU µs/req | vs small store, same keys used "
            "| p50 @1 | p99 @1 | foreign core 0 | RSS after warm-up→end |")
    lines = [head, "|" + " --- |" * (head.count("|") - 1)]
    smallest = {p: min(s.size for s in stores if s.profile == p) for p in {s.profile for s in stores}}
    for st in stores:
        for used in used_all:
            if used > st.size:
                continue
            tput, lat = st.samples.get((used, "tput"), []), st.samples.get((used, "lat"), [])
            ref = next((s for s in stores if s.profile == st.profile and s.size == smallest[st.profile]), None)
            ref_cpu = report.med(ref.samples.get((used, "tput"), []), "cpu_us") if ref and ref is not st else None
            cpu = report.med(tput, "cpu_us")
            fc = [s.extra.get("foreign_core0_pct", 0.0) for s in tput + lat]
            lines.append("| " + " | ".join([
                "(a) min" if st.profile == "min" else f"(b) {st.profile}", f"{st.size:,}", f"{used:,}",
                report.f(report.med(tput, "rps")) + report.errs(tput), report.f(cpu),
                f"{100 * (cpu / ref_cpu - 1):+.0f} %" if ref_cpu and not math.isnan(ref_cpu) else "-",
                report.f(report.med(lat, "p50_ms"), 2, " ms") + report.errs(lat),
                report.f(report.med(lat, "p99_ms"), 2, " ms"),
                f"{statistics.median(fc):.0f} %" if fc else "-",
                f"{st.rss[used][0]:.0f}→{st.rss[used][1]:.0f} MB" if used in st.rss else "-"]) + " |")
    fills = "; ".join(f"{s.profile} {s.size:,} keys in {s.fill_s:.1f} s" for s in stores)
    return "\n\n".join([
        f"### Keys {when}: median of {runs} x {seconds:g} s per cell ({took / 60:.1f} min)",
        "A fresh Bastion per (store, keys used) (SQLite), proxy on core 0, wrk and nginx on core 1. Keys used = distinct keys "
        "the load picks from at random per request (1 = every request carries the same key); the stores take "
        "turns going first from run to run. Stores filled "
        f"through `issue_key` / `SqlKeyStore.create` in one transaction: {fills}. CPU µs/req = proxy "
        "utime+stime / requests. Priority of the measured processes: nice "
        f"{measured_nice(a.nice)}.",
        "\n".join(lines),
    ])
