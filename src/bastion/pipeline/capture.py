"""Content capture for the audit log, per the policy's capture mode (none|hash|redacted|full)."""

from __future__ import annotations

from bastion.audit.record import CapturedContent
from bastion.audit.stage import AuditStage
from bastion.core.context import RequestContext
from bastion.core.types import ChatRequest
from bastion.policy.selection import PolicyState


class ContentCapture:
    """Attaches what the request sent upstream and what the client received to the context.

    The prompt is taken after input redaction (what the provider saw). In `redacted` mode the
    response has restored values (the client's own PII, given back by `restore: true`) put back
    under their placeholders, so the store never holds them; `full` keeps them.
    """

    def __init__(self, audit: AuditStage) -> None:
        self._audit = audit

    def wants(self, ctx: RequestContext) -> bool:
        return self._audit.capture_mode(ctx) != "none"

    def attach(self, ctx: RequestContext, request: ChatRequest, response_text: str | None) -> None:
        mode = self._audit.capture_mode(ctx)
        if mode == "none":
            return
        if mode != "full" and response_text:
            state = ctx.state.get("policy")
            if isinstance(state, PolicyState):
                for placeholder, original in state.redactor.restore.items():
                    response_text = response_text.replace(original, placeholder)
        AuditStage.attach_content(ctx, CapturedContent.from_chat(request, response_text))
