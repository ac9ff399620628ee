"""`bastion keys create|list|revoke|update`: manage virtual keys in the configured store."""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import orjson

from bastion.audit.offline import AuditRefused, OfflineAudit
from bastion.audit.sink import SqlAuditSink
from bastion.auth import keys
from bastion.auth.record import BUDGET_PERIODS, KeyRecord
from bastion.auth.spec import parse_key_request, parse_update_request
from bastion.auth.store import SqlKeyStore, issue_key
from bastion.cli.store_path import missing_sqlite_store
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
    _setting_flags(create)
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

    update = sub.add_parser("update", parents=[common], help="change a key's settings and limits in place "
                            "(only the flags given; the secret stays the same)")
    update.add_argument("id", help="public key id")
    update.add_argument("--name", help="new name")
    _setting_flags(update, creating=False)
    _limit_flags(update, argparse.SUPPRESS, creating=False)
    update.add_argument("--clear", action="append", metavar="FIELD[,FIELD]",
                        help=f"unset settings: {', '.join(CLEARABLE)} (models: every model; policy: the team's; "
                             "expires: never; a limit or budget: the configured default)")
    update.add_argument("--json", action="store_true", help="print the updated record as JSON")
    update.set_defaults(func=cmd_update)


# --clear FIELD → the request field it sets to null
CLEARABLE = {"team": "team", "models": "models", "policy": "policy", "expires": "expires", "rpm": "rpm",
             "tpm": "tpm", "max-parallel": "max_parallel", "budget": "budget_usd"}


def _setting_flags(p: argparse.ArgumentParser, creating: bool = True) -> None:
    """The settings' flags; on update an absent flag leaves the setting as it is (`--clear` unsets)."""
    p.add_argument("--team", help="team the key belongs to (team limits, budgets and policy apply)")
    p.add_argument("--models", help="comma-separated models the key may use "
                   + ("(default: all)" if creating else "(replaces the list; --clear models: all)"))
    p.add_argument("--policy", help="policy name "
                   + ("(default: the team's, else `default`)" if creating else "(--clear policy: the team's)"))
    p.add_argument("--expires", metavar="DATE", help="expiry, ISO date or datetime in UTC (2027-01-01)")


def _settings_of(args: argparse.Namespace) -> dict[str, object]:
    data: dict[str, object] = {f: getattr(args, f) for f in ("name", "team", "policy", "expires")
                               if getattr(args, f, None) is not None}
    if args.models is not None:
        data["models"] = [m.strip() for m in args.models.split(",") if m.strip()]
    return data


def _limit_flags(p: argparse.ArgumentParser, default: Any, creating: bool = True) -> None:
    p.add_argument("--rpm", type=int, default=default, help="requests per minute")
    p.add_argument("--tpm", type=int, default=default, help="tokens per minute")
    p.add_argument("--max-parallel", type=int, default=default, help="concurrent requests")
    p.add_argument("--budget-usd", type=float, default=default, metavar="USD", help="spending cap in USD")
    p.add_argument("--budget-period", choices=BUDGET_PERIODS, default=default,
                   help="budget period (default: month)" if creating else "budget period (needs a budget)")


def _limits_of(args: argparse.Namespace) -> dict[str, object]:
    names = ("rpm", "tpm", "max_parallel", "budget_usd", "budget_period")
    return {n: getattr(args, n) for n in names if hasattr(args, n)}


def _run(command: str, body: Callable[[], Coroutine[Any, Any, int]]) -> int:
    try:
        return asyncio.run(body())
    except _Failed as e:
        print(f"bastion keys {command}: error: {e}", file=sys.stderr)
        return e.code
    except AuditRefused as e:
        print(f"bastion keys {command}: error: the audit log cannot take the record of this change ({e}); "
              "nothing was changed", file=sys.stderr)
        return EXIT_FAILED
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
                      fn: Callable[[SqlKeyStore, BastionConfig, OfflineAudit], Awaitable[_T]], *,
                      creates: bool = False) -> _T:
    """Run `fn` on the configured key store, with the audit log of the same store for its changes
    (audit/offline.py). A SQLite store that does not exist is an error, except for `create`
    (`creates`), which makes it and says where: a relative store.url resolves against the working
    directory, so a key made elsewhere would land in a store the gateway never reads."""
    try:
        config = load_config(args.config, offline=True)  # never calls a provider
    except ConfigError as e:
        raise _Failed("invalid config: " + "; ".join(e.errors), EXIT_USAGE) from None
    if (missing := missing_sqlite_store(config.store.url)) is not None and not creates:
        raise _Failed(f"the key store {missing} does not exist (seen from {Path.cwd()}); run this where the "
                      "gateway runs or give its --config", EXIT_USAGE)
    db = open_database(config.store.url)
    try:
        store = SqlKeyStore(db)
        await store.migrate()
        audit = OfflineAudit(SqlAuditSink(db), enabled=config.audit.enabled,
                             checkpoint_key=config.audit.checkpoint_key)
        result = await fn(store, config, audit)
        if missing is not None:
            print(f"note: created a new key store at {missing}; the gateway must use this store (store.url is "
                  "relative to the working directory: run `bastion serve` from here or give both the same "
                  "--config)", file=sys.stderr)
        return result
    except InvalidRequest:
        raise
    except BastionError as e:
        raise _Failed(f"key store {redacted_url(config.store.url)}: {e.message}", EXIT_FAILED) from None
    finally:
        await db.close()


