"""`bastion audit verify|tail|export|prune`: inspect and maintain the tamper-evident audit log."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from bastion.audit.prune import prune_before
from bastion.audit.record import parse_iso
from bastion.audit.sink import SqlAuditSink
from bastion.audit.verify import check_logged, logged_checkpoints, verify_store
from bastion.cli.store_path import missing_sqlite_store
from bastion.config.loader import ConfigError, load_config
from bastion.config.schema import BastionConfig
from bastion.core.errors import BastionError
from bastion.core.secret import redacted_url
from bastion.store.db import open_database

_POLL_SECONDS = 1.0
_PAGE = 1000


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `audit` and its subcommands; each sets `func(args) -> int` (the exit code)."""
    audit = subparsers.add_parser("audit", help="Inspect, export and maintain the audit log.")
    sub = audit.add_subparsers(dest="audit_command", required=True, metavar="{verify,tail,export,prune}")

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--config", metavar="FILE", default=None,
                       help="Config file (default: built-in config from the environment).")

    p = sub.add_parser("verify", help="Check every hash chain and checkpoint; report the first tampering.")
    common(p)
    p.add_argument("--checkpoint-log", metavar="FILE", action="append", default=[],
                   help="Log file(s) holding the `audit checkpoint` lines the gateway (and `bastion keys`) wrote; "
                        "each logged checkpoint must still match the store, so deleting a chain's newest "
                        "records together with their checkpoints is caught. '-' reads stdin. Repeatable.")
    p.set_defaults(func=lambda a: _run(a, _verify))

    p = sub.add_parser("tail", help="Print the newest records as JSON lines.")
    common(p)
    p.add_argument("-n", type=int, default=10, metavar="N", help="How many records (default 10).")
    p.add_argument("--follow", "-f", action="store_true", help="Keep printing new records until interrupted.")
    p.set_defaults(func=lambda a: _run(a, _tail))

    p = sub.add_parser("export", help="Write records in a time range as JSON lines (for a SIEM).")
    common(p)
    p.add_argument("--since", required=True, metavar="DATE", help="ISO date or time (UTC unless given).")
    p.add_argument("--until", default=None, metavar="DATE", help="Exclusive end (default: now).")
    p.add_argument("--format", choices=["jsonl"], default="jsonl")
    p.set_defaults(func=lambda a: _run(a, _export))

    p = sub.add_parser("prune", help="Delete records before a date, keeping the chains verifiable.")
    common(p)
    p.add_argument("--before", required=True, metavar="DATE", help="ISO date or time (UTC unless given).")
    p.add_argument("--dry-run", action="store_true", help="Only say what would be deleted.")
    p.set_defaults(func=lambda a: _run(a, _prune))


def _date(text: str, flag: str) -> int:
    try:
        return parse_iso(text)
    except ValueError:
        raise _UsageError(f"{flag}: not an ISO date or time: {text!r} (e.g. 2026-01-31 or 2026-01-31T12:00:00Z)") \
            from None


class _UsageError(Exception):
    pass


Command = Callable[[argparse.Namespace, BastionConfig, SqlAuditSink, IO[str]], Awaitable[int]]


