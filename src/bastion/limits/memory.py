"""In-process counters: the single-process default. Every operation runs without an `await`
inside, so under asyncio it is atomic. Memory stays bounded: a bucket that has refilled is
indistinguishable from a missing one and is swept, a released concurrency counter is dropped,
and budget counters keep one account per budget scope, of its current periods only.

Spend does not live here across restarts: the usage table is (cost/usage.py), and `seed_spend`
loads the current periods' totals from it at start-up.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal

from bastion.cost.periods import PERIODS, Period
from bastion.limits.backend import BUDGET_ALLOWED, BudgetDecision, BudgetSlot, FailureCounter, RateDecision
from bastion.limits.bucket import PERIOD_SECONDS, wait_for
from bastion.limits.scopes import ScopeLimit

_bucket_take: Callable[[dict[str, list[float]], dict[str, int], tuple[tuple[int, str, str, int, float], ...], int,
                        float], tuple[Any, ...] | None] | None
_bucket_give_back: Callable[[dict[str, list[float]], dict[str, int], tuple[tuple[int, str, str, int, float], ...],
                             int, float], bool | None] | None
try:  # the buckets' arithmetic in C (_native_bucket.c): the same floats, bit for bit
    from bastion._native import bucket_give_back as _bucket_give_back
    from bastion._native import bucket_take as _bucket_take
except ImportError:  # not built: the Python below
    _bucket_take = _bucket_give_back = None
_bucket_take_headed: Callable[[dict[str, list[float]], dict[str, int], tuple[tuple[int, str, str, int, float], ...], int,
                               float, dict[str, str]], tuple[Any, ...] | Literal[True] | None] | None
_ledger_hold: Callable[[list[Any], int, type, type], int | bool | None] | None
_ledger_account: Callable[[list[Any], int, int, list[Any], type, type], bool | None] | None
_bucket_conclude: Callable[..., bool | None] | None
_bucket_admit: Callable[..., bool | int | None] | None
try:  # the take with its headers, and the budget counters' steps on memoised counters, in C
    from bastion._native import bucket_admit as _bucket_admit
    from bastion._native import bucket_conclude as _bucket_conclude
    from bastion._native import bucket_take_headed as _bucket_take_headed
    from bastion._native import ledger_account as _ledger_account
    from bastion._native import ledger_hold as _ledger_hold
except ImportError:
    _bucket_take_headed = _ledger_hold = _ledger_account = _bucket_conclude = _bucket_admit = None

_SWEEP_EVERY = 4096
_MEMO_MAX = 4096
_PLANS_MAX = 4096

# One counter of a scope: (scope index, kind, bucket key or scope id, limit, the limit as a float);
# kinds by identity. A plan: every row in check order, and the rows a release touches (tokens, parallel).
_REQUESTS, _TOKENS, _PARALLEL = "requests", "tokens", "parallel"
_Row = tuple[int, str, str, int, float]
_Plan = tuple[tuple[_Row, ...], tuple[_Row, ...]]
_PERIOD_INDEX = {p: i for i, p in enumerate(PERIODS)}


def _hold(counters: list[_Counter], amount: int) -> BudgetDecision:
    """`hold` on its counters in Python (what the C one does; anything it does not handle)."""
    for c in counters:
        p, a, limit = c
        if a.spent - p.base + p.reserved + amount > limit:  # (the first counter equal to c refuses alike)
            return BudgetDecision(False, counters.index(c), a.spent - p.base, p.reserved)
    for p, _, _ in counters:
        p.reserved += amount
    return BUDGET_ALLOWED


def _refused(rows: tuple[_Row, ...], r: tuple[Any, ...], tokens: int) -> RateDecision:
    """The decision of a take the C code refused: by row r[0] (its bucket's level r[1]; None: parallel or too large)."""
    i, kind, _, limit, _ = rows[r[0]]
    if kind is _PARALLEL:
        return RateDecision(False, 1.0, i, "parallel")
    if kind is _TOKENS:
        if r[1] is None:
            return RateDecision(False, 60.0, i, "too_large")
        return RateDecision(False, wait_for(r[1], tokens, limit), i, "tokens")
    return RateDecision(False, wait_for(r[1], 1, limit) if limit > 0 else 60.0, i, "requests")


class _Period:
    """One period of a budget account: its label, the account's running spend when it began
    (`base`: the period's spend is the difference) and what requests in flight reserved in it."""

    __slots__ = ("base", "label", "reserved")

    def __init__(self) -> None:
        self.label: str | None = None  # None: not used yet
        self.base = 0
        self.reserved = 0


class _Account:
    """Spend and reservations of one budget scope (a key or a team) in its current periods
    (`periods`, by PERIODS index). Spend is one running sum and a period's spend is derived from
    it, so a settlement adds once per scope, not once per period."""

    __slots__ = ("periods", "spent")

    def __init__(self) -> None:
        self.spent = 0
        self.periods = [_Period() for _ in PERIODS]


_Counter = tuple[_Period, _Account, int]  # a period of an account, the account, the budget's limit in it
_SpendRow = tuple[_Account, tuple[_Period, ...]]  # an account spend adds to, its periods the spend is not of


class MemoryBackend:
    kind = "memory"

    def __init__(self, clock: Callable[[], float] = time.time, max_buckets: int = 200_000) -> None:
        self._clock = clock
        self.failures = FailureCounter()
        # bucket id -> [level, stamp, limit]
        self._buckets: dict[str, list[float]] = {}
        self._parallel: dict[str, int] = {}
        self._ledger: dict[str, _Account] = {}  # budget scope -> its account
        self._ops = 0
        self._max_buckets = max_buckets
        self._sweep_at = max_buckets
        # id(scope tuple) -> (that tuple, its plan): see _plan
        self._plans: dict[int, tuple[Sequence[ScopeLimit], _Plan]] = {}
        # id(slots reserved on) -> (those slots, ledger generation, their counters): see _counters;
        # id(spend slots) -> the same with what settle adds to (see _spend_plan). The generation
        # counts roll-overs: a memo of an older one may name a period that is no longer current.
        self._slot_memo: dict[int, tuple[Sequence[BudgetSlot], int, list[_Counter]]] = {}
        self._spend_memo: dict[int, tuple[Sequence[BudgetSlot], int, list[_SpendRow]]] = {}
        self._generation = 0

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def _plan(self, scopes: Sequence[ScopeLimit]) -> _Plan:
        """The counters of `scopes` in the order they are checked, read off once per scope tuple
        (the resolver hands out the same tuple per key and model): (scope index, kind, bucket key
        or scope id, limit, float(limit)); and those of them a release changes (tokens, parallel)."""
        plan = self._plans.get(id(scopes))
        if plan is not None and plan[0] is scopes:
            return plan[1]
        rows: list[_Row] = []
        for i, s in enumerate(scopes):
            if s.rpm is not None:
                rows.append((i, _REQUESTS, s.id + "|r", s.rpm, float(s.rpm)))
            if s.tpm is not None:
                rows.append((i, _TOKENS, s.id + "|t", s.tpm, float(s.tpm)))
            if s.max_parallel is not None:
                rows.append((i, _PARALLEL, s.id, s.max_parallel, float(s.max_parallel)))
        if len(self._plans) >= _PLANS_MAX:
            self._plans.clear()
        out = (tuple(rows), tuple(r for r in rows if r[1] is not _REQUESTS))
        self._plans[id(scopes)] = (scopes, out)
        return out

    async def acquire(self, rid: str, scopes: Sequence[ScopeLimit], tokens: int,
                      now: float | None = None) -> RateDecision:
        return self.take(scopes, tokens, now)

    def take(self, scopes: Sequence[ScopeLimit], tokens: int, now: float | None) -> RateDecision:
        """`acquire`, synchronously (the rate-limit stage calls it directly)."""
        t = self._clock() if now is None else now
        if _bucket_take is not None:
            memo = self._plans.get(id(scopes))  # self._plan, its hit inlined
            rows = memo[1][0] if memo is not None and memo[0] is scopes else self._plan(scopes)[0]
            r = _bucket_take(self._buckets, self._parallel, rows, tokens, t)
            if r is not None:
                if len(r) == 2:
                    return _refused(rows, r, tokens)
                self._ops += 1
                if self._ops % _SWEEP_EVERY == 0 or len(self._buckets) > self._sweep_at:
                    self._sweep(t)
                req_limit, req_rem, req_left, tok_limit, tok_rem, tok_left = r
                return RateDecision(True, 0.0, -1, None,
                                    req_limit or None, req_rem,
                                    (req_limit - req_left) * PERIOD_SECONDS / req_limit if req_left < req_limit else 0.0,
                                    tok_limit or None, tok_rem,
                                    (tok_limit - tok_left) * PERIOD_SECONDS / tok_limit if tok_left < tok_limit else 0.0)
        return self._take(scopes, tokens, t)

    def take_headed(self, scopes: Sequence[ScopeLimit], tokens: int, now: float | None,
                    headers: dict[str, str]) -> RateDecision | None:
        """`take`, and when it admits in C, OpenAI's x-ratelimit-* headers written into `headers` as
        the rate-limit stage writes them from the decision: then None. Otherwise the decision (refused,
        or admitted by the Python code: the caller writes the headers)."""
        t = self._clock() if now is None else now
        if _bucket_take_headed is not None:
            memo = self._plans.get(id(scopes))  # self._plan, its hit inlined
            rows = memo[1][0] if memo is not None and memo[0] is scopes else self._plan(scopes)[0]
            r = _bucket_take_headed(self._buckets, self._parallel, rows, tokens, t, headers)
            if r is True:
                self._ops += 1
                if self._ops % _SWEEP_EVERY == 0 or len(self._buckets) > self._sweep_at:
                    self._sweep(t)
                return None
            if isinstance(r, tuple):
                return _refused(rows, r, tokens)
        return self._take(scopes, tokens, t)

    def admit_headed(self, scopes: Sequence[ScopeLimit], tokens: int, now: float | None, headers: dict[str, str],
                     slots: Sequence[BudgetSlot], amount: int) -> tuple[RateDecision | None, BudgetDecision | None]:
        """`take_headed` then, when it admits, `hold` (`admit`, synchronously): (the take's decision, None
        when its headers are written; the hold's decision, None when the take refused). In one C call, all
        or nothing, on the memoised plan and counters when they are current, else the two steps."""
        t = self._clock() if now is None else now
        if _bucket_admit is not None:
            r = _bucket_admit(self._buckets, self._parallel, self._plans, self._slot_memo, self._generation, scopes,
                              tokens, t, headers, slots, amount, _Period, _Account)
            if r is not None:
                self._ops += 1
                if self._ops % _SWEEP_EVERY == 0 or len(self._buckets) > self._sweep_at:
                    self._sweep(t)
                if r is True:
                    return None, BUDGET_ALLOWED
                p, a, _ = self._slot_memo[id(slots)][2][r]  # refused by counter r: nothing held
                return None, BudgetDecision(False, r, a.spent - p.base, p.reserved)
        d = self.take_headed(scopes, tokens, t, headers)
        if d is not None and not d.allowed:
            return d, None
        return d, self.hold(slots, amount)

    def _take(self, scopes: Sequence[ScopeLimit], tokens: int, t: float) -> RateDecision:
        """`take` in Python (what the C one does; anything it does not handle)."""
        # bucket.level_at, remaining and full_after inlined (this runs on every request; a Python
        # call costs more than the arithmetic).
        buckets = self._buckets
        counts = self._parallel
        new: list[tuple[list[float] | None, str, float, float]] = []  # (bucket, key, new level, float limit)
        parallel: list[str] | None = None
        req_limit = tok_limit = 0  # of the requests / tokens scope with the fewest left (0: none yet)
        req_left = tok_left = 0.0
        req_rem = tok_rem = 0
        for i, kind, key, limit, flimit in self._plan(scopes)[0]:
            if kind is _PARALLEL:
                if counts.get(key, 0) >= limit:
                    return RateDecision(False, 1.0, i, "parallel")
                if parallel is None:
                    parallel = [key]
                else:
                    parallel.append(key)
                continue
            if kind is _TOKENS:
                if tokens > limit:
                    return RateDecision(False, 60.0, i, "too_large")
                need = tokens
            else:
                need = 1
            b = buckets.get(key)
            if b is None:
                cur = flimit
            else:
                cur = b[0]
                elapsed = t - b[1]
                if elapsed > 0:
                    cur += elapsed * limit / PERIOD_SECONDS
                if cur > limit:
                    cur = flimit
            if cur < need:
                if kind is _TOKENS:
                    return RateDecision(False, wait_for(cur, tokens, limit), i, "tokens")
                # rpm 0 admits nothing: asked again after a period, as the Redis backend says
                return RateDecision(False, wait_for(cur, 1, limit) if limit > 0 else 60.0, i, "requests")
            cur -= need
            new.append((b, key, cur, flimit))
            rem = int(cur)  # cur >= 0: floor
            if kind is _TOKENS:
                if not tok_limit or rem < tok_rem:
                    tok_limit, tok_rem, tok_left = limit, rem, cur
            elif not req_limit or rem < req_rem:
                req_limit, req_rem, req_left = limit, rem, cur
        for b, key, level, flimit in new:
            if b is None:
                buckets[key] = [level, t, flimit]
            else:
                b[0] = level
                b[1] = t
                b[2] = flimit
        if parallel is not None:
            for sid in parallel:
                counts[sid] = counts.get(sid, 0) + 1
        self._ops += 1
        if self._ops % _SWEEP_EVERY == 0 or len(buckets) > self._sweep_at:
            self._sweep(t)
        # A limit admitting a request is >= 1, so a 0 limit above means none applied; full_after
        # of a level below its limit. By position (allowed, retry_after, denied_index,
        # denied_kind, req_*, tok_*): keywords make a class call build and unpack a dict of them.
        return RateDecision(True, 0.0, -1, None,
                            req_limit or None, req_rem,
                            (req_limit - req_left) * PERIOD_SECONDS / req_limit if req_left < req_limit else 0.0,
                            tok_limit or None, tok_rem,
                            (tok_limit - tok_left) * PERIOD_SECONDS / tok_limit if tok_left < tok_limit else 0.0)

    async def release(self, rid: str, scopes: Sequence[ScopeLimit], token_delta: int,
                      now: float | None = None) -> None:
        self.give_back(scopes, token_delta, now)

    def give_back(self, scopes: Sequence[ScopeLimit], token_delta: int, now: float | None) -> None:
        """`release`, synchronously (the rate-limit stage calls it directly)."""
        t = self._clock() if now is None else now
        if _bucket_give_back is not None:
            memo = self._plans.get(id(scopes))  # self._plan, its hit inlined
            rows = memo[1][1] if memo is not None and memo[0] is scopes else self._plan(scopes)[1]
            if _bucket_give_back(self._buckets, self._parallel, rows, token_delta, t) is not None:
                return
        self._give_back(scopes, token_delta, t)

    def _give_back(self, scopes: Sequence[ScopeLimit], token_delta: int, t: float) -> None:
        """`give_back` in Python (what the C one does; anything it does not handle)."""
        buckets = self._buckets
        counts = self._parallel
        for _i, kind, key, limit, flimit in self._plan(scopes)[1]:  # tokens and parallel rows only
            if kind is _TOKENS:
                if token_delta:
                    b = buckets.get(key)
                    if b is None:
                        cur = flimit - token_delta
                    else:  # bucket.level_at, inlined
                        level = b[0]
                        elapsed = t - b[1]
                        if elapsed > 0:
                            level += elapsed * limit / PERIOD_SECONDS
                        cur = (flimit if level > limit else level) - token_delta
                    if cur > limit:  # min(), without a builtin call
                        cur = flimit
                    if b is None:
                        buckets[key] = [cur, t, flimit]
                    else:
                        b[0] = cur
                        b[1] = t
            else:  # parallel
                n = counts.get(key, 0) - 1
                if n > 0:
                    counts[key] = n
                else:
                    counts.pop(key, None)

    def _sweep(self, now: float) -> None:
        full = [k for k, (lvl, stamp, lim) in self._buckets.items()
                if lvl + (now - stamp) * lim / 60.0 >= lim]
        for k in full:
            del self._buckets[k]
        # Buckets still in use are never dropped (that would grant a fresh allowance); sweep
        # again only once their number has doubled, so a sweep stays amortised O(1).
        self._sweep_at = max(self._max_buckets, 2 * len(self._buckets))

    # ---- budgets --------------------------------------------------------------------------

    def _period(self, scope: str, period: Period) -> tuple[_Period, _Account]:
        a = self._ledger.get(scope)
        if a is None:
            a = self._ledger[scope] = _Account()
        return a.periods[_PERIOD_INDEX[period]], a

    def _roll(self, p: _Period, a: _Account, label: str) -> None:
        """Start period `p` of `a` afresh under `label`: nothing spent or reserved in it yet."""
        if p.label is not None:
            self._generation += 1
        p.label = label
        p.base = a.spent
        p.reserved = 0

    def _counters(self, slots: Sequence[BudgetSlot]) -> list[_Counter]:
        """The counters of `slots` in their periods (a period of another label rolls over to the
        slot's). The cost stage hands the same slot tuple per key and day: the look-ups are done
        once, and again only after a period rolled over (the generation counts roll-overs)."""
        memo = self._slot_memo.get(id(slots))
        if memo is not None and memo[0] is slots and memo[1] == self._generation:
            return memo[2]
        generation = self._generation
        out: list[_Counter] = []
        for s in slots:
            p, a = self._period(s.scope, s.period)
            if p.label != s.label:
                self._roll(p, a, s.label)
            out.append((p, a, s.limit))
        if len(self._slot_memo) >= _MEMO_MAX:
            self._slot_memo.clear()
        # of the generation before: a period rolled over here makes the next call look again
        self._slot_memo[id(slots)] = (slots, generation, out)
        return out

    async def reserve(self, rid: str, slots: Sequence[BudgetSlot], amount: int, now: float) -> BudgetDecision:
        return self.hold(slots, amount)

    def hold(self, slots: Sequence[BudgetSlot], amount: int) -> BudgetDecision:
        memo = self._slot_memo.get(id(slots))  # self._counters, its hit inlined
        counters = memo[2] if memo is not None and memo[0] is slots and memo[1] == self._generation \
            else self._counters(slots)
        if _ledger_hold is not None:
            r = _ledger_hold(counters, amount, _Period, _Account)
            if r is True:
                return BUDGET_ALLOWED
            if r is not None:  # refused by counter r: nothing changed
                p, a, _ = counters[r]
                return BudgetDecision(False, r, a.spent - p.base, p.reserved)
        return _hold(counters, amount)

    async def settle(self, rid: str, reserved: Sequence[BudgetSlot], amount: int, actual: int,
                     spend: Sequence[BudgetSlot], now: float) -> None:
        self.account(reserved, amount, actual, spend)

    def account(self, reserved: Sequence[BudgetSlot], amount: int, actual: int,
                spend: Sequence[BudgetSlot]) -> None:
        memo = self._slot_memo.get(id(reserved))
        if memo is not None and memo[0] is reserved and memo[1] == self._generation:
            if _ledger_account is not None:  # both memos current: nothing rolls over below; in one C call
                rows = self._spend_memo.get(id(spend))
                if rows is not None and rows[0] is spend and rows[1] == self._generation \
                        and _ledger_account(memo[2], amount, actual, rows[2], _Period, _Account) is True:
                    return
            for p, _, _ in memo[2]:  # the slots' own periods, of their labels: nothing rolled over since
                left = p.reserved - amount
                p.reserved = left if left > 0 else 0
        else:  # a period that rolled over since the reservation no longer holds it
            for s in reserved:
                a = self._ledger.get(s.scope)
                if a is None:
                    continue
                p = a.periods[_PERIOD_INDEX[s.period]]
                if p.label == s.label:
                    left = p.reserved - amount
                    p.reserved = left if left > 0 else 0
        if actual:
            spent = self._spend_memo.get(id(spend))
            if spent is None or spent[0] is not spend or spent[1] != self._generation:
                spent = self._spend_plan(spend)
            for a, others in spent[2]:
                a.spent += actual
                for p in others:  # periods of the account this spend is not of: unchanged
                    p.base += actual

    def _spend_plan(self, spend: Sequence[BudgetSlot]) -> tuple[Sequence[BudgetSlot], int, list[_SpendRow]]:
        """The accounts `spend` adds to, each with the periods it must leave alone: those not in
        `spend`, and those already of a later label (spend of a request that started before the
        roll-over belongs to the old period, which the usage table has by day, not to the new one).
        A later label rolls the period over: every period counts spend, budget or not."""
        counted: dict[_Account, list[_Period]] = {}
        for s in spend:
            p, a = self._period(s.scope, s.period)
            if p.label is None or s.label > p.label:  # labels of one period sort in time order
                self._roll(p, a, s.label)
            if p.label == s.label:
                counted.setdefault(a, []).append(p)
        rows = [(a, tuple(p for p in a.periods if p not in mine)) for a, mine in counted.items()]
        if len(self._spend_memo) >= _MEMO_MAX:
            self._spend_memo.clear()
        out = self._spend_memo[id(spend)] = (spend, self._generation, rows)
        return out

    async def admit(self, rid: str, scopes: Sequence[ScopeLimit], tokens: int, now: float | None,
                    slots: Sequence[BudgetSlot], amount: int, budget_now: float
                    ) -> tuple[RateDecision, BudgetDecision | None]:
        d = self.take(scopes, tokens, now)  # nothing awaited: the pair is atomic
        if not d.allowed:
            return d, None
        return d, self.hold(slots, amount)

    async def conclude(self, rid: str, scopes: Sequence[ScopeLimit], token_delta: int, now: float | None,
                       reserved: Sequence[BudgetSlot], amount: int, actual: int,
                       spend: Sequence[BudgetSlot], budget_now: float) -> None:
        self.give_back_account(scopes, token_delta, now, reserved, amount, actual, spend)

    def give_back_account(self, scopes: Sequence[ScopeLimit], token_delta: int, now: float | None,
                          reserved: Sequence[BudgetSlot], amount: int, actual: int,
                          spend: Sequence[BudgetSlot]) -> None:
        """`give_back` then `account` (`conclude`, synchronously): in one C call, all or nothing, on the
        memoised plan, counters and spend rows when they are current (`account`'s own C case), else the two steps."""
        t = self._clock() if now is None else now
        if _bucket_conclude is not None and _bucket_conclude(
                self._buckets, self._parallel, self._plans, self._slot_memo, self._spend_memo, self._generation, scopes,
                token_delta, t, reserved, amount, actual, spend, _Period, _Account) is True:
            return
        self.give_back(scopes, token_delta, t)
        self.account(reserved, amount, actual, spend)

    async def budget_state(self, slot: BudgetSlot) -> tuple[int, int]:
        a = self._ledger.get(slot.scope)
        if a is None:
            return 0, 0
        p = a.periods[_PERIOD_INDEX[slot.period]]
        if p.label != slot.label:
            return 0, 0
        return a.spent - p.base, p.reserved

    def seed_spend(self, rows: Iterable[tuple[str, Period, str, int]]) -> None:
        """Load settled spend (scope, period, label, micros) of the current periods at start-up."""
        for scope, period, label, micros in rows:
            p, a = self._period(scope, period)
            if p.label != label:
                self._roll(p, a, label)
            p.base -= micros  # that period's spend only: the others keep theirs
