"""Instructions per request of Bastion's request path in process, counted by valgrind: a figure that
other load on the machine does not move (CPU time on a shared or throttled VM moves ±10 % and more).

Usage: .venv/bin/python bench/icount.py [--profile min|full [--with-injection]] [--stream [--one-read]] [--anthropic]
                                        [--src DIR ...] [--small 300] [--large 1300]
(`apt-get install -y valgrind` once). For each source tree (default: this checkout's src/), runs
`bench_gateway_overhead.py` under `valgrind --tool=callgrind` twice, with --small and --large
requests after the same warm-up, and prints (large - small) instructions / (large - small) requests:
start-up, imports and warm-up cancel out. Pass several --src (e.g. a `git worktree` of the base
commit's src/ and this one's) to compare trees. Instructions are not time (cache misses, syscalls and
the upstream's I/O are not in them) but they follow the Python work of a change. `--anthropic`: Anthropic
requests (ingress and upstream, as bench cells `a_json`/`a_stream`) in place of OpenAI's. The hash seed is
fixed (PYTHONHASHSEED=0 unless set): two runs of one tree, one with a random seed, one with seed 0,
differed by 2.6 % (2026-11-29: 1,146,688 and 1,116,979 per one-read stream), more than many changes
being compared; with the seed fixed, A/B pairs agreed in direction every time.
Repeatable counts: the gateway runs with `bench_gateway_overhead.py --quiet-timers`, so that nothing it does by
the clock lands in a counted run, and every piece of work serving N requests implies is counted once, in
batches fixed by counts: the key-change poll and the usage flush fire once a day; the audit writer takes a
batch when `batch_size` (500) records wait or when the bench drains it at the end of the run, never on its
idle timer, and checkpoints every `checkpoint_every` records, never on their timer; access lines are written
once at the end of the run, not by their 0.1 s timer; and the drain waits for the writer's batches (an event
set as each is written), where it used to poll every millisecond while SQLite wrote, a number of loop turns
that followed the host's load. Under valgrind a run lasts minutes and its pace follows that load: before
this (2026-11-30, one tree, three commands) (b) with injection counted 839,783, 874,746 and 853,002
instructions per request (±20k); since, 740,321, 737,674 and 749,842 (±0.8 %: a residue of up to ~5M
instructions per valgrind run whatever its length, source not found yet; a larger --large dilutes it).
One run of (a) takes ~1 min, of (b) ~3 min (on a fast, idle host).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_COLLECTED = re.compile(r"Collected : (\d+)")


def instructions(src: Path, profile: str, requests: int, stream: bool = False, one_read: bool = False,
                 injection: bool = False, anthropic: bool = False) -> int:
    """Every instruction of one in-process bench run (all threads) of `requests` requests."""
    return callgrind_total(src, [str(ROOT / "bench" / "bench_gateway_overhead.py"), "--profile", profile,
                                 "--requests", str(requests), "--rounds", "1", "--warmup", "200", "--quiet-timers",
                                 *(["--stream"] if stream else []), *(["--one-read"] if one_read else []),
                                 *(["--with-injection"] if injection else []),
                                 *(["--anthropic"] if anthropic else [])])


def callgrind_total(src: Path, script: list[str]) -> int:
    """Every instruction (all threads) of `python script...` under callgrind with `src` as the PYTHONPATH."""
    with tempfile.TemporaryDirectory(prefix="icount-") as tmp:
        cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/cg.%p.out", sys.executable, *script]
        env = {**os.environ, "PYTHONPATH": str(src), "PYTHONHASHSEED": os.environ.get("PYTHONHASHSEED", "0")}
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=3600)
    found = _COLLECTED.findall(done.stderr)
    if done.returncode != 0 or not found:
        tail = "\n".join(done.stderr.splitlines()[-15:])
        raise SystemExit(f"the run under valgrind failed (exit {done.returncode}):\n{tail}")
    return int(found[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", choices=["min", "full"], default="min",
                        help="min: Bastion (a), auth + routing; full: (b) with the injection detector a no-op")
    parser.add_argument("--src", action="append", type=Path, help="a source tree (its src/ directory); repeatable")
    parser.add_argument("--with-injection", action="store_true",
                        help="with --profile full: the injection detector scans every prompt (not a no-op)")
    parser.add_argument("--stream", action="store_true", help="streamed requests: instructions per stream")
    parser.add_argument("--one-read", action="store_true", help="with --stream: each stream in one upstream read")
    parser.add_argument("--anthropic", action="store_true", help="Anthropic requests (ingress and upstream)")
    parser.add_argument("--small", type=int, default=300)
    parser.add_argument("--large", type=int, default=1300)
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed: apt-get install -y valgrind")
    if args.one_read and not args.stream:
        raise SystemExit("--one-read applies to streams: give --stream too")
    if args.large <= args.small:
        raise SystemExit("--large must be more than --small")
    for src in args.src or [ROOT / "src"]:
        if not (src / "bastion").is_dir():
            raise SystemExit(f"--src {src}: no bastion package there (give a tree's src/ directory)")
        small = instructions(src, args.profile, args.small, args.stream, args.one_read, args.with_injection,
                             args.anthropic)
        large = instructions(src, args.profile, args.large, args.stream, args.one_read, args.with_injection,
                             args.anthropic)
        per = (large - small) / (args.large - args.small)
        print(f"{src}: {per:,.0f} instructions per {'stream' if args.stream else 'request'} (profile {args.profile}"
              f"{', injection on' if args.with_injection else ''}{', anthropic' if args.anthropic else ''}; "
              f"{small:,} at {args.small}, {large:,} at {args.large} requests)", flush=True)


if __name__ == "__main__":
    main()
