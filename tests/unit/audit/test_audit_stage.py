"""The audit stage: admission (503), one record per finished request, capture per policy, sync mode."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import pytest

from bastion.audit import record as record_module
from bastion.audit import stage as stage_module
from bastion.audit.record import CapturedContent
from bastion.audit.sink import SqlAuditSink
from bastion.audit.stage import DURABLE, AuditStage
from bastion.audit.writer import AuditWriter
from bastion.config.loader import parse_config
from bastion.core.context import RequestContext
from bastion.core.errors import ServiceUnavailable
from bastion.core.types import ChatRequest, Message, TextPart

Ctx = Callable[..., RequestContext]
REQ = ChatRequest(model="gpt-4o", messages=[Message("user", [TextPart("hello")])])


@pytest.fixture
async def writer(sqlite_sink: SqlAuditSink) -> AsyncIterator[AuditWriter]:
    w = AuditWriter(sqlite_sink, flush_interval=0.01, buffer_size=3)
    await w.start()
    yield w
    await w.stop()


async def bodies(w: AuditWriter) -> list[dict[str, Any]]:
    await w.stop()
    return [orjson.loads(r.body) for r in await w.sink.records(w.writer_id, 0, 100)]


def config(**audit: Any) -> Any:
    return parse_config({"policies": {"default": {"capture": "full"}, "hashed": {"capture": "hash"}},
                         "audit": audit})


async def test_check_reserves_and_finish_submits(writer: AuditWriter, make_ctx: Ctx) -> None:
    stage = AuditStage(writer)
    assert stage.name == "audit"
    ctx = make_ctx(1)
    await stage.check(ctx, REQ)
    assert ctx.state["audit"] is True
    await stage.finish(ctx)
    assert "audit" not in ctx.state
    [body] = await bodies(writer)
    assert body["request_id"] == "req-000001" and body["status"] == 200


async def test_refused_request_still_gets_a_record(writer: AuditWriter, make_ctx: Ctx) -> None:
    stage = AuditStage(writer)
    ctx = make_ctx(2, principal=None, presented_key_id="kBAD", status=401, error_code="invalid_api_key")
    await stage.finish(ctx)  # auth failed before (or without) the audit check
    [body] = await bodies(writer)
    assert body["key_id"] == "kBAD" and body["authenticated"] is False and body["status"] == 401


async def test_check_refuses_with_503_when_full(writer: AuditWriter, make_ctx: Ctx) -> None:
    stage = AuditStage(writer)
    ctxs = [make_ctx(i) for i in range(3)]
    for c in ctxs:
        await stage.check(c, REQ)
    with pytest.raises(ServiceUnavailable) as e:
        await stage.check(make_ctx(9), REQ)
    assert e.value.status == 503
    for c in ctxs:
        await stage.finish(c)
    assert len(await bodies(writer)) == 3


@pytest.mark.parametrize("where", ["python", "native"])
async def test_finish_never_raises_and_releases_the_slot(writer: AuditWriter, make_ctx: Ctx,
                                                         monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    """Building the record fails: in build_record, or in its C path (which finish calls itself)."""
    def broken(*a: Any, **k: Any) -> Any:
        raise RuntimeError("bug")

    stage = AuditStage(writer)
    ctx = make_ctx(1)
    await stage.check(ctx, REQ)
    monkeypatch.setattr(stage_module, "build_record", broken)
    if where == "python":
        monkeypatch.setattr(record_module, "_native_record", None)
    else:
        monkeypatch.setattr(record_module, "_native_record", broken)
    await stage.finish(ctx)
    assert stage.failures == 1
    assert writer.accepting and writer._reserved == 0


async def test_capture_follows_the_request_policy(writer: AuditWriter, make_ctx: Ctx) -> None:
    stage = AuditStage.from_config(config(), writer)
    full, hashed, unknown = make_ctx(1), make_ctx(2, policy_name="hashed"), make_ctx(3, policy_name=None)
    for c in (full, hashed, unknown):
        AuditStage.attach_content(c, CapturedContent.from_chat(REQ, "hi there"))
        await stage.check(c, REQ)
        await stage.finish(c)
    b_full, b_hashed, b_unknown = await bodies(writer)
    assert b_full["capture"] == "full" and "hello" in b_full["content"]["prompt"]
    assert b_full["content"]["response"] == "hi there"
    assert b_hashed["capture"] == "hash" and "hello" not in orjson.dumps(b_hashed).decode()
    assert b_unknown["capture"] == "none" and b_unknown["content"] is None


async def test_disabled_audit_writes_nothing(writer: AuditWriter, make_ctx: Ctx) -> None:
    stage = AuditStage.from_config(config(enabled=False), writer)
    ctx = make_ctx(1)
    await stage.check(ctx, REQ)
    await stage.finish(ctx)
    assert await bodies(writer) == []


async def test_sync_mode_waits_until_durable(writer: AuditWriter, make_ctx: Ctx) -> None:
    writer.flush_interval = 3600
    stage = AuditStage.from_config(config(mode="sync"), writer)
    ctx = make_ctx(1)
    await stage.check(ctx, REQ)
    await stage.finish(ctx)
    assert ctx.state[DURABLE] is True
    assert await writer.sink.count() == 1


def test_from_config_derives_a_content_key(writer: AuditWriter) -> None:
    stage = AuditStage.from_config(config(checkpoint_key="k" * 40), writer)
    assert stage.content_key is not None and b"k" * 40 not in stage.content_key
    assert AuditStage.from_config(config(), writer).content_key is None


async def test_observer_admission_reserves_once(writer: AuditWriter, make_ctx: Ctx) -> None:
    stage = AuditStage(writer)
    ctx = make_ctx(1)
    stage.admit(ctx)
    await stage.check(ctx, REQ)  # also run as a stage: still one reservation
    assert writer._reserved == 1
    await stage.finish(ctx)
    assert writer._reserved == 0 and len(await bodies(writer)) == 1
