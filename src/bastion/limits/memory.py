"""In-process counters: the single-process default. Every operation runs without an `await`
inside, so under asyncio it is atomic. Memory stays bounded: a bucket that has refilled is
indistinguishable from a missing one and is swept, a released concurrency counter is dropped,
and budget counters keep only the current period label per (scope, period).

Spend does not live here across restarts: the usage table is (cost/usage.py), and `seed_spend`
loads the current periods' totals from it at start-up.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence

from bastion.cost.periods import Period
from bastion.limits.backend import BudgetDecision, BudgetSlot, FailureCounter, RateDecision
from bastion.limits.bucket import full_after, level_at, wait_for
from bastion.limits.scopes import ScopeLimit

_SWEEP_EVERY = 4096
_SPEND_MEMO_MAX = 4096


class _Entry:
    """Spend and reservations of one (scope, period) in the period named `label`."""

    __slots__ = ("label", "reserved", "spent")

    def __init__(self, label: str) -> None:
        self.label = label
        self.spent = 0
        self.reserved = 0


class MemoryBackend:
    kind = "memory"

    def __init__(self, clock: Callable[[], float] = time.time, max_buckets: int = 200_000) -> None:
        self._clock = clock
        self.failures = FailureCounter()
        # bucket id -> [level, stamp, limit]
        self._buckets: dict[str, list[float]] = {}
        self._parallel: dict[str, int] = {}
        self._ledger: dict[tuple[str, Period], _Entry] = {}
        self._ops = 0
        self._max_buckets = max_buckets
        self._sweep_at = max_buckets
        self._ids: dict[str, tuple[str, str]] = {}
        # id(spend slots) -> (those slots, ledger generation, their entries and labels): the cost
        # stage hands settle the same slot list per key and day, so its look-ups are done once, and
        # again only after an entry was replaced (a new period: the generation counts replacements)
        self._spend_memo: dict[int, tuple[Sequence[BudgetSlot], int, list[tuple[_Entry, str]]]] = {}
        self._generation = 0

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def _keys(self, scope_id: str) -> tuple[str, str]:
        k = self._ids.get(scope_id)
        if k is None:
            if len(self._ids) > self._max_buckets:
                self._ids.clear()
            k = self._ids[scope_id] = (scope_id + "|r", scope_id + "|t")
        return k

    async def acquire(self, rid: str, scopes: Sequence[ScopeLimit], tokens: int,
                      now: float | None = None) -> RateDecision:
        # bucket.remaining and full_after inlined or put off: full_after only for the scopes that
        # end up in the headers (this runs on every request; a Python call costs more than the arithmetic).
        t = self._clock() if now is None else now
        buckets = self._buckets
        new: list[tuple[str, float, int]] = []
        parallel: list[str] = []
        req_limit = tok_limit = 0  # of the requests / tokens scope with the fewest left (0: none yet)
        req_left = tok_left = 0.0
        req_rem = tok_rem = 0
        for i, s in enumerate(scopes):
            rpm, tpm = s.rpm, s.tpm
            if rpm is not None or tpm is not None:
                rkey, tkey = self._keys(s.id)
            if rpm is not None:
                b = buckets.get(rkey)
                cur = level_at(b[0], b[1], t, rpm) if b is not None else float(rpm)
                if cur < 1:  # rpm 0 admits nothing: asked again after a period, as the Redis backend says
                    return RateDecision(False, wait_for(cur, 1, rpm) if rpm > 0 else 60.0, i, "requests")
                cur -= 1
                new.append((rkey, cur, rpm))
                rem = int(cur)  # cur >= 0: floor
                if not req_limit or rem < req_rem:
                    req_limit, req_rem, req_left = rpm, rem, cur
            if tpm is not None:
                if tokens > tpm:
                    return RateDecision(False, 60.0, i, "too_large")
                b = buckets.get(tkey)
                cur = level_at(b[0], b[1], t, tpm) if b is not None else float(tpm)
                if cur < tokens:
                    return RateDecision(False, wait_for(cur, tokens, tpm), i, "tokens")
                cur -= tokens
                new.append((tkey, cur, tpm))
                rem = int(cur)
                if not tok_limit or rem < tok_rem:
                    tok_limit, tok_rem, tok_left = tpm, rem, cur
            if s.max_parallel is not None:
                if self._parallel.get(s.id, 0) >= s.max_parallel:
                    return RateDecision(False, 1.0, i, "parallel")
                parallel.append(s.id)
        for key, level, limit in new:
            b = buckets.get(key)
            if b is None:
                buckets[key] = [level, t, float(limit)]
            else:
                b[0], b[1], b[2] = level, t, float(limit)
        for sid in parallel:
            self._parallel[sid] = self._parallel.get(sid, 0) + 1
        self._ops += 1
        if self._ops % _SWEEP_EVERY == 0 or len(buckets) > self._sweep_at:
            self._sweep(t)
        # A limit admitting a request is >= 1, so a 0 limit above means none applied.
        # By position (allowed, retry_after, denied_index, denied_kind, req_*, tok_*): keywords make
        # a class call build and unpack a dict of them.
        return RateDecision(True, 0.0, -1, None,
                            req_limit or None, req_rem, full_after(req_left, req_limit) if req_limit else 0.0,
                            tok_limit or None, tok_rem, full_after(tok_left, tok_limit) if tok_limit else 0.0)

    async def release(self, rid: str, scopes: Sequence[ScopeLimit], token_delta: int,
                      now: float | None = None) -> None:
        t = self._clock() if now is None else now
        for s in scopes:
            if s.tpm is not None and token_delta:
                tkey = self._keys(s.id)[1]
                b = self._buckets.get(tkey)
                cur = level_at(b[0], b[1], t, s.tpm) if b is not None else float(s.tpm)
                cur -= token_delta
                if cur > s.tpm:  # min(), without a builtin call
                    cur = float(s.tpm)
                if b is None:
                    self._buckets[tkey] = [cur, t, float(s.tpm)]
                else:
                    b[0], b[1] = cur, t
            if s.max_parallel is not None:
                n = self._parallel.get(s.id, 0) - 1
                if n > 0:
                    self._parallel[s.id] = n
                else:
                    self._parallel.pop(s.id, None)

    def _sweep(self, now: float) -> None:
        full = [k for k, (lvl, stamp, lim) in self._buckets.items()
                if lvl + (now - stamp) * lim / 60.0 >= lim]
        for k in full:
            del self._buckets[k]
        # Buckets still in use are never dropped (that would grant a fresh allowance); sweep
        # again only once their number has doubled, so a sweep stays amortised O(1).
        self._sweep_at = max(self._max_buckets, 2 * len(self._buckets))

    # ---- budgets --------------------------------------------------------------------------

    def _entry(self, slot: BudgetSlot) -> _Entry:
        key = (slot.scope, slot.period)
        e = self._ledger.get(key)
        if e is None or e.label != slot.label:
            if e is not None:
                self._generation += 1
            e = self._ledger[key] = _Entry(slot.label)
        return e

    async def reserve(self, rid: str, slots: Sequence[BudgetSlot], amount: int, now: float) -> BudgetDecision:
        entries = [self._entry(s) for s in slots]
        for i, (s, e) in enumerate(zip(slots, entries, strict=True)):
            if e.spent + e.reserved + amount > s.limit:
                return BudgetDecision(False, i, e.spent, e.reserved)
        for e in entries:
            e.reserved += amount
        return BudgetDecision(True)

    async def settle(self, rid: str, reserved: Sequence[BudgetSlot], amount: int, actual: int,
                     spend: Sequence[BudgetSlot], now: float) -> None:
        ledger = self._ledger
        for s in reserved:
            e = ledger.get((s.scope, s.period))
            if e is not None and e.label == s.label:
                left = e.reserved - amount
                e.reserved = left if left > 0 else 0
        if actual:
            memo = self._spend_memo.get(id(spend))
            if memo is None or memo[0] is not spend or memo[1] != self._generation:
                pairs: list[tuple[_Entry, str]] = []
                for s in spend:
                    e = ledger.get((s.scope, s.period))
                    if e is None:
                        e = ledger[(s.scope, s.period)] = _Entry(s.label)
                    pairs.append((e, s.label))
                if len(self._spend_memo) >= _SPEND_MEMO_MAX:
                    self._spend_memo.clear()
                memo = self._spend_memo[id(spend)] = (spend, self._generation, pairs)
            for e, label in memo[2]:
                # Another label: reserved in a period that has since rolled over, the spend belongs
                # to the old period (the usage table has it by day), not to the new one.
                if e.label == label:
                    e.spent += actual

    async def admit(self, rid: str, scopes: Sequence[ScopeLimit], tokens: int, now: float | None,
                    slots: Sequence[BudgetSlot], amount: int, budget_now: float
                    ) -> tuple[RateDecision, BudgetDecision | None]:
        d = await self.acquire(rid, scopes, tokens, now)  # no await inside: the pair is atomic
        if not d.allowed:
            return d, None
        return d, await self.reserve(rid, slots, amount, budget_now)

    async def conclude(self, rid: str, scopes: Sequence[ScopeLimit], token_delta: int, now: float | None,
                       reserved: Sequence[BudgetSlot], amount: int, actual: int,
                       spend: Sequence[BudgetSlot], budget_now: float) -> None:
        await self.release(rid, scopes, token_delta, now)
        await self.settle(rid, reserved, amount, actual, spend, budget_now)

    async def budget_state(self, slot: BudgetSlot) -> tuple[int, int]:
        e = self._ledger.get((slot.scope, slot.period))
        if e is None or e.label != slot.label:
            return 0, 0
        return e.spent, e.reserved

    def seed_spend(self, rows: Iterable[tuple[str, Period, str, int]]) -> None:
        """Load settled spend (scope, period, label, micros) of the current periods at start-up."""
        for scope, period, label, micros in rows:
            e = self._ledger.get((scope, period))
            if e is None or e.label != label:
                if e is not None:
                    self._generation += 1
                e = self._ledger[(scope, period)] = _Entry(label)
            e.spent += micros
