"""The budget stage ("cost"): reserve the worst-case price against every budget that applies
before the call, settle the actual cost after it, and record usage.

Worst case = an upper bound of the input tokens (limits/estimate.py `input_bound`: one token per
UTF-8 byte plus framing) + max output tokens at the most expensive target of the model alias (any
target may end up serving it after a fallback). Refusal is 429 `budget_exceeded`
with `x-should-retry: false` (the SDKs would otherwise retry a budget that cannot recover).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial

from bastion.config.limits import LimitsConfig, TeamConfig
from bastion.core.context import Principal, RequestContext
from bastion.core.errors import BudgetExceeded, InternalError, ServiceUnavailable
from bastion.core.makers import maker
from bastion.core.types import ChatRequest, EmbeddingsRequest
from bastion.cost.periods import PERIODS, Period, PeriodLabels, labels_at
from bastion.cost.pricing import PICO_PER_MICRO, Price, PriceTable, format_usd, usd_to_micros
from bastion.cost.usage import UsageRecorder
from bastion.limits.backend import BudgetDecision, BudgetSlot, LimitsBackend, lease_id
from bastion.limits.estimate import TokenEstimate, actual_usage, estimate_for, input_bound, upstream_reached
from bastion.limits.late import LateConclusions, horizon
from bastion.limits.memory import MemoryBackend
from bastion.limits.scopes import key_scope, team_scope
from bastion.limits.stage import backend_unavailable

_native_settle: Callable[[Reservation, RequestContext, dict[str, Price], dict[tuple[str, str, str, str], list[int]],
                          int, int], int | None] | None
try:
    from bastion._native import settle_usage as _native_settle
except ImportError:  # not built: `settlement`'s Python code
    _native_settle = None

log = logging.getLogger("bastion.cost")
_GRACE = 2 * 86400  # spend counters outlive their period a little, for late settlements
_DAY = 86400


@dataclass(slots=True)
class Reservation:
    """What `check` reserved, for `finish` to settle."""

    estimate: TokenEstimate | None  # None: no budget applied, estimated only if the settlement needs it
    labels: PeriodLabels
    price: Price | None
    now: float = 0.0
    slots: tuple[BudgetSlot, ...] = ()  # reserved on (empty until the reservation succeeded)
    amount: int = 0
    done: bool = False
    names: dict[str, str] = field(default_factory=dict)
    wanted: tuple[BudgetSlot, ...] = ()  # the budgets that apply, to reserve on
    partnered: bool = False  # reserved and settled by the rate-limit stage, in its backend calls
    request: ChatRequest | EmbeddingsRequest | None = None  # for an estimate put off until the settlement
    uncapped: ChatRequest | None = None  # reserved for the default output: gets it as max_tokens once admitted
    spend: list[BudgetSlot] = field(default_factory=list)  # what the settlement adds the actual cost to


# Reservation(...) by position, every field given, made without the class call (core/makers.py)
_RESERVATION = maker(Reservation)


class BudgetStage:
    name = "cost"

    def __init__(self, backend: LimitsBackend, prices: PriceTable, limits: LimitsConfig,
                 teams: Mapping[str, TeamConfig], model_targets: Mapping[str, list[str]], *,
                 recorder: UsageRecorder | None = None, clock: Callable[[], float] | None = None) -> None:
        self._backend = backend
        self.late = LateConclusions(horizon(limits.lease_ttl_seconds))
        self._prices = prices
        self._block = limits.on_backend_error == "block"
        self._default_out = limits.default_max_output_tokens
        self._team_budgets = {name: tuple((usd_to_micros(b.usd), b.period) for b in t.budgets)
                              for name, t in teams.items()}
        # per alias: (dearest input, dearest output, price) of each priced target, for `_worst`
        self._worst_rows = {alias: tuple(_worst_row(p) for p in (prices.get(m) for m in models) if p is not None)
                            for alias, models in model_targets.items()}
        # the row of each alias with a single priced target: `plan` prices it without `_worst`'s call and loop
        self._only_row = {alias: rows[0] for alias, rows in self._worst_rows.items() if len(rows) == 1}
        self._recorder = recorder
        self._priced: dict[str, Price] = {}  # upstream model -> its price, as the table gives it (see _price_of)
        self._clock = clock or time.time
        # Per-request allocations dominate this stage's cost: slots are cached per key and day
        # (principal, day, budget slots, their names, spend slots).
        self._slot_cache: dict[str, tuple[Principal, str, tuple[BudgetSlot, ...], dict[str, str], list[BudgetSlot]]] = {}
        # (first, last + 1 unix second, labels) of the UTC day `plan` last ran in: labels_at without its call
        first = labels_at(0.0)
        self._day: tuple[float, float, PeriodLabels] = (0.0, float(first.day_end), first)
        self.served_unchecked = 0  # requests served without a budget check because the backend failed
        # The in-process backend, its settlement called without the coroutine wrapper (it reads neither
        # the lease id nor the time); exactly that class, so a subclass overriding a method keeps the general path.
        self._mem = backend if type(backend) is MemoryBackend else None

    def _worst(self, model: str, input_tokens: int, output_tokens: int) -> tuple[int, Price | None]:
        """(micro-USD, price) of the dearest target of `model` for that many tokens in and out:
        Price.worst_case_micros over the targets, inlined (this runs on every request)."""
        rows = self._worst_rows.get(model)
        if rows is None:
            direct = self._prices.get(model)
            rows = (_worst_row(direct),) if direct is not None else ()
        tokens_in = input_tokens if input_tokens > 0 else 0
        tokens_out = output_tokens if output_tokens > 0 else 0
        amount, price = 0, None
        for worst_in, worst_out, candidate in rows:
            micros = -(-(tokens_in * worst_in + tokens_out * worst_out) // PICO_PER_MICRO)
            if price is None or micros > amount:
                amount, price = micros, candidate
        return amount, price

    def _slots(self, p: Principal, labels: PeriodLabels
               ) -> tuple[Principal, str, tuple[BudgetSlot, ...], dict[str, str], list[BudgetSlot]]:
        """(p, day, the budget slots of `p`, their names, its spend slots) on the day of `labels`."""
        hit = self._slot_cache.get(p.key_id)
        if hit is not None and hit[0] is p and hit[1] == labels.day:
            return hit
        slots, names = self._build_slots(p, labels)
        if len(self._slot_cache) > 50_000:
            self._slot_cache.clear()
        hit = self._slot_cache[p.key_id] = (p, labels.day, slots, names, _spend_slots(p, labels))
        return hit

    def _build_slots(self, p: Principal, labels: PeriodLabels) -> tuple[tuple[BudgetSlot, ...], dict[str, str]]:
        chosen: dict[tuple[str, Period], int] = {}
        names: dict[str, str] = {}
        ks = key_scope(p.key_id)
        names[ks] = f"key {p.key_id!r}"
        for b in p.budgets:
            _keep_min(chosen, (ks, b.period), b.micros)
        if p.team is not None:
            ts = team_scope(p.team)
            names[ts] = f"team {p.team!r}"
            for micros, period in self._team_budgets.get(p.team, ()):
                _keep_min(chosen, (ts, period), micros)
        slots = tuple(BudgetSlot(scope, period, labels.label(period), limit, _expiry(labels, period))
                      for (scope, period), limit in chosen.items())
        return slots, names

    def plan(self, ctx: RequestContext, request: ChatRequest | EmbeddingsRequest,
             est: TokenEstimate | None = None, partnered: bool = False) -> Reservation:
        """What this request would reserve, and on which budgets (no backend call). `est`: the
        request's estimate if the caller has it (the rate-limit stage); `partnered`: the rate-limit
        stage reserves and settles it."""
        p = ctx.principal
        if p is None:
            raise InternalError("budgets ran before authentication")
        now = self._clock()
        start, end, labels = self._day  # labels_at, for the day of the last call
        if not start <= now < end:
            labels = labels_at(now)
            self._day = (labels.day_end - _DAY, labels.day_end, labels)
        hit = self._slot_cache.get(p.key_id)  # self._slots, its cache hit inlined
        if hit is None or hit[0] is not p or hit[1] != labels.day:
            hit = self._slots(p, labels)
        _, _, slots, names, spend = hit
        if not slots:  # nothing to reserve: the estimate waits until a settlement without reported usage needs it
            # (by position, as below: estimate, labels, price, now, slots, amount, done, names, wanted,
            # partnered, request, uncapped, spend)
            return _RESERVATION(None, labels, None, now, (), 0, False, names, (), partnered, request, None, spend)
        if est is None:
            est = estimate_for(ctx, request, self._default_out)  # what a settlement without reported usage charges
        model = ctx.model or request.model
        bound = est.bound or input_bound(request)
        only = self._only_row.get(model)
        if only is not None:  # _worst of a single row, inlined
            out = est.output
            amount = -(-((bound if bound > 0 else 0) * only[0] + (out if out > 0 else 0) * only[1]) // PICO_PER_MICRO)
            price: Price | None = only[2]
        else:
            amount, price = self._worst(model, bound, est.output)
        uncapped = request if isinstance(request, ChatRequest) and not request.max_tokens else None
        # By position (estimate, labels, price, now, slots, amount, done, names, wanted, partnered, request,
        # uncapped, spend): keywords make a class call build and unpack a dict of them.
        return _RESERVATION(est, labels, price, now, (), amount, False, names, slots, partnered, None, uncapped, spend)

    def _estimated(self, ctx: RequestContext, res: Reservation) -> TokenEstimate:
        """The reservation's estimate (and worst-case price), computed now if `plan` put it off."""
        if res.estimate is None:
            assert res.request is not None
            res.estimate = estimate_for(ctx, res.request, self._default_out)
            res.price = self._worst(ctx.model or res.request.model, res.estimate.input, res.estimate.output)[1]
        return res.estimate

    def admitted(self, ctx: RequestContext, res: Reservation, d: BudgetDecision | None) -> None:
        """Apply the backend's decision on `res.wanted` (None: nothing was asked): keep the
        reservation for `finish`, or refuse with 429 budget_exceeded."""
        if d is not None and not d.allowed:
            s = res.wanted[d.denied_index]
            end = s.expires_at - _GRACE if s.expires_at is not None else None
            per = "in total" if s.period == "total" else f"per {s.period} ({s.label}, UTC)"
            if res.amount > s.limit:  # it could never fit, not even in the next period: no Retry-After
                raise BudgetExceeded(
                    f"Budget exceeded for {res.names[s.scope]}: this request may cost up to ${format_usd(res.amount)} "
                    f"(the prompt at one token per byte + max_tokens at the model's price), more than the whole budget of "
                    f"${format_usd(s.limit)} {per}; lower max_tokens or the prompt size.",
                    retry_after=None, headers={"x-should-retry": "false"})
            raise BudgetExceeded(
                f"Budget exceeded for {res.names[s.scope]}: ${format_usd(s.limit)} {per}; spent ${format_usd(d.spent)}, reserved by requests in flight "
                f"${format_usd(d.reserved)}, and this request may cost up to ${format_usd(res.amount)}.",
                retry_after=None if end is None else float(max(1, int(end - res.now))),
                headers={"x-should-retry": "false"})
        if d is not None:
            res.slots = res.wanted
            if res.uncapped is not None:
                # The reservation priced default_max_output_tokens of output; without a cap the
                # provider would generate up to the model's own maximum and overspend the budget.
                res.uncapped.max_tokens = self._default_out
        else:
            res.amount = 0
        ctx.state[self.name] = res

    def unchecked(self, ctx: RequestContext, res: Reservation) -> None:
        """The backend failed: refuse (on_backend_error: block) or serve without a budget check."""
        if self._block:
            raise backend_unavailable(self._backend.kind, "budgets") from None
        self.served_unchecked += 1
        log.error("serving request %s WITHOUT a budget check: limits backend (%s) unreachable "
                  "(limits.on_backend_error: allow)", ctx.request_id, self._backend.kind)
        res.amount = 0
        ctx.state[self.name] = res

    async def check(self, ctx: RequestContext, request: ChatRequest | EmbeddingsRequest) -> None:
        if ctx.operation == "models":
            return
        prior = ctx.state.get(self.name)
        if isinstance(prior, Reservation) and prior.partnered:
            return  # the rate-limit stage has reserved (or refused) with its own backend call
        res = self.plan(ctx, request)
        if not res.wanted:
            self.admitted(ctx, res, None)
            return
        try:
            d = await self._backend.reserve(lease_id(ctx), res.wanted, res.amount, res.now)
        except ServiceUnavailable:
            self.unchecked(ctx, res)
            return
        self.admitted(ctx, res, d)

    def settlement(self, ctx: RequestContext, res: Reservation) -> tuple[int, list[BudgetSlot]] | None:
        """Price the request, record its usage, and say what to settle: (actual micro-USD, the
        spend slots); None without a principal. Marks the reservation done."""
        recorder = self._recorder
        if _native_settle is not None and recorder is not None:
            # The usual request (its usage known, no cache or reasoning tokens, its served model priced
            # already, a principal), its usage row included, in one C call (_native_audit.c: the same
            # integers; ~7k instructions here, ~1.5k there (callgrind)); anything else, the code below
            actual = _native_settle(res, ctx, self._priced, recorder._pending, recorder._max, PICO_PER_MICRO)
            if actual is not None:
                return actual, res.spend
        res.done = True
        usage = ctx.usage
        if usage is None:
            usage = actual_usage(ctx, self._estimated(ctx, res), upstream_reached=upstream_reached(ctx))
            if usage.input_tokens or usage.output_tokens:
                # what is charged (a cut stream: what was streamed) is what the metrics, the access
                # log and the audit record count, as the usage report does
                ctx.usage = usage
        attempts = ctx.attempts  # _served_price, its usual case (the last attempt served) inlined
        last = attempts[-1] if attempts else None
        if last is not None and last.outcome == "ok":
            # PriceTable.get without its call, once the model is priced
            price = self._priced.get(last.model) or self._price_of(last.model)
        else:
            price = self._served_price(ctx)
        if price is None:
            self._estimated(ctx, res)
            price = res.price
        if price is None:
            actual = 0
        elif usage.cached_input_tokens <= 0 and usage.cache_write_tokens <= 0 and usage.reasoning_tokens <= 0:
            # Price.cost_pico's usual case, without its call (the general case below gives the same)
            i, o = usage.input_tokens, usage.output_tokens
            actual = -(-((i if i > 0 else 0) * price.input + (o if o > 0 else 0) * price.output) // PICO_PER_MICRO)
        else:
            actual = -(-price.cost_pico(usage) // PICO_PER_MICRO)  # (cost_micros)
        ctx.cost_micros = actual
        p = ctx.principal
        if p is None:
            return None
        if recorder is not None:
            recorder.record(res.labels.day, p.key_id, p.team, ctx.model or "", usage.input_tokens,
                            usage.output_tokens, actual)
        return actual, res.spend

    def partner_settlement(self, ctx: RequestContext, timed: bool = True
                           ) -> tuple[Reservation, int, list[BudgetSlot], float] | None:
        """For the rate-limit stage's `finish`: the settlement of a reservation it made
        (reservation, actual micro-USD, spend slots, now; now is 0.0 unless `timed`: the
        in-process backend does not read it)."""
        res = ctx.state.get(self.name)
        if not isinstance(res, Reservation) or res.done or not res.partnered:
            return None
        try:
            s = self.settlement(ctx, res)
        except Exception as e:  # a finaliser never raises
            self._backend.failures.record("cost.finish", type(e).__name__)
            return None
        return None if s is None else (res, s[0], s[1], self._clock() if timed else 0.0)

    def finisher(self) -> Callable[[RequestContext], None] | None:
        """`finish` as a plain call on the in-process backend (pipeline/runner.py `FinishesNow`)."""
        return self._finish_mem if self._mem is not None else None

    def _finish_mem(self, ctx: RequestContext) -> None:
        """`finish` on the in-process backend: its `settle` (`account`), called directly."""
        res = ctx.state.get(self.name)
        if not isinstance(res, Reservation) or res.done or res.partnered:
            return
        mem = self._mem
        assert mem is not None
        try:
            s = self.settlement(ctx, res)
            if s is not None:
                mem.account(res.slots, res.amount, s[0], s[1])
        except Exception as e:  # a finaliser never raises
            self._backend.failures.record("cost.finish", type(e).__name__)

    async def finish(self, ctx: RequestContext) -> None:
        if self._mem is not None:
            self._finish_mem(ctx)
            return
        res = ctx.state.get(self.name)
        if not isinstance(res, Reservation) or res.done or res.partnered:
            return
        try:
            s = self.settlement(ctx, res)
            if s is None:
                return
            rid, now = lease_id(ctx), self._clock()
            try:
                await self._backend.settle(rid, res.slots, res.amount, s[0], s[1], now)
            except ServiceUnavailable:  # counted by the backend; retried (limits/late.py)
                self.late.retry(partial(self._backend.settle, rid, res.slots, res.amount, s[0], s[1], now))
        except Exception as e:  # a finaliser never raises
            self._backend.failures.record("cost.finish", type(e).__name__)

    def _served_price(self, ctx: RequestContext) -> Price | None:
        for a in reversed(ctx.attempts):
            if a.outcome == "ok":
                return self._price_of(a.model)
        return None

    def _price_of(self, model: str) -> Price | None:
        """The price table's price of `model`, kept in `_priced` when it has one (the table never changes)."""
        price = self._prices.get(model)
        if price is not None and len(self._priced) < 10_000:
            self._priced[model] = price
        return price


def _spend_slots(p: Principal, labels: PeriodLabels) -> list[BudgetSlot]:
    """Every period of the key and its team records spend, budget or not, so a budget set
    later in a period starts from what was already spent."""
    scopes = [key_scope(p.key_id)] + ([team_scope(p.team)] if p.team is not None else [])
    return [BudgetSlot(s, period, labels.label(period), 0, _expiry(labels, period)) for s in scopes for period in PERIODS]


def _worst_row(price: Price) -> tuple[int, int, Price]:
    worst_in, worst_out = price.worst_rates()
    return worst_in, worst_out, price


def _keep_min(chosen: dict[tuple[str, Period], int], key: tuple[str, Period], micros: int) -> None:
    cur = chosen.get(key)
    if cur is None or micros < cur:
        chosen[key] = micros


def _expiry(labels: PeriodLabels, period: Period) -> int | None:
    end = labels.end(period)
    return None if end is None else end + _GRACE
