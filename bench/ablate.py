"""Where Bastion (b)'s CPU goes in the real server: the wrk bench's (b) with one feature taken out at a time.

  .venv/bin/python bench/ablate.py [--variants full,no-injection,...] [--cell tput|stream] [--runs 3] [--seconds 5]
                                   [--nice -10]

Each variant is the `full` bench profile (bench/profiles.py: the default policy in and out, rate limits, budgets,
async audit, metrics, access log) with one part changed; each runs as its own `bastion serve` on core 0 under wrk on
core 1 (the bench's cells and accounting: bench/run.py), and the table gives CPU µs per request (the most stable
figure on a shared host) and each variant's difference from `full`. Unlike the in-process benches
(`bench_gateway_overhead.py`, `icount.py`), this counts what a feature costs among everything else a server does
between two requests: other work evicts a feature's tables and code from the caches, so its cost here can be well
above its cost in a loop (see bench/RESULTS.md, fifteenth session). Differences of a few µs are within run-to-run noise;
use --runs 3 or more and read the minimum.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness
import profiles
from bodies import write_bodies
from harness import BENCH, free_port
from run import CELLS, bastion_path, measure, set_autogroup_nice, settle, start_bastion
from upstream import FakeUpstream

_POLICY = profiles.DEFAULT_POLICY
_NO_INJECTION = {"input": [r for r in _POLICY["input"] if r["scanner"] != "injection"], "output": _POLICY["output"]}
_OBS_ON = {"metrics": True, "access_log": True}
_AUDIT_ON = {"enabled": True, "mode": "async"}
# variant -> the FEATURES sections (profiles.FEATURES) it replaces; an empty mapping drops the feature
VARIANTS: dict[str, dict[str, dict[str, Any]]] = {
    "full": {},
    "no-injection": {"policy": {"policies": {"default": _NO_INJECTION}}},
    "no-input-scan": {"policy": {"policies": {"default": {"input": [], "output": _POLICY["output"]}}}},
    "no-output-scan": {"policy": {"policies": {"default": {"input": _POLICY["input"], "output": []}}}},
    "no-policy": {"policy": {"policies": {"default": {"input": [], "output": []}}}},
    "no-limits-budgets": {"limits": {}, "cost": {}},  # and the key without its team, limits and budget (below)
    "no-audit": {"audit": {"audit": {"enabled": False}, "observability": _OBS_ON}},
    "no-access-log": {"audit": {"audit": _AUDIT_ON, "observability": {"metrics": True, "access_log": False}}},
    "no-metrics": {"audit": {"audit": _AUDIT_ON, "observability": {"metrics": False, "access_log": True}}},
    "no-audit-obs": {"audit": {"audit": {"enabled": False}, "observability": {"metrics": False, "access_log": False}}},
}


PLAIN_KEY = {"no-limits-budgets"}  # variants whose bench key gets none of profiles.FULL_KEY_FIELDS


def features_for(variant: str) -> dict[str, dict[str, Any]]:
    """profiles.FEATURES with the variant's sections in place (dropped where the variant empties them)."""
    feats = copy.deepcopy(profiles.FEATURES)
    for name, sections in VARIANTS[variant].items():
        if sections:
            feats[name] = copy.deepcopy(sections)
        else:
            feats.pop(name, None)
    return feats


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variants", default="full,no-injection,no-policy,no-output-scan,no-limits-budgets,no-audit,"
                                         "no-access-log,no-metrics",
                   help="comma list of " + ",".join(VARIANTS))
    p.add_argument("--cell", default="tput", choices=["tput", "stream", "a_tput", "a_stream"])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--seconds", type=int, default=5)
    p.add_argument("--nice", type=int, default=0, help="as bench/run.py --nice (e.g. -10 as root)")
    a = p.parse_args()
    variants = [v for v in a.variants.split(",") if v]
    if bad := [v for v in variants if v not in VARIANTS]:
        p.error(f"--variants: unknown {', '.join(bad)} (choose from {','.join(VARIANTS)})")
    if a.runs < 1 or a.seconds < 1:
        p.error("--runs and --seconds must be at least 1")
    if a.nice:
        set_autogroup_nice(a.nice)
    # The policy variants need the config's own policy: the built-in default would otherwise apply (profiles.fit
    # leaves the policy section out when the gateway has a built-in default).
    profiles._builtin_policy = lambda: None  # type: ignore[assignment]
    out = BENCH / "out" / ("ablate-" + dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S"))
    out.mkdir(parents=True)
    write_bodies(out, 200, unique=True)
    upstream = FakeUpstream(out / "nginx", free_port(), core=1, priority=harness.PRIORITY).start()
    harness.Accounting.upstream_pids = upstream.worker_pids()
    path = bastion_path(CELLS[a.cell][2])
    cpu: dict[str, list[float]] = {}
    notes: dict[str, str] = {}
    saved = copy.deepcopy(profiles.FEATURES)
    try:
        for variant in variants:
            profiles.FEATURES.clear()
            profiles.FEATURES.update(features_for(variant))
            key_fields = profiles.FULL_KEY_FIELDS
            if variant in PLAIN_KEY:
                profiles.FULL_KEY_FIELDS = {}
            try:
                srv, key, _ = start_bastion("full", upstream.url, out, name=f"bastion-{variant}")
            finally:
                profiles.FULL_KEY_FIELDS = key_fields
            notes[variant] = "; ".join(f"{k}: {v}" for k, v in srv.notes.items() if k.startswith(("key", "probe")))
            try:
                measure(a.cell, variant, srv.url + path, key, out, 3, srv.pid)  # warm-up
                for r in range(a.runs):
                    settle([srv.pid])
                    s = measure(a.cell, variant, srv.url + path, key, out, a.seconds, srv.pid)
                    cpu.setdefault(variant, []).append(s.cpu_us)
                    print(f"run {r + 1}/{a.runs} {variant:<14} {s.rps:>8,.0f} req/s  cpu {s.cpu_us:6.1f} µs/req  "
                          f"foreign c0 {s.extra.get('foreign_core0_pct', 0):3.0f}%", flush=True)
            finally:
                srv.stop()
    finally:
        upstream.stop()
        profiles.FEATURES.clear()
        profiles.FEATURES.update(saved)
    base = min(cpu["full"]) if "full" in cpu else None
    lines = [f"### Ablation {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M UTC}: cell {a.cell}, {a.runs} x {a.seconds} s",
             "", "| variant | CPU µs/req (min) | median | vs full (min) | probes |", "| --- | ---: | ---: | ---: | --- |"]
    for v, xs in cpu.items():
        diff = f"{min(xs) - base:+.1f}" if base is not None and v != "full" else "-"
        lines.append(f"| {v} | {min(xs):.1f} | {statistics.median(xs):.1f} | {diff} | {notes.get(v, '')} |")
    text = "\n".join(lines)
    print("\n" + text)
    (out / "results.md").write_text(text + "\n")
    print(f"\nwritten: {out / 'results.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
