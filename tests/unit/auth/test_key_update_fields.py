"""Updating an issued key's settings (name, team, models, policy, expiry) in place: the store over SQLite
and the real PostgreSQL, an old table, replicas' caches, the admin PATCH, its log line and the CLI."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from tests.unit.auth.test_key_changes import OLD_DDL, OLD_INSERT, Wall

from bastion.auth import keys
from bastion.auth.admin_key import AdminAuth
from bastion.auth.authenticator import REVOKED, Authenticator
from bastion.auth.record import KEY_FIELDS, KeyLimits, KeySpec
from bastion.auth.spec import parse_update_request
from bastion.auth.store import SqlKeyStore, issue_key
from bastion.cli.keys import register
from bastion.core.errors import AuthenticationError, InvalidRequest
from bastion.core.secret import Secret
from bastion.http.admin import AdminRoutes
from bastion.http.types import HttpRequest
from bastion.store.db import Database, SqliteDatabase

ADMIN = "adm_test_0123456789abcdef0123456789"
NOW = 1_800_000_000.0  # 2027-01-15
SPEC = KeySpec(name="billing", team="payments", models=("gpt-4o-mini", "smart"), policy="strict",
               limits=KeyLimits(rpm=60, budget_usd_micros=5_000_000, budget_period="day"), expires_at=NOW + 86_400)


# ---- store ---------------------------------------------------------------------------------------

async def test_update_writes_every_setting_keeps_the_secret_and_stamps_changed_at(db: Database) -> None:
    wall = Wall(NOW)
    store = SqlKeyStore(db, clock=wall)
    await store.migrate()
    issued = await issue_key(store, SPEC, now=NOW)
    wall.t += 10
    new = KeySpec(name="billing-v2", team="search", models=("llama3.2",), policy=None,
                  limits=KeyLimits(tpm=9), expires_at=None)
    assert await store.update(issued.record.id, new)
    got = await store.get(issued.record.id)
    assert got is not None and got.spec == new
    assert (got.secret_hash, got.created_at, got.revoked_at) == (issued.record.secret_hash, NOW, None)
    assert [r.spec for r in await store.changed_since(wall.t)] == [new]
    auth = Authenticator(store, ttl_seconds=2.0, wall_clock=wall)  # the same secret still authenticates
    principal = await auth.authenticate(None, issued.plaintext)
    assert principal.models == frozenset({"llama3.2"}) and principal.team == "search" and principal.policy is None


async def test_update_writes_only_the_named_fields(store: SqlKeyStore, replica_db: Database) -> None:
    """Two admins change different fields from the same stale read: both changes hold."""
    issued = await issue_key(store, SPEC)
    stale = issued.record.spec
    other = SqlKeyStore(replica_db)
    assert await store.update(issued.record.id, KeySpec(name=stale.name, team=stale.team, models=("smart",),
                                                        policy=stale.policy, limits=stale.limits,
                                                        expires_at=stale.expires_at), ["models"])
    assert await other.update(issued.record.id, KeySpec(name="renamed", team="other", models=stale.models,
                                                        policy="lax", limits=KeyLimits(), expires_at=None),
                              ["name"])
    got = await store.get(issued.record.id)
    assert got is not None
    assert (got.name, got.models, got.team, got.policy, got.rpm, got.expires_at) == (
        "renamed", ("smart",), "payments", "strict", 60, NOW + 86_400)


async def test_a_period_only_update_leaves_a_concurrent_budget_change(store: SqlKeyStore,
                                                                       replica_db: Database) -> None:
    """PATCH {budget_period} writes the period alone: an amount another admin set meanwhile stays."""
    issued = await issue_key(store, SPEC)
    stale = issued.record.spec
    raise_budget, raise_fields = parse_update_request({"budget_usd": 9}).apply_to(stale, NOW)
    weekly, weekly_fields = parse_update_request({"budget_period": "week"}).apply_to(stale, NOW)
    assert weekly_fields == ("budget_period",)
    assert set(raise_fields) == {"budget_usd_micros", "budget_period"}
    assert await store.update(issued.record.id, raise_budget, raise_fields)
    assert await SqlKeyStore(replica_db).update(issued.record.id, weekly, weekly_fields)
    got = await store.get(issued.record.id)
    assert got is not None
    assert (got.spec.limits.budget_usd_micros, got.spec.limits.budget_period) == (9_000_000, "week")
    with pytest.raises(InvalidRequest, match="budget_period: needs budget_usd"):
        parse_update_request({"budget_period": "week"}).apply_to(KeySpec(name="no-budget"), NOW)


async def test_a_revoked_key_is_not_updated_nor_revived(db: Database) -> None:
    wall = Wall(NOW)
    store = SqlKeyStore(db, clock=wall)
    await store.migrate()
    issued = await issue_key(store, SPEC, now=NOW)
    assert await store.revoke(issued.record.id)
    wall.t += 10
    assert await store.update(issued.record.id, KeySpec(name="x", models=None)) is False
    assert await store.update(issued.record.id, KeySpec(name="x"), ()) is False
    assert await store.update("abcdefghijkl", KeySpec(name="x")) is False
    got = await store.get(issued.record.id)
    assert got is not None and got.revoked_at == NOW and got.spec == SPEC
    assert await store.changed_since(wall.t) == []  # a refused write stamps nothing


async def test_update_refuses_a_field_that_is_not_a_setting(store: SqlKeyStore) -> None:
    issued = await issue_key(store, SPEC)
    for bad in (["secret_hash"], ["revoked_at"], ["name; DROP TABLE bastion_keys"]):
        with pytest.raises(ValueError, match="not an updatable key field"):
            await store.update(issued.record.id, KeySpec(name="x"), bad)  # type: ignore[list-item]
    assert (await store.get(issued.record.id)) == issued.record
    assert set(KEY_FIELDS) >= {"name", "team", "models", "policy", "expires_at"}


async def test_a_table_of_the_previous_version_is_migrated_and_updated(db: Database) -> None:
    key_id, plain = keys.generate()
    await db.execute(OLD_DDL)
    await db.execute(OLD_INSERT, (key_id, "legacy", 100.0, None, keys.hash_secret(keys.parse(plain)[1])))  # type: ignore[index]
    wall = Wall(NOW)
    store = SqlKeyStore(db, clock=wall)
    await store.migrate()
    before = await store.get(key_id)
    assert before is not None and before.models is None
    assert await store.update(key_id, KeySpec(name="legacy", team="t1", models=("smart",)), ["team", "models"])
    got = await store.get(key_id)
    assert got is not None and (got.name, got.team, got.models) == ("legacy", "t1", ("smart",))
    assert [r.id for r in await store.changed_since(wall.t)] == [key_id]
    principal = await Authenticator(store, ttl_seconds=2.0).authenticate(None, plain)
    assert principal.models == frozenset({"smart"})


async def test_another_replicas_cache_takes_the_change_at_its_next_poll(store: SqlKeyStore,
                                                                        replica_db: Database) -> None:
    issued = await issue_key(store, SPEC)
    reader = Authenticator(store, ttl_seconds=5.0)
    assert (await reader.authenticate(None, issued.plaintext)).models == frozenset({"gpt-4o-mini", "smart"})
    writer = SqlKeyStore(replica_db)  # another replica, or the CLI
    assert await writer.update(issued.record.id, KeySpec(name="b", models=("smart",)), ["models"])
    assert (await reader.authenticate(None, issued.plaintext)).models == frozenset({"gpt-4o-mini", "smart"})
    assert await reader.poll() >= 1  # the background task runs this every TTL/2
    principal = await reader.authenticate(None, issued.plaintext)
    assert principal.models == frozenset({"smart"}) and not principal.may_use("gpt-4o-mini")


# ---- admin API -----------------------------------------------------------------------------------

def patch(key_id: str, body: object) -> HttpRequest:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return HttpRequest(method="PATCH", path=f"/admin/keys/{key_id}", query={},
                       headers={"authorization": f"Bearer {ADMIN}"}, body=raw, client="127.0.0.1",
                       request_id="req_test")


@pytest.fixture
def auth(sqlite_store: SqlKeyStore) -> Authenticator:
    return Authenticator(sqlite_store, ttl_seconds=5.0, wall_clock=lambda: NOW)


@pytest.fixture
def admin(sqlite_store: SqlKeyStore, auth: Authenticator) -> AdminRoutes:
    return AdminRoutes(sqlite_store, AdminAuth(Secret(ADMIN)), known_policies={"strict", "lax"},
                       known_models={"gpt-4o-mini", "smart", "llama3.2"}, known_teams={"payments", "search"},
                       on_change=auth.invalidate, clock=lambda: NOW)


async def test_patch_changes_settings_in_place_and_this_process_honours_it_at_once(
        admin: AdminRoutes, sqlite_store: SqlKeyStore, auth: Authenticator) -> None:
    issued = await issue_key(sqlite_store, SPEC, now=NOW)
    assert (await auth.authenticate(None, issued.plaintext)).may_use("gpt-4o-mini")  # cached
    resp = await admin.dispatch(patch(issued.record.id, {
        "name": "billing-v2", "team": "search", "models": ["llama3.2", "smart", "smart"], "policy": "lax",
        "expires": "2028-01-01", "rpm": 5}))
    assert resp.status == 200 and resp.headers["cache-control"] == "no-store"
    data: dict[str, Any] = orjson.loads(resp.body)
    assert (data["name"], data["team"], data["models"], data["policy"], data["expires_at"], data["rpm"]) == (
        "billing-v2", "search", ["llama3.2", "smart"], "lax", "2028-01-01T00:00:00Z", 5)
    assert data["budget_usd_micros"] == 5_000_000 and data["status"] == "active"  # not sent: unchanged
    assert "key" not in data and "secret_hash" not in data
    assert issued.plaintext not in resp.body.decode() and issued.record.secret_hash not in resp.body.decode()
    principal = await auth.authenticate(None, issued.plaintext)  # same secret, new settings, no wait
    assert not principal.may_use("gpt-4o-mini") and principal.may_use("llama3.2")
    assert (principal.name, principal.team, principal.policy) == ("billing-v2", "search", "lax")


async def test_null_clears_team_models_policy_and_expiry(admin: AdminRoutes, sqlite_store: SqlKeyStore) -> None:
    issued = await issue_key(sqlite_store, SPEC, now=NOW)
    resp = await admin.dispatch(patch(issued.record.id, {"team": None, "models": None, "policy": None,
                                                         "expires": None, "budget_usd": None}))
    data = orjson.loads(resp.body)
    assert (data["team"], data["models"], data["policy"], data["expires_at"]) == (None, None, None, None)
    assert (data["budget_usd_micros"], data["budget_period"], data["name"], data["rpm"]) == (
        None, None, "billing", 60)


@pytest.mark.parametrize(("body", "field"), [
    ({"name": None}, "name"),
    ({"name": ""}, "name"),
    ({"name": "a\r\nFAKE LOG LINE"}, "name"),
    ({"models": []}, "models"),
    ({"models": ["gpt-9"]}, "models"),
    ({"models": "smart"}, "models"),
    ({"policy": "lenient"}, "policy"),
    ({"team": "paymnets"}, "team"),
    ({"expires": "2001-01-01"}, "expires"),
    ({"expires": "2027-01-15T07:59:59Z"}, "expires"),  # a second before NOW: the past
    ({"expires": "next tuesday"}, "expires"),
    ({"secret_hash": "0" * 64}, "secret_hash"),
    ({"revoked_at": None}, "revoked_at"),
    ({"id": "abcdefghijkl"}, "id"),
])
async def test_invalid_updates_are_400_naming_the_field_and_change_nothing(
        admin: AdminRoutes, sqlite_store: SqlKeyStore, body: dict[str, object], field: str) -> None:
    issued = await issue_key(sqlite_store, SPEC, now=NOW)
    with pytest.raises(InvalidRequest) as e:
        await admin.dispatch(patch(issued.record.id, body))
    assert e.value.status == 400 and e.value.param == field and e.value.message.startswith(field)
    assert await sqlite_store.get(issued.record.id) == issued.record


async def test_a_revoked_key_cannot_be_revived_by_an_update(admin: AdminRoutes, sqlite_store: SqlKeyStore,
                                                            auth: Authenticator) -> None:
    issued = await issue_key(sqlite_store, SPEC, now=NOW)
    assert await sqlite_store.revoke(issued.record.id, NOW)
    for body in ({"models": None}, {"expires": "2030-01-01"}, {"name": "again"}, {}):
        with pytest.raises(InvalidRequest) as e:
            await admin.dispatch(patch(issued.record.id, body))
        assert e.value.status == 409 and e.value.code == "key_revoked"
    got = await sqlite_store.get(issued.record.id)
    assert got is not None and got.status(NOW) == "revoked" and got.spec == SPEC
    with pytest.raises(AuthenticationError, match=REVOKED):
        await auth.authenticate(None, issued.plaintext)


async def test_an_expired_key_can_be_given_a_new_expiry(admin: AdminRoutes, sqlite_store: SqlKeyStore) -> None:
    """Expiry is a setting (unlike revocation): the operator may extend it in place."""
    issued = await issue_key(sqlite_store, KeySpec(name="old", expires_at=NOW - 10), now=NOW - 100)
    data = orjson.loads((await admin.dispatch(patch(issued.record.id, {"expires": "2028-01-01"}))).body)
    assert data["status"] == "active" and data["expires_at"] == "2028-01-01T00:00:00Z"


async def test_an_update_is_logged_naming_the_fields_never_values(
        admin: AdminRoutes, sqlite_store: SqlKeyStore, caplog: pytest.LogCaptureFixture) -> None:
    issued = await issue_key(sqlite_store, SPEC, now=NOW)
    with caplog.at_level(logging.INFO, logger="bastion.admin"):
        await admin.dispatch(patch(issued.record.id, {"models": ["smart"], "team": "search", "name": "n3w"}))
    lines = [r.getMessage() for r in caplog.records if r.name == "bastion.admin"]
    assert lines == [f"admin updated key id={issued.record.id} fields=models,name,team"]
    assert "n3w" not in caplog.text and "smart" not in caplog.text and issued.record.secret_hash not in caplog.text


# ---- CLI -----------------------------------------------------------------------------------------

@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "bastion.yaml"
    path.write_text(yaml.safe_dump({
        "store": {"url": f"sqlite:///{tmp_path / 'keys.db'}"},
        "providers": {"local": {"kind": "openai_compatible", "base_url": "http://127.0.0.1:9/v1"}},
        "models": [{"name": m, "targets": [{"provider": "local", "model": m}]} for m in ("llama3.2", "qwen2.5")],
        "policies": {"strict": {}},
        "teams": {"payments": {}, "search": {}},
    }))
    return path


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="bastion")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    code: int = args.func(args)
    return code


def cli_key(config: Path, capsys: pytest.CaptureFixture[str], *flags: str) -> str:
    assert run("keys", "create", "--config", str(config), "--name", "app", "--json", *flags) == 0
    key_id: str = json.loads(capsys.readouterr().out)["id"]
    return key_id


def test_cli_update_changes_settings_with_the_create_flags(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key_id = cli_key(config, capsys, "--team", "payments", "--models", "llama3.2", "--rpm", "5")
    assert run("keys", "update", "--config", str(config), key_id, "--name", "app-v2", "--team", "search",
               "--models", "llama3.2,qwen2.5", "--policy", "strict", "--expires", "2031-01-01") == 0
    out = capsys.readouterr().out
    assert f"Updated key {key_id} (expires, models, name, policy, team)" in out
    assert "name=app-v2 team=search models=llama3.2,qwen2.5 policy=strict expires=2031-01-01T00:00:00Z" in out
    assert "rpm=5" in out
    assert run("keys", "update", "--config", str(config), key_id, "--clear", "team,models", "--clear", "expires",
               "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["team"], data["models"], data["expires_at"], data["name"], data["rpm"]) == (
        None, None, None, "app-v2", 5)
    assert "key" not in data


@pytest.mark.parametrize(("flags", "expected"), [
    (["--models", "gpt-9"], "--models[0]: unknown model 'gpt-9'"),
    (["--policy", "lenient"], "--policy: unknown policy 'lenient'"),
    (["--team", "paymnets"], "--team: unknown team 'paymnets'"),
    (["--expires", "2001-01-01"], "--expires: must be in the future"),
    (["--name", ""], "--name: must not be empty"),
    (["--clear", "team", "--team", "search"], "--clear team contradicts --team"),
    (["--clear", "secret"], "--clear: unknown field 'secret'"),
    (["--clear", "budget", "--budget-usd", "5"], "--clear budget contradicts --budget-usd"),
    ([], "nothing to change"),
])
def test_cli_update_bad_input_is_exit_2_and_changes_nothing(config: Path, capsys: pytest.CaptureFixture[str],
                                                            flags: list[str], expected: str) -> None:
    key_id = cli_key(config, capsys, "--models", "llama3.2")
    assert run("keys", "update", "--config", str(config), key_id, *flags) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and expected in captured.err and len(captured.err.strip().splitlines()) == 1
    assert run("keys", "list", "--config", str(config), "--json") == 0
    assert [(k["name"], k["models"]) for k in json.loads(capsys.readouterr().out)] == [("app", ["llama3.2"])]


def test_cli_update_of_a_revoked_key_fails(config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key_id = cli_key(config, capsys)
    assert run("keys", "revoke", "--config", str(config), key_id) == 0
    capsys.readouterr()
    assert run("keys", "update", "--config", str(config), key_id, "--models", "llama3.2") == 1
    assert "is revoked; create a new one" in capsys.readouterr().err

    async def fetch() -> Any:
        db = SqliteDatabase(str(tmp_path / "keys.db"))
        try:
            return await SqlKeyStore(db).get(key_id)
        finally:
            await db.close()
    got = asyncio.run(fetch())
    assert got.revoked_at is not None and got.models is None
