"""One contract suite for the audit sink, run against SQLite and PostgreSQL (real servers)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from bastion.audit.chain import Chain, Checkpoint, StoredRecord
from bastion.audit.record import build_record
from bastion.audit.sink import SqlAuditSink
from bastion.core.context import RequestContext
from bastion.core.errors import ServiceUnavailable


def chained(make_ctx: Callable[..., RequestContext], writer: str, n: int, start: int = 0) -> tuple[Chain, list[StoredRecord]]:
    chain = Chain(writer)
    return chain, [chain.append(build_record(make_ctx(start + i))) for i in range(n)]


async def test_append_and_read_back(sink: SqlAuditSink, make_ctx: Callable[..., RequestContext]) -> None:
    _, recs = chained(make_ctx, "w-a", 5)
    await sink.append(recs)
    assert await sink.records("w-a", 0, 100) == recs
    assert await sink.records("w-a", 3, 100) == recs[3:]
    assert await sink.records("w-a", 0, 2) == recs[:2]
    assert await sink.record_at("w-a", 4) == recs[3]
    assert await sink.record_at("w-a", 9) is None
    assert await sink.head("w-a") == (5, recs[-1].hash)
    assert await sink.head("w-unknown") is None
    assert await sink.count() == 5
    assert await sink.count("w-a", 2) == 2


async def test_append_is_atomic(sink: SqlAuditSink, make_ctx: Callable[..., RequestContext]) -> None:
    _, recs = chained(make_ctx, "w-a", 3)
    await sink.append(recs[:1])
    with pytest.raises(ServiceUnavailable):
        await sink.append(recs)  # seq 1 exists: the whole batch is refused
    assert await sink.count() == 1


@pytest.mark.parametrize("n", [2, 63, 64, 65, 130, 500])
async def test_a_batch_of_any_size_is_stored_in_order(sink: SqlAuditSink, make_ctx: Callable[..., RequestContext],
                                                       n: int) -> None:
    """SQLite takes a batch as INSERTs of up to 64 rows: every row, as chained, whatever the size."""
    chain, recs = chained(make_ctx, "w-a", n)
    await sink.append(recs[:1])
    await sink.append(recs[1:])
    assert await sink.records("w-a", 0, 1000) == recs
    more = [chain.append(build_record(make_ctx(n + i))) for i in range(3)]
    await sink.append(more)
    assert await sink.count() == n + 3 and await sink.head("w-a") == (n + 3, more[-1].hash)


async def test_a_conflict_in_a_later_insert_refuses_the_whole_batch(
        sink: SqlAuditSink, make_ctx: Callable[..., RequestContext]) -> None:
    _, recs = chained(make_ctx, "w-a", 200)
    await sink.append(recs[150:151])
    with pytest.raises(ServiceUnavailable):
        await sink.append(recs)  # seq 151 (in the third INSERT of 64 rows) exists: nothing of the batch is kept
    assert await sink.count() == 1 and await sink.records("w-a", 0, 1000) == recs[150:151]


async def test_checkpoints_and_anchor_head(sink: SqlAuditSink, make_ctx: Callable[..., RequestContext]) -> None:
    chain, recs = chained(make_ctx, "w-a", 3)
    await sink.append(recs)
    cp = chain.checkpoint(None, 99)
    await sink.add_checkpoints([cp])
    assert await sink.checkpoints("w-a") == [cp]
    assert await sink.has_checkpoint("w-a", 3) and not await sink.has_checkpoint("w-a", 2)
    deleted = await sink.prune_to(Checkpoint("w-a", 3, cp.hash, 99, None, "anchor"))
    assert deleted == 3 and await sink.count() == 0
    assert await sink.head("w-a") == (3, cp.hash)  # the anchor keeps the chain's head
    kinds = [c.kind for c in await sink.checkpoints("w-a")]
    assert sorted(kinds) == ["anchor", "checkpoint"]


async def test_writers_latest_and_between(sink: SqlAuditSink, make_ctx: Callable[..., RequestContext]) -> None:
    _, a = chained(make_ctx, "w-a", 4, start=0)   # times t0+0..3
    _, b = chained(make_ctx, "w-b", 4, start=2)   # times t0+2..5
    await sink.append(a)
    await sink.append(b)
    assert await sink.writer_ids() == ["w-a", "w-b"]
    latest = await sink.latest(3)
    assert [(r.writer_id, r.seq) for r in latest] == [("w-b", 2), ("w-b", 3), ("w-b", 4)]  # ties: by writer
    t0 = a[0].ts_us
    window = await sink.between(t0 + 2_000_000, t0 + 4_000_000, None, 100)
    assert [(r.writer_id, r.seq) for r in window] == [("w-a", 3), ("w-b", 1), ("w-a", 4), ("w-b", 2)]
    page1 = await sink.between(t0, None, None, 3)
    last = page1[-1]
    page2 = await sink.between(t0, None, (last.ts_us, last.writer_id, last.seq), 100)
    assert len(page1) + len(page2) == 8
    assert {(r.writer_id, r.seq) for r in page1 + page2} == {(r.writer_id, r.seq) for r in a + b}


async def test_concurrent_writers_share_one_store(sink: SqlAuditSink, make_ctx: Callable[..., RequestContext]) -> None:
    chains = [chained(make_ctx, f"w-{i}", 60)[1] for i in range(4)]

    async def write(recs: list[StoredRecord]) -> None:
        for i in range(0, len(recs), 10):
            await sink.append(recs[i:i + 10])

    await asyncio.gather(*(write(r) for r in chains))
    assert await sink.count() == 240
    for i, recs in enumerate(chains):
        assert await sink.records(f"w-{i}", 0, 1000) == recs


async def test_migrate_is_idempotent(sink: SqlAuditSink) -> None:
    await sink.migrate()
    await sink.migrate()
    assert await sink.count() == 0


def test_table_name_is_validated(sink: SqlAuditSink) -> None:
    with pytest.raises(ValueError, match="audit table name"):
        SqlAuditSink(sink.db, "audit; DROP TABLE x")


def test_a_stored_record_is_a_row_in_column_order() -> None:
    """The sinks bind a StoredRecord as the row of an INSERT as it is: its fields must be the columns, in order."""
    from bastion.audit.sink import _REC_COLS

    assert StoredRecord._fields == tuple(c.strip() for c in _REC_COLS.split(","))
    row = StoredRecord("w", 1, 2, "r", "p", "h", "{}")
    assert isinstance(row, tuple) and tuple(row) == ("w", 1, 2, "r", "p", "h", "{}") and row.body == "{}"
