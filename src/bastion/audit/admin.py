"""Audit records of key changes made through the admin API (create, update, revoke).

A key change is as much a security event as a request: who was given access to which models and
budgets, and when it was taken away. Each change made through `/admin/keys` is a record in the same
hash chain as the requests (`ingress: "admin"`, `operation: "admin.keys.<action>"`, `key_id` the
key changed, `admin: {"action", "fields"}` the names of the fields set, never their values),
admitted *before* the change is made: when the audit log cannot take the record the change is
refused with 503 (fail closed, as requests are), and in sync mode the response waits until the
record is durable. Key changes made offline with `bastion keys` are records of the same shape
(audit/offline.py).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Mapping, Sequence
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


def key_change_record(action: str, *, ingress: str, wall: float, request_id: str, key_id: str | None,
                      team: str | None, client: str | None, fields: Sequence[str], latency_ms: float = 0.0,
                      status: int | None = None, error_code: str | None = None,
                      extra: Mapping[str, object] | None = None) -> AuditRecord:
    """The record of one key change (`operation: admin.keys.<action>`), made through the admin API or
    offline (audit/offline.py): the names of the fields set, never their values."""
    return AuditRecord(
        time=wall, request_id=_client_text(request_id) or "", key_id=key_id, team=team, authenticated=True,
        client_addr=_client_text(client), ingress=ingress, operation=f"admin.keys.{action}", model=None,
        attempts=(), status=status if status is not None else 201 if action == "create" else 200,
        error_code=error_code, latency_ms=latency_ms, ttft_ms=None, upstream_ms=0.0, usage=None, cost_micros=0,
        stream=False, finish_reason=None, client_disconnected=False, policy=None, findings=(),
        admin={"action": action, "fields": sorted(fields), **(extra or {})})


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
        record = key_change_record(
            action, ingress="admin", wall=wall, request_id=request_id, key_id=change.key_id, team=change.team,
            client=client, fields=change.fields, latency_ms=(time.monotonic() - started) * 1000.0)
        if stage.sync:
            await stage.writer.write_sync(record, reserved=reserved)
        elif not stage.writer.submit(record, reserved=reserved):
            stage.failures += 1
