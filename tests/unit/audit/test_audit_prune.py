"""`prune` deletes old records and keeps every chain verifiable from an anchor."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from bastion.audit.chain import Checkpoint
from bastion.audit.prune import prune_before
from bastion.audit.record import build_record
from bastion.audit.sink import SqlAuditSink
from bastion.audit.verify import verify_store
from bastion.audit.writer import AuditWriter
from bastion.core.context import RequestContext
from bastion.core.secret import Secret

if TYPE_CHECKING:
    from conftest import Tamper

KEY = Secret("checkpoint-key-" + "v" * 32)  # the key Tamper.fill signs with
W = "w-main"  # Tamper's default writer
T0 = 1_767_225_600_000_000  # time of record seq 1; seq s is T0 + (s - 1) seconds
Ctx = Callable[..., RequestContext]


async def test_prune_to_the_last_checkpoint_before_the_cut(sink: SqlAuditSink, make_ctx: Ctx, tamper: Tamper) -> None:
    await tamper.fill()  # checkpoints at seq 5 and 10
    results = await prune_before(sink, T0 + 5_500_000)  # seq 1..6 are older
    assert [(r.writer_id, r.through_seq, r.deleted) for r in results] == [(W, 5, 5)]
    assert [r.seq for r in await sink.records(W, 0, 100)] == [6, 7, 8, 9, 10]
    report = await verify_store(sink, KEY)
    assert report.intact and report.record_count == 5
    assert report.chains[0].anchor_seq == 5


async def test_prune_everything_then_the_writer_continues(sink: SqlAuditSink, make_ctx: Ctx, tamper: Tamper) -> None:
    await tamper.fill(writer="replica-1", checkpoint_at=(10,))
    assert (await prune_before(sink, 10**18))[0].deleted == 10
    assert await sink.count() == 0
    w = AuditWriter(sink, writer_id="replica-1", flush_interval=0.01, checkpoint_key=KEY)
    await w.start()
    w.submit(build_record(make_ctx(11)))
    await w.stop()
    assert [r.seq for r in await sink.records("replica-1", 0, 10)] == [11]
    assert (await verify_store(sink, KEY)).intact


async def test_prune_twice_is_harmless(sink: SqlAuditSink, make_ctx: Ctx, tamper: Tamper) -> None:
    await tamper.fill()
    await prune_before(sink, T0 + 5_500_000)
    again = await prune_before(sink, T0 + 5_500_000)
    assert again[0].through_seq is None and again[0].deleted == 0
    assert (await verify_store(sink, KEY)).intact


async def test_nothing_before_the_first_checkpoint_is_pruned(sink: SqlAuditSink, make_ctx: Ctx, tamper: Tamper) -> None:
    await tamper.fill()
    results = await prune_before(sink, T0 + 3_500_000)  # seq 5 is newer than the cut
    assert results[0].through_seq is None and await sink.count() == 10


async def test_dry_run_deletes_nothing(sink: SqlAuditSink, make_ctx: Ctx, tamper: Tamper) -> None:
    await tamper.fill()
    results = await prune_before(sink, T0 + 20_000_000, dry_run=True)
    assert results[0].deleted == 10 and await sink.count() == 10


async def test_tampering_after_prune_is_still_found(sink: SqlAuditSink, make_ctx: Ctx, tamper: Tamper) -> None:
    await tamper.fill()
    await prune_before(sink, T0 + 5_500_000)
    await tamper.sql("DELETE FROM {t} WHERE writer_id = ? AND seq = 6", W)
    report = await verify_store(sink, KEY)
    assert [(p.kind, p.seq) for p in report.problems] == [("deleted", 6)]


async def test_deletion_disguised_with_a_fake_anchor(sink: SqlAuditSink, make_ctx: Ctx, tamper: Tamper) -> None:
    recs = await tamper.fill()
    await tamper.sql("DELETE FROM {t} WHERE writer_id = ? AND seq <= 3", W)
    await sink.add_checkpoints([Checkpoint(W, 3, recs[2].hash, 1_003, None, "anchor")])
    report = await verify_store(sink, KEY)
    assert [(p.kind, p.seq) for p in report.problems] == [("deleted", 3)]
    assert "not backed by a checkpoint" in report.problems[0].reason
