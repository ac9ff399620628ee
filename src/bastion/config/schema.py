"""The configuration schema: one typed, frozen tree; unknown keys are errors naming their path.

Sections owned by other capabilities live in sibling modules (policy.py, limits.py, audit.py)
and are assembled here. Every field has a description: `bastion config check` and the README
reference are generated from them.
"""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bastion.config.audit import AuditConfig, ObservabilityConfig
from bastion.config.limits import LimitsConfig, PriceOverride, TeamConfig
from bastion.config.policy import PolicyConfig
from bastion.core.secret import Secret


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class ServerConfig(Strict):
    host: str = Field("127.0.0.1", description="Address to listen on.")
    port: int = Field(8080, ge=0, le=65535, description="TCP port to listen on (0 = any free port).")
    admin_key: Secret | None = Field(
        None, description="Credential for /admin/* (as `Authorization: Bearer`). Admin API is off when unset.")
    max_body_bytes: int = Field(10 * 1024 * 1024, gt=0, description="Largest accepted request body; larger is 413.")
    max_json_depth: int = Field(64, gt=0, description="Deepest accepted JSON nesting in a request body.")
    max_messages: int = Field(2048, gt=0, description="Most messages accepted in one chat request.")
    key_cache_ttl_seconds: float = Field(
        2.0, gt=0, le=5.0,
        description="How long a key read from the store is trusted without confirmation; each process polls "
                    "for changed keys every half of it, so keys created, revoked or updated by any process are "
                    "honoured within it (<= 5 s).")
    workers: int = Field(1, ge=1, description="Worker processes (limits then need the redis backend; on Linux "
                                              "each has its own SO_REUSEPORT socket).")
    worker_timeout_seconds: float = Field(
        30.0, ge=0, allow_inf_nan=False,
        description="With workers > 1 on Linux: a worker whose event loop has been silent this long (hung, "
                    "deadlocked, stopped) is killed and restarted; 0 = off, else at least 2. `serve "
                    "--worker-timeout` overrides it.")
    shutdown_grace_seconds: float = Field(30.0, ge=0, description="How long SIGTERM waits for in-flight requests.")
    max_in_flight: int = Field(
        512, gt=0,
        description="Most requests served at once (streams count until they end); beyond it requests are "
                    "refused at once with 503 and Retry-After instead of queueing. /healthz and /readyz are exempt.")
    overload_retry_after_seconds: float = Field(
        1.0, gt=0, description="Retry-After sent with the 503 of a request refused by max_in_flight.")
    max_header_bytes: int = Field(
        32 * 1024, ge=1024, description="Largest request line plus headers; larger is 431 and the connection closes.")
    max_headers: int = Field(100, gt=0, description="Most header fields in one request; more is 431.")
    header_timeout_seconds: float = Field(
        10.0, gt=0, description="Longest a client may take to send the request line and headers (slowloris "
                                "defence); also how long a new connection may stay silent.")
    body_timeout_seconds: float = Field(
        30.0, gt=0, description="Longest a client may take to send the whole request body; slower is 408.")
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="CIDR ranges (or single addresses) of your reverse proxies and load balancers, e.g. "
                    "[10.0.0.0/8, 127.0.0.1]. Only for a request whose TCP peer is in one of them is "
                    "X-Forwarded-For read: the client is its rightmost entry not in these ranges (the leftmost "
                    "entries are whatever the client sent); an entry that is not an IP address stops the walk "
                    "at the last trusted hop. Such a request's X-Request-Id, when 1-128 of A-Za-z0-9._:-, "
                    "becomes its request id (have the proxy set it: nginx `proxy_set_header X-Request-Id "
                    "$request_id`). Empty (the default): both headers are ignored and the client is the TCP "
                    "peer. The Forwarded (RFC 7239) header is never read.")

    @field_validator("trusted_proxies")
    @classmethod
    def _cidrs(cls, v: list[str]) -> list[str]:
        for i, cidr in enumerate(v):
            try:
                ipaddress.ip_network(cidr.strip(), strict=True)
            except ValueError as e:
                raise ValueError(f"server.trusted_proxies[{i}]: {cidr!r} is not an IP address or CIDR range "
                                 f"({e})") from None
        return v

    @field_validator("worker_timeout_seconds")
    @classmethod
    def _beatable(cls, v: float) -> float:
        if 0 < v < 2:
            raise ValueError("must be 0 (off) or at least 2 seconds: workers stamp their heartbeat once a second")
        return v

    @field_validator("admin_key", mode="before")
    @classmethod
    def _wrap_admin_key(cls, v: object) -> object:
        if isinstance(v, str):
            if len(v) < 16:
                raise ValueError("admin_key must be at least 16 characters")
            return Secret(v)
        return v


