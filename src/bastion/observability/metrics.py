"""Every Bastion metric, declared in this one module, and `observe_request` that records them.

A small own implementation (exposition.py) instead of prometheus_client: recording one
request's observations costs a few µs here against ~12 µs there (measured; docs/audit.md),
because the gateway updates metrics from one event-loop thread and needs no locks.
Label values never come straight from clients: model aliases outside the configured set
become "other", so a client cannot create series or smuggle text (a key) into /metrics.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable, Iterable
from typing import Protocol

from bastion.config.schema import BastionConfig
from bastion.core.context import RequestContext
from bastion.core.secret import Secret
from bastion.observability.exposition import (
    CONTENT_TYPE,
    OTHER,
    OVERHEAD_BUCKETS,
    CallbackCounter,
    Counter,
    Gauge,
    Histogram,
    _Family,
)

__all__ = ["CONTENT_TYPE", "AuditStats", "Metrics"]

_native_observe: Callable[[dict[tuple[str, str, str | None, str, int], _Shape], tuple[object, ...], RequestContext,
                           float], bool | None] | None
try:
    from bastion._native import observe_request as _native_observe
except ImportError:  # not built: the Python code below
    _native_observe = None

_ROUTES = {("openai", "chat"): "/v1/chat/completions", ("anthropic", "chat"): "/v1/messages",
           ("openai", "embeddings"): "/v1/embeddings", ("anthropic", "embeddings"): "/v1/embeddings",
           ("openai", "models"): "/v1/models", ("anthropic", "models"): "/v1/models"}
# error codes (core/errors.py) that mean Bastion refused the request, and their reason label
_REFUSALS = {"invalid_api_key": "auth", "model_not_allowed": "permission", "rate_limit_exceeded": "rate_limit",
             "budget_exceeded": "budget", "policy_violation": "policy", "invalid_request": "invalid_request",
             "request_too_large": "invalid_request", "model_not_found": "not_found",
             "service_unavailable": "unavailable", "audit_unavailable": "audit"}
_STATUS = {s: str(s) for s in range(100, 600)}


_SHAPES_MAX = 4096


class _Shape:
    """The label values of one kind of finished request (ingress, operation, model alias, provider,
    status), and the histogram series it updates, worked out once instead of per request."""

    __slots__ = ("duration", "input", "model", "output", "overhead", "pair", "requests", "route", "upstream")

    def __init__(self, route: str, model: str, provider: str, status: str) -> None:
        self.route, self.model = route, model
        self.requests = (route, model, provider, status)
        self.pair = (model, provider)
        self.input = (model, provider, "input")
        self.output = (model, provider, "output")
        self.duration: list[float] | None = None
        self.upstream: list[float] | None = None
        self.overhead: list[float] | None = None


class AuditStats(Protocol):
    """What metrics read from the audit writer (bastion.audit.writer.AuditWriter satisfies it)."""

    @property
    def depth(self) -> int: ...

    @property
    def write_failures(self) -> int: ...

    @property
    def records_written(self) -> int: ...

    @property
    def records_dropped(self) -> int: ...


class Metrics:
    """All metrics of one gateway process. `models`: the configured model aliases."""

    def __init__(self, *, models: Iterable[str] = (), token: Secret | None = None) -> None:
        self.models = frozenset(models)
        self.token = token
        self._shapes: dict[tuple[str, str, str | None, str, int], _Shape] = {}
        self.requests = Counter("bastion_requests_total", "Requests finished, by route, model alias, provider "
                                "and HTTP status.", ("route", "model", "provider", "status"))
        self.request_duration = Histogram("bastion_request_duration_seconds", "Total request time, to the last "
                                          "byte sent.", ("route", "model"))
        self.upstream_duration = Histogram("bastion_upstream_duration_seconds", "Time spent waiting on providers "
                                           "(all attempts).", ("provider",))
        self.overhead = Histogram("bastion_gateway_overhead_seconds", "Time spent in Bastion itself (total minus "
                                  "upstream).", ("route",), OVERHEAD_BUCKETS)
        self.ttft = Histogram("bastion_time_to_first_token_seconds", "Time from request start to the first token "
                              "sent to the client.", ("model", "provider"))
        self.tokens = Counter("bastion_tokens_total", "Tokens by model alias, provider and type (input|output).",
                              ("model", "provider", "type"))
        self.cost = Counter("bastion_cost_usd_total", "Cost of served requests in US dollars.", ("model", "provider"))
        self.findings = Counter("bastion_policy_findings_total", "Policy findings by scanner, action and direction.",
                                ("scanner", "action", "direction"))
        self.refusals = Counter("bastion_refusals_total", "Requests Bastion refused, by reason (auth, permission, "
                                "rate_limit, budget, policy, invalid_request, not_found, unavailable, audit).",
                                ("reason",))
        self.attempts = Counter("bastion_upstream_attempts_total", "Upstream attempts by provider and outcome.",
                                ("provider", "outcome"))
        self.retries = Counter("bastion_upstream_retries_total", "Retries of the same target.", ("provider",))
        self.fallbacks = Counter("bastion_upstream_fallbacks_total", "Moves to a model's next target.", ("model",))
        self.client_disconnects = Counter("bastion_client_disconnects_total", "Requests the client abandoned.",
                                          ("route",))
        self.audit_depth = Gauge("bastion_audit_buffer_depth", "Audit records waiting to be written.")
        self.audit_write_failures = CallbackCounter("bastion_audit_write_failures_total",
                                                    "Failed audit store writes (each is retried).")
        self.audit_records_written = CallbackCounter("bastion_audit_records_written_total",
                                                     "Audit records made durable.")
        self.audit_records_dropped = CallbackCounter("bastion_audit_records_dropped_total",
                                                     "Audit records that could not be kept (logged).")
        self.in_flight = Gauge("bastion_requests_in_flight", "Requests being served (streams until they end).")
        self.shed = CallbackCounter("bastion_requests_shed_total",
                                    "Requests refused with 503 by the max_in_flight admission limit.")
        self.limits_backend_failures = CallbackCounter(
            "bastion_limits_backend_failures_total", "Rate-limit/budget backend (Redis) operations that failed.")
        self.circuits_open = Gauge("bastion_circuits_open", "Upstream targets whose circuit breaker is open.")
        self.circuits_half_open = Gauge("bastion_circuits_half_open",
                                        "Upstream targets whose circuit breaker is probing (half-open).")
        self.families: list[_Family] = [
            self.requests, self.request_duration, self.upstream_duration, self.overhead, self.ttft, self.tokens,
            self.cost, self.findings, self.refusals, self.attempts, self.retries, self.fallbacks,
            self.client_disconnects, self.audit_depth, self.audit_write_failures, self.audit_records_written,
            self.audit_records_dropped, self.in_flight, self.shed, self.limits_backend_failures,
            self.circuits_open, self.circuits_half_open]
        # what the C path of observe_request updates (the families' dicts and buckets; none is ever replaced)
        self._fast = (self.requests.values, self.request_duration.buckets, self.upstream_duration.buckets,
                      self.overhead.buckets, self.attempts.values, self.tokens.values, self.cost.values,
                      self.ttft.values, self.ttft.buckets)

    @classmethod
    def from_config(cls, config: BastionConfig) -> Metrics:
        return cls(models=[m.name for m in config.models], token=config.observability.metrics_token)

    def bind_audit(self, stats: AuditStats) -> None:
        self.audit_depth.read = lambda: stats.depth
        self.audit_write_failures.read = lambda: stats.write_failures
        self.audit_records_written.read = lambda: stats.records_written
        self.audit_records_dropped.read = lambda: stats.records_dropped

    def bind_gateway(self, *, in_flight: Callable[[], float], shed: Callable[[], float],
                     backend_failures: Callable[[], float], circuit_states: Callable[[], Iterable[str]]) -> None:
        """Read the gateway's live counters at scrape time (nothing on the hot path)."""
        self.in_flight.read = in_flight
        self.shed.read = shed
        self.limits_backend_failures.read = backend_failures
        self.circuits_open.read = lambda: sum(1 for s in circuit_states() if s == "open")
        self.circuits_half_open.read = lambda: sum(1 for s in circuit_states() if s == "half_open")

    def model_label(self, model: str | None) -> str:
        if model is None:
            return "none"
        return model if model in self.models else OTHER

    def _shape(self, key: tuple[str, str, str | None, str, int]) -> _Shape:
        if len(self._shapes) >= _SHAPES_MAX:  # model aliases come from clients: bounded, emptied when full
            self._shapes.clear()
        ingress, operation, alias, provider, status = key
        route = _ROUTES.get((ingress, operation), OTHER)
        model = "none" if alias is None else alias if alias in self.models else OTHER
        shape = self._shapes[key] = _Shape(route, model, provider, _STATUS.get(status, OTHER))
        return shape

    def observe_request(self, ctx: RequestContext) -> None:
        """Record one finished request. Call exactly once per request, after it ended."""
        # The usual request (a known kind, its series made, one attempt, no finding, error or disconnect) in
        # one C call (_native_audit.c: the same float operations in the same order; ~19k instructions per
        # request here, ~7.8k there (callgrind)); anything else, or nothing applied, the code below.
        if _native_observe is not None and _native_observe(self._shapes, self._fast, ctx,
                                                           time.perf_counter()) is not None:
            return
        attempts = ctx.attempts
        provider = attempts[-1].provider if attempts else "none"
        shape = self._shapes.get((ctx.ingress, ctx.operation, ctx.model, provider, ctx.status))
        if shape is None:
            shape = self._shape((ctx.ingress, ctx.operation, ctx.model, provider, ctx.status))
        route, model = shape.route, shape.model
        # Counter.inc, inlined for the series known already (a new one takes the call: its cap)
        values = self.requests.values
        value = values.get(shape.requests)
        if value is not None:
            values[shape.requests] = value + 1.0
        else:
            self.requests.inc(shape.requests)
        total = ctx.elapsed_ms / 1000.0
        # Histogram.observe, inlined on the series the shape keeps (resolved on first use only: an
        # observation nobody made must not create a series)
        series = shape.duration
        if series is None:
            series = shape.duration = self.request_duration.series((route, model))
        series[bisect_left(self.request_duration.buckets, total)] += 1
        series[-1] += total
        overhead = total
        if attempts:
            upstream = ctx.upstream_ms / 1000.0
            series = shape.upstream
            if series is None:
                series = shape.upstream = self.upstream_duration.series((provider,))
            series[bisect_left(self.upstream_duration.buckets, upstream)] += 1
            series[-1] += upstream
            overhead = total - upstream if total > upstream else 0.0
            prev: tuple[str, str] | None = None
            values = self.attempts.values
            for a in attempts:
                key = (a.provider, a.outcome)
                value = values.get(key)
                if value is not None:
                    values[key] = value + 1.0
                else:
                    self.attempts.inc(key)
                target = (a.provider, a.model)
                if prev is not None:
                    if target == prev:
                        self.retries.inc((a.provider,))
                    else:
                        self.fallbacks.inc((model,))
                prev = target
        series = shape.overhead
        if series is None:
            series = shape.overhead = self.overhead.series((route,))
        series[bisect_left(self.overhead.buckets, overhead)] += 1
        series[-1] += overhead
        if ctx.first_token_at is not None and ctx.stream:  # a non-streamed answer has no first token apart
            self.ttft.observe(shape.pair, ctx.first_token_at - ctx.started)
        usage = ctx.usage
        if usage is not None:
            values = self.tokens.values
            value = values.get(shape.input)
            if value is not None:
                values[shape.input] = value + usage.input_tokens
            else:
                self.tokens.inc(shape.input, usage.input_tokens)
            value = values.get(shape.output)
            if value is not None:
                values[shape.output] = value + usage.output_tokens
            else:
                self.tokens.inc(shape.output, usage.output_tokens)
        if ctx.cost_micros:
            values = self.cost.values
            value = values.get(shape.pair)
            if value is not None:
                values[shape.pair] = value + ctx.cost_micros / 1_000_000
            else:
                self.cost.inc(shape.pair, ctx.cost_micros / 1_000_000)
        for f in ctx.findings:
            self.findings.inc((f.scanner, f.action, f.direction))
        if ctx.error_code is not None:
            reason = _REFUSALS.get(ctx.error_code)
            if reason is not None:
                self.refusals.inc((reason,))
        if ctx.client_disconnected:
            self.client_disconnects.inc((route,))

    def authorized(self, authorization: str | None) -> bool:
        """Whether a scrape may read /metrics (`Authorization: Bearer <metrics_token>`, if configured)."""
        if self.token is None:
            return True
        if authorization is None or not authorization.startswith(("Bearer ", "bearer ")):
            return False
        return self.token.equals(authorization[7:].strip())

    def render(self) -> bytes:
        """The Prometheus text exposition (content type CONTENT_TYPE)."""
        lines: list[str] = []
        for family in self.families:
            lines.extend(family.render())
        return ("\n".join(lines) + "\n").encode()
