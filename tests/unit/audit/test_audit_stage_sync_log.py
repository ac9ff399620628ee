"""Sync mode during an outage: each request that cannot get a durable record is counted, but the log
gets one line per period (with how many it stood for), not one per request."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from bastion.audit.sink import SqlAuditSink
from bastion.audit.stage import DURABLE, AuditStage
from bastion.audit.writer import AuditWriter
from bastion.config.loader import parse_config
from bastion.core.context import RequestContext

Ctx = Callable[..., RequestContext]


@pytest.fixture
async def full_writer(sqlite_sink: SqlAuditSink) -> AsyncIterator[AuditWriter]:
    w = AuditWriter(sqlite_sink, flush_interval=3600, buffer_size=1)
    await w.start()
    w.check()  # the only slot is taken: no record without a reservation fits
    yield w
    w.release()
    await w.stop()


async def test_an_outage_logs_one_line_not_one_per_request(full_writer: AuditWriter, make_ctx: Ctx,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    stage = AuditStage.from_config(parse_config({"audit": {"mode": "sync"}}), full_writer)
    ctxs = [make_ctx(i) for i in range(50)]
    with caplog.at_level("ERROR", logger="bastion.audit"):
        for ctx in ctxs:
            await stage.finish(ctx)  # admitted elsewhere (no reservation here): the record cannot be queued
    assert all(ctx.state[DURABLE] is False for ctx in ctxs)
    assert stage.failures == 50
    lines = [r for r in caplog.records if r.name == "bastion.audit" and "cannot be stored" in r.getMessage()]
    assert len(lines) == 1, [r.getMessage() for r in caplog.records]
