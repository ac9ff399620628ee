"""One record that cannot be serialised costs only itself: the rest of its batch is stored, the
chain has no gap (verify stays intact), and the loss is counted."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace

from bastion.audit.record import build_record
from bastion.audit.sink import SqlAuditSink
from bastion.audit.verify import verify_store
from bastion.audit.writer import AuditWriter
from bastion.core.context import RequestContext

Ctx = Callable[..., RequestContext]


async def test_a_record_that_cannot_be_serialised_costs_only_itself(sqlite_sink: SqlAuditSink,
                                                                     make_ctx: Ctx) -> None:
    w = AuditWriter(sqlite_sink, flush_interval=3600, batch_size=500)
    await w.start()
    for i in range(10):
        record = build_record(make_ctx(i))
        if i == 4:
            record = replace(record, cost_micros=2**64)  # orjson cannot write it
        w.submit(record, reserved=w.check())
    await asyncio.sleep(0)
    await w.stop()
    ids = [r.request_id for r in await sqlite_sink.records(w.writer_id, 0, 100)]
    assert ids == [f"req-{i:06d}" for i in range(10) if i != 4]
    report = await verify_store(sqlite_sink)
    assert report.intact, [str(p) for p in report.problems]
    assert w.records_dropped == 1 and w.records_written == 9
