"""The telemetry observer: metrics, the access log line and the request span for every request."""

from __future__ import annotations

import logging
from collections.abc import Callable

from bastion.config.schema import BastionConfig
from bastion.core.context import RequestContext
from bastion.observability.logging import access_log
from bastion.observability.metrics import Metrics
from bastion.observability.tracing import RequestTracer

log = logging.getLogger("bastion.observability")


class TelemetryObserver:
    """Pipeline Observer: `admit` opens the request span; `finish` records metrics, writes the
    access log line and ends the span. Never raises from finish."""

    name = "telemetry"

    def __init__(self, metrics: Metrics | None, tracer: RequestTracer | None = None) -> None:
        self.metrics = metrics
        self.tracer = tracer if tracer is not None else RequestTracer(enabled=False)
        self._traced = self.tracer.enabled  # (off, `start` keeps no span for `finish` to end)

    @classmethod
    def from_config(cls, config: BastionConfig) -> TelemetryObserver:
        obs = config.observability
        return cls(Metrics.from_config(config) if obs.metrics else None, RequestTracer(enabled=obs.tracing))

    def admit(self, ctx: RequestContext) -> None:
        self.tracer.start(ctx)

    def finisher(self) -> Callable[[RequestContext], None]:
        """`finish` as a plain call (pipeline/runner.py `FinishesNow`): it never awaits."""
        return self.finish_now

    def finish_now(self, ctx: RequestContext) -> None:
        try:
            if self.metrics is not None:
                self.metrics.observe_request(ctx)
            access_log(ctx)
        except Exception:
            log.exception("telemetry failed", extra={"request_id": ctx.request_id})
        finally:
            if self._traced:
                try:
                    self.tracer.finish(ctx)
                except Exception:
                    log.exception("tracing failed", extra={"request_id": ctx.request_id})

    async def finish(self, ctx: RequestContext) -> None:
        self.finish_now(ctx)
