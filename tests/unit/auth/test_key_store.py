"""KeyStore contract, run over SQLite and the real PostgreSQL (`store` is parametrized in conftest)."""

from __future__ import annotations

import pytest

from bastion.auth import keys
from bastion.auth.record import KeyLimits, KeyRecord, KeySpec
from bastion.auth.store import SqlKeyStore, issue_key
from bastion.core.context import Budget, ModelLimit
from bastion.core.errors import ServiceUnavailable
from bastion.store.db import Database


def full_spec() -> KeySpec:
    return KeySpec(
        name="billing-svc", team="payments", models=("gpt-4o-mini", "smart"), policy="strict",
        limits=KeyLimits(rpm=60, tpm=100_000, max_parallel=4, budget_usd_micros=25_000_000,
                         budget_period="day",
                         model_limits={"smart": ModelLimit(rpm=5, tpm=None), "gpt-4o-mini": ModelLimit(tpm=9)}),
        expires_at=1_900_000_000.5)


async def test_create_then_get_roundtrips_every_field(store: SqlKeyStore) -> None:
    issued = await issue_key(store, full_spec(), now=1_700_000_000.25)
    got = await store.get(issued.record.id)
    assert got == issued.record
    assert got is not None
    assert got.models == ("gpt-4o-mini", "smart")
    assert got.model_limits == {"smart": ModelLimit(rpm=5), "gpt-4o-mini": ModelLimit(tpm=9)}
    assert got.budget_usd_micros == 25_000_000 and isinstance(got.budget_usd_micros, int)
    assert got.expires_at == 1_900_000_000.5 and got.created_at == 1_700_000_000.25
    assert got.revoked_at is None
    principal = got.to_principal()
    assert principal.budgets == (Budget(25_000_000, "day"),)
    assert principal.models == frozenset({"gpt-4o-mini", "smart"})
    assert principal.model_limits == (("gpt-4o-mini", ModelLimit(tpm=9)), ("smart", ModelLimit(rpm=5)))


async def test_minimal_key_has_no_limits(store: SqlKeyStore) -> None:
    issued = await issue_key(store, KeySpec(name="min"))
    got = await store.get(issued.record.id)
    assert got is not None
    assert (got.team, got.models, got.policy, got.rpm, got.budget_usd_micros, got.expires_at) == (
        None, None, None, None, None, None)
    assert got.model_limits == {}
    assert got.to_principal().budgets == ()


async def test_only_the_hash_of_the_secret_is_stored(store: SqlKeyStore, db: Database) -> None:
    issued = await issue_key(store, KeySpec(name="x"))
    _, secret = keys.parse(issued.plaintext)  # type: ignore[misc]
    row = await db.fetchone("SELECT * FROM bastion_keys WHERE id = ?", (issued.record.id,))
    assert row is not None
    flat = repr(row)
    assert secret not in flat and issued.plaintext not in flat
    assert keys.hash_secret(secret) in flat
    assert "**********" in repr(issued) and secret not in repr(issued)


async def test_get_unknown_is_none(store: SqlKeyStore) -> None:
    assert await store.get("abcdefghijkl") is None


async def test_create_refuses_a_taken_id(store: SqlKeyStore) -> None:
    issued = await issue_key(store, KeySpec(name="first"))
    clash = KeyRecord(id=issued.record.id, name="second", secret_hash="0" * 64, created_at=1.0)
    assert await store.create(clash) is False
    got = await store.get(issued.record.id)
    assert got is not None and got.name == "first"


async def test_issue_key_retries_an_id_collision(store: SqlKeyStore) -> None:
    first = await issue_key(store, KeySpec(name="a"))
    fresh = keys.generate()
    sequence = iter([(first.record.id, keys.format_key(first.record.id, "A" * 43)), fresh])
    second = await issue_key(store, KeySpec(name="b"), generate=lambda: next(sequence))
    assert second.record.id == fresh[0] and second.plaintext == fresh[1]


async def test_list_orders_by_creation_and_hides_revoked_unless_asked(store: SqlKeyStore) -> None:
    a = await issue_key(store, KeySpec(name="a", team="t1"), now=10.0)
    b = await issue_key(store, KeySpec(name="b", team="t2"), now=20.0)
    c = await issue_key(store, KeySpec(name="c", team="t1"), now=30.0)
    assert await store.revoke(b.record.id, at=40.0)
    assert [r.name for r in await store.list()] == ["a", "c"]
    everything = await store.list(include_revoked=True)
    assert [r.name for r in everything] == ["a", "b", "c"]
    assert everything[1].revoked_at == 40.0
    assert [r.id for r in await store.list(team="t1")] == [a.record.id, c.record.id]
    assert await store.list(team="t2") == []
    assert [r.id for r in await store.list(include_revoked=True, team="t2")] == [b.record.id]


async def test_revoke_is_true_once_then_false(store: SqlKeyStore) -> None:
    issued = await issue_key(store, KeySpec(name="r"))
    assert await store.revoke(issued.record.id) is True
    assert await store.revoke(issued.record.id) is False
    assert await store.revoke("abcdefghijkl") is False
    got = await store.get(issued.record.id)
    assert got is not None and got.revoked_at is not None


async def test_update_limits_replaces_all_limits_of_a_live_key(store: SqlKeyStore) -> None:
    issued = await issue_key(store, full_spec())
    new = KeyLimits(rpm=1, budget_usd_micros=5, budget_period="total", model_limits={"m": ModelLimit(rpm=2)})
    assert await store.update_limits(issued.record.id, new)
    got = await store.get(issued.record.id)
    assert got is not None
    assert got.limits == new
    assert (got.name, got.team, got.models) == ("billing-svc", "payments", ("gpt-4o-mini", "smart"))
    assert await store.update_limits("abcdefghijkl", new) is False
    await store.revoke(issued.record.id)
    assert await store.update_limits(issued.record.id, KeyLimits(rpm=999)) is False


async def test_migrate_is_idempotent(store: SqlKeyStore) -> None:
    issued = await issue_key(store, KeySpec(name="kept"))
    await store.migrate()
    await store.migrate()
    assert await store.get(issued.record.id) is not None


async def test_store_failure_is_service_unavailable() -> None:
    from bastion.store.db import SqliteDatabase

    broken = SqlKeyStore(SqliteDatabase("/nonexistent-dir/x/keys.db"))
    with pytest.raises(ServiceUnavailable):
        await broken.get("abcdefghijkl")
