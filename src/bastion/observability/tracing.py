"""OpenTelemetry spans with the GenAI semantic conventions; a no-op when tracing is off or absent.

One SERVER span per request, CLIENT child spans per upstream attempt (their W3C `traceparent`
goes upstream) and INTERNAL child spans per stage. Spans carry ids, models, token counts and
outcomes, never prompt or response text. Exporting needs an OpenTelemetry SDK configured by the
operator (`opentelemetry-instrument`, or the SDK's environment variables); with the API alone
spans are non-recording and cost almost nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from bastion.core.context import RequestContext
from bastion.observability.scrub import scrub

_SPAN = "trace"  # ctx.state key of the request span
AttributeValue = str | int | float | bool | list[str]


def request_attributes(ctx: RequestContext) -> dict[str, AttributeValue]:
    """GenAI request attributes known when a request starts."""
    attrs: dict[str, AttributeValue] = {"gen_ai.operation.name": ctx.operation, "bastion.request_id": ctx.request_id,
                                        "bastion.ingress": ctx.ingress}
    if ctx.model is not None:
        attrs["gen_ai.request.model"] = scrub(ctx.model[:128])
    return attrs


def response_attributes(ctx: RequestContext) -> dict[str, AttributeValue]:
    """Attributes known when the request ended (usage, outcome, who)."""
    attrs: dict[str, AttributeValue] = {"http.response.status_code": ctx.status, "bastion.stream": ctx.stream,
                                        "bastion.cost_micros": ctx.cost_micros,
                                        "gen_ai.operation.name": ctx.operation}
    if ctx.model is not None:  # known only after the body was parsed, i.e. after start()
        attrs["gen_ai.request.model"] = scrub(ctx.model[:128])
    if ctx.principal is not None:
        attrs["bastion.key_id"] = ctx.principal.key_id
        if ctx.principal.team is not None:
            attrs["bastion.team"] = ctx.principal.team
    if ctx.attempts:
        attrs["gen_ai.provider.name"] = ctx.attempts[-1].provider
        attrs["gen_ai.response.model"] = ctx.attempts[-1].model
    if ctx.usage is not None:
        attrs["gen_ai.usage.input_tokens"] = ctx.usage.input_tokens
        attrs["gen_ai.usage.output_tokens"] = ctx.usage.output_tokens
    if ctx.finish_reason is not None:
        attrs["gen_ai.response.finish_reasons"] = [ctx.finish_reason]
    if ctx.error_code is not None:
        attrs["error.type"] = ctx.error_code
    if ctx.policy_name is not None:
        attrs["bastion.policy"] = ctx.policy_name
        attrs["bastion.policy.findings"] = len(ctx.findings)
    return attrs


class RequestTracer:
    """Call start(ctx) at admission, stage()/attempt() around work, finish(ctx) once at the end."""

    def __init__(self, enabled: bool) -> None:
        self._trace: Any = None
        self._propagate: Any = None
        if enabled:
            try:
                from opentelemetry import propagate, trace
            except ImportError:  # the otel extra is not installed: tracing stays off
                return
            self._trace, self._propagate = trace, propagate
            self._tracer = trace.get_tracer("bastion")

    @property
    def enabled(self) -> bool:
        return self._trace is not None

    def start(self, ctx: RequestContext) -> None:
        if self._trace is None:
            return
        span = self._tracer.start_span(f"{ctx.operation} {ctx.model or ''}".strip(), kind=self._trace.SpanKind.SERVER,
                                       attributes=request_attributes(ctx))
        ctx.state[_SPAN] = span

    @contextlib.contextmanager
    def stage(self, ctx: RequestContext, name: str) -> Iterator[None]:
        """An INTERNAL child span around one stage."""
        parent = ctx.state.get(_SPAN)
        if self._trace is None or parent is None:
            yield
            return
        context = self._trace.set_span_in_context(parent)
        with self._tracer.start_as_current_span(f"bastion.{name}", context=context,
                                                kind=self._trace.SpanKind.INTERNAL):
            yield

    @contextlib.contextmanager
    def attempt(self, ctx: RequestContext, provider: str, model: str) -> Iterator[dict[str, str]]:
        """A CLIENT child span around one upstream attempt; yields the headers (W3C traceparent)
        to send upstream, empty when tracing is off."""
        headers: dict[str, str] = {}
        parent = ctx.state.get(_SPAN)
        if self._trace is None or parent is None:
            yield headers
            return
        context = self._trace.set_span_in_context(parent)
        attrs = {"gen_ai.operation.name": ctx.operation, "gen_ai.provider.name": provider,
                 "gen_ai.request.model": model}
        with self._tracer.start_as_current_span(f"{ctx.operation} {model}", context=context,
                                                kind=self._trace.SpanKind.CLIENT, attributes=attrs) as span:
            self._propagate.inject(headers, context=self._trace.set_span_in_context(span))
            yield headers

    def finish(self, ctx: RequestContext) -> None:
        span: Any = ctx.state.pop(_SPAN, None)
        if self._trace is None or span is None:
            return
        span.set_attributes(response_attributes(ctx))
        if ctx.model is not None:
            span.update_name(f"{ctx.operation} {scrub(ctx.model[:128])}")
        if ctx.status >= 500 or ctx.error_code is not None:
            span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, ctx.error_code or str(ctx.status)))
        span.end()
