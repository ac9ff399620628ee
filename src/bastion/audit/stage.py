"""The audit stage: admission against the writer's buffer, and one record per finished request."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping

from bastion.audit import record as _record
from bastion.audit.chain import content_key
from bastion.audit.record import AuditRecord, CapturedContent, CaptureMode, build_record
from bastion.audit.writer import AuditWriter
from bastion.config.schema import BastionConfig
from bastion.core.context import RequestContext
from bastion.core.errors import ServiceUnavailable
from bastion.core.types import ChatRequest, EmbeddingsRequest
from bastion.observability.scrub import CLEAN_TEXTS, scrub_secrets

log = logging.getLogger("bastion.audit")
_SYNC_LOG_EVERY_S = 10.0
_RESERVED = "audit"  # ctx.state key of this stage: a buffer slot was reserved
_CONTENT = "audit.content"  # ctx.state key: CapturedContent attached by the pipeline
DURABLE = "audit.durable"  # ctx.state key set in sync mode: whether the record became durable


class AuditStage:
    """The audit finaliser, usable as a pipeline Observer (admit/finish: runs for every request,
    before auth) or as a RequestStage (check/finish; then put it first). Admission reserves room
    for the request's record; finish builds and submits it, exactly once per request."""

    name = "audit"

    def __init__(self, writer: AuditWriter, *, capture_modes: Mapping[str, CaptureMode] | None = None,
                 content_key: bytes | None = None, sync: bool = False, max_content_chars: int = 65536,
                 enabled: bool = True) -> None:
        self.writer = writer
        self.capture_modes = dict(capture_modes or {})
        self.content_key = content_key
        self.sync = sync
        self.max_content_chars = max_content_chars
        self.enabled = enabled
        self.failures = 0  # records that could not be built or submitted (also logged)
        self._last_sync_log = -_SYNC_LOG_EVERY_S
        self._sync_unlogged = 0

    @property
    def holds_response(self) -> bool:
        """In sync mode the pipeline runs `finish` before the response's last byte (Observer protocol)."""
        return self.sync and self.enabled

    @classmethod
    def from_config(cls, config: BastionConfig, writer: AuditWriter) -> AuditStage:
        a = config.audit
        modes: dict[str, CaptureMode] = {name: p.capture for name, p in config.policies.items()}
        return cls(writer, capture_modes=modes, content_key=content_key(a.checkpoint_key), sync=a.mode == "sync",
                   max_content_chars=a.max_content_chars, enabled=a.enabled)

    @staticmethod
    def attach_content(ctx: RequestContext, content: CapturedContent) -> None:
        """Hand the prompt/response text to the audit stage; kept only as the policy's capture allows."""
        ctx.state[_CONTENT] = content

    def capture_mode(self, ctx: RequestContext) -> CaptureMode:
        if ctx.policy_name is None:
            return "none"
        return self.capture_modes.get(ctx.policy_name, "none")

    def admit(self, ctx: RequestContext) -> None:
        """Admission (pipeline Observer protocol, before auth): reserve a buffer slot for this
        request's record, or raise ServiceUnavailable (503) when the audit log cannot take it."""
        if self.enabled and _RESERVED not in ctx.state and self.writer.check():
            ctx.state[_RESERVED] = True

    async def check(self, ctx: RequestContext, request: ChatRequest | EmbeddingsRequest | None = None) -> None:
        """The same admission as a RequestStage (for pipelines that run it as the first stage)."""
        self.admit(ctx)

    def finisher(self) -> Callable[[RequestContext], None] | None:
        """`finish` as a plain call when it never waits: not in sync mode (pipeline/runner.py `FinishesNow`)."""
        return None if self.sync and self.enabled else self.finish_now

    def finish_now(self, ctx: RequestContext) -> None:
        """`finish` not in sync mode: build and submit the record."""
        made = self._build(ctx)
        if made is not None and not self.writer.submit(made[0], reserved=made[1]):
            self.failures += 1

    def _build(self, ctx: RequestContext) -> tuple[AuditRecord, bool] | None:
        """The record, and whether a buffer slot was reserved for it; None when disabled or failed (logged)."""
        reserved = ctx.state.pop(_RESERVED, None) is True
        if not self.enabled:
            return None
        try:
            content = ctx.state.get(_CONTENT)
            if content is None:  # the record keeps no content whatever the policy's capture mode
                # build_record's C path called from here (once per request: its Python frame is ~0.5k
                # instructions); its Python path when the C code hands the context back
                native = _record._native_record
                made = None if native is None else native(AuditRecord, ctx, time.perf_counter(),
                                                          scrub_secrets, CLEAN_TEXTS)
                record = made if made is not None else build_record(ctx)
            else:
                record = build_record(ctx, capture=self.capture_mode(ctx),
                                      content=content if isinstance(content, CapturedContent) else None,
                                      content_key=self.content_key, max_content_chars=self.max_content_chars)
        except Exception:
            self.failures += 1
            if reserved:
                self.writer.release()
            log.exception("audit: cannot build record", extra={"request_id": ctx.request_id})
            return None
        return record, reserved

    async def finish(self, ctx: RequestContext) -> None:
        """Build and submit the record. Never raises; in sync mode waits until it is durable."""
        if not self.sync:
            self.finish_now(ctx)
            return
        made = self._build(ctx)
        if made is None:
            return
        record, reserved = made
        try:
            await self.writer.write_sync(record, reserved=reserved)
            ctx.state[DURABLE] = True
        except ServiceUnavailable as e:
            self.failures += 1
            ctx.state[DURABLE] = False
            now = time.monotonic()
            if now - self._last_sync_log < _SYNC_LOG_EVERY_S:  # an outage must not flood the log: one line a period
                self._sync_unlogged += 1
                return
            more = f" ({self._sync_unlogged} more since the last such line)" if self._sync_unlogged else ""
            self._last_sync_log, self._sync_unlogged = now, 0
            log.error("audit: %s%s", e.message, more, extra={"request_id": ctx.request_id})
