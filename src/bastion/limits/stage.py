"""The rate-limit stage ("ratelimit"): requests/tokens per minute and concurrent requests per
key, team and model; OpenAI's x-ratelimit-* headers; 429 with Retry-After on refusal.

`check` takes everything in one backend call and keeps a lease in ctx.state["ratelimit"];
`finish` corrects the token estimate with the real usage and releases the concurrency lease.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping

from bastion.config.limits import LimitsConfig, TeamConfig
from bastion.core.context import RequestContext
from bastion.core.errors import InternalError, RateLimited, ServiceUnavailable
from bastion.core.types import ChatRequest, EmbeddingsRequest
from bastion.limits.backend import LimitsBackend, RateDecision
from bastion.limits.bucket import format_reset
from bastion.limits.estimate import TokenEstimate, actual_usage, estimate_for, upstream_reached
from bastion.limits.scopes import ScopeLimit, ScopeResolver

log = logging.getLogger("bastion.limits")

_WHAT = {"requests": "requests per minute", "tokens": "tokens per minute", "parallel": "concurrent requests",
         "too_large": "tokens per minute"}


class RateLease:
    """What `check` took, for `finish` to correct and release."""

    __slots__ = ("done", "estimate", "scopes", "tokens")

    def __init__(self, scopes: tuple[ScopeLimit, ...], estimate: TokenEstimate, tokens: int) -> None:
        self.scopes = scopes
        self.estimate = estimate
        self.tokens = tokens
        self.done = False


def backend_unavailable(kind: str, what: str) -> ServiceUnavailable:
    return ServiceUnavailable(
        f"{what} cannot be checked because the limits backend ({kind}) is unreachable; the request is "
        "refused because limits.on_backend_error is 'block'", retry_after=1.0)


class RateLimitStage:
    name = "ratelimit"

    def __init__(self, backend: LimitsBackend, limits: LimitsConfig, teams: Mapping[str, TeamConfig],
                 model_targets: Mapping[str, list[str]] | None = None, *,
                 clock: Callable[[], float] | None = None) -> None:
        """`model_targets` (alias -> upstream models) is accepted for symmetry with the budget
        stage; limits are per alias. `clock` (unix seconds) replaces the backend's own clock."""
        self._backend = backend
        self._resolver = ScopeResolver(limits, teams)
        self._block = limits.on_backend_error == "block"
        self._default_out = limits.default_max_output_tokens
        self._clock = clock
        self.served_unchecked = 0  # requests served without limits because the backend failed (allow)

    async def check(self, ctx: RequestContext, request: ChatRequest | EmbeddingsRequest) -> None:
        if ctx.operation == "models":
            return
        p = ctx.principal
        if p is None:
            raise InternalError("rate limits ran before authentication")
        model = ctx.model or request.model
        scopes = self._resolver.scopes(p, model)
        if not scopes:
            return
        est = estimate_for(ctx, request, self._default_out)
        tokens = max(1, est.total)
        now = self._clock() if self._clock is not None else None
        try:
            d = await self._backend.acquire(ctx.request_id, scopes, tokens, now)
        except ServiceUnavailable:
            if self._block:
                raise backend_unavailable(self._backend.kind, "rate limits") from None
            self.served_unchecked += 1
            log.error("serving request %s WITHOUT rate limits: limits backend (%s) unreachable "
                      "(limits.on_backend_error: allow)", ctx.request_id, self._backend.kind)
            return
        if not d.allowed:
            raise self._refusal(d, scopes, tokens)
        ctx.state[self.name] = RateLease(scopes, est, tokens)
        h = ctx.response_headers
        if d.req_limit is not None:
            h["x-ratelimit-limit-requests"] = str(d.req_limit)
            h["x-ratelimit-remaining-requests"] = str(d.req_remaining)
            h["x-ratelimit-reset-requests"] = format_reset(d.req_reset)
        if d.tok_limit is not None:
            h["x-ratelimit-limit-tokens"] = str(d.tok_limit)
            h["x-ratelimit-remaining-tokens"] = str(d.tok_remaining)
            h["x-ratelimit-reset-tokens"] = format_reset(d.tok_reset)

    def _refusal(self, d: RateDecision, scopes: tuple[ScopeLimit, ...], tokens: int) -> RateLimited:
        s = scopes[d.denied_index]
        kind = d.denied_kind or "requests"
        headers: dict[str, str] = {}
        if kind == "too_large":
            headers["x-should-retry"] = "false"
            return RateLimited(
                f"Request too large: it may use {tokens} tokens (prompt estimate + max_tokens), more than "
                f"the limit of {s.tpm} {_WHAT[kind]} for {s.label}; lower max_tokens or the prompt size",
                code="rate_limit_exceeded", retry_after=60.0, headers=headers)
        retry = max(0.001, d.retry_after)
        limit = {"requests": s.rpm, "tokens": s.tpm, "parallel": s.max_parallel}[kind]
        if kind in ("requests", "tokens"):
            suffix = "requests" if kind == "requests" else "tokens"
            headers[f"x-ratelimit-limit-{suffix}"] = str(limit)
            headers[f"x-ratelimit-remaining-{suffix}"] = "0"
            headers[f"x-ratelimit-reset-{suffix}"] = format_reset(retry)
        return RateLimited(
            f"Rate limit reached for {s.label}: limit {limit} {_WHAT[kind]}. Please try again in "
            f"{format_reset(retry)}.", retry_after=float(math.ceil(retry)), headers=headers)

    async def finish(self, ctx: RequestContext) -> None:
        lease = ctx.state.get(self.name)
        if not isinstance(lease, RateLease) or lease.done:
            return
        lease.done = True
        try:
            used = actual_usage(ctx, lease.estimate, upstream_reached=upstream_reached(ctx)).total_tokens
            now = self._clock() if self._clock is not None else None
            await self._backend.release(ctx.request_id, lease.scopes, used - lease.tokens, now)
        except ServiceUnavailable:
            pass  # counted by the backend; leases expire on their own (lease_ttl_seconds)
        except Exception as e:  # a finaliser never raises
            self._backend.failures.record("ratelimit.finish", type(e).__name__)
