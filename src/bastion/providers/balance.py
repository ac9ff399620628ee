"""Load balancing: the order in which a request tries the targets of one model.

Targets are grouped by priority (lower first); a higher-priority group is only ever a fallback.
Within a group the model's strategy decides who goes first, and the rest follow as fallbacks:

- fallback:   the listed order (the default, and the behaviour of a plain target list);
- weighted:   a random order drawn by weight (weighted sampling without replacement);
- least_busy: fewest calls in flight first; ties broken at random by weight.

A target of weight 0 takes no share of the load: it is tried only after the others of its group.
"""

from __future__ import annotations

import random
from collections.abc import Hashable, Sequence
from typing import Literal, Protocol, TypeVar

Strategy = Literal["fallback", "weighted", "least_busy"]


class Balanced(Protocol):
    """What the balancer needs to know of a target."""

    @property
    def key(self) -> Hashable: ...

    @property
    def weight(self) -> int: ...

    @property
    def priority(self) -> int: ...


T = TypeVar("T", bound=Balanced)


class Balancer:
    """Counts calls in flight per target and orders a model's targets for one request.

    `begin(key)` / `end(key)` bracket a call (for a stream, until the stream is closed); they are
    the least_busy signal. One event loop, no locks. `rng` is injectable for tests. `busy` is the
    count per key (a key once counted stays, at 0 when idle: no dict insertion and deletion per
    call); the router counts its calls in it inline, as `begin`/`end` do.
    """

    def __init__(self, rng: random.Random | None = None) -> None:
        self.busy: dict[Hashable, int] = {}
        self._rng = rng or random.Random()

    def in_flight(self, key: Hashable) -> int:
        return self.busy.get(key, 0)

    def total_in_flight(self) -> int:
        return sum(self.busy.values())

    def begin(self, key: Hashable) -> None:
        self.busy[key] = self.busy.get(key, 0) + 1

    def end(self, key: Hashable) -> None:
        n = self.busy.get(key, 0)
        if n > 0:
            self.busy[key] = n - 1

    def order(self, targets: Sequence[T], strategy: Strategy) -> list[T]:
        """Every target exactly once, in the order this request should try them."""
        if len(targets) <= 1:
            return list(targets)
        tiers: dict[int, list[T]] = {}
        for t in targets:
            tiers.setdefault(t.priority, []).append(t)
        out: list[T] = []
        for prio in sorted(tiers):
            tier = tiers[prio]
            if strategy == "fallback" or len(tier) == 1:
                out.extend(tier)
            else:
                out.extend(self._spread(tier, strategy))
        return out

    def _spread(self, tier: list[T], strategy: Strategy) -> list[T]:
        weighted = [t for t in tier if t.weight > 0]
        drained = [t for t in tier if t.weight <= 0]
        rnd = self._rng.random
        # Efraimidis-Spirakis: sorting by u ** (1 / w) is weighted sampling without replacement.
        keyed = [(rnd() ** (1.0 / t.weight), t) for t in weighted]
        if strategy == "least_busy":
            keyed.sort(key=lambda kt: (self.in_flight(kt[1].key), -kt[0]))
            drained.sort(key=lambda t: self.in_flight(t.key))
        else:
            keyed.sort(key=lambda kt: -kt[0])
        return [t for _, t in keyed] + drained