class StoreConfig(Strict):
    url: str = Field("sqlite:///bastion.db",
                     description="Key/usage/audit store: sqlite:///path or postgresql://user@host/db.")

    @field_validator("url")
    @classmethod
    def _scheme(cls, v: str) -> str:
        if not (v.startswith("sqlite:///") or v.startswith(("postgresql://", "postgres://"))):
            raise ValueError("must start with sqlite:/// or postgresql://")
        return v


class TimeoutsConfig(Strict):
    """All per attempt (each retry and fallback target starts afresh); one that fires is a 504 naming it."""

    connect: float = Field(5.0, gt=0, description=(
        "Seconds to open a new connection to the provider: TCP connect and TLS handshake. "
        "A kept-alive connection from the pool skips it."))
    first_byte: float = Field(600.0, gt=0, description=(
        "Seconds from the request being sent until the response head (status line and headers) "
        "arrives, as nginx's proxy_read_timeout for the first read; connecting and waiting for a "
        "pooled connection do not count. A non-streamed answer's head usually comes only once it is "
        "fully generated, so the default is as long as `total` (and the OpenAI SDK's own timeout): "
        "long or reasoning generations are not cut; lower it for faster fallback from a provider "
        "that accepts requests and never answers."))
    idle: float = Field(60.0, gt=0, description=(
        "Longest wait for the next bytes of a response body once its head arrived: between stream "
        "chunks, and between reads of a non-streamed body."))
    total: float = Field(600.0, gt=0, description=(
        "Longest one attempt may take from its start, waiting for a pooled connection and connecting "
        "included (as Envoy's per_try_timeout): a non-streamed call until its whole body is read; a "
        "streamed call until its response head arrives, after which only `idle` bounds the stream. "
        "A request may take up to `retry.attempts` times `total` (plus backoff) per target."))


class RetryConfig(Strict):
    attempts: int = Field(2, ge=1, le=10, description="Tries per target (first try included).")
    backoff_base: float = Field(0.1, ge=0, description="First backoff in seconds; doubles, with full jitter.")
    backoff_max: float = Field(2.0, ge=0, description="Largest single backoff in seconds.")


class CircuitConfig(Strict):
    """A breaker per target (one per provider and model): stop sending to a target that keeps failing."""

    enabled: bool = Field(True, description="Whether this provider's targets have circuit breakers.")
    consecutive_failures: int = Field(
        5, ge=1, description="Failures in a row (connection errors, timeouts, 429, 5xx) that open the circuit.")
    failure_rate: float = Field(
        0.5, gt=0, le=1, description="Share of failed calls within `window_seconds` that opens the circuit.")
    window_seconds: float = Field(60.0, gt=0, description="The sliding window the failure rate is measured over.")
    min_calls: int = Field(
        20, ge=1, description="Calls needed in the window before `failure_rate` is judged (avoids opening on 1 of 2).")
    cooldown_seconds: float = Field(
        30.0, gt=0, description="How long an open circuit refuses calls before it lets a probe through (half-open).")
    half_open_probes: int = Field(
        1, ge=1, description="Calls let through at once while half-open; one success closes, one failure reopens.")


