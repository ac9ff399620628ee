"""The rate-limit stage ("ratelimit"): requests/tokens per minute and concurrent requests per
key, team and model; OpenAI's x-ratelimit-* headers; 429 with Retry-After on refusal.

`check` takes everything in one backend call and keeps a lease in ctx.state["ratelimit"];
`finish` corrects the token estimate with the real usage and releases the concurrency lease.
Paired with the budget stage (`pair`), that one call also reserves the request's budgets, and
`finish` settles them in its own call: two backend round trips per request instead of four (on
Redis, each is a network round trip). The budget stage then only keeps its place in the order.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from bastion.config.limits import LimitsConfig, TeamConfig
from bastion.core.context import RequestContext
from bastion.core.errors import InternalError, RateLimited, ServiceUnavailable
from bastion.core.makers import maker
from bastion.core.types import ChatRequest, EmbeddingsRequest
from bastion.limits.backend import LimitsBackend, RateDecision, lease_id
from bastion.limits.bucket import format_reset
from bastion.limits.estimate import TokenEstimate, actual_usage, estimate_for, upstream_reached
from bastion.limits.late import LateConclusions, horizon
from bastion.limits.memory import MemoryBackend
from bastion.limits.scopes import ScopeLimit, ScopeResolver

if TYPE_CHECKING:
    from bastion.cost.stage import BudgetStage

log = logging.getLogger("bastion.limits")

_WHAT = {"requests": "requests per minute", "tokens": "tokens per minute", "parallel": "concurrent requests",
         "too_large": "tokens per minute"}


@dataclass(slots=True, eq=False)
class RateLease:
    """What `check` took, for `finish` to correct and release."""

    scopes: tuple[ScopeLimit, ...]
    estimate: TokenEstimate
    tokens: int
    rid: str  # the lease id (backend.lease_id) it was taken under
    done: bool = False


_LEASE = maker(RateLease)  # RateLease(scopes, estimate, tokens, rid, done) by position, without the class call


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
        self.late = LateConclusions(horizon(limits.lease_ttl_seconds))
        self._resolver = ScopeResolver(limits, teams)
        self._block = limits.on_backend_error == "block"
        self._default_out = limits.default_max_output_tokens
        self._clock = clock
        self.served_unchecked = 0  # requests served without limits because the backend failed (allow)
        self._budget: BudgetStage | None = None
        # The in-process backend, called without its coroutine wrappers (nothing there awaits, nor
        # uses a lease id); exactly that class, so a subclass overriding a method keeps the general path.
        self._mem = backend if type(backend) is MemoryBackend else None

    def pair(self, budget: BudgetStage) -> None:
        """Reserve and settle `budget`'s budgets in this stage's backend calls (same backend)."""
        self._budget = budget

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
        tokens = est.input + est.output  # (est.total, without the property's call)
        if tokens < 1:
            tokens = 1
        now = self._clock() if self._clock is not None else None
        budget = self._budget
        mem = self._mem
        if mem is not None and budget is not None:
            # Paired on the in-process backend: the same two steps as its `admit`, called directly
            plan = budget.plan(ctx, request, est, True)
            # d None: admitted, headers written; bd None: nothing held (no budget applies, or the take refused)
            if plan.wanted:
                d, bd = mem.admit_headed(scopes, tokens, now, ctx.response_headers, plan.wanted, plan.amount)
            else:
                d, bd = mem.take_headed(scopes, tokens, now, ctx.response_headers), None
            if d is not None:
                if not d.allowed:
                    raise self._refusal(d, scopes, tokens)
                self._headers(ctx.response_headers, d)
            ctx.state[self.name] = _LEASE(scopes, est, tokens, "", False)  # (memory leases have no id)
            budget.admitted(ctx, plan, bd)  # may refuse: 429 budget_exceeded (the lease is released in finish)
            return
        res = None
        rid = lease_id(ctx)
        try:
            if budget is None:
                d = await self._backend.acquire(rid, scopes, tokens, now)
                bd = None
            else:
                res = budget.plan(ctx, request, est, True)
                if res.wanted:
                    d, bd = await self._backend.admit(rid, scopes, tokens, now, res.wanted, res.amount, res.now)
                else:
                    d, bd = await self._backend.acquire(rid, scopes, tokens, now), None
        except ServiceUnavailable:
            if self._block:
                raise backend_unavailable(self._backend.kind, "rate limits") from None
            self.served_unchecked += 1
            log.error("serving request %s WITHOUT rate limits: limits backend (%s) unreachable "
                      "(limits.on_backend_error: allow)", ctx.request_id, self._backend.kind)
            if budget is not None and res is not None:
                budget.unchecked(ctx, res)
            return
        if not d.allowed:
            raise self._refusal(d, scopes, tokens)
        ctx.state[self.name] = RateLease(scopes, est, tokens, rid)
        self._headers(ctx.response_headers, d)
        if budget is not None and res is not None:
            budget.admitted(ctx, res, bd)  # may refuse: 429 budget_exceeded (the lease is released in finish)

    @staticmethod
    def _headers(h: dict[str, str], d: RateDecision) -> None:
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
        if limit == 0:  # a limit of 0 is a block, not a wait: tell the SDKs not to retry
            headers["x-should-retry"] = "false"
            return RateLimited(
                f"Rate limit reached for {s.label}: its limit is 0 {_WHAT[kind]}, so it may not send requests "
                "here; ask an administrator to raise the limit.", retry_after=60.0, headers=headers)
        if kind in ("requests", "tokens"):
            suffix = "requests" if kind == "requests" else "tokens"
            headers[f"x-ratelimit-limit-{suffix}"] = str(limit)
            headers[f"x-ratelimit-remaining-{suffix}"] = "0"
            headers[f"x-ratelimit-reset-{suffix}"] = format_reset(retry)
        return RateLimited(
            f"Rate limit reached for {s.label}: limit {limit} {_WHAT[kind]}. Please try again in "
            f"{format_reset(retry)}.", retry_after=float(math.ceil(retry)), headers=headers)

    def finisher(self) -> Callable[[RequestContext], None] | None:
        """`finish` as a plain call on the in-process backend (pipeline/runner.py `FinishesNow`)."""
        return self._finish_mem if self._mem is not None else None

    def _finish_mem(self, ctx: RequestContext) -> None:
        """`finish` on the in-process backend: its `conclude` (or `release`, `settle`), called directly."""
        mem = self._mem
        assert mem is not None
        lease = ctx.state.get(self.name)
        if isinstance(lease, RateLease) and not lease.done:
            lease.done = True
        else:
            lease = None
        settle = self._budget.partner_settlement(ctx, False) if self._budget is not None else None
        if lease is None and settle is None:
            return
        try:
            if lease is None:
                assert settle is not None
                res = settle[0]
                mem.account(res.slots, res.amount, settle[1], settle[2])
                return
            usage = ctx.usage
            if usage is None:
                usage = actual_usage(ctx, lease.estimate, upstream_reached=upstream_reached(ctx))
            delta = usage.input_tokens + usage.output_tokens - lease.tokens
            now = self._clock() if self._clock is not None else None
            if settle is None:
                mem.give_back(lease.scopes, delta, now)
            else:
                res = settle[0]
                mem.give_back_account(lease.scopes, delta, now, res.slots, res.amount, settle[1], settle[2])
        except Exception as e:  # a finaliser never raises
            mem.failures.record("ratelimit.finish", type(e).__name__)

    async def finish(self, ctx: RequestContext) -> None:
        if self._mem is not None:
            self._finish_mem(ctx)
            return
        lease = ctx.state.get(self.name)
        if isinstance(lease, RateLease) and not lease.done:
            lease.done = True
        else:
            lease = None
        settle = self._budget.partner_settlement(ctx) if self._budget is not None else None
        if lease is None and settle is None:
            return
        try:
            now = self._clock() if self._clock is not None else None
            rid = lease_id(ctx) if lease is None else lease.rid
            backend = self._backend
            # The call and its arguments; bound into a partial only for a retry (limits/late.py)
            call: Callable[..., Awaitable[None]]
            args: tuple[object, ...]
            if lease is None:
                assert settle is not None
                res, actual, spend, bnow = settle
                call, args = backend.settle, (rid, res.slots, res.amount, actual, spend, bnow)
            else:
                usage = ctx.usage
                if usage is None:
                    usage = actual_usage(ctx, lease.estimate, upstream_reached=upstream_reached(ctx))
                used = usage.total_tokens
                if settle is None:
                    call, args = backend.release, (rid, lease.scopes, used - lease.tokens, now)
                else:
                    res, actual, spend, bnow = settle
                    call, args = backend.conclude, (rid, lease.scopes, used - lease.tokens, now,
                                                    res.slots, res.amount, actual, spend, bnow)
            try:
                await call(*args)
            except ServiceUnavailable:  # counted by the backend; retried (limits/late.py)
                self.late.retry(partial(call, *args))
        except Exception as e:  # a finaliser never raises
            self._backend.failures.record("ratelimit.finish", type(e).__name__)
