"""Audit records of key changes made through the admin API (create, update, revoke).

A key change is as much a security event as a request: who was given access to which models and
budgets, and when it was taken away. Each change made through `/admin/keys` is a record in the same
hash chain as the requests (`ingress: "admin"`, `operation: "admin.keys.<action>"`, `key_id` the
key changed, `admin: {"action", "fields"}` the names of the fields set, never their values),
admitted *before* the change is made: when the audit log cannot take the record the change is
refused with 503 (fail closed, as requests are), and in sync mode the response waits until the
record is durable. Key changes made offline with `bastion keys` are in the store's key records
(created_at, revoked_at) but not in the chain.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from bastion.audit.record import AuditRecord, _client_text
from bastion.audit.stage import AuditStage


@dataclass(slots=True)
class AdminChange:
    """What a handler fills in while it makes one change."""

    key_id: str | None = None
    team: str | None = None
    fields: Sequence[str] = field(default_factory=tuple)
    done: bool = False  # set once the change is made: only then is a record written


class AdminAudit:
    def __init__(self, stage: AuditStage) -> None:
        self._stage = stage

    @contextlib.asynccontextmanager
    async def change(self, action: str, request_id: str, client: str | None) -> AsyncIterator[AdminChange]:
        """Admit a record (raises ServiceUnavailable when the log cannot take it), let the handler
        make the change, then write the record (sync mode: durable before the response)."""
        stage = self._stage
        if not stage.enabled:
            yield AdminChange()
            return
        reserved = stage.writer.check()
        started = time.monotonic()
        wall = time.time()
        change = AdminChange()
        try:
            yield change
        except BaseException:
            if reserved:
                stage.writer.release()
            raise
        if not change.done:
            if reserved:
                stage.writer.release()
            return
        record = AuditRecord(
            time=wall, request_id=_client_text(request_id) or "", key_id=change.key_id, team=change.team,
            authenticated=True, client_addr=_client_text(client), ingress="admin",
            operation=f"admin.keys.{action}", model=None, attempts=(), status=201 if action == "create" else 200,
            error_code=None, latency_ms=(time.monotonic() - started) * 1000.0, ttft_ms=None, upstream_ms=0.0,
            usage=None, cost_micros=0, stream=False, finish_reason=None, client_disconnected=False, policy=None,
            findings=(), admin={"action": action, "fields": sorted(change.fields)})
        if stage.sync:
            await stage.writer.write_sync(record, reserved=reserved)
        elif not stage.writer.submit(record, reserved=reserved):
            stage.failures += 1
