"""Fixtures of the audit tests: both real store backends, a private table per test, contexts."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from bastion.audit.chain import Chain, StoredRecord
from bastion.audit.record import build_record
from bastion.audit.sink import SqlAuditSink
from bastion.core.context import Attempt, Finding, Principal, RequestContext
from bastion.core.secret import Secret
from bastion.core.types import Usage
from bastion.store.db import Database, PostgresDatabase, SqliteDatabase

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


async def _postgres() -> Database:
    db = PostgresDatabase(PG_URL, min_size=1, max_size=4)
    if not await db.ping():
        await db.close()
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL unreachable at {PG_URL} (CI=true: required)")
        pytest.skip(f"PostgreSQL unreachable at {PG_URL}")
    return db


@pytest.fixture(params=["sqlite", "postgres"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    database = SqliteDatabase(str(tmp_path / "audit.db")) if request.param == "sqlite" else await _postgres()
    yield database
    await database.close()


@pytest.fixture
async def sink(db: Database) -> AsyncIterator[SqlAuditSink]:
    s = SqlAuditSink(db, "bastion_audit_t" + uuid.uuid4().hex[:12])
    await s.migrate()
    yield s
    for table in (s.table, s.cp_table):
        await db.execute(f"DROP TABLE IF EXISTS {table}")


@pytest.fixture
async def sqlite_sink(tmp_path: Path) -> AsyncIterator[SqlAuditSink]:
    database = SqliteDatabase(str(tmp_path / "audit.db"))
    s = SqlAuditSink(database)
    await s.migrate()
    yield s
    await database.close()


def build_ctx(n: int = 0, **kw: Any) -> RequestContext:
    ctx = RequestContext(request_id=f"req-{n:06d}", ingress="openai", client_addr="10.1.2.3", model="gpt-4o",
                         wall_time=1_767_225_600.0 + n)
    ctx.principal = Principal(key_id="k1abc", name="svc", team="billing")
    ctx.attempts.append(Attempt("openai", "gpt-4o-2024", "ok", 200, 12.5))
    ctx.findings.append(Finding("pii", "email", 3, 20, score=0.9, action="redact"))
    ctx.usage = Usage(input_tokens=10, output_tokens=5)
    ctx.cost_micros = 42
    ctx.status = 200
    ctx.finish_reason = "stop"
    ctx.policy_name = "default"
    for k, v in kw.items():
        setattr(ctx, k, v)
    return ctx


@pytest.fixture
def make_ctx() -> Callable[..., RequestContext]:
    return build_ctx


TAMPER_KEY = Secret("checkpoint-key-" + "v" * 32)
MAIN_WRITER = "w-main"


class Tamper:
    """Writes a known chain into a sink and edits the store behind the writer's back (raw SQL)."""

    def __init__(self, sink: SqlAuditSink) -> None:
        self.sink = sink

    async def fill(self, n: int = 10, writer: str = MAIN_WRITER, key: Secret | None = TAMPER_KEY,
                   checkpoint_at: tuple[int, ...] = (5, 10)) -> list[StoredRecord]:
        """n records; checkpoints at the given seqs, written at time 1000 + seq (µs)."""
        chain = Chain(writer)
        recs = [chain.append(build_record(build_ctx(i))) for i in range(n)]
        await self.sink.append(recs)
        await self.sink.add_checkpoints([Chain(writer, seq=s, head=recs[s - 1].hash).checkpoint(key, 1_000 + s)
                                         for s in checkpoint_at])
        return recs

    async def sql(self, statement: str, *params: object) -> None:
        await self.sink.db.execute(statement.format(t=self.sink.table, c=self.sink.cp_table), params)

    async def renumber(self, from_seq: int, delta: int, writer: str = MAIN_WRITER) -> None:
        """Shift seq >= from_seq by delta in two steps (primary keys stay unique throughout)."""
        await self.sql("UPDATE {t} SET seq = seq + 1000000 WHERE writer_id = ? AND seq >= ?", writer, from_seq)
        await self.sql("UPDATE {t} SET seq = seq - 1000000 + ? WHERE writer_id = ? AND seq >= 1000000",
                       delta, writer)


@pytest.fixture
def tamper(sink: SqlAuditSink) -> Tamper:
    return Tamper(sink)
