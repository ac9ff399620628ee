"""`bastion keys create|list|revoke|update`: manage virtual keys in the configured store."""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import orjson

from bastion.auth import keys
from bastion.auth.record import BUDGET_PERIODS, KeyRecord
from bastion.auth.spec import parse_key_request, parse_limits_request
from bastion.auth.store import SqlKeyStore, issue_key
from bastion.config.loader import ConfigError, load_config
from bastion.config.schema import BastionConfig
from bastion.core.errors import BastionError, InvalidRequest
from bastion.core.secret import redacted_url
from bastion.store.db import open_database

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
SHOWN_ONCE = "Store it now: it cannot be shown again."
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_T = TypeVar("_T")


class _Failed(Exception):
    """A one-line error for the user, with its exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `keys` and its subcommands; each leaf sets `func(args) -> exit code`."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="FILE", help="config file (default: built-in, from the environment)")
    keys_parser = subparsers.add_parser("keys", help="manage virtual keys")
    sub = keys_parser.add_subparsers(dest="keys_command", required=True, metavar="{create,list,revoke,update}")

    create = sub.add_parser("create", parents=[common], help="create a key and print it once")
    create.add_argument("--name", required=True, help="who or what uses the key (e.g. billing-svc)")
    create.add_argument("--team", help="team the key belongs to (team limits, budgets and policy apply)")
    create.add_argument("--models", help="comma-separated models the key may use (default: all)")
    create.add_argument("--policy", help="policy name (default: the team's, else `default`)")
    create.add_argument("--expires", metavar="DATE", help="expiry, ISO date or datetime in UTC (2027-01-01)")
    create.add_argument("--json", action="store_true", help="print the key and record as JSON")
    _limit_flags(create, argparse.SUPPRESS)
    create.set_defaults(func=cmd_create)

    lst = sub.add_parser("list", parents=[common], help="list keys (never their secrets)")
    lst.add_argument("--all", action="store_true", help="include revoked keys")
    lst.add_argument("--team", help="only this team's keys")
    lst.add_argument("--json", action="store_true", help="print JSON instead of a table")
    lst.set_defaults(func=cmd_list)

    revoke = sub.add_parser("revoke", parents=[common], help="revoke a key (running servers honour it within seconds)")
    revoke.add_argument("id", help="public key id (the part after bst_)")
    revoke.set_defaults(func=cmd_revoke)

    update = sub.add_parser("update", parents=[common], help="change a key's limits (only the flags given)")
    update.add_argument("id", help="public key id")
    _limit_flags(update, argparse.SUPPRESS)
    update.set_defaults(func=cmd_update)


def _limit_flags(p: argparse.ArgumentParser, default: Any) -> None:
    p.add_argument("--rpm", type=int, default=default, help="requests per minute")
    p.add_argument("--tpm", type=int, default=default, help="tokens per minute")
    p.add_argument("--max-parallel", type=int, default=default, help="concurrent requests")
    p.add_argument("--budget-usd", type=float, default=default, metavar="USD", help="spending cap in USD")
    p.add_argument("--budget-period", choices=BUDGET_PERIODS, default=default, help="budget period (month)")


def _limits_of(args: argparse.Namespace) -> dict[str, object]:
    names = ("rpm", "tpm", "max_parallel", "budget_usd", "budget_period")
    return {n: getattr(args, n) for n in names if hasattr(args, n)}


def _run(command: str, body: Callable[[], Coroutine[Any, Any, int]]) -> int:
    try:
        return asyncio.run(body())
    except _Failed as e:
        print(f"bastion keys {command}: error: {e}", file=sys.stderr)
        return e.code
    except InvalidRequest as e:
        print(f"bastion keys {command}: error: {_flag_names(e.message)}", file=sys.stderr)
        return EXIT_USAGE
    except BastionError as e:
        print(f"bastion keys {command}: error: {e.message}", file=sys.stderr)
        return EXIT_FAILED


def _flag_names(message: str) -> str:
    """Field names of validation messages as the CLI flags that set them."""
    return re.sub(r"\b(max_parallel|budget_usd|budget_period|name|team|models|policy|expires|rpm|tpm)(?=[:.\[])",
                  lambda m: "--" + m.group(1).replace("_", "-"), message)


async def _with_store(args: argparse.Namespace,
                      fn: Callable[[SqlKeyStore, BastionConfig], Awaitable[_T]]) -> _T:
    try:
        config = load_config(args.config, offline=True)  # never calls a provider
    except ConfigError as e:
        raise _Failed("invalid config: " + "; ".join(e.errors), EXIT_USAGE) from None
    db = open_database(config.store.url)
    try:
        store = SqlKeyStore(db)
        await store.migrate()
        return await fn(store, config)
    except InvalidRequest:
        raise
    except BastionError as e:
        raise _Failed(f"key store {redacted_url(config.store.url)}: {e.message}", EXIT_FAILED) from None
    finally:
        await db.close()


def cmd_create(args: argparse.Namespace) -> int:
    async def body() -> int:
        data: dict[str, object] = {"name": args.name, **_limits_of(args)}
        for flag in ("team", "policy", "expires"):
            if getattr(args, flag) is not None:
                data[flag] = getattr(args, flag)
        if args.models is not None:
            data["models"] = [m.strip() for m in args.models.split(",") if m.strip()]
        request = parse_key_request(data)

        async def create(store: SqlKeyStore, config: BastionConfig) -> int:
            now = time.time()
            strict = args.config is not None  # the built-in config's models depend on this shell's env
            spec = request.to_spec(now, set(config.policies) if strict else None,
                                   {m.name for m in config.models} if strict else None, set(config.teams))
            issued = await issue_key(store, spec, now)
            if args.json:
                print(orjson.dumps({"key": issued.plaintext, "warning": SHOWN_ONCE,
                                    **issued.record.public_view(now)}).decode())
            else:
                print(f"Created key {issued.record.id} ({_cell(issued.record.name)}).\n")
                print(f"    {issued.plaintext}\n")
                print(SHOWN_ONCE)
            return EXIT_OK
        return await _with_store(args, create)
    return _run("create", body)


def cmd_list(args: argparse.Namespace) -> int:
    async def body() -> int:
        async def fetch(store: SqlKeyStore, _: BastionConfig) -> list[KeyRecord]:
            return await store.list(include_revoked=args.all, team=args.team)
        records = await _with_store(args, fetch)
        now = time.time()
        if args.json:
            print(orjson.dumps([r.public_view(now) for r in records]).decode())
        else:
            print(render_table(records, now))
        return EXIT_OK
    return _run("list", body)


def cmd_revoke(args: argparse.Namespace) -> int:
    async def body() -> int:
        key_id = _key_id(args.id)

        async def revoke(store: SqlKeyStore, _: BastionConfig) -> int:
            if await store.revoke(key_id):
                print(f"Revoked key {key_id}; running servers refuse it within seconds.")
                return EXIT_OK
            if await store.get(key_id) is None:
                raise _Failed(f"no key with id {key_id}", EXIT_FAILED)
            print(f"Key {key_id} was already revoked.")
            return EXIT_OK
        return await _with_store(args, revoke)
    return _run("revoke", body)


def cmd_update(args: argparse.Namespace) -> int:
    async def body() -> int:
        key_id = _key_id(args.id)
        changes = _limits_of(args)
        if not changes:
            raise _Failed("nothing to change: give at least one of --rpm --tpm --max-parallel "
                          "--budget-usd --budget-period", EXIT_USAGE)
        request = parse_limits_request(changes)

        async def update(store: SqlKeyStore, _: BastionConfig) -> int:
            record = await store.get(key_id)
            if record is None:
                raise _Failed(f"no key with id {key_id}", EXIT_FAILED)
            if not await store.update_limits(key_id, request.apply(record.limits)):
                raise _Failed(f"key {key_id} is revoked; create a new one", EXIT_FAILED)
            print(f"Updated key {key_id}: {_limits_text(await store.get(key_id) or record)}")
            return EXIT_OK
        return await _with_store(args, update)
    return _run("update", body)


def _key_id(value: str) -> str:
    candidate = value.strip()
    parsed = keys.parse(candidate)
    if parsed is not None:  # a whole key pasted: use its public id, never echo the secret
        return parsed[0]
    if not keys.is_key_id(candidate):
        raise _Failed(f"{_cell(candidate)[:40]!r} is not a key id (12 characters of a-z and 2-7)", EXIT_USAGE)
    return candidate


def _cell(value: object) -> str:
    return _UNSAFE.sub("?", "-" if value is None else str(value))


def _usd(micros: int) -> str:
    """Dollars with cents, and the smaller digits only when there are any: 5 → 5.00, 0.00002 → 0.00002."""
    whole, frac = divmod(micros, 1_000_000)
    digits = f"{frac:06d}".rstrip("0").ljust(2, "0")
    return f"{whole:,}.{digits}"


def _limits_text(r: KeyRecord) -> str:
    parts = [f"{n}={v}" for n, v in (("rpm", r.rpm), ("tpm", r.tpm), ("parallel", r.max_parallel))
             if v is not None]
    if r.budget_usd_micros is not None:
        parts.append(f"${_usd(r.budget_usd_micros)}/{r.budget_period or 'month'}")
    for model, lim in sorted(r.model_limits.items()):
        inner = ",".join(f"{n}={v}" for n, v in (("rpm", lim.rpm), ("tpm", lim.tpm)) if v is not None)
        parts.append(f"{model}({inner})")
    return " ".join(parts) or "-"


def render_table(records: list[KeyRecord], now: float) -> str:
    """A plain-text table of keys: id, name, team, models, policy, limits, expires, status."""
    header = ("ID", "NAME", "TEAM", "MODELS", "POLICY", "LIMITS", "EXPIRES", "STATUS")
    rows = [header] + [tuple(_cell(v) for v in (
        r.id, r.name, r.team, ",".join(r.models) if r.models is not None else "all", r.policy,
        _limits_text(r), (r.public_view(now)["expires_at"] or "never"), r.status(now))) for r in records]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    if not records:
        lines.append("(no keys)")
    return "\n".join(lines)
