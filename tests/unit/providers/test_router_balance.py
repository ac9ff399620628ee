"""The balancer: priorities, weights, least-busy, and that every order is a permutation."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.providers.balance import Balancer


@dataclass(frozen=True)
class T:
    name: str
    weight: int = 1
    priority: int = 0

    @property
    def key(self) -> str:
        return self.name


def firsts(b: Balancer, targets: list[T], strategy: str, n: int = 4000) -> Counter[str]:
    return Counter(b.order(targets, strategy)[0].name for _ in range(n))  # type: ignore[arg-type]


def test_fallback_keeps_the_listed_order():
    ts = [T("a", 1), T("b", 5), T("c", 9)]
    assert [t.name for t in Balancer().order(ts, "fallback")] == ["a", "b", "c"]


def test_priority_tiers_come_first_whatever_the_strategy():
    ts = [T("low", 100, priority=1), T("hi1", 1), T("hi2", 1), T("lowest", 100, priority=2)]
    for strategy in ("fallback", "weighted", "least_busy"):
        for _ in range(50):
            order = [t.name for t in Balancer().order(ts, strategy)]  # type: ignore[arg-type]
            assert set(order[:2]) == {"hi1", "hi2"} and order[2:] == ["low", "lowest"]


def test_weighted_follows_the_weights():
    counts = firsts(Balancer(random.Random(7)), [T("a", 3), T("b", 1)], "weighted")
    assert 0.70 < counts["a"] / 4000 < 0.80


def test_zero_weight_is_only_a_last_resort():
    ts = [T("drained", 0), T("a", 1), T("b", 1)]
    for strategy in ("weighted", "least_busy"):
        for _ in range(100):
            assert Balancer().order(ts, strategy)[-1].name == "drained"  # type: ignore[arg-type]


def test_least_busy_prefers_fewest_in_flight():
    b = Balancer()
    ts = [T("a"), T("b"), T("c")]
    b.begin("a")
    b.begin("a")
    b.begin("c")
    assert [t.name for t in b.order(ts, "least_busy")] == ["b", "c", "a"]
    b.end("a")
    b.end("a")
    assert b.order(ts, "least_busy")[-1].name == "c"
    assert b.in_flight("a") == 0 and b.total_in_flight() == 1


def test_least_busy_breaks_ties_by_weight():
    counts = firsts(Balancer(random.Random(3)), [T("a", 1), T("b", 4)], "least_busy")
    assert 0.75 < counts["b"] / 4000 < 0.85


def test_end_never_goes_below_zero():
    b = Balancer()
    b.end("x")
    assert b.in_flight("x") == 0 and b.total_in_flight() == 0


TARGETS = st.lists(st.builds(T, name=st.text(min_size=1, max_size=3), weight=st.integers(0, 5),
                             priority=st.integers(0, 2)), max_size=6, unique_by=lambda t: t.name)


@settings(max_examples=200, deadline=None)
@given(TARGETS, st.sampled_from(["fallback", "weighted", "least_busy"]), st.lists(st.integers(0, 5)))
def test_every_order_is_a_priority_sorted_permutation(targets, strategy, busy):
    b = Balancer()
    for i, n in enumerate(busy[: len(targets)]):
        for _ in range(n):
            b.begin(targets[i].key)
    order = b.order(targets, strategy)
    assert sorted(t.name for t in order) == sorted(t.name for t in targets)
    assert [t.priority for t in order] == sorted(t.priority for t in targets)
    if strategy == "fallback":
        assert order == sorted(targets, key=lambda t: t.priority)
