"""`verify` finds every kind of tampering, on both store backends."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from bastion.audit.chain import Chain, Checkpoint
from bastion.audit.record import build_record
from bastion.audit.sink import SqlAuditSink
from bastion.audit.verify import VerifyReport, verify_store
from bastion.core.context import RequestContext
from bastion.core.secret import Secret

if TYPE_CHECKING:
    from conftest import Tamper

KEY = Secret("checkpoint-key-" + "v" * 32)  # the key Tamper.fill signs with
W = "w-main"  # Tamper's default writer
Ctx = Callable[..., RequestContext]


def only(report: VerifyReport) -> tuple[str, int | None]:
    assert not report.intact, report.summary()
    p = report.problems[0]
    return p.kind, p.seq


async def test_untouched_store_is_intact(sink: SqlAuditSink, make_ctx: Ctx, tamper: Tamper) -> None:
    await tamper.fill()
    report = await verify_store(sink, KEY)
    assert report.intact and report.summary() == "intact: 10 records in 1 chain(s)"
    assert report.warnings == []


async def test_edited_field(sink: SqlAuditSink, make_ctx: Ctx, tamper: Tamper) -> None:
    await tamper.fill()
    await tamper.sql("UPDATE {t} SET body = REPLACE(body, '\"status\":200', '\"status\":403') "
                    "WHERE writer_id = ? AND seq = 4", W)
    assert only(await verify_store(sink, KEY)) == ("edited", 4)


async def test_edited_indexed_column(sink: SqlAuditSink, make_ctx: Ctx, tamper: Tamper) -> None:
    await tamper.fill()
    await tamper.sql("UPDATE {t} SET ts_us = ts_us - 1000 WHERE writer_id = ? AND seq = 6", W)
    kind, seq = only(await verify_store(sink, KEY))
    assert (kind, seq) == ("edited", 6)


async def test_edited_hash_column(sink: SqlAuditSink, make_ctx: Ctx, tamper: Tamper) -> None:
    await tamper.fill()
    await tamper.sql("UPDATE {t} SET hash = ? WHERE writer_id = ? AND seq = 2", "ab" * 32, W)
    assert only(await verify_store(sink, KEY)) == ("edited", 2)


async def test_record_replaced_by_a_consistent_forgery(sink: SqlAuditSink, make_ctx: Ctx, tamper: Tamper) -> None:
    recs = await tamper.fill()
    forged = Chain(W, seq=2, head=recs[1].hash).append(build_record(make_ctx(2, status=403)))
    await tamper.sql("UPDATE {t} SET body = ?, hash = ? WHERE writer_id = ? AND seq = 3", forged.body, forged.hash, W)
    report = await verify_store(sink, KEY)
    assert only(report) == ("edited", 3)
    assert "replaced" in report.problems[0].reason


async def test_deleted_row(sink: SqlAuditSink, make_ctx: Ctx, tamper: Tamper) -> None:
    await tamper.fill()
    await tamper.sql("DELETE FROM {t} WHERE writer_id = ? AND seq = 3", W)
    report = await verify_store(sink, KEY)
    assert only(report) == ("deleted", 3)
    assert str(report.problems[0]) == "deleted: writer w-main seq 3: record(s) 3 missing"


async def test_deleted_row_with_later_rows_renumbered(sink: SqlAuditSink, make_ctx: Ctx, tamper: Tamper) -> None:
    await tamper.fill()
    await tamper.sql("DELETE FROM {t} WHERE writer_id = ? AND seq = 3", W)
    await tamper.renumber(4, -1)
    assert only(await verify_store(sink, KEY)) == ("deleted", 3)


async def test_deleted_first_rows(sink: SqlAuditSink, make_ctx: Ctx, tamper: Tamper) -> None:
    await tamper.fill()
    await tamper.sql("DELETE FROM {t} WHERE writer_id = ? AND seq <= 2", W)
    assert only(await verify_store(sink, KEY)) == ("deleted", 1)


async def test_truncated_tail_is_caught_by_the_checkpoint(sink: SqlAuditSink, make_ctx: Ctx, tamper: Tamper) -> None:
    await tamper.fill()
    await tamper.sql("DELETE FROM {t} WHERE writer_id = ? AND seq >= 9", W)
    report = await verify_store(sink, KEY)
    assert only(report) == ("deleted", 9)
    assert "chain ends at 8" in report.problems[0].reason


async def test_inserted_forged_row(sink: SqlAuditSink, make_ctx: Ctx, tamper: Tamper) -> None:
    recs = await tamper.fill()
    await tamper.renumber(4, +1)
    forged = Chain(W, seq=3, head=recs[2].hash).append(build_record(make_ctx(99)))
    await sink.append([forged])
    assert only(await verify_store(sink, KEY)) == ("inserted", 4)


async def test_inserted_row_from_another_chain(sink: SqlAuditSink, make_ctx: Ctx, tamper: Tamper) -> None:
    await tamper.fill()
    other = Chain("w-other").append(build_record(make_ctx(50)))
    await tamper.sql("INSERT INTO {t} (writer_id, seq, ts_us, request_id, prev_hash, hash, body) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)", W, 11, other.ts_us, other.request_id, other.prev_hash,
              other.hash, other.body)
    assert only(await verify_store(sink, KEY)) == ("inserted", 11)


async def test_swapped_rows(sink: SqlAuditSink, make_ctx: Ctx, tamper: Tamper) -> None:
    await tamper.fill()
    await tamper.sql("UPDATE {t} SET seq = 1000 WHERE writer_id = ? AND seq = 5", W)
    await tamper.sql("UPDATE {t} SET seq = 5 WHERE writer_id = ? AND seq = 6", W)
    await tamper.sql("UPDATE {t} SET seq = 6 WHERE writer_id = ? AND seq = 1000", W)
    report = await verify_store(sink, KEY)
    assert only(report) == ("reordered", 5)
    assert "record 6 is stored at position 5" in report.problems[0].reason


async def test_forged_checkpoint(sink: SqlAuditSink, make_ctx: Ctx, tamper: Tamper) -> None:
    recs = await tamper.fill()
    await sink.add_checkpoints([Checkpoint(W, 7, recs[6].hash, 2_000, "00" * 32)])
    assert only(await verify_store(sink, KEY)) == ("checkpoint", 7)


async def test_checkpoint_moved_to_another_record(sink: SqlAuditSink, make_ctx: Ctx, tamper: Tamper) -> None:
    recs = await tamper.fill()
    await tamper.sql("UPDATE {c} SET seq = 8, hash = ? WHERE writer_id = ? AND seq = 10", recs[7].hash, W)
    assert only(await verify_store(sink, KEY)) == ("checkpoint", 8)


async def test_consistent_rewrite_is_caught_by_signed_checkpoint(sink: SqlAuditSink, make_ctx: Ctx, tamper: Tamper) -> None:
    recs = await tamper.fill()
    chain = Chain(W, seq=6, head=recs[5].hash)
    rewritten = [chain.append(build_record(make_ctx(i, status=500 if i == 6 else 200))) for i in range(6, 10)]
    await tamper.sql("DELETE FROM {t} WHERE writer_id = ? AND seq > 6", W)
    await sink.append(rewritten)
    report = await verify_store(sink, KEY)
    assert only(report) == ("edited", 10)
    assert "records 6..10 were rewritten" in report.problems[0].reason


async def test_unsigned_checkpoints_warn(sink: SqlAuditSink, make_ctx: Ctx, tamper: Tamper) -> None:
    await tamper.fill(key=None)
    report = await verify_store(sink, None)
    assert report.intact
    assert any("unsigned" in w for w in report.warnings)


async def test_signed_checkpoints_without_key_warn(sink: SqlAuditSink, make_ctx: Ctx, tamper: Tamper) -> None:
    await tamper.fill()
    report = await verify_store(sink, None)
    assert report.intact
    assert any("signatures not checked" in w for w in report.warnings)


async def test_wrong_key_fails_every_checkpoint(sink: SqlAuditSink, make_ctx: Ctx, tamper: Tamper) -> None:
    await tamper.fill()
    report = await verify_store(sink, Secret("not-the-key-" + "q" * 32))
    assert [p.kind for p in report.problems] == ["checkpoint", "checkpoint"]


async def test_problems_are_per_writer(sink: SqlAuditSink, make_ctx: Ctx, tamper: Tamper) -> None:
    await tamper.fill()
    await tamper.fill(writer="w-other")
    await tamper.sql("DELETE FROM {t} WHERE writer_id = ? AND seq = 2", W)
    report = await verify_store(sink, KEY)
    assert [(p.writer_id, p.kind, p.seq) for p in report.problems] == [(W, "deleted", 2)]
    assert {c.writer_id: c.records for c in report.chains}["w-other"] == 10


@pytest.mark.parametrize("n", [0, 1])
async def test_small_chains(sink: SqlAuditSink, make_ctx: Ctx, tamper: Tamper, n: int) -> None:
    await tamper.fill(n=n, checkpoint_at=())
    report = await verify_store(sink, KEY)
    assert report.intact and report.record_count == n
