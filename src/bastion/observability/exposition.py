"""Metric families (counter, gauge, histogram) and the Prometheus text exposition format 0.0.4.

Lock-free on purpose: metrics are updated from the event-loop thread only. Each family caps
its number of series (MAX_SERIES); further label combinations are counted under "other".
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable, Mapping

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MAX_SERIES = 2000
OTHER = "other"

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)

Labels = tuple[str, ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _fmt(value: float) -> str:
    if value == math.inf:
        return "+Inf"
    return str(int(value)) if value == int(value) and abs(value) < 1e15 else repr(value)


class _Family:
    kind = "untyped"

    def __init__(self, name: str, help_: str, labels: Labels = ()) -> None:
        self.name, self.help, self.labels = name, help_, labels
        self._overflow = (OTHER,) * len(labels)

    def _key(self, values: Mapping[Labels, object], labels: Labels) -> Labels:
        return labels if labels in values or len(values) < MAX_SERIES else self._overflow

    def _series(self, labels: Labels, extra: str = "") -> str:
        parts = [f'{n}="{_escape(v)}"' for n, v in zip(self.labels, labels, strict=True)]
        if extra:
            parts.append(extra)
        return "{" + ",".join(parts) + "}" if parts else ""

    def header(self) -> list[str]:
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]

    def render(self) -> list[str]:
        raise NotImplementedError


class Counter(_Family):
    kind = "counter"

    def __init__(self, name: str, help_: str, labels: Labels = ()) -> None:
        super().__init__(name, help_, labels)
        self.values: dict[Labels, float] = {}

    def inc(self, labels: Labels = (), amount: float = 1.0) -> None:
        values = self.values
        value = values.get(labels)
        if value is not None:  # a known series: one look-up to read, one to write
            values[labels] = value + amount
            return
        key = self._key(values, labels)
        values[key] = values.get(key, 0.0) + amount

    def get(self, labels: Labels = ()) -> float:
        return self.values.get(labels, 0.0)

    def render(self) -> list[str]:
        return [*self.header(), *(f"{self.name}{self._series(k)} {_fmt(v)}" for k, v in sorted(self.values.items()))]


class Gauge(_Family):
    """A gauge read from a callback at scrape time (buffer depth, ...)."""

    kind = "gauge"

    def __init__(self, name: str, help_: str, read: Callable[[], float] | None = None) -> None:
        super().__init__(name, help_)
        self.read = read

    def render(self) -> list[str]:
        return [*self.header(), f"{self.name} {_fmt(float(self.read()) if self.read else 0.0)}"]


class CallbackCounter(Gauge):
    """A counter kept elsewhere (e.g. the audit writer's failure count), read at scrape time."""

    kind = "counter"


class Histogram(_Family):
    kind = "histogram"

    def __init__(self, name: str, help_: str, labels: Labels = (), buckets: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        super().__init__(name, help_, labels)
        self.buckets = buckets
        self.values: dict[Labels, list[float]] = {}  # per series: bucket counts..., +Inf count, sum

    def observe(self, labels: Labels, value: float) -> None:
        series = self.values.get(labels)
        if series is None:
            series = self.series(labels)
        series[bisect_left(self.buckets, value)] += 1
        series[-1] += value

    def series(self, labels: Labels) -> list[float]:
        """The counts of `labels` (or of the overflow series): a list observations update in place,
        which a caller may keep (a family never drops a series)."""
        key = self._key(self.values, labels)
        return self.values.setdefault(key, [0.0] * (len(self.buckets) + 2))

    def count(self, labels: Labels = ()) -> int:
        series = self.values.get(labels)
        return int(sum(series[:-1])) if series else 0

    def render(self) -> list[str]:
        out = self.header()
        for key, series in sorted(self.values.items()):
            cumulative = 0.0
            for bound, n in zip((*self.buckets, math.inf), series[:-1], strict=True):
                cumulative += n
                le = 'le="' + _fmt(bound) + '"'
                out.append(f"{self.name}_bucket{self._series(key, le)} {_fmt(cumulative)}")
            out.append(f"{self.name}_sum{self._series(key)} {_fmt(series[-1])}")
            out.append(f"{self.name}_count{self._series(key)} {_fmt(cumulative)}")
        return out