class ProviderConfig(Strict):
    kind: Literal["openai", "anthropic", "openai_compatible"] = Field(
        description="Wire format: openai, anthropic, or openai_compatible (Ollama, vLLM, llama.cpp).")
    base_url: str = Field(description="Provider base URL, e.g. https://api.openai.com/v1.")
    api_key: Secret | None = Field(None, description="Provider credential; use ${env:NAME} or ${file:/path}.")
    headers: dict[str, str] = Field(default_factory=dict,
                                    description="Extra static headers sent upstream (e.g. an org id).")
    timeouts: TimeoutsConfig = Field(default_factory=TimeoutsConfig, description="Upstream timeouts.")
    retry: RetryConfig = Field(default_factory=RetryConfig,
                               description="Retries per target before falling back to the next one.")
    max_connections: int = Field(256, gt=0, description="Connection pool size for this provider.")
    max_response_bytes: int = Field(
        64 * 1024 * 1024, gt=0,
        description="Largest non-streamed response body (and SSE event) accepted from this provider; larger is 502.")
    circuit: CircuitConfig = Field(default_factory=CircuitConfig,
                                   description="Circuit breaker applied to each target of this provider.")

    @field_validator("api_key", mode="before")
    @classmethod
    def _wrap_key(cls, v: object) -> object:
        if v == "" or v is None:
            return None
        return Secret(v) if isinstance(v, str) else v

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v.rstrip("/")

    @model_validator(mode="after")
    def _key_needed(self) -> ProviderConfig:
        if self.kind in ("openai", "anthropic") and self.api_key is None:
            raise ValueError(f"providers of kind {self.kind} need api_key")
        return self


class TargetConfig(Strict):
    provider: str = Field(description="Name of a provider in `providers`.")
    model: str = Field(description="Model name sent to that provider.")
    weight: int = Field(1, ge=0, description="Load-balancing weight among targets of equal priority "
                                             "(strategies weighted and least_busy); 0 = only as a last resort.")
    priority: int = Field(
        0, description="Lower is tried first. Targets of equal priority share load by the model's `strategy`; "
                       "a higher priority is only a fallback.")


class ModelConfig(Strict):
    name: str = Field(description="The model name clients send.")
    targets: list[TargetConfig] = Field(min_length=1, description="Targets in fallback order.")
    kind: Literal["chat", "embeddings"] = Field("chat", description="What the model serves.")
    strategy: Literal["fallback", "weighted", "least_busy"] = Field(
        "fallback",
        description="How a request picks among targets of equal priority: fallback = in the listed order; "
                    "weighted = at random by weight; least_busy = fewest requests in flight (ties by weight). "
                    "The other targets remain fallbacks either way.")
    when_all_open: Literal["try", "refuse"] = Field(
        "try",
        description="When the circuit of every target is open: try = call them anyway, in order (a circuit then "
                    "only diverts load to healthier targets, and the call serves as its probe); refuse = fail at "
                    "once with 503 and Retry-After until a cool-down ends.")


class BastionConfig(Strict):
    server: ServerConfig = Field(default_factory=ServerConfig, description="Listener, admin credential, request limits.")
    store: StoreConfig = Field(default_factory=StoreConfig,
                               description="Where keys, usage and the audit log live (SQLite or PostgreSQL).")
    providers: dict[str, ProviderConfig] = Field(default_factory=dict,
                                                 description="Upstream providers by name; their credentials live only here.")
    models: list[ModelConfig] = Field(default_factory=list,
                                      description="The model names clients may send, each mapped to provider targets.")
    policies: dict[str, PolicyConfig] = Field(default_factory=dict,
                                              description="Named policies; `default` applies when none is named.")
    limits: LimitsConfig = Field(default_factory=LimitsConfig,
                                 description="Rate-limit backend and per-key defaults.")
    teams: dict[str, TeamConfig] = Field(default_factory=dict,
                                         description="Teams by name: shared limits, budgets and policy for their keys.")
    pricing: dict[str, PriceOverride] = Field(default_factory=dict,
                                              description="Price overrides/additions, per upstream model name.")
    audit: AuditConfig = Field(default_factory=AuditConfig, description="The tamper-evident audit log.")
    observability: ObservabilityConfig = Field(default_factory=ObservabilityConfig,
                                               description="Metrics, logs and traces.")

    @model_validator(mode="after")
    def _references(self) -> BastionConfig:
        names: set[str] = set()
        for i, m in enumerate(self.models):
            if m.name in names:
                raise ValueError(f"models[{i}].name: duplicate model name {m.name!r}")
            names.add(m.name)
            for j, t in enumerate(m.targets):
                if t.provider not in self.providers:
                    raise ValueError(f"models[{i}].targets[{j}].provider: unknown provider {t.provider!r}")
                if m.kind == "embeddings" and self.providers[t.provider].kind == "anthropic":
                    raise ValueError(f"models[{i}].targets[{j}]: anthropic providers do not serve embeddings")
        for tname, team in self.teams.items():
            if team.policy is not None and team.policy not in self.policies and team.policy != "default":
                raise ValueError(f"teams.{tname}.policy: unknown policy {team.policy!r}")
        return self
