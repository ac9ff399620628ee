"""The memory backend's budget accounts (one running spend per scope, periods derived from it)
against the plain model of one counter per (scope, period) in its current label."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.cost.periods import PERIODS, Period
from bastion.limits.backend import BudgetSlot
from bastion.limits.memory import MemoryBackend

SCOPES = ("k:a", "t:x")
# Labels of three days: the second starts a new week, the third a new month.
DAYS = ({"day": "2027-01-10", "week": "2027-W01", "month": "2027-01", "total": "total"},
        {"day": "2027-01-11", "week": "2027-W02", "month": "2027-01", "total": "total"},
        {"day": "2027-02-01", "week": "2027-W05", "month": "2027-02", "total": "total"})


class Model:
    """Per (scope, period): [label, spent, reserved]. A reservation of another label starts the
    period afresh; spend of a later label does too, spend of an earlier one counts nowhere."""

    def __init__(self) -> None:
        self.c: dict[tuple[str, Period], list[object]] = {}

    def get(self, s: BudgetSlot) -> list[object] | None:
        e = self.c.get((s.scope, s.period))
        return e if e is not None and e[0] == s.label else None

    def reserve(self, slots: list[BudgetSlot], amount: int) -> tuple[bool, int, int, int]:
        entries = []
        for s in slots:
            e = self.get(s)
            if e is None:
                e = self.c[(s.scope, s.period)] = [s.label, 0, 0]
            entries.append(e)
        for n, (s, e) in enumerate(zip(slots, entries, strict=True)):
            spent, reserved = e[1], e[2]
            assert isinstance(spent, int) and isinstance(reserved, int)
            if spent + reserved + amount > s.limit:
                return False, n, spent, reserved
        for e in entries:
            e[2] = int(e[2]) + amount  # type: ignore[call-overload]
        return True, -1, 0, 0

    def settle(self, reserved: list[BudgetSlot], amount: int, actual: int, spend: list[BudgetSlot]) -> None:
        for s in reserved:
            e = self.get(s)
            if e is not None:
                e[2] = max(0, int(e[2]) - amount)  # type: ignore[call-overload]
        if not actual:
            return
        for s in spend:
            e = self.c.get((s.scope, s.period))
            if e is None or s.label > str(e[0]):
                e = self.c[(s.scope, s.period)] = [s.label, 0, 0]
            if e[0] == s.label:
                e[1] = int(e[1]) + actual  # type: ignore[call-overload]

    def state(self, s: BudgetSlot) -> tuple[int, int]:
        e = self.get(s)
        return (0, 0) if e is None else (int(e[1]), int(e[2]))  # type: ignore[call-overload]


def _slots(day: int, scopes: tuple[str, ...], periods: tuple[Period, ...], limit: int) -> list[BudgetSlot]:
    return [BudgetSlot(sc, p, DAYS[day][p], limit) for sc in scopes for p in periods]


# The same lists come back (by identity) as the cost stage hands them, so the backend's memos are used.
RESERVE = [_slots(d, sc, ps, lim) for d in range(3) for sc in (SCOPES, SCOPES[:1]) for ps, lim in
           ((("month",), 1000), (("day", "total"), 400))]
SPEND = [_slots(d, sc, PERIODS, 0) for d in range(3) for sc in (SCOPES, SCOPES[1:])] + [_slots(0, SCOPES, ("week",), 0)]
ALL = [s for day in range(3) for s in _slots(day, SCOPES, PERIODS, 0)]

op = st.one_of(
    st.tuples(st.just("reserve"), st.integers(0, len(RESERVE) - 1), st.integers(0, 500)),
    st.tuples(st.just("settle"), st.integers(0, len(RESERVE) - 1), st.integers(0, 500), st.integers(0, 500),
              st.integers(0, len(SPEND) - 1)),
    st.tuples(st.just("spend"), st.integers(0, len(SPEND) - 1), st.integers(0, 500)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(op, max_size=40))
def test_memory_budgets_match_one_counter_per_scope_and_period(ops: list[tuple[object, ...]]) -> None:
    b, m = MemoryBackend(), Model()

    async def run() -> None:
        for o in ops:
            if o[0] == "reserve":
                slots, amount = RESERVE[int(o[1])], int(o[2])  # type: ignore[call-overload]
                d = await b.reserve("r", slots, amount, 0.0)
                assert (d.allowed, d.denied_index, d.spent, d.reserved) == m.reserve(slots, amount)
            elif o[0] == "settle":
                slots, amount, actual, spend = (RESERVE[int(o[1])], int(o[2]), int(o[3]),  # type: ignore[call-overload]
                                                SPEND[int(o[4])])  # type: ignore[call-overload]
                await b.settle("r", slots, amount, actual, spend, 0.0)
                m.settle(slots, amount, actual, spend)
            else:
                spend, actual = SPEND[int(o[1])], int(o[2])  # type: ignore[call-overload]
                await b.settle("r", [], 0, actual, spend, 0.0)
                m.settle([], 0, actual, spend)
            for s in ALL:
                assert await b.budget_state(s) == m.state(s), (o, s)

    asyncio.run(run())


def test_seeded_spend_counts_in_its_period_only() -> None:
    b = MemoryBackend()
    b.seed_spend([("k:a", "day", "2027-01-10", 7), ("k:a", "month", "2027-01", 100), ("k:a", "total", "total", 1000)])
    state = [asyncio.run(b.budget_state(s)) for s in _slots(0, ("k:a",), PERIODS, 0)]
    assert state == [(7, 0), (0, 0), (100, 0), (1000, 0)]
    asyncio.run(b.settle("r", [], 0, 5, _slots(0, ("k:a",), PERIODS, 0), 0.0))
    state = [asyncio.run(b.budget_state(s)) for s in _slots(0, ("k:a",), PERIODS, 0)]
    assert state == [(12, 0), (5, 0), (105, 0), (1005, 0)]
