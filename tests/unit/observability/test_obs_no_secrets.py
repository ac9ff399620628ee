"""Planted secrets and PII never reach the audit store, the metrics or the logs (unit level)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from bastion.audit.record import CapturedContent
from bastion.audit.sink import SqlAuditSink
from bastion.audit.stage import AuditStage
from bastion.audit.writer import AuditWriter
from bastion.config.audit import ObservabilityConfig
from bastion.core.context import Attempt, Finding, RequestContext
from bastion.core.types import ChatRequest, Message, TextPart, Usage
from bastion.observability.logging import access_log, setup_logging
from bastion.observability.metrics import Metrics
from bastion.store.db import SqliteDatabase

PROVIDER_KEY = "sk-ant-api03-PlantedProviderKey0123456789abcdef"
VIRTUAL_KEY = "bst_kPLANT_PlantedVirtualSecret0123456789"
EMAIL = "planted.person@example.com"
NEEDLES = (PROVIDER_KEY, "PlantedVirtualSecret0123456789", EMAIL)


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    setup_logging(ObservabilityConfig(), stream=stream)
    yield stream
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def contexts() -> list[RequestContext]:
    prompt = f"email {EMAIL}; key {PROVIDER_KEY}"
    served = RequestContext(request_id="r-ok", ingress="openai", model="gpt-4o", status=200, policy_name="p")
    served.attempts.append(Attempt("anthropic", "claude", "ok", 200))
    served.findings.append(Finding("pii", "email", 6, 6 + len(EMAIL), action="redact"))
    served.usage = Usage(5, 5)
    served.state["audit.content"] = CapturedContent.from_chat(
        ChatRequest(model="gpt-4o", messages=[Message("user", [TextPart(prompt)])]), f"reply to {EMAIL}")
    bad_auth = RequestContext(request_id=f"r-{VIRTUAL_KEY}", ingress="anthropic", model=PROVIDER_KEY, status=401,
                              presented_key_id=VIRTUAL_KEY, error_code="invalid_api_key", client_addr="10.0.0.9")
    return [served, bad_auth]


@pytest.mark.parametrize("capture", ["none", "hash"])
async def test_no_planted_secret_anywhere(tmp_path: Path, logs: io.StringIO, capture: str) -> None:
    db = SqliteDatabase(str(tmp_path / "a.db"))
    writer = AuditWriter(SqlAuditSink(db), flush_interval=0.01)
    await writer.start()
    stage = AuditStage(writer, capture_modes={"p": capture})  # type: ignore[dict-item]
    metrics = Metrics(models=["gpt-4o"])
    for ctx in contexts():
        await stage.check(ctx, ChatRequest(model="x", messages=[]))
        logging.getLogger("bastion.test").warning("request failed for key %s", ctx.presented_key_id)
        await stage.finish(ctx)
        metrics.observe_request(ctx)
        access_log(ctx)
    await writer.stop()
    await db.close()
    stored = (tmp_path / "a.db").read_bytes().decode("utf-8", "replace")
    for sink_text in (stored, metrics.render().decode(), logs.getvalue()):
        for needle in NEEDLES:
            assert needle not in sink_text
