"""Key-store fixtures: one contract suite over SQLite (tmp file) and the real PostgreSQL (own schema)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from bastion.auth.store import SqlKeyStore
from bastion.store.db import Database, PostgresDatabase, SqliteDatabase

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


async def _pg_admin_conn() -> asyncpg.Connection:
    try:
        return await asyncpg.connect(PG_URL, timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError) as e:
        reason = f"PostgreSQL unreachable at {PG_URL}: {type(e).__name__}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture(params=["sqlite", "postgres"])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """One empty key database per test; open it more than once to play several replicas."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'keys.db'}"
        return
    admin = await _pg_admin_conn()
    schema = f"bastion_auth_test_{uuid.uuid4().hex[:12]}"  # private tables: parallel runs cannot collide
    await admin.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{PG_URL}?search_path={schema}"
    finally:
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        await admin.close()


def _open(url: str) -> Database:
    return SqliteDatabase(url[len("sqlite:///"):]) if url.startswith("sqlite:///") else PostgresDatabase(url, max_size=4)


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = _open(db_url)
    yield database
    await database.close()


@pytest.fixture
async def replica_db(db_url: str) -> AsyncIterator[Database]:
    """A second connection to `db`'s database: what another replica or the CLI writes through."""
    database = _open(db_url)
    yield database
    await database.close()


@pytest.fixture
async def store(db: Database) -> SqlKeyStore:
    s = SqlKeyStore(db)
    await s.migrate()
    return s


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[SqlKeyStore]:
    database = SqliteDatabase(str(tmp_path / "auth.db"))
    s = SqlKeyStore(database)
    await s.migrate()
    yield s
    await database.close()
