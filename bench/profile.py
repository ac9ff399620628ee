"""Profile Bastion's hot path under load with py-spy: top functions by own and inclusive time.

  .venv/bin/python bench/profile.py [--profile full|min] [--cell tput|stream|a_tput|a_stream] [--seconds 15]
                                    [--keys-store N --keys-used K]   # a store of N keys, load spread over K
Needs py-spy (`.venv/bin/pip install py-spy`; a dev tool, not a gateway dependency). Bastion runs on
core 0 under wrk (core 1), py-spy samples it from core 1. Writes the collapsed stacks (flamegraph
input) and the tables to bench/out/<stamp>/.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness
from bodies import write_bodies
from harness import BENCH, LOAD_CORE, VENV_BIN, pinned, run_wrk
from run import CELLS, bastion_path, start_bastion
from upstream import FakeUpstream


def frame_name(frame: str) -> str:
    """`func (path/to/file.py:LINE)` → `file.py:func` with the path shortened below site-packages/src."""
    func, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for cut in ("site-packages/", "/src/", "/lib/python3."):
        if cut in path:
            path = path.split(cut, 1)[1]
            if cut == "/lib/python3.":
                path = "stdlib/" + path.split("/", 1)[1]
            break
    return f"{path}:{func}"


def summarize(raw: Path, top: int) -> str:
    own: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [frame_name(f) for f in stack.split(";") if f and not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        total += n
        own[frames[-1]] += n
        for f in set(frames):
            incl[f] += n
    groups: collections.Counter[str] = collections.Counter()
    for f, c in own.items():
        path = f.split(":", 1)[0]
        parts = path.split("/")
        key = "/".join(parts[:2]) if parts[0] in ("bastion", "stdlib") else parts[0]
        groups[key.removesuffix(".py")] += c
    lines = [f"{total} samples (busy time only; idle waits are not sampled)", "",
             "| own % | package (leaf frames grouped) |", "| --- | --- |"]
    lines += [f"| {100 * c / total:.1f} | `{g}` |" for g, c in groups.most_common(20)]
    lines += ["", "| own % | function (leaf) |", "| --- | --- |"]
    lines += [f"| {100 * c / total:.1f} | `{f}` |" for f, c in own.most_common(top)]
    lines += ["", "| inclusive % | function (bastion code only) |", "| --- | --- |"]
    lines += [f"| {100 * c / total:.1f} | `{f}` |" for f, c in incl.most_common() if "bastion/" in f][:top]
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--profile", default="full", choices=["full", "min"])
    p.add_argument("--cell", default="tput", choices=["tput", "stream", "pstream", "a_tput", "a_stream", "lat"])
    p.add_argument("--seconds", type=int, default=15, help="whole seconds (wrk takes no fraction)")
    p.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    p.add_argument("--top", type=int, default=30)
    p.add_argument("--prompt-words", type=int, default=200)
    p.add_argument("--keys-store", type=int, default=0, help="fill the store with this many keys first")
    p.add_argument("--keys-used", type=int, default=0, help="spread the load over this many of them")
    a = p.parse_args()
    if a.seconds < 1:
        p.error(f"--seconds must be at least 1, got {a.seconds}")
    # SIGTERM (e.g. from `timeout`) must reach the `finally` below, or nginx and Bastion outlive the script
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    missing = harness.missing_tools()
    if missing:
        print("profile: missing tools:\n  " + "\n  ".join(missing), file=sys.stderr)
        return 2
    spy = shutil.which("py-spy", path=str(VENV_BIN)) or shutil.which("py-spy")
    if spy is None:
        print("profile: py-spy not found: `.venv/bin/pip install py-spy`", file=sys.stderr)
        return 2
    out = BENCH / "out" / ("profile-" + dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S"))
    out.mkdir(parents=True)
    write_bodies(out, a.prompt_words)
    upstream = FakeUpstream(out / "nginx", harness.free_port(), core=LOAD_CORE).start()
    srv = None
    try:
        keys = None
        if a.keys_store or a.keys_used:
            from keyspace import fill_store

            db = out / f"bastion-{a.profile}.db"
            used = a.keys_used or 1
            plain, _ = fill_store(db, max(a.keys_store, used), a.profile == "full", used)
            keys = out / "keys.txt"
            keys.write_text("\n".join(plain) + "\n")
        srv, key, _ = start_bastion(a.profile, upstream.url, out)
        conns, body, path, _ = CELLS[a.cell]
        url = srv.url + bastion_path(path)
        run_wrk(url, out / body, key, conns, 3, None, keys=keys)  # warm-up
        raw = out / f"pyspy-{a.profile}-{a.cell}.txt"
        rec = pinned(LOAD_CORE, [spy, "record", "--pid", str(srv.pid), "--rate", str(a.rate), "--duration",
                                 str(int(a.seconds)), "--format", "raw", "--output", str(raw), "--nonblocking"])
        t = threading.Thread(target=subprocess.run, args=(rec,), kwargs={"capture_output": True})
        t.start()
        sample = run_wrk(url, out / body, key, conns, a.seconds + 1, srv.pid, keys=keys)
        t.join()
        head = (f"### py-spy: Bastion ({a.profile}) under wrk {a.cell} ({conns} conns), {sample.rps:,.0f} req/s "
                f"while sampled, {sample.cpu_us:.0f} µs CPU/req (sampling overhead included)"
                + (f"; store of {max(a.keys_store, a.keys_used):,} keys, load spread over {a.keys_used or 1:,}"
                   if keys is not None else ""))
        text = head + "\n\n" + summarize(raw, a.top)
        print(text)
        (out / "profile.md").write_text(text)
        print(f"\nwritten: {out / 'profile.md'}; collapsed stacks: {raw}")
        return 0
    finally:
        if srv is not None:
            srv.stop()
        upstream.stop()


if __name__ == "__main__":
    sys.exit(main())
