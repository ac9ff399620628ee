"""Model alias → targets; load balancing, circuit breakers, retries with jittered backoff, fallback.

The balancer orders a model's targets for each request; a target whose circuit is open is
skipped. Retries and fallback happen only before anything reached the client: for streams,
until the first content event of the upstream stream has been read (the router holds it back
until then), never after. Every attempt is recorded on the request context.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from time import perf_counter
from typing import Literal, TypeVar

import orjson

from bastion.config.schema import BastionConfig, CircuitConfig, RetryConfig
from bastion.core.context import CANCELLED, Attempt, RequestContext
from bastion.core.errors import BastionError, NotFound, UpstreamError, UpstreamUnavailable
from bastion.core.makers import maker
from bastion.core.types import (
    ChatRequest,
    ChatResponse,
    EmbeddingsRequest,
    EmbeddingsResponse,
    JSONObject,
    Usage,
)
from bastion.observability.tracing import RequestTracer
from bastion.providers.balance import Balancer, Strategy
from bastion.providers.base import EmbeddingsFormat, WireFormat
from bastion.providers.circuit import CALL, PROBE, Breaker, CircuitBreaker, CircuitState, circuit_breaker
from bastion.providers.registry import wire_format
from bastion.providers.streaming import OpenStream, RoutedStream, first_content
from bastion.providers.transport import (
    Endpoint,
    Transport,
    credential_headers,
    retry_after_seconds,
)

# Provider-side failures move on to the next target; client errors (400, 413) do not.
_FALLBACK_STATUSES = frozenset({429, 500, 502, 503, 504})

R = TypeVar("R")
_ATTEMPT = maker(Attempt)
# A target without a breaker is called through this one: disabled, it lets every call through and hears nothing.
_NO_BREAKER: Breaker = CircuitBreaker(CircuitConfig(enabled=False))


@dataclass(slots=True, frozen=True)
class Target:
    provider: str
    model: str
    kind: str
    fmt: WireFormat
    endpoint: Endpoint
    retry: RetryConfig
    weight: int = 1
    priority: int = 0
    breaker: Breaker | None = None
    # (provider, model), made once (read twice per call: the balancer's in-flight count)
    key: tuple[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", (self.provider, self.model))


@dataclass(slots=True, frozen=True)
class Route:
    alias: str
    kind: str  # "chat" | "embeddings"
    targets: tuple[Target, ...]
    strategy: Strategy = "fallback"
    when_all_open: Literal["try", "refuse"] = "try"


def build_routes(config: BastionConfig) -> dict[str, Route]:
    endpoints: dict[str, tuple[Endpoint, WireFormat]] = {}
    for name, p in config.providers.items():
        fmt = wire_format(p.kind)
        auth = fmt.auth_headers(p.api_key.reveal()) if p.api_key is not None else {}
        endpoints[name] = (Endpoint(
            name=name, base_url=p.base_url, auth_headers=credential_headers(p.headers, auth),
            connect_timeout=p.timeouts.connect, first_byte_timeout=p.timeouts.first_byte,
            idle_timeout=p.timeouts.idle, total_timeout=p.timeouts.total,
            max_connections=p.max_connections, max_response_bytes=p.max_response_bytes), fmt)
    breakers: dict[tuple[str, str], Breaker] = {}  # one per (provider, model), shared by aliases
    routes = {}
    for m in config.models:
        targets: list[Target] = []
        for t in m.targets:
            provider = config.providers[t.provider]
            breaker = breakers.get((t.provider, t.model))
            if breaker is None:
                breaker = breakers[(t.provider, t.model)] = circuit_breaker(provider.circuit,
                                                                            f"{t.provider}/{t.model}")
            targets.append(Target(provider=t.provider, model=t.model, kind=provider.kind,
                                  fmt=endpoints[t.provider][1], endpoint=endpoints[t.provider][0],
                                  retry=provider.retry, weight=t.weight, priority=t.priority, breaker=breaker))
        routes[m.name] = Route(alias=m.name, kind=m.kind, targets=tuple(targets), strategy=m.strategy,
                               when_all_open=m.when_all_open)
    return routes


def is_target_failure(err: BastionError) -> bool:
    """Whether an error says the target itself is unhealthy (it counts against its circuit).
    A provider that answered with a client error (400) is healthy."""
    return isinstance(err, UpstreamError) and (err.retryable or err.status in _FALLBACK_STATUSES)


class _Lease:
    """A held call's hold on a target (a stream's): its in-flight slot (least_busy), taken by the
    router before the call (`Balancer.begin`). `end()` frees the slot once. (The call's circuit
    verdict is given when it opened: a failure after that is one seen outside a call.)"""

    __slots__ = ("_balancer", "_breaker", "_ended", "_key")

    def __init__(self, balancer: Balancer, target: Target) -> None:
        self._balancer = balancer
        self._key = target.key
        self._breaker = target.breaker
        self._ended = False

    def failed(self, err: UpstreamError) -> None:
        """The stream failed after its first content (RoutedStream's `failed`): against the target
        when the error says it is unhealthy."""
        if self._breaker is not None and is_target_failure(err):
            self._breaker.record_failure()  # a stream that broke after its call said "healthy"

    def end(self) -> None:
        if not self._ended:
            self._ended = True
            self._balancer.end(self._key)


class Router:
    def __init__(self, routes: dict[str, Route], transport: Transport,
                 sleep: Callable[[float], Awaitable[object]] = asyncio.sleep, balancer: Balancer | None = None,
                 tracer: RequestTracer | None = None) -> None:
        self.tracer = tracer
        self.routes = routes
        self._transport = transport
        self._sleep = sleep
        self.balancer = balancer or Balancer()

    @property
    def tracer(self) -> RequestTracer | None:
        return self._tracer

    @tracer.setter
    def tracer(self, tracer: RequestTracer | None) -> None:
        self._tracer = tracer
        # (a tracer's `enabled` is fixed when it is made: read once here, not per attempt)
        self._traced = tracer if tracer is not None and tracer.enabled else None

    def route(self, alias: str, kind: str = "chat") -> Route:
        r = self.routes.get(alias)
        if r is None or r.kind != kind:
            what = "chat model" if kind == "chat" else "embeddings model"
            raise NotFound(f"The {what} '{alias[:200]}' does not exist or is not served by this gateway",
                           param="model")
        return r

    def circuits(self) -> list[tuple[str, str, CircuitState]]:
        """(provider, model, state) of every target's breaker: for a gauge and for /readyz detail."""
        seen: dict[tuple[str, str], Breaker] = {}
        for r in self.routes.values():
            for t in r.targets:
                if t.breaker is not None:
                    seen.setdefault(t.key, t.breaker)
        return [(p, m, b.state) for (p, m), b in seen.items()]

    @staticmethod
    def _backoff(t: Target, attempt: int, err: BastionError) -> float | None:
        """Seconds to wait before the next try of the same target, or None to move on."""
        if attempt + 1 >= t.retry.attempts:
            return None
        ra = err.retry_after
        if ra is not None:
            return ra if ra <= t.retry.backoff_max else None
        return random.uniform(0, min(t.retry.backoff_max, t.retry.backoff_base * (2 ** attempt)))

    async def _call(self, ctx: RequestContext, route: Route, path_of: Callable[[Target], str],
                    body_of: Callable[[Target], bytes],
                    open_: Callable[[Target, str, bytes, Mapping[str, str] | None], Awaitable[tuple[int, R]]],
                    hold: bool = False) -> tuple[Target, R, _Lease | None]:
        """Try the route's targets in the balancer's order, skipping those whose circuit is open
        (they are tried last, regardless, when the route says `when_all_open: try`). With `hold`,
        the winning call's lease stays open (a stream keeps its in-flight slot until it closes).

        Each target is called up to `retry.attempts` times; a provider-side failure moves on to the
        next target, an error that must not fall back (the provider rejected the request itself) is
        raised. (The walk is one loop over both passes, the forced one last: no coroutine per target.)"""
        last: BastionError | None = None
        refused: tuple[Target, ...] = ()  # skipped: circuit open
        targets = route.targets
        # (one target: the balancer's order is that target; most routes have one)
        queue: Sequence[Target] = targets if len(targets) == 1 else self.balancer.order(targets, route.strategy)
        force = False
        n = 0
        while True:
            if n == len(queue):
                if force or not (refused and route.when_all_open == "try"):
                    break
                # every target refused or failed: those refused (circuit open) are tried regardless
                queue, force, n = refused, True, 0  # (a tuple: what these tries add does not change it)
                continue
            t = queue[n]
            n += 1
            try:
                body = body_of(t)
            except BastionError as e:
                # This target cannot express the request (e.g. n > 1 for Anthropic): try the next.
                ctx.attempts.append(Attempt(t.provider, t.model, "unsupported", e.status, 0.0))
                last = e
                continue
            path = path_of(t)
            breaker = t.breaker or _NO_BREAKER
            attempt = 0
            while True:
                # The call's circuit verdict is given here, by its kind (circuit.py's `admit`: no Permit per call).
                admitted = breaker.admit_forced() if force else breaker.admit()
                if admitted is None:
                    ctx.attempts.append(Attempt(t.provider, t.model, "circuit_open", 503, 0.0))
                    if not force and t not in refused:
                        refused += (t,)
                    break  # the next target
                kind = admitted
                # The call's in-flight slot (`Balancer.begin`, inline); a held call (a stream) keeps it in a
                # _Lease. Without one (every non-streamed call), it is ended below: no object per call.
                balancer = self.balancer
                busy = balancer.busy
                key = t.key
                busy[key] = busy.get(key, 0) + 1
                started = perf_counter()
                kept = settled = False
                try:
                    tracer = self._traced
                    if tracer is not None:
                        with tracer.attempt(ctx, t.provider, t.model) as trace_headers:
                            status, result = await open_(t, path, body, trace_headers)
                    else:
                        status, result = await open_(t, path, body, None)
                    settled = True
                    if kind == CALL:
                        breaker.succeeded()
                    elif kind:
                        breaker.settle(kind, True)
                    ms = (perf_counter() - started) * 1000
                    ctx.upstream_ms += ms
                    ctx.attempts.append(_ATTEMPT(t.provider, t.model, "ok", status, ms))  # (Attempt(...): core/makers.py)
                    if hold:
                        kept = True
                        return t, result, _Lease(balancer, t)
                    return t, result, None
                except BastionError as e:
                    ms = (perf_counter() - started) * 1000
                    ctx.upstream_ms += ms
                    ctx.attempts.append(Attempt(t.provider, t.model, e.code, getattr(e, "upstream_status", None)
                                                or e.status, ms))
                    if kind and not settled:  # (settled: what raised came after the verdict)
                        settled = True
                        breaker.settle(kind, not is_target_failure(e))
                    err = last = e
                except asyncio.CancelledError:
                    # the client left while the call was in flight: the provider may have read (and will bill)
                    # the input, so the request is settled on its input estimate (limits/estimate.py)
                    ms = (perf_counter() - started) * 1000
                    ctx.upstream_ms += ms
                    ctx.attempts.append(Attempt(t.provider, t.model, CANCELLED, None, ms))
                    raise
                finally:
                    if not kept:  # (a lease's end)
                        if kind == PROBE and not settled:
                            breaker.release(kind)
                        busy[key] -= 1  # (`Balancer.end`: begun above)
                if not (isinstance(err, UpstreamError) and err.retryable):
                    if err.status in _FALLBACK_STATUSES:
                        break  # provider-side, not worth retrying here: next target
                    raise err
                delay = self._backoff(t, attempt, err)
                if delay is None:
                    break
                await self._sleep(delay)
                attempt += 1
        if last is None:
            wait = min((t.breaker.retry_after() for t in refused if t.breaker is not None), default=None)
            raise UpstreamUnavailable(
                f"every target of '{route.alias}' is refusing calls after repeated failures (circuit open)",
                code="circuit_open", retry_after=wait, retryable=True)
        if len(route.targets) > 1:
            last.message = f"all {len(route.targets)} targets of '{route.alias}' failed; last: {last.message}"
        raise last

    # ---- one attempt of each kind -------------------------------------------------------
    async def _fetch_chat(self, t: Target, path: str, body: bytes,
                          extra: Mapping[str, str] | None = None) -> tuple[int, ChatResponse]:
        """One non-streamed chat call: `_post` and the decoding in one coroutine (this runs for
        every request). A malformed answer is a failed attempt."""
        status, headers, data = await self._transport.post(t.endpoint, path, body, extra)
        if status >= 300:
            raise _error(t, status, headers, data)
        return status, t.fmt.decode_response(_json_object(data, t.provider))

    async def _post(self, t: Target, path: str, body: bytes,
                    extra: Mapping[str, str] | None = None) -> tuple[int, JSONObject]:
        status, headers, data = await self._transport.post(t.endpoint, path, body, extra)
        if status >= 300:
            raise _error(t, status, headers, data)
        return status, _json_object(data, t.provider)

    async def _stream(self, abandoned: Callable[[Usage], None] | None, t: Target, path: str, body: bytes,
                      extra: Mapping[str, str] | None = None) -> tuple[int, OpenStream]:
        """One streamed attempt, up to its first content. `abandoned` first: bound by position
        (`partial(self._stream, abandoned)`: a keyword partial merges a dict of them on every call)."""
        status, headers, result = await self._transport.post_stream(t.endpoint, path, body, extra)
        if isinstance(result, bytes):
            raise _error(t, status, headers, result)
        try:
            return status, await first_content(t.provider, t.fmt.stream_decoder(), result, abandoned)
        except BaseException:
            result.close()
            raise

    # ---- operations -----------------------------------------------------------------------
    async def chat(self, ctx: RequestContext, req: ChatRequest) -> ChatResponse:
        route = self.route(req.model)
        _, resp, _ = await self._call(ctx, route, _chat_path,
                                      lambda t: orjson.dumps(t.fmt.encode_request(req, t.model)), self._fetch_chat)
        return resp

    async def chat_stream(self, ctx: RequestContext, req: ChatRequest) -> RoutedStream:
        """Opens the upstream stream (retries/fallback until its first content); its canonical
        events follow, per upstream read (`bursts()`) or one by one."""
        route = self.route(req.model)

        def abandoned(usage: Usage) -> None:
            # the client left before the first content, after the provider counted the input (Anthropic's
            # message_start): the request is settled and recorded on that count (limits/estimate.py)
            ctx.start_usage = usage

        t, opened, lease = await self._call(ctx, route, _chat_path,
                                            lambda t: orjson.dumps(t.fmt.encode_request(req, t.model)),
                                            partial(self._stream, abandoned), hold=True)
        assert lease is not None
        return RoutedStream(t.provider, opened, lease.failed, lease.end)

    async def embeddings(self, ctx: RequestContext, req: EmbeddingsRequest) -> EmbeddingsResponse:
        route = self.route(req.model, kind="embeddings")

        def fmt(t: Target) -> EmbeddingsFormat:
            return t.fmt  # type: ignore[return-value]  # config forbids anthropic embeddings targets

        async def fetch(t: Target, path: str, body: bytes,
                        extra: Mapping[str, str] | None) -> tuple[int, EmbeddingsResponse]:
            status, obj = await self._post(t, path, body, extra)
            return status, fmt(t).decode_embeddings_response(obj)

        _, resp, _ = await self._call(ctx, route, lambda t: fmt(t).embeddings_path,
                                      lambda t: orjson.dumps(fmt(t).encode_embeddings_request(req, t.model)),
                                      fetch)
        return resp


def _chat_path(t: Target) -> str:
    return t.fmt.chat_path


def _error(t: Target, status: int, headers: Mapping[str, str], body: bytes) -> BastionError:
    err = t.fmt.decode_error(status, body)
    err.retry_after = retry_after_seconds(headers, err)
    return err


def _json_object(data: bytes, provider: str) -> JSONObject:
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise UpstreamError(f"provider {provider} returned invalid JSON") from None
    if not isinstance(obj, dict):
        raise UpstreamError(f"provider {provider} returned JSON that is not an object")
    return obj
