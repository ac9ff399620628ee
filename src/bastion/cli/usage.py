"""`bastion usage`: requests, tokens and cost from the store, by model or day."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

import orjson

from bastion.cli.store_path import missing_sqlite_store
from bastion.core.errors import BastionError
from bastion.core.secret import redacted_url
from bastion.cost.admin import parse_by, parse_since, row_json
from bastion.cost.pricing import format_usd
from bastion.cost.usage import DDL, UsageRow, query_usage
from bastion.store.db import open_database


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `usage` command to the CLI's subparsers; its `func(args) -> int` runs it."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "usage", help="Show requests, tokens and cost.",
        description="Requests, tokens and cost recorded in the store (filters combine).")
    p.add_argument("--config", metavar="F", help="Config file (default: the built-in default config).")
    p.add_argument("--key", metavar="ID", help="Only this virtual key id.")
    p.add_argument("--team", metavar="T", help="Only this team.")
    p.add_argument("--since", metavar="DATE", help="Only from this UTC day on (YYYY-MM-DD).")
    p.add_argument("--by", choices=("model", "day"), help="One line per model or per day.")
    p.add_argument("--json", action="store_true", help="Print JSON instead of a table.")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from bastion.config.loader import ConfigError, load_config

    try:
        config = load_config(args.config, offline=True)  # never calls a provider
        since = parse_since(args.since, "--since")
        by = parse_by(args.by, "--by")
    except ConfigError as e:
        for line in e.errors:
            print(f"config error: {line}", file=sys.stderr)
        return 2
    except BastionError as e:
        print(f"error: {e.message}", file=sys.stderr)
        return 2
    url = config.store.url
    if missing_sqlite_store(url) is not None:
        # never create an empty store and report zero usage: the path is relative to the working directory
        print(f"error: the store {redacted_url(url)} does not exist (seen from {Path.cwd()}); run this where the "
              "gateway runs or give its --config", file=sys.stderr)
        return 2
    try:
        rows, total = asyncio.run(_query(url, args.key, args.team, since, by))
    except BastionError as e:
        print(f"error: {e.message}", file=sys.stderr)
        return 1
    if args.json:
        out = {"data": [row_json(r, by) for r in rows] if by else [], "total": row_json(total, None)}
        print(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode())
        return 0
    print(render_table(rows if by else [], total, by))
    return 0


async def _query(url: str, key: str | None, team: str | None, since: Any, by: Any) -> tuple[list[UsageRow], UsageRow]:
    db = open_database(url)
    try:
        await db.migrate(DDL)
        rows = await query_usage(db, key=key, team=team, since=since, by=by)
        total = await query_usage(db, key=key, team=team, since=since)
    finally:
        await db.close()
    return rows, (total[0] if total else UsageRow(None, 0, 0, 0, 0))


def render_table(rows: list[UsageRow], total: UsageRow, by: str | None) -> str:
    head = [by or "", "requests", "input_tokens", "output_tokens", "cost_usd"]
    body = [[str(r.group), str(r.requests), str(r.input_tokens), str(r.output_tokens), format_usd(r.cost_micros)]
            for r in rows]
    body.append(["TOTAL", str(total.requests), str(total.input_tokens), str(total.output_tokens),
                 format_usd(total.cost_micros)])
    if by is None:
        head, body = head[1:], [r[1:] for r in body]
    widths = [max(len(row[i]) for row in [head, *body]) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) if i == 0 and by else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
             for row in [head, *body]]
    return "\n".join(lines)
