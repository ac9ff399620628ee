"""Calendar budget periods in UTC: day, ISO week (from Monday), month, and total (never resets).

A period is named by a label ("2026-11-28", "2026-W48", "2026-11", "total"); budgets count
spend per label, so a new label is a fresh period with nothing spent. Labels of one UTC day
are computed once and cached: this runs on every request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Literal

Period = Literal["day", "week", "month", "total"]
PERIODS: tuple[Period, ...] = ("day", "week", "month", "total")
_DAY = 86400


@dataclass(slots=True, frozen=True)
class PeriodLabels:
    """The labels of every period containing one UTC day, and when each ends (unix seconds)."""

    day: str
    week: str
    month: str
    day_end: int
    week_end: int
    month_end: int
    day_start: date
    week_start: date
    month_start: date

    def label(self, period: Period) -> str:
        if period == "day":
            return self.day
        if period == "week":
            return self.week
        if period == "month":
            return self.month
        return "total"

    def end(self, period: Period) -> int | None:
        """Unix second at which the period ends; None for total."""
        if period == "day":
            return self.day_end
        if period == "week":
            return self.week_end
        if period == "month":
            return self.month_end
        return None


def _epoch(d: date) -> int:
    return int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp())


@lru_cache(maxsize=64)
def _compute(day_number: int) -> PeriodLabels:
    d = date(1970, 1, 1) + timedelta(days=day_number)
    iso_year, iso_week, iso_weekday = d.isocalendar()
    week_start = d - timedelta(days=iso_weekday - 1)
    month_start = d.replace(day=1)
    next_month = date(d.year + (d.month == 12), 1 if d.month == 12 else d.month + 1, 1)
    return PeriodLabels(
        day=d.isoformat(), week=f"{iso_year}-W{iso_week:02d}", month=f"{d.year}-{d.month:02d}",
        day_end=(day_number + 1) * _DAY, week_end=_epoch(week_start + timedelta(days=7)),
        month_end=_epoch(next_month), day_start=d, week_start=week_start, month_start=month_start)


def labels_at(now: float) -> PeriodLabels:
    """Period labels of the UTC day containing unix time `now`."""
    return _compute(int(now // _DAY))
