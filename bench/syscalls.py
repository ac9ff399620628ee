"""System calls per request of Bastion (b), counted by strace on the running gateway: a figure that a
noisy host does not move, for the work a request costs the kernel (clock reads that are not served by
the vDSO, getpid() of asyncio's loop look-ups on Python 3.11, socket and epoll calls).

Usage: .venv/bin/python bench/syscalls.py [--requests 500] [--burst [--concurrency 16]] [--src DIR]
                                          [--prompt-words 200] [--warmup 300]
Starts the bench's fake upstream (nginx, core 1) and `bastion serve` in the `full` profile (core 0;
see profiles.py), warms it up, then for non-streamed and streamed OpenAI requests (every prompt
unique: the input scan cache does not answer) attaches `strace -f -c -p PID` (every thread of the
gateway), sends N requests, detaches and prints the calls per request by name and in total.
Requests go one at a time over one kept-alive connection, or with `--burst` from `--concurrency`
connections at once (several requests per loop turn: what a loaded gateway batches). The counts
include what the gateway does by its timers while strace runs (under strace a run of 500 takes a few
seconds: a few calls per second, ~0.01 per request). `--src DIR`: the bastion package of another
tree (its src/ directory with the C accelerator built in place), e.g. a `git worktree` of the base
commit, to compare before and after. Needs strace (`apt-get install -y strace`) and ptrace rights (root).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness
from bodies import UNIQUE, write_bodies
from harness import BENCH, free_port, missing_tools, run_tag
from run import start_bastion
from upstream import FakeUpstream

KINDS = {"json": "openai.json", "stream": "openai_stream.json"}


async def send(url: str, key: str, body: bytes, n: int, concurrency: int, tag: str) -> int:
    """n requests (their prompts made unique by `tag`), `concurrency` at a time on as many kept-alive
    connections; every response read to its end. Returns how many did not answer 200."""
    head, _, tail = body.partition(UNIQUE.encode())
    hdrs = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    todo = iter(range(n))
    failed = 0

    async def worker(s: aiohttp.ClientSession) -> None:
        nonlocal failed
        for i in todo:
            async with s.post(url, data=head + f"{tag}-{i}".encode() + tail, headers=hdrs) as r:
                await r.read()
                failed += r.status != 200

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as s:
        await asyncio.gather(*(worker(s) for _ in range(concurrency)))
    return failed


def counted(pid: int, out: Path, run: Callable[[], int]) -> tuple[dict[str, int], int]:
    """({syscall: calls} of every thread of pid while `run()` runs (strace -c, attached around it), what
    `run()` returned)."""
    report = out / f"strace-{time.monotonic_ns()}.txt"
    tracer = subprocess.Popen(["strace", "-f", "-c", "-U", "name,calls", "-o", str(report), "-p", str(pid)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not traced(pid):
            if tracer.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"strace could not attach to {pid} (exit {tracer.poll()}; ptrace rights?)")
            time.sleep(0.02)
        time.sleep(0.2)  # the other threads are attached after the first
        result = run()
    finally:
        tracer.send_signal(signal.SIGINT)  # detach: strace writes its summary
        tracer.wait(30)
    calls: dict[str, int] = {}
    for line in report.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and parts[0] != "total":
            calls[parts[0]] = int(parts[1])
    return calls, result


def traced(pid: int) -> bool:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("TracerPid:"):
            return line.split()[1] != "0"
    return False


def table(per: dict[str, dict[str, int]], n: int) -> str:
    names = sorted({k for calls in per.values() for k in calls},
                   key=lambda k: -sum(calls.get(k, 0) for calls in per.values()))
    kinds = list(per)
    rows = [f"| syscall | {' | '.join(f'{k} per request' for k in kinds)} |",
            f"| --- | {' | '.join('---:' for _ in kinds)} |"]
    rows += [f"| {name} | {' | '.join(f'{per[k].get(name, 0) / n:.2f}' for k in kinds)} |" for name in names]
    rows.append(f"| **total** | {' | '.join(f'**{sum(per[k].values()) / n:.2f}**' for k in kinds)} |")
    return "\n".join(rows)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=500, help="requests counted per kind")
    p.add_argument("--warmup", type=int, default=300, help="requests of each kind before counting")
    p.add_argument("--burst", action="store_true", help="send them --concurrency at a time")
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--prompt-words", type=int, default=200)
    p.add_argument("--src", type=Path, help="the bastion package's tree to run (its src/); default the installed one")
    a = p.parse_args()
    missing = [m for m in missing_tools() if not m.startswith("wrk")] + ([] if shutil.which("strace") else ["strace: apt-get install -y strace"])
    if missing:
        print("bench: missing tools (this script installs nothing):\n  " + "\n  ".join(missing), file=sys.stderr)
        return 2
    if a.src is not None:
        if not (a.src / "bastion").is_dir():
            raise SystemExit(f"--src {a.src}: no bastion package there (give a tree's src/ directory)")
        os.environ["PYTHONPATH"] = str(a.src.resolve())  # inherited by `bastion serve`
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    out = BENCH / "out" / f"syscalls-{dt.datetime.now(dt.UTC).strftime('%Y%m%d-%H%M%S')}"
    out.mkdir(parents=True)
    write_bodies(out, a.prompt_words)
    upstream = FakeUpstream(out / "nginx", free_port(), core=1, priority=harness.PRIORITY).start()
    srv = None
    try:
        srv, key, _ = start_bastion("full", upstream.url, out)
        where = subprocess.run([sys.executable, "-c", "import bastion; print(bastion.__file__)"],
                               capture_output=True, text=True, check=True).stdout.strip()
        url = srv.url + "/v1/chat/completions"
        concurrency = a.concurrency if a.burst else 1
        tag = run_tag()
        per: dict[str, dict[str, int]] = {}
        for kind, body in KINDS.items():
            data = (out / body).read_bytes()
            asyncio.run(send(url, key, data, a.warmup, concurrency, f"{tag}w{kind}"))
            per[kind], failed = counted(srv.pid, out, lambda d=data, k=kind: asyncio.run(  # type: ignore[misc]
                send(url, key, d, a.requests, concurrency, f"{tag}{k}")))
            if failed:
                raise RuntimeError(f"{failed} of {a.requests} {kind} requests did not answer 200; see {srv.log}")
        print(f"bastion (b) from {where}: {a.requests} requests per kind, "
              f"{f'{concurrency} at a time' if a.burst else 'one at a time'}, strace -f -c\n")
        print(table(per, a.requests))
    except RuntimeError as e:
        print(f"bench: {e}", file=sys.stderr)
        return 1
    finally:
        if srv is not None:
            srv.stop()
        upstream.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
