"""KeyStore.changed_since and the changed_at migration, over SQLite and the real PostgreSQL."""

from __future__ import annotations

import asyncio

from bastion.auth import keys
from bastion.auth.authenticator import Authenticator
from bastion.auth.record import KeyLimits, KeySpec
from bastion.auth.store import SqlKeyStore, issue_key
from bastion.store.db import Database

# bastion_keys as it was before changed_at existed
OLD_DDL = """CREATE TABLE bastion_keys (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, team TEXT, models TEXT, policy TEXT, rpm BIGINT, tpm BIGINT,
    max_parallel BIGINT, budget_usd_micros BIGINT, budget_period TEXT, model_limits TEXT NOT NULL,
    expires_at DOUBLE PRECISION, created_at DOUBLE PRECISION NOT NULL, revoked_at DOUBLE PRECISION,
    secret_hash TEXT NOT NULL)"""
OLD_INSERT = ("INSERT INTO bastion_keys (id, name, model_limits, created_at, revoked_at, secret_hash) "
              "VALUES (?, ?, '{}', ?, ?, ?)")


class Wall:
    def __init__(self, t: float = 1_800_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


async def test_changed_since_reports_creates_revokes_and_updates_by_write_time(db: Database) -> None:
    wall = Wall()
    store = SqlKeyStore(db, clock=wall)
    await store.migrate()
    old = await issue_key(store, KeySpec(name="old"), now=1_000.0)  # created_at back-dated, written now
    wall.t += 10
    new = await issue_key(store, KeySpec(name="new"), now=wall.t)
    assert {r.id for r in await store.changed_since(wall.t - 10)} == {old.record.id, new.record.id}
    assert [r.id for r in await store.changed_since(wall.t)] == [new.record.id]
    assert await store.changed_since(wall.t + 0.001) == []

    wall.t += 10
    assert await store.revoke(old.record.id, at=5.0)  # back-dated revocation: still a change now
    changed = await store.changed_since(wall.t)
    assert [(r.id, r.revoked_at) for r in changed] == [(old.record.id, 5.0)]

    wall.t += 10
    assert await store.update_limits(new.record.id, KeyLimits(rpm=7))
    assert [(r.id, r.rpm) for r in await store.changed_since(wall.t)] == [(new.record.id, 7)]
    # refused writes change nothing
    wall.t += 10
    assert not await store.revoke(old.record.id)
    assert not await store.update_limits(old.record.id, KeyLimits(rpm=1))
    assert await store.changed_since(wall.t) == []


async def test_migrate_brings_an_old_table_up_to_date(db: Database) -> None:
    live_id, live_plain = keys.generate()
    gone_id, _ = keys.generate()
    await db.execute(OLD_DDL)
    await db.execute(OLD_INSERT, (live_id, "live", 100.0, None, keys.hash_secret(keys.parse(live_plain)[1])))  # type: ignore[index]
    await db.execute(OLD_INSERT, (gone_id, "gone", 100.0, 200.0, "0" * 64))
    store = SqlKeyStore(db, clock=Wall())
    await store.migrate()
    await store.migrate()  # idempotent
    rows = dict(await db.fetchall("SELECT id, changed_at FROM bastion_keys"))
    assert rows == {live_id: 100.0, gone_id: 200.0}  # COALESCE(revoked_at, created_at)
    assert {r.id for r in await store.changed_since(150.0)} == {gone_id}

    auth = Authenticator(store, ttl_seconds=2.0)
    assert (await auth.authenticate(None, live_plain)).name == "live"
    assert await store.revoke(live_id)  # and the migrated row is tracked from now on
    assert [r.id for r in await store.changed_since(Wall().t)] == [live_id]


async def test_replicas_migrating_an_old_table_at_once_both_succeed(db: Database, replica_db: Database) -> None:
    await db.execute(OLD_DDL)
    await db.execute(OLD_INSERT, ("abcdefghijkl", "k", 100.0, None, "0" * 64))
    await asyncio.gather(SqlKeyStore(db).migrate(), SqlKeyStore(replica_db).migrate())
    assert [r.id for r in await SqlKeyStore(db).changed_since(100.0)] == ["abcdefghijkl"]


async def test_a_migrate_that_loses_the_race_to_add_the_column_succeeds(db: Database, replica_db: Database) -> None:
    await db.execute(OLD_DDL)
    store = SqlKeyStore(db)
    real_check = store._has_changed_at
    checks: list[bool] = []

    async def stale_check() -> bool:  # saw the old table, then another replica added the column
        if not checks:
            await SqlKeyStore(replica_db).migrate()
            checks.append(False)
            return False
        checks.append(await real_check())
        return checks[-1]

    store._has_changed_at = stale_check  # type: ignore[method-assign]
    await store.migrate()
    assert await real_check()
    # SQLite refuses the second ADD COLUMN (then the column is checked again); PostgreSQL skips it
    assert checks == ([False, True] if db.dialect == "sqlite" else [False])
