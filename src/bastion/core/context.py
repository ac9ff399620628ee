"""Per-request context, the authenticated principal, policy findings and the stage protocols."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Literal, Protocol

from bastion.core.makers import maker
from bastion.core.types import ChatRequest, ChatResponse, EmbeddingsRequest, Ingress, StreamEvent, Usage

_perf_counter = time.perf_counter
_time = time.time


@dataclass(slots=True, frozen=True)
class ModelLimit:
    """Per-model limits inside a key or team."""

    rpm: int | None = None
    tpm: int | None = None


@dataclass(slots=True, frozen=True)
class Budget:
    """A spending cap in integer micro-USD over a calendar period in UTC."""

    micros: int
    period: Literal["day", "week", "month", "total"]


@dataclass(slots=True, frozen=True)
class Principal:
    """Who is calling: a virtual key and what it may do. Built by the auth stage from the key
    store (cached); it never holds the key's secret."""

    key_id: str
    name: str
    team: str | None = None
    models: frozenset[str] | None = None  # None = every configured model
    policy: str | None = None  # None = the team's policy, else "default"
    rpm: int | None = None
    tpm: int | None = None
    max_parallel: int | None = None
    budgets: tuple[Budget, ...] = ()
    model_limits: tuple[tuple[str, ModelLimit], ...] = ()
    expires_at: float | None = None  # unix seconds

    def may_use(self, model: str) -> bool:
        return self.models is None or model in self.models


Action = Literal["allow", "flag", "redact", "block"]
Direction = Literal["input", "output"]


@dataclass(slots=True, frozen=True)
class Finding:
    """Something a scanner found. Carries the span and type, never the matched value."""

    scanner: str
    type: str
    start: int
    end: int
    score: float = 1.0
    action: Action = "flag"
    direction: Direction = "input"


CANCELLED = "cancelled"  # an attempt in flight when the client left (the provider may bill its input)


@dataclass(slots=True)
class Attempt:
    """One upstream attempt made by the router."""

    provider: str
    model: str
    outcome: str  # "ok" | "error" | "timeout" | "circuit_open" | CANCELLED | ...
    status: int | None = None
    latency_ms: float = 0.0


Operation = Literal["chat", "embeddings", "models"]


@dataclass(slots=True, init=False)
class RequestContext:
    """Everything the stages and finalizers learn about one request.

    `state` is keyed by stage name, for data a stage hands to its own finalizer
    (a rate-limit lease, a budget reservation, a redaction map).
    """

    request_id: str
    ingress: Ingress
    operation: Operation = "chat"
    client_addr: str | None = None
    started: float = field(default_factory=time.perf_counter)
    wall_time: float = field(default_factory=time.time)
    principal: Principal | None = None
    presented_key_id: str | None = None
    model: str | None = None  # the alias the client asked for
    stream: bool = False
    policy_name: str | None = None
    attempts: list[Attempt] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    usage: Usage | None = None
    start_usage: Usage | None = None  # reported at the stream's start (StreamStart.usage), for a cut stream
    streamed_chars: int = 0  # output text streamed to the client (cost fallback)
    cost_micros: int = 0
    status: int = 0
    error_code: str | None = None
    finish_reason: str | None = None
    first_token_at: float | None = None
    upstream_ms: float = 0.0
    client_disconnected: bool = False
    state: dict[str, object] = field(default_factory=dict)
    response_headers: dict[str, str] = field(default_factory=dict)

    # Written out rather than generated: the generated __init__ calls a factory per container and clock
    # (a global look-up and a call each); literals and direct clock calls are cheaper. Same parameters,
    # same order, same defaults (None for a container or clock: a fresh one, as the factories give).
    def __init__(self, request_id: str, ingress: Ingress, operation: Operation = "chat",
                 client_addr: str | None = None, started: float | None = None, wall_time: float | None = None,
                 principal: Principal | None = None, presented_key_id: str | None = None,
                 model: str | None = None, stream: bool = False, policy_name: str | None = None,
                 attempts: list[Attempt] | None = None, findings: list[Finding] | None = None,
                 usage: Usage | None = None, start_usage: Usage | None = None, streamed_chars: int = 0,
                 cost_micros: int = 0, status: int = 0, error_code: str | None = None,
                 finish_reason: str | None = None, first_token_at: float | None = None, upstream_ms: float = 0.0,
                 client_disconnected: bool = False, state: dict[str, object] | None = None,
                 response_headers: dict[str, str] | None = None) -> None:
        self.request_id = request_id
        self.ingress = ingress
        self.operation = operation
        self.client_addr = client_addr
        self.started = _perf_counter() if started is None else started
        self.wall_time = _time() if wall_time is None else wall_time
        self.principal = principal
        self.presented_key_id = presented_key_id
        self.model = model
        self.stream = stream
        self.policy_name = policy_name
        self.attempts = [] if attempts is None else attempts
        self.findings = [] if findings is None else findings
        self.usage = usage
        self.start_usage = start_usage
        self.streamed_chars = streamed_chars
        self.cost_micros = cost_micros
        self.status = status
        self.error_code = error_code
        self.finish_reason = finish_reason
        self.first_token_at = first_token_at
        self.upstream_ms = upstream_ms
        self.client_disconnected = client_disconnected
        self.state = {} if state is None else state
        self.response_headers = {} if response_headers is None else response_headers

    @property
    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000.0


_CONTEXT = maker(RequestContext)


def new_context(request_id: str, ingress: Ingress, operation: Operation, client_addr: str | None) -> RequestContext:
    """`RequestContext(request_id, ingress, operation, client_addr)`, made by its slot maker (core/makers.py:
    every field by position, as its `__init__` sets it): one per request, ~4k instructions fewer than the
    class call with its 25 parameters."""
    return _CONTEXT(request_id, ingress, operation, client_addr, _perf_counter(), _time(), None, None, None, False,
                    None, [], [], None, None, 0, 0, 0, None, None, None, 0.0, False, {}, {})


class RequestStage(Protocol):
    """A stage that runs before the upstream call, in the order the pipeline assembly sets.

    `check` raises a BastionError to refuse. `finish` runs for every request whose `check`
    was entered (admitted or not), exactly once, after the response ended (streamed or not,
    failed or not); it must not raise.
    """

    name: str

    async def check(self, ctx: RequestContext, request: ChatRequest | EmbeddingsRequest) -> None: ...

    async def finish(self, ctx: RequestContext) -> None: ...


class ResponseGuard(Protocol):
    """Output policy: inspects a full response, or wraps a canonical event stream so that no
    blocked or unredacted text ever leaves (a hold-back window)."""

    async def check_response(self, ctx: RequestContext, response: ChatResponse) -> ChatResponse: ...

    def guard_stream(self, ctx: RequestContext,
                     events: AsyncIterator[StreamEvent]) -> AsyncIterator[StreamEvent]: ...
