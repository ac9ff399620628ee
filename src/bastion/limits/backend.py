"""The counter backend protocol shared by rate limits and budgets, and its result types.

Each method is one atomic step over *all* scopes or budgets of a request (all pass and are
consumed, or nothing changes), so two replicas can never both take the last unit. Backends
map their foreign failures to ServiceUnavailable; stages apply `on_backend_error`.
"""

from __future__ import annotations

import itertools
import logging
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from bastion.core.context import RequestContext
from bastion.cost.periods import Period
from bastion.limits.scopes import ScopeLimit

log = logging.getLogger("bastion.limits")

DeniedKind = Literal["requests", "tokens", "parallel", "too_large"]

_LEASE_PREFIX = secrets.token_hex(6)  # per process: lease ids never repeat across workers and replicas
_lease_seq = itertools.count(1)
_LEASE_KEY = "_lease_id"


def lease_id(ctx: RequestContext) -> str:
    """The id a request's concurrency lease and budget reservation are held under: unique per
    request in the whole deployment. Not the request id, which a trusted proxy may choose (two
    requests sharing a lease or reservation member would merge them, and a budget could then be
    overspent)."""
    lid = ctx.state.get(_LEASE_KEY)
    if not isinstance(lid, str):
        lid = ctx.state[_LEASE_KEY] = f"{_LEASE_PREFIX}.{next(_lease_seq):x}"
    return lid


@dataclass(slots=True)
class RateDecision:
    """The outcome of acquiring rate limits. On success, `req_*`/`tok_*` describe the most
    restrictive requests and tokens scope (None limit: none applies) for OpenAI's headers."""

    allowed: bool
    retry_after: float = 0.0
    denied_index: int = -1  # index into the scopes passed
    denied_kind: DeniedKind | None = None
    req_limit: int | None = None
    req_remaining: int = 0
    req_reset: float = 0.0
    tok_limit: int | None = None
    tok_remaining: int = 0
    tok_reset: float = 0.0


@dataclass(slots=True, frozen=True)
class BudgetSlot:
    """One budget's counter for one period label: spend and reservations live here."""

    scope: str  # key_scope(...) or team_scope(...)
    period: Period
    label: str
    limit: int = 0  # micro-USD; unused when the slot only records spend
    expires_at: int | None = None  # unix second after which the counter may be dropped (None: never)


@dataclass(slots=True, frozen=True)
class BudgetDecision:
    allowed: bool
    denied_index: int = -1
    spent: int = 0
    reserved: int = 0


BUDGET_ALLOWED = BudgetDecision(True)  # every admission is the same decision: one object for all


class FailureCounter:
    """Counts backend failures for metrics (`count`) and logs them loudly, at most once a second
    per operation so that an outage cannot flood the log."""

    __slots__ = ("_last", "count")

    def __init__(self) -> None:
        self.count = 0
        self._last: dict[str, float] = {}

    def record(self, op: str, reason: str) -> None:
        self.count += 1
        now = time.monotonic()
        if now - self._last.get(op, -10.0) >= 1.0:
            self._last[op] = now
            log.error("limits backend failure during %s: %s (failures so far: %d)", op, reason, self.count)


class LimitsBackend(Protocol):
    """Counters for rate limits and budgets (memory: one process; redis: shared by replicas).

    `now` is unix seconds; None means the backend's own clock (Redis: the server's TIME, one
    clock for every replica). `failures` counts operations that failed (read by metrics).
    """

    kind: str
    failures: FailureCounter

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def acquire(self, rid: str, scopes: Sequence[ScopeLimit], tokens: int,
                      now: float | None = None) -> RateDecision:
        """Take one request and `tokens` tokens from every scope and a concurrency lease
        `rid` where max_parallel is set, or nothing at all."""
        ...

    async def release(self, rid: str, scopes: Sequence[ScopeLimit], token_delta: int,
                      now: float | None = None) -> None:
        """After the call: correct the token estimate by `token_delta` (actual - estimated;
        negative gives tokens back) and release the concurrency leases of `rid`."""
        ...

    async def reserve(self, rid: str, slots: Sequence[BudgetSlot], amount: int, now: float) -> BudgetDecision:
        """Reserve `amount` micro-USD on every slot if spent + reserved + amount <= limit on all."""
        ...

    async def settle(self, rid: str, reserved: Sequence[BudgetSlot], amount: int, actual: int,
                     spend: Sequence[BudgetSlot], now: float) -> None:
        """Release the reservation of `amount` on `reserved` and add `actual` to `spend`."""
        ...

    async def admit(self, rid: str, scopes: Sequence[ScopeLimit], tokens: int, now: float | None,
                    slots: Sequence[BudgetSlot], amount: int, budget_now: float
                    ) -> tuple[RateDecision, BudgetDecision | None]:
        """`acquire`, then `reserve` only if it admitted, as one atomic step (one round trip on
        Redis); the budget decision is None when the rate limits refused."""
        ...

    async def conclude(self, rid: str, scopes: Sequence[ScopeLimit], token_delta: int, now: float | None,
                       reserved: Sequence[BudgetSlot], amount: int, actual: int,
                       spend: Sequence[BudgetSlot], budget_now: float) -> None:
        """`release` and `settle` of one request in one step (one round trip on Redis)."""
        ...

    async def budget_state(self, slot: BudgetSlot) -> tuple[int, int]:
        """(spent, reserved) micro-USD of one slot."""
        ...
