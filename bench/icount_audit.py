"""Instructions per audit record, counted by valgrind: the audit path alone, without a gateway around it.

Usage: .venv/bin/python bench/icount_audit.py [--src DIR ...] [--small 1000] [--large 3000] [--mode direct|writer]
(`apt-get install -y valgrind` once). For each source tree runs this file under `valgrind --tool=callgrind` three
times: once building only the request contexts (`--large` of them) and twice with `--small` and `--large` records,
and prints (large - small) instructions / (large - small) records, less the contexts' share.
- `direct` (the seventeenth session's baudit2 harness): `build_record` + `Chain.append` per record and
  `SqlAuditSink.append` of every 500 chained records (SQLite in a temporary directory).
- `writer`: what the gateway runs per request: `AuditStage.admit` and `finish` on a finished request context, the
  writer task chaining and inserting in batches of 500 (its batch size), the last one at `stop`. Its idle timer
  (flush_interval) is set to a day: under valgrind 50 records can take longer than the default 0.2 s, and the
  timer then cut batches of a size that followed the host's load (see bench/icount.py on repeatable counts).
Requests look like the gateway bench's: authenticated, one attempt, usage, a policy, no findings; every fifth one
with a finding. The hash seed is fixed (PYTHONHASHSEED=0 unless set).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from icount import ROOT, callgrind_total

_BATCH = 500


def _contexts(n: int) -> Iterator[object]:
    """The requests' contexts, made one at a time (as the server does: each dies with its request, so
    the garbage collector does not walk a list of thousands of them)."""
    from bastion.core.context import Attempt, Finding, Principal, RequestContext
    from bastion.core.types import Usage

    principal = Principal("k-bench0001", "bench", "bench-team")
    now = time.time()
    for i in range(n):
        ctx = RequestContext(f"req_5f0c3a9b2d7e{i:010x}", "openai", "chat", "127.0.0.1",
                             wall_time=now + i * 0.000731)
        ctx.principal = principal
        ctx.model = "gpt-4o-mini"
        ctx.policy_name = "default"
        ctx.attempts.append(Attempt("openai", "gpt-4o-mini", "ok", 200, 12.3456 + i % 7))
        ctx.usage = Usage(input_tokens=31 + i % 5, output_tokens=12, cached_input_tokens=0)
        ctx.cost_micros = 17 + i % 3
        ctx.status = 200
        ctx.finish_reason = "stop"
        ctx.upstream_ms = 12.5 + i % 11
        if i % 5 == 0:
            ctx.findings.append(Finding("pii", "email", 3, 20, 0.91234, "redact", "input"))
        yield ctx


async def _direct(ctxs: Iterator[object], path: str) -> None:
    from bastion.audit.chain import Chain
    from bastion.audit.record import build_record
    from bastion.audit.sink import SqlAuditSink
    from bastion.store.db import SqliteDatabase

    db = SqliteDatabase(path)
    sink = SqlAuditSink(db)
    await sink.migrate()
    chain = Chain("w-bench000000000001")
    batch = []
    for ctx in ctxs:
        batch.append(chain.append(build_record(ctx, capture="none")))  # type: ignore[arg-type]
        if len(batch) == _BATCH:
            await sink.append(batch)
            batch = []
    if batch:
        await sink.append(batch)
    await db.close()


async def _writer(ctxs: Iterator[object], path: str, n: int) -> None:
    from bastion.audit.sink import SqlAuditSink
    from bastion.audit.stage import AuditStage
    from bastion.audit.writer import AuditWriter
    from bastion.store.db import SqliteDatabase

    db = SqliteDatabase(path)
    writer = AuditWriter(SqlAuditSink(db), writer_id="w-bench000000000001", batch_size=_BATCH,
                         buffer_size=10 * _BATCH, flush_interval=86_400.0, checkpoint_every=10**9,
                         checkpoint_interval=1e9)
    await writer.start()
    stage = AuditStage(writer)
    for i, ctx in enumerate(ctxs):
        stage.admit(ctx)  # type: ignore[arg-type]
        await stage.finish(ctx)  # type: ignore[arg-type]
        if i % 50 == 49:
            await asyncio.sleep(0)  # the loop turns between requests, as in the server
    await writer.stop()
    assert writer.records_written == n, writer.records_written
    await db.close()


def _child(mode: str, records: int, contexts_only: bool) -> None:
    ctxs = _contexts(records)
    if contexts_only:
        for _ in ctxs:
            pass
        return
    with tempfile.TemporaryDirectory(prefix="icount-audit-") as tmp:
        path = f"{tmp}/audit.db"
        asyncio.run(_direct(ctxs, path) if mode == "direct" else _writer(ctxs, path, records))


def instructions(src: Path, mode: str, records: int, contexts_only: bool) -> int:
    return callgrind_total(src, [str(Path(__file__).resolve()), "--child", "--mode", mode, "--records", str(records),
                                 *(["--contexts-only"] if contexts_only else [])])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--src", action="append", type=Path, help="a source tree (its src/ directory); repeatable")
    parser.add_argument("--mode", choices=["direct", "writer"], default="direct")
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--large", type=int, default=3000)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--records", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--contexts-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.mode, args.records, args.contexts_only)
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed: apt-get install -y valgrind")
    if args.large <= args.small:
        raise SystemExit("--large must be more than --small")
    for src in args.src or [ROOT / "src"]:
        if not (src / "bastion").is_dir():
            raise SystemExit(f"--src {src}: no bastion package there (give a tree's src/ directory)")
        n = args.large - args.small
        ctx_small = instructions(src, args.mode, args.small, True)
        ctx_large = instructions(src, args.mode, args.large, True)
        small = instructions(src, args.mode, args.small, False)
        large = instructions(src, args.mode, args.large, False)
        per = ((large - small) - (ctx_large - ctx_small)) / n
        print(f"{src}: {per:,.0f} instructions per audit record (mode {args.mode}; contexts "
              f"{(ctx_large - ctx_small) / n:,.0f} each, subtracted)", flush=True)


if __name__ == "__main__":
    main()
