"""The composition root: builds every component from a validated config and owns the lifecycle.

No other module builds components or holds process-wide state. Startup creates tables and
starts background writers; shutdown drains, flushes and closes, in that order.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from bastion import __version__
from bastion.audit.admin import AdminAudit
from bastion.audit.sink import SqlAuditSink
from bastion.audit.stage import AuditStage
from bastion.audit.writer import AuditWriter
from bastion.auth.admin_key import AdminAuth
from bastion.auth.authenticator import Authenticator
from bastion.auth.store import SqlKeyStore
from bastion.auth.throttle import FailureThrottle
from bastion.config.loader import ConfigError, load_exported_config
from bastion.config.schema import BastionConfig
from bastion.core.context import RequestStage
from bastion.core.errors import AuthenticationError, NotFound
from bastion.http.admin import AdminRoutes
from bastion.http.api import ApiHandlers
from bastion.http.asgi import BastionASGI
from bastion.http.gate import Gated, Route, Routes
from bastion.http.limits import HttpLimits
from bastion.http.openapi import OpenApiRoute
from bastion.http.types import HttpRequest, HttpResponse
from bastion.limits.runtime import LimitsRuntime, config_errors
from bastion.observability.logging import flush_access_log
from bastion.observability.metrics import CONTENT_TYPE
from bastion.observability.observer import TelemetryObserver
from bastion.pipeline.capture import ContentCapture
from bastion.pipeline.runner import Observer, Pipeline
from bastion.policy.stage import PolicyStage
from bastion.providers.router import Router, build_routes
from bastion.providers.transport import Transport
from bastion.store.db import Database, open_database

log = logging.getLogger("bastion")


def validate_semantics(config: BastionConfig) -> list[str]:
    """Checks beyond the schema that need the capabilities' knowledge (prices, policies)."""
    problems: list[str] = []
    problems += config_errors(config)
    url = config.store.url
    if url.startswith("sqlite:///") and url not in ("sqlite:///", "sqlite:///:memory:"):
        parent = Path(url[len("sqlite:///"):]).parent
        if not parent.is_dir():  # else start-up fails with a bare "store error: OperationalError"
            problems.append(f"store.url: the directory {parent} of the SQLite store does not exist (the file is "
                            "created in it; a path after sqlite:/// without a leading / is relative to the "
                            "working directory)")
    if config.server.workers > 1 and config.audit.writer_id:
        problems.append("audit.writer_id: set with server.workers > 1 would make the workers write one hash chain "
                        "over each other; leave it unset (each worker then gets its own chain)")
    try:
        PolicyStage.from_config(config)
    except ConfigError as e:
        problems += e.errors
    return problems


