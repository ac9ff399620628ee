"""`check_logged`: checkpoints copied out of the store (the `audit checkpoint` log lines) against it."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING

from bastion.audit.prune import prune_before
from bastion.audit.sink import SqlAuditSink
from bastion.audit.verify import check_logged, logged_checkpoints, verify_store
from bastion.core.context import RequestContext
from bastion.core.secret import Secret

if TYPE_CHECKING:
    from conftest import Tamper

KEY = Secret("checkpoint-key-" + "v" * 32)  # the key Tamper.fill signs with
W = "w-main"
T0 = 1_767_225_600_000_000  # time of record seq 1; seq s is T0 + (s - 1) seconds
Ctx = Callable[..., RequestContext]


def _line(writer: str, seq: int, digest: str, as_json: bool = False) -> str:
    message = f"audit checkpoint writer_id={writer} seq={seq} hash={digest} signed=True"
    return json.dumps({"level": "info", "logger": "bastion.audit", "message": message}) if as_json else message


def test_lines_are_found_in_plain_and_json_logs() -> None:
    h = "ab" * 32
    lines = ["unrelated", _line("w-1", 5, h), _line("cli:keys:0a1b2c3d", 2, h, as_json=True),
             "audit checkpoint writer_id=w-1 seq=x hash=zz", _line("w-1", 6, h[:40])]
    assert logged_checkpoints(lines) == [("w-1", 5, h), ("cli:keys:0a1b2c3d", 2, h)]


async def test_an_untouched_store_matches_its_logged_heads(sink: SqlAuditSink, make_ctx: Ctx, tamper: Tamper) -> None:
    recs = await tamper.fill()
    report = await verify_store(sink, KEY)
    assert await check_logged(sink, report, [(W, 5, recs[4].hash), (W, 10, recs[9].hash)]) == 2
    assert report.intact


async def test_newest_records_deleted_with_their_checkpoint_are_caught(sink: SqlAuditSink, make_ctx: Ctx,
                                                                       tamper: Tamper) -> None:
    recs = await tamper.fill()  # checkpoints at 5 and 10
    await tamper.sql("DELETE FROM {t} WHERE writer_id = ? AND seq > 7", W)
    await tamper.sql("DELETE FROM {c} WHERE writer_id = ? AND seq = 10", W)
    report = await verify_store(sink, KEY)
    assert report.intact  # a shorter chain, consistent with the checkpoint left: the store alone cannot tell
    await check_logged(sink, report, [(W, 5, recs[4].hash), (W, 10, recs[9].hash)])
    assert [(p.kind, p.seq) for p in report.problems] == [("deleted", 10)]
    assert "its checkpoint was logged" in report.problems[0].reason


async def test_a_rewritten_record_under_a_logged_head_is_caught(sink: SqlAuditSink, make_ctx: Ctx,
                                                                tamper: Tamper) -> None:
    recs = await tamper.fill()
    report = await verify_store(sink, KEY)
    await check_logged(sink, report, [(W, 10, "0" * 64)])  # a head that differs from what the store holds
    assert [(p.kind, p.seq) for p in report.problems] == [("edited", 10)]
    assert recs[9].hash != "0" * 64


async def test_a_chain_gone_entirely_is_reported(sink: SqlAuditSink, make_ctx: Ctx, tamper: Tamper) -> None:
    recs = await tamper.fill()
    await tamper.fill(writer="w-other")
    await tamper.sql("DELETE FROM {t} WHERE writer_id = ?", W)
    await tamper.sql("DELETE FROM {c} WHERE writer_id = ?", W)
    report = await verify_store(sink, KEY)
    assert report.intact
    await check_logged(sink, report, [(W, 10, recs[9].hash)])
    assert [(p.writer_id, p.kind, p.seq) for p in report.problems] == [(W, "deleted", 10)]


async def test_logged_heads_of_pruned_records_are_skipped(sink: SqlAuditSink, make_ctx: Ctx, tamper: Tamper) -> None:
    recs = await tamper.fill()
    await prune_before(sink, T0 + 5_500_000)  # through seq 5, the checkpoint before the cut
    report = await verify_store(sink, KEY)
    assert await check_logged(sink, report, [(W, 5, recs[4].hash), (W, 10, recs[9].hash)]) == 1
    assert report.intact
