"""Model alias → targets; retries with jittered backoff, then fallback to the next target.

Retries and fallback happen only before anything reached the client: for streams, only while
opening the upstream stream. Every attempt is recorded on the request context.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import orjson

from bastion.config.schema import BastionConfig, RetryConfig
from bastion.core.context import Attempt, RequestContext
from bastion.core.errors import BastionError, NotFound, UpstreamError
from bastion.core.types import (
    ChatRequest,
    ChatResponse,
    EmbeddingsRequest,
    EmbeddingsResponse,
    JSONObject,
    StreamEvent,
)
from bastion.providers.base import EmbeddingsFormat, WireFormat
from bastion.providers.registry import wire_format
from bastion.providers.transport import (
    Endpoint,
    Transport,
    UpstreamStream,
    credential_headers,
    retry_after_seconds,
)

# Provider-side failures move on to the next target; client errors (400, 413) do not.
_FALLBACK_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(slots=True, frozen=True)
class Target:
    provider: str
    model: str
    kind: str
    fmt: WireFormat
    endpoint: Endpoint
    retry: RetryConfig


@dataclass(slots=True, frozen=True)
class Route:
    alias: str
    kind: str  # "chat" | "embeddings"
    targets: tuple[Target, ...]


def build_routes(config: BastionConfig) -> dict[str, Route]:
    endpoints: dict[str, tuple[Endpoint, WireFormat]] = {}
    for name, p in config.providers.items():
        fmt = wire_format(p.kind)
        auth = fmt.auth_headers(p.api_key.reveal()) if p.api_key is not None else {}
        endpoints[name] = (Endpoint(
            name=name, base_url=p.base_url, auth_headers=credential_headers(p.headers, auth),
            connect_timeout=p.timeouts.connect, first_byte_timeout=p.timeouts.first_byte,
            idle_timeout=p.timeouts.idle, total_timeout=p.timeouts.total,
            max_connections=p.max_connections), fmt)
    routes = {}
    for m in config.models:
        targets = tuple(
            Target(provider=t.provider, model=t.model, kind=config.providers[t.provider].kind,
                   fmt=endpoints[t.provider][1], endpoint=endpoints[t.provider][0],
                   retry=config.providers[t.provider].retry)
            for t in m.targets)
        routes[m.name] = Route(alias=m.name, kind=m.kind, targets=targets)
    return routes


class Router:
    def __init__(self, routes: dict[str, Route], transport: Transport,
                 sleep: Callable[[float], object] = asyncio.sleep) -> None:
        self.routes = routes
        self._transport = transport
        self._sleep = sleep

    def route(self, alias: str, kind: str = "chat") -> Route:
        r = self.routes.get(alias)
        if r is None or r.kind != kind:
            what = "chat model" if kind == "chat" else "embeddings model"
            raise NotFound(f"The {what} '{alias[:200]}' does not exist or is not served by this gateway",
                           param="model")
        return r

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
                    body_of: Callable[[Target], bytes], stream: bool
                    ) -> tuple[Target, bytes | UpstreamStream]:
        last: BastionError | None = None
        for t in route.targets:
            try:
                body = body_of(t)
            except BastionError as e:
                # This target cannot express the request (e.g. n > 1 for Anthropic): try the next.
                ctx.attempts.append(Attempt(t.provider, t.model, "unsupported", e.status, 0.0))
                last = e
                continue
            path = path_of(t)
            for attempt in range(t.retry.attempts):
                started = time.perf_counter()
                try:
                    if stream:
                        status, headers, result = await self._transport.post_stream(t.endpoint, path, body)
                    else:
                        status, headers, result = await self._transport.post(t.endpoint, path, body)
                    if status >= 300:
                        assert isinstance(result, bytes)
                        err = t.fmt.decode_error(status, result)
                        err.retry_after = retry_after_seconds(headers, err)
                        raise err
                except BastionError as e:
                    ms = (time.perf_counter() - started) * 1000
                    ctx.attempts.append(Attempt(t.provider, t.model, e.code, getattr(e, "upstream_status", None)
                                                or e.status, ms))
                    last = e
                    retryable = isinstance(e, UpstreamError) and e.retryable
                    if not retryable:
                        if e.status in _FALLBACK_STATUSES:
                            break  # provider-side, not worth retrying here: next target
                        raise
                    delay = self._backoff(t, attempt, e)
                    if delay is None:
                        break
                    await self._sleep(delay)
                    continue
                ms = (time.perf_counter() - started) * 1000
                ctx.upstream_ms += ms
                ctx.attempts.append(Attempt(t.provider, t.model, "ok", status, ms))
                return t, result
        assert last is not None
        if len(route.targets) > 1:
            last.message = f"all {len(route.targets)} targets of '{route.alias}' failed; last: {last.message}"
        raise last

    async def chat(self, ctx: RequestContext, req: ChatRequest) -> ChatResponse:
        route = self.route(req.model)
        t, data = await self._call(ctx, route, lambda t: t.fmt.chat_path,
                                   lambda t: orjson.dumps(t.fmt.encode_request(req, t.model)), stream=False)
        assert isinstance(data, bytes)
        return t.fmt.decode_response(_json_object(data, t.provider))

    async def chat_stream(self, ctx: RequestContext, req: ChatRequest) -> AsyncIterator[StreamEvent]:
        """Opens the upstream stream (with retries/fallback), then yields canonical events."""
        route = self.route(req.model)
        t, stream = await self._call(ctx, route, lambda t: t.fmt.chat_path,
                                     lambda t: orjson.dumps(t.fmt.encode_request(req, t.model)), stream=True)
        assert isinstance(stream, UpstreamStream)
        return _events(t, stream)

    async def embeddings(self, ctx: RequestContext, req: EmbeddingsRequest) -> EmbeddingsResponse:
        route = self.route(req.model, kind="embeddings")

        def fmt(t: Target) -> EmbeddingsFormat:
            return t.fmt  # type: ignore[return-value]  # config forbids anthropic embeddings targets

        t, data = await self._call(ctx, route, lambda t: fmt(t).embeddings_path,
                                   lambda t: orjson.dumps(fmt(t).encode_embeddings_request(req, t.model)),
                                   stream=False)
        assert isinstance(data, bytes)
        return fmt(t).decode_embeddings_response(_json_object(data, t.provider))


async def _events(t: Target, stream: UpstreamStream) -> AsyncIterator[StreamEvent]:
    decoder = t.fmt.stream_decoder()
    try:
        async for name, data in stream.events():
            for ev in decoder.feed(name, data):
                yield ev
            if decoder.done:
                return
        raise UpstreamError(f"provider {t.provider} ended the stream before it was complete", retryable=False)
    finally:
        stream.close()


def _json_object(data: bytes, provider: str) -> JSONObject:
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise UpstreamError(f"provider {provider} returned invalid JSON") from None
    if not isinstance(obj, dict):
        raise UpstreamError(f"provider {provider} returned JSON that is not an object")
    return obj