def _run(args: argparse.Namespace, command: Command, out: IO[str] | None = None) -> int:
    out = out if out is not None else sys.stdout
    try:
        config = load_config(args.config, offline=True)  # never calls a provider
    except ConfigError as e:
        for line in e.errors:
            print(f"config error: {line}", file=sys.stderr)
        return 2

    url = config.store.url
    if missing_sqlite_store(url) is not None:
        # never create an empty store and report it "intact": the path is relative to the working directory
        print(f"error: the audit store {redacted_url(url)} does not exist (seen from {Path.cwd()}); run this "
              "where the gateway runs or give its --config", file=sys.stderr)
        return 2

    async def main() -> int:
        db = open_database(url)
        try:
            sink = SqlAuditSink(db)
            await sink.migrate()
            return await command(args, config, sink, out)
        finally:
            await db.close()

    try:
        return asyncio.run(main())
    except _UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except BastionError as e:  # the store could not be read: not a verdict on the records (exit 1 is "tampered")
        print(f"error: {e.message} (store {redacted_url(url)})", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


async def _verify(args: argparse.Namespace, config: BastionConfig, sink: SqlAuditSink, out: IO[str]) -> int:
    logged = _logged_checkpoints(args.checkpoint_log)  # read first: a bad path is a usage error, not a verdict
    report = await verify_store(sink, config.audit.checkpoint_key)
    if args.checkpoint_log:
        checked = await check_logged(sink, report, logged)
        print(f"logged checkpoints: {len(logged)} line(s) read, {checked} compared with the store", file=out)
        if not logged:
            report.warnings.append("no `audit checkpoint` line in --checkpoint-log: nothing to compare")
    for w in report.warnings:
        print(f"warning: {w}", file=sys.stderr)
    for chain in report.chains:
        anchor = f", pruned through seq {chain.anchor_seq}" if chain.anchor_seq is not None else ""
        print(f"chain {chain.writer_id}: {chain.records} records (seq {chain.first_seq or '-'}..{chain.last_seq}), "
              f"{chain.checkpoints} checkpoint(s){anchor}", file=out)
    for problem in report.problems:
        print(str(problem), file=out)
    print(report.summary(), file=out)
    return 0 if report.intact else 1


def _logged_checkpoints(paths: list[str]) -> list[tuple[str, int, str]]:
    found: list[tuple[str, int, str]] = []
    for path in paths:
        try:
            if path == "-":
                found += logged_checkpoints(sys.stdin)
            else:
                with open(path, encoding="utf-8", errors="replace") as f:
                    found += logged_checkpoints(f)
        except OSError as e:
            raise _UsageError(f"--checkpoint-log: cannot read {path}: {e.strerror or e}") from None
    return found


async def _tail(args: argparse.Namespace, config: BastionConfig, sink: SqlAuditSink, out: IO[str]) -> int:
    if args.n < 0:
        raise _UsageError("-n: must be >= 0")
    seen: dict[str, int] = {}
    for w in await sink.writer_ids():
        head = await sink.head(w)
        seen[w] = head[0] if head is not None else 0
    for r in await sink.latest(args.n):
        if r.seq <= seen.get(r.writer_id, 0):
            out.write(r.body + "\n")
    out.flush()
    polls = 0
    while args.follow:
        await asyncio.sleep(_POLL_SECONDS)
        polls += 1
        if polls % 10 == 0:  # discovering writers scans the table; reading a known chain is indexed
            seen.update({w: 0 for w in await sink.writer_ids() if w not in seen})
        new = []
        for w in list(seen):
            new.extend(await sink.records(w, seen[w], _PAGE))
        new.sort(key=lambda r: (r.ts_us, r.writer_id, r.seq))
        for r in new:
            out.write(r.body + "\n")
            seen[r.writer_id] = max(seen.get(r.writer_id, 0), r.seq)
        out.flush()
    return 0


async def _export(args: argparse.Namespace, config: BastionConfig, sink: SqlAuditSink, out: IO[str]) -> int:
    since = _date(args.since, "--since")
    until = _date(args.until, "--until") if args.until else None
    if until is not None and until <= since:
        raise _UsageError(f"--until: must be after --since ({args.until!r} is not after {args.since!r})")
    after: tuple[int, str, int] | None = None
    n = 0
    while True:
        page = await sink.between(since, until, after, _PAGE)
        for r in page:
            out.write(r.body + "\n")
        n += len(page)
        if len(page) < _PAGE:
            break
        last = page[-1]
        after = (last.ts_us, last.writer_id, last.seq)
    out.flush()
    print(f"exported {n} record(s)", file=sys.stderr)
    return 0


async def _prune(args: argparse.Namespace, config: BastionConfig, sink: SqlAuditSink, out: IO[str]) -> int:
    before = _date(args.before, "--before")
    if before > int(datetime.now(UTC).timestamp() * 1_000_000):
        raise _UsageError("--before: must not be in the future")
    results = await prune_before(sink, before, dry_run=args.dry_run)
    verb = "would delete" if args.dry_run else "deleted"
    for r in results:
        if r.through_seq is None:
            print(f"chain {r.writer_id}: nothing to prune (no checkpoint before the cut)", file=out)
        else:
            print(f"chain {r.writer_id}: {verb} {r.deleted} record(s) through seq {r.through_seq}", file=out)
    print(f"{verb} {sum(r.deleted for r in results)} record(s) in total", file=out)
    return 0
