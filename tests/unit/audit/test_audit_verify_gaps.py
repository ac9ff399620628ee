"""`verify` says where a copied record sits, and warns about each chain nothing signed covers."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from bastion.audit.chain import Chain
from bastion.audit.sink import SqlAuditSink
from bastion.audit.verify import verify_store
from bastion.core.context import RequestContext
from bastion.core.secret import Secret

if TYPE_CHECKING:
    from conftest import Tamper

KEY = Secret("checkpoint-key-" + "v" * 32)  # the key Tamper.fill signs with
W = "w-main"
Ctx = Callable[..., RequestContext]


async def test_a_copy_of_an_earlier_record_appended_at_the_end(sink: SqlAuditSink, make_ctx: Ctx,
                                                                tamper: Tamper) -> None:
    await tamper.fill()
    await tamper.sql("INSERT INTO {t} (writer_id, seq, ts_us, request_id, prev_hash, hash, body) "
                     "SELECT writer_id, 11, ts_us, request_id, prev_hash, hash, body FROM {t} "
                     "WHERE writer_id = ? AND seq = 3", W)
    report = await verify_store(sink, KEY)
    assert [(p.kind, p.seq) for p in report.problems] == [("inserted", 11)]
    assert "position 11 holds a copy of record 3" in report.problems[0].reason


async def test_a_copy_in_a_long_chain_is_not_called_a_reorder(sink: SqlAuditSink, make_ctx: Ctx,
                                                               tamper: Tamper) -> None:
    await tamper.fill(n=100, checkpoint_at=(100,))
    await tamper.sql("INSERT INTO {t} (writer_id, seq, ts_us, request_id, prev_hash, hash, body) "
                     "SELECT writer_id, 101, ts_us, request_id, prev_hash, hash, body FROM {t} "
                     "WHERE writer_id = ? AND seq = 2", W)
    report = await verify_store(sink, KEY)
    assert [(p.kind, p.seq) for p in report.problems] == [("inserted", 101)]


async def test_a_chain_without_checkpoints_is_named_even_when_others_have_some(sink: SqlAuditSink, make_ctx: Ctx,
                                                                              tamper: Tamper) -> None:
    await tamper.fill()
    await tamper.fill(writer="w-bare")
    await tamper.sql("DELETE FROM {c} WHERE writer_id = ?", "w-bare")  # checkpoints deleted, chain rewritable
    report = await verify_store(sink, KEY)
    assert report.intact  # nothing signed is left to contradict it
    assert any(w.startswith("chain w-bare: 10 record(s) and no checkpoint") for w in report.warnings), report.warnings
    assert not any("w-main" in w for w in report.warnings)


async def test_unsigned_checkpoints_under_a_key_are_not_blamed_on_a_missing_key(sink: SqlAuditSink, make_ctx: Ctx,
                                                                                tamper: Tamper) -> None:
    recs = await tamper.fill(checkpoint_at=())
    await sink.add_checkpoints([Chain(W, seq=10, head=recs[9].hash).checkpoint(None, 2_000)])
    report = await verify_store(sink, KEY)
    assert report.intact
    assert any("unsigned (written without a checkpoint_key, or forged" in w for w in report.warnings), report.warnings

