"""Instructions per request of the rate-limit and budget stages alone (memory backend), counted by
valgrind: `bench_limits.one` (check and finish of both stages, paired as the gateway runs them, on a
key with key, key-model, team and team-model limits and a key and a team budget) run --small and
--large times after a warm-up, with and without the stages; the per-request difference of the two is
what the stages cost (building the context and the request cancels out).

Usage: .venv/bin/python bench/icount_limits.py [--src DIR ...] [--small 500] [--large 2500]
(`apt-get install -y valgrind` once). Pass several --src (a `git worktree` of the base commit's src/
and this one's) to compare trees in one command. The hash seed is fixed (PYTHONHASHSEED=0 unless set).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_COLLECTED = re.compile(r"Collected : (\d+)")


def _run(n: int, with_stages: bool) -> None:
    """In the child: the warm-up, then n requests."""
    sys.path.insert(0, str(ROOT / "bench"))
    import bench_limits as bl

    from bastion.limits.memory import MemoryBackend

    async def go() -> None:
        rl, cost, _ = bl.stages(MemoryBackend(), bl.config())
        for i in range(500):
            await bl.one(rl, cost, i)
        for i in range(n):
            await bl.one(rl, cost, i, with_stages=with_stages)

    asyncio.run(go())


def instructions(src: Path, n: int, with_stages: bool) -> int:
    with tempfile.TemporaryDirectory(prefix="icount-limits-") as tmp:
        cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/cg.out", sys.executable,
               str(Path(__file__).resolve()), "--child", str(n), "1" if with_stages else "0"]
        env = {**os.environ, "PYTHONPATH": str(src), "PYTHONHASHSEED": os.environ.get("PYTHONHASHSEED", "0")}
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=3600)
    found = _COLLECTED.findall(done.stderr)
    if done.returncode != 0 or not found:
        raise SystemExit(f"the run under valgrind failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    return int(found[-1])


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        _run(int(sys.argv[2]), sys.argv[3] == "1")
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--src", action="append", type=Path, help="a source tree (its src/ directory); repeatable")
    ap.add_argument("--small", type=int, default=500)
    ap.add_argument("--large", type=int, default=2500)
    a = ap.parse_args()
    if a.large <= a.small:
        raise SystemExit("--large must be more than --small")
    for src in a.src or [ROOT / "src"]:
        per = {}
        for with_stages in (True, False):
            small = instructions(src, a.small, with_stages)
            large = instructions(src, a.large, with_stages)
            per[with_stages] = (large - small) / (a.large - a.small)
        print(f"{src}: {per[True] - per[False]:,.0f} instructions per request in the limits and budget stages "
              f"({per[True]:,.0f} with them, {per[False]:,.0f} without)", flush=True)


if __name__ == "__main__":
    main()