def cmd_create(args: argparse.Namespace) -> int:
    async def body() -> int:
        sent = {**_settings_of(args), **_limits_of(args)}
        request = parse_key_request(sent)

        async def create(store: SqlKeyStore, config: BastionConfig, audit: OfflineAudit) -> int:
            now = time.time()
            spec = request.to_spec(now, *_known(args, config))
            generated = keys.generate()  # its id is in the record, written before the key is
            async with audit.change("create", generated[0], spec.team, tuple(sent)) as change:
                issued = await issue_key(store, spec, now, generate=lambda: generated)
                change.done = True
            if args.json:
                print(orjson.dumps({"key": issued.plaintext, "warning": SHOWN_ONCE,
                                    **issued.record.public_view(now)}).decode())
            else:
                print(f"Created key {issued.record.id} ({_cell(issued.record.name)}).\n")
                print(f"    {issued.plaintext}\n")
                print(SHOWN_ONCE)
            return EXIT_OK
        return await _with_store(args, create, creates=True)
    return _run("create", body)


def cmd_list(args: argparse.Namespace) -> int:
    async def body() -> int:
        async def fetch(store: SqlKeyStore, _: BastionConfig, __: OfflineAudit) -> list[KeyRecord]:
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

        async def revoke(store: SqlKeyStore, _: BastionConfig, audit: OfflineAudit) -> int:
            record = await store.get(key_id)
            if record is None:
                raise _Failed(f"no key with id {key_id}", EXIT_FAILED)
            if record.revoked_at is None:
                async with audit.change("revoke", key_id, record.team, ()) as change:
                    change.done = await store.revoke(key_id)  # False: revoked meanwhile
                if change.done:
                    print(f"Revoked key {key_id}; running servers refuse it within seconds.")
                    return EXIT_OK
            print(f"Key {key_id} was already revoked.")
            return EXIT_OK
        return await _with_store(args, revoke)
    return _run("revoke", body)


def _known(args: argparse.Namespace,
           config: BastionConfig) -> tuple[set[str] | None, set[str] | None, set[str]]:
    """(policies, models, teams) names are checked against: models and policies only with --config,
    since the built-in config's depend on this shell's environment."""
    strict = args.config is not None
    return (set(config.policies) if strict else None, {m.name for m in config.models} if strict else None,
            set(config.teams))


def _update_body(args: argparse.Namespace) -> dict[str, object]:
    data = {**_settings_of(args), **_limits_of(args)}
    for item in args.clear or ():
        for name in (n.strip() for n in item.split(",") if n.strip()):
            field = CLEARABLE.get(name)
            if field is None:
                raise _Failed(f"--clear: unknown field {_cell(name)[:40]!r}; use {', '.join(CLEARABLE)}", EXIT_USAGE)
            if data.get(field) is not None:
                raise _Failed(f"--clear {name} contradicts --{field.replace('_', '-')}", EXIT_USAGE)
            data[field] = None
    return data


def cmd_update(args: argparse.Namespace) -> int:
    async def body() -> int:
        key_id = _key_id(args.id)
        changes = _update_body(args)
        if not changes:
            raise _Failed("nothing to change: give at least one of --name --team --models --policy --expires "
                          "--rpm --tpm --max-parallel --budget-usd --budget-period --clear", EXIT_USAGE)
        request = parse_update_request(changes)

        async def update(store: SqlKeyStore, config: BastionConfig, audit: OfflineAudit) -> int:
            record = await store.get(key_id)
            if record is None:
                raise _Failed(f"no key with id {key_id}", EXIT_FAILED)
            if record.revoked_at is None:
                now = time.time()
                spec, fields = request.apply_to(record.spec, now, *_known(args, config))
                async with audit.change("update", key_id, spec.team, request.changed()) as change:
                    change.done = await store.update(key_id, spec, fields)  # False: revoked meanwhile
                if change.done:
                    updated = await store.get(key_id) or record
                    if args.json:
                        print(orjson.dumps(updated.public_view(now)).decode())
                    else:
                        print(f"Updated key {key_id} ({', '.join(request.changed())}): {_settings_text(updated, now)}")
                        print("Running servers apply the change within seconds.")
                    return EXIT_OK
            raise _Failed(f"key {key_id} is revoked; create a new one", EXIT_FAILED)
        return await _with_store(args, update)
    return _run("update", body)


def _settings_text(r: KeyRecord, now: float) -> str:
    models = ",".join(r.models) if r.models is not None else "all"
    expires = r.public_view(now)["expires_at"] or "never"
    return (f"name={_cell(r.name)} team={_cell(r.team)} models={_cell(models)} policy={_cell(r.policy)} "
            f"expires={expires} limits: {_limits_text(r)}")


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
