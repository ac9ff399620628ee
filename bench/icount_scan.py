"""Instructions per `InjectionScanner.scan` call, counted by valgrind around the calls alone.

Usage: .venv/bin/python bench/icount_scan.py [--src DIR ...] [--kinds sys,1k,10k,100k] [--no-native]

For each source tree (default: this checkout's src/), runs this script under `valgrind --tool=callgrind
--instr-atstart=no`: the scanner is built and warmed up uninstrumented, then each kind of text is scanned
between callgrind client requests (zero the counters, scan, dump), so start-up, imports and the warm-up are
not counted. Kinds: `sys` the gateway bench's 86-character system prompt (100 scans), `1k` its 1.2 kB user
prompt made unique per call (100), `10k` / `100k` English (`bench_injection.py`'s text: 20 and 5 scans).
`bench/icount.py` counts whole requests instead (its full profile without `--with-injection` makes the scanner
a no-op). Needs valgrind and its headers (`apt-get install -y valgrind`) and a C compiler: the client
requests are macros, compiled here into a small helper library. The hash seed is fixed (PYTHONHASHSEED=0).
"""

from __future__ import annotations

import argparse
import ctypes
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KINDS = ("sys", "1k", "10k", "100k")
_HELPER = """#include <valgrind/callgrind.h>
void cg_start(void) { CALLGRIND_START_INSTRUMENTATION; }
void cg_zero(void) { CALLGRIND_ZERO_STATS; }
void cg_dump(const char *s) { CALLGRIND_DUMP_STATS_AT(s); }
"""
_TRIGGER = re.compile(r"^desc: Trigger: Client Request: (\S+) (\d+)$", re.MULTILINE)
_TOTAL = re.compile(r"^(?:summary|totals): (\d+)", re.MULTILINE)


def _texts(kind: str) -> tuple[list[str], int]:
    """The texts of one kind (3 for the warm-up, then the counted ones) and how many are counted."""
    sys.path.insert(0, str(ROOT / "bench"))
    from bench_injection import ENGLISH, sized  # bench/ is on sys.path
    from bodies import SYSTEM, prompt

    if kind == "sys":
        return [SYSTEM] * 103, 100
    if kind == "1k":
        return [f"Ticket run-{i}: " + prompt(200) for i in range(103)], 100
    if kind == "10k":
        return [sized(ENGLISH, 10_000)] * 23, 20
    return [sized(ENGLISH, 100_000)] * 8, 5


def child(helper: str, kinds: list[str], no_native: bool) -> None:
    """Under valgrind: scan each kind between zero and dump requests."""
    if no_native:  # every detector built below takes the numpy paths
        from bastion.policy.injection import detector

        built = detector.Detector.__init__
        detector.Detector.__init__ = (  # type: ignore[method-assign]
            lambda self, model, **kw: built(self, model, **{**kw, "native": False}))
    from bastion.policy.scanners.injection import InjectionScanner

    cg = ctypes.CDLL(helper)
    scanner = InjectionScanner()
    cg.cg_start()
    for kind in kinds:
        texts, n = _texts(kind)
        for text in texts[:3]:
            scanner.scan(text)
        counted = texts[3:3 + n]
        cg.cg_zero()
        for text in counted:
            scanner.scan(text)
        cg.cg_dump(f"{kind} {n}".encode())


def count(src: Path, helper: str, kinds: list[str], no_native: bool) -> dict[str, int]:
    """Instructions per scan of each kind with the tree at `src`."""
    return counted(src, [str(Path(__file__).resolve()), "--child", helper, "--kinds", ",".join(kinds),
                         *(["--no-native"] if no_native else [])], kinds)[0]


def counted(src: Path, script: list[str], names: list[str]) -> tuple[dict[str, int], str]:
    """`python script...` under callgrind (instrumented between its client requests) with `src` as the
    PYTHONPATH: per dump `name calls`, its instructions / calls; and the run's stderr."""
    with tempfile.TemporaryDirectory(prefix="icount-piece-") as tmp:
        cmd = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={tmp}/cg.out",
               sys.executable, *script]
        env = {**os.environ, "PYTHONPATH": str(src), "PYTHONHASHSEED": os.environ.get("PYTHONHASHSEED", "0")}
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=3600)
        out: dict[str, int] = {}
        for dump in sorted(Path(tmp).glob("cg.out.*")):
            body = dump.read_text(errors="replace")
            trigger, total = _TRIGGER.search(body), _TOTAL.search(body)
            if trigger and total:
                out[trigger.group(1)] = int(total.group(1)) // int(trigger.group(2))
    if done.returncode != 0 or set(out) != set(names):
        tail = "\n".join(done.stderr.splitlines()[-15:])
        raise SystemExit(f"the run under valgrind failed (exit {done.returncode}):\n{tail}")
    return out, done.stderr


def build_helper(tmp: str, source: str = _HELPER) -> str:
    """The client-request helper library (C `source` calling callgrind's macros) compiled in `tmp`: its path."""
    if shutil.which("valgrind") is None or shutil.which("cc") is None:
        raise SystemExit("needs valgrind (with its headers: apt-get install -y valgrind) and a C compiler")
    (Path(tmp) / "cg.c").write_text(source)
    helper = str(Path(tmp) / "cg.so")
    built = subprocess.run(["cc", "-O1", "-shared", "-fPIC", "-o", helper, str(Path(tmp) / "cg.c")],
                           capture_output=True, text=True)
    if built.returncode != 0:
        raise SystemExit(f"cannot build the client-request helper (valgrind headers missing?):\n{built.stderr}")
    return helper


def trees(srcs: list[Path] | None) -> list[Path]:
    """The source trees to count (`--src`; default this checkout's src/), each checked to hold the package."""
    out = srcs or [ROOT / "src"]
    for src in out:
        if not (src / "bastion").is_dir():
            raise SystemExit(f"--src {src}: no bastion package there (give a tree's src/ directory)")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--src", action="append", type=Path, help="a source tree (its src/ directory); repeatable")
    parser.add_argument("--kinds", default=",".join(KINDS), help=f"comma-separated, of {', '.join(KINDS)}")
    parser.add_argument("--no-native", action="store_true", help="without the C accelerator (bastion._native)")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # (the run under valgrind: the helper's path)
    args = parser.parse_args()
    kinds = [k for k in args.kinds.split(",") if k]
    if not kinds or any(k not in KINDS for k in kinds):
        raise SystemExit(f"--kinds: comma-separated, of {', '.join(KINDS)}")
    if args.child:
        child(args.child, kinds, args.no_native)
        return
    with tempfile.TemporaryDirectory(prefix="icount-scan-helper-") as tmp:
        helper = build_helper(tmp, _HELPER)
        for src in trees(args.src):
            got = count(src, helper, kinds, args.no_native)
            print(f"{src}: " + ", ".join(f"{k} {got[k]:,}" for k in kinds)
                  + f" instructions per scan{' (no accelerator)' if args.no_native else ''}", flush=True)


if __name__ == "__main__":
    main()