class Gateway:
    """Every component of one gateway process."""

    def __init__(self, config: BastionConfig) -> None:
        self.config = config
        self.db: Database = open_database(config.store.url)
        self.keys = SqlKeyStore(self.db)
        self.auth = Authenticator(self.keys, config.server.key_cache_ttl_seconds, throttle=FailureThrottle())
        self.transport = Transport()
        self.router = Router(build_routes(config), self.transport)
        self.limits = LimitsRuntime(config, self.db)
        self.policy = PolicyStage.from_config(config)
        stages: list[RequestStage] = [self.limits.ratelimit, self.limits.cost, self.policy]
        self.audit_writer = AuditWriter.from_config(config.audit, SqlAuditSink(self.db))
        self.audit = AuditStage.from_config(config, self.audit_writer)
        self.telemetry = TelemetryObserver.from_config(config)
        if self.telemetry.metrics is not None:
            self.telemetry.metrics.bind_audit(self.audit_writer)
        # audit first: its admit refuses (503) before anything else runs when records cannot be kept
        observers: list[Observer] = [self.audit, self.telemetry] if config.audit.enabled else [self.telemetry]
        capture = ContentCapture(self.audit) if config.audit.enabled else None
        self.router.tracer = self.telemetry.tracer
        self.pipeline = Pipeline(self.auth, stages, self.router, self.policy.guard, observers, capture,
                                 tracer=self.telemetry.tracer)
        self.api = ApiHandlers(self.pipeline, config.server.max_messages)
        self.admin_auth = AdminAuth(config.server.admin_key, FailureThrottle())
        self.admin = AdminRoutes(self.keys, self.admin_auth,
                                 known_policies=set(self.policy.policies.engines),
                                 known_models={m.name for m in config.models},
                                 known_teams=set(config.teams),
                                 on_change=self.auth.invalidate,
                                 extra_routes=[("GET", "/admin/usage", self.limits.usage_handler)],
                                 audit=AdminAudit(self.audit))
        self._startup_hooks: list[Callable[[], Awaitable[None]]] = []
        self._shutdown_hooks: list[Callable[[], Awaitable[None]]] = []

    async def startup(self) -> None:
        await self.keys.migrate()
        await self.auth.start()  # polls the key store for changed keys every TTL/2
        self._shutdown_hooks.append(self.auth.stop)
        if self.config.audit.enabled:
            await self.audit_writer.start()
            self._shutdown_hooks.append(lambda: self.audit_writer.stop(self.config.server.shutdown_grace_seconds))
        await self.limits.start()
        self._shutdown_hooks.append(self.limits.close)
        # Everything built so far (config, compiled rules, models, price tables) lives as long as
        # the process: freeze it out of the collector's sight and collect young objects less
        # often (measured: -14 % CPU per request).
        gc.collect()
        gc.freeze()
        gc.set_threshold(50_000, 50, 100)
        for hook in self._startup_hooks:
            await hook()

    async def shutdown(self) -> None:
        for hook in self._shutdown_hooks:
            try:
                await hook()
            except Exception:
                log.exception("shutdown step failed")
        await self.transport.close()
        await self.db.close()
        flush_access_log()  # the lines of the last requests (flushed at intervals: observability/logging.py)

    # ---- unauthenticated allow-list -------------------------------------------------------
    async def healthz(self, req: HttpRequest) -> HttpResponse:
        return HttpResponse.json({"status": "ok"})

    async def readyz(self, req: HttpRequest) -> HttpResponse:
        if self.config.audit.enabled and not self.audit_writer.accepting:
            # API requests are refused (503 audit_unavailable): a load balancer should send them elsewhere
            return HttpResponse.json({"status": "audit log unavailable"}, status=503)
        ok = await self.db.ping()
        return HttpResponse.json({"status": "ready" if ok else "store unreachable"}, status=200 if ok else 503)

    async def metrics(self, req: HttpRequest) -> HttpResponse:
        """Prometheus exposition: behind observability.metrics_token when set, else the admin key."""
        m = self.telemetry.metrics
        if m is None:
            raise NotFound("metrics are disabled (observability.metrics: false)", code="not_found")
        auth = req.headers.get("authorization")
        if self.config.observability.metrics_token is not None:
            if not m.authorized(auth):
                raise AuthenticationError("a valid metrics token is required (Authorization: Bearer ...)")
        else:
            self.admin_auth.check(auth, req.client)
        return HttpResponse(200, m.render(), content_type=CONTENT_TYPE)

    def routes(self) -> Routes:
        # Public routes never have their body read; every other one checks its credential from the
        # head before the body is read (Gated), so a caller without one cannot make us buffer it.
        public: dict[tuple[str, str], Route] = {("GET", "/healthz"): self.healthz, ("GET", "/readyz"): self.readyz,
                  ("GET", "/metrics"): self.metrics}
        api: dict[tuple[str, str], Route] = {
            ("POST", "/v1/chat/completions"): self.api.openai_chat,
            ("POST", "/v1/messages"): self.api.anthropic_messages,
            ("POST", "/v1/embeddings"): self.api.embeddings,
            ("GET", "/v1/models"): self.api.models,
            ("GET", "/openapi.json"): OpenApiRoute(self.pipeline, __version__).route,
        }
        for method, path in api:
            self.api.allowed_methods.setdefault(path, []).append(method)
        return Routes(public=public, api=api, prefixed=[("/admin", Gated(self.admin.gate)),
                                                        ("/v1/models", self.api.model)],
                      fallback=self.api.not_found)


def create_app(config: BastionConfig) -> BastionASGI:
    gw = Gateway(config)
    app = BastionASGI(gw.routes(), config.server.max_body_bytes, on_startup=gw.startup, on_shutdown=gw.shutdown,
                      limits=HttpLimits.from_server(config.server))
    app.gateway = gw  # type: ignore[attr-defined]
    m = gw.telemetry.metrics
    if m is not None:
        m.bind_gateway(in_flight=lambda: app.in_flight, shed=lambda: app.shed_total,
                       backend_failures=lambda: gw.limits.backend.failures.count,
                       circuit_states=lambda: [state for _, _, state in gw.router.circuits()])
    return app


def app_from_environment() -> BastionASGI:
    """uvicorn factory for `--workers N`: every worker loads the exported config path."""
    from bastion.observability.logging import setup_logging

    config = load_exported_config()
    setup_logging(config.observability)
    return create_app(config)
