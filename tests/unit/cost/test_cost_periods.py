"""Calendar periods in UTC: day, ISO week from Monday (ISO years), month, total."""

from __future__ import annotations

from datetime import UTC, datetime

from bastion.cost.periods import labels_at


def ts(*a: int) -> float:
    return datetime(*a, tzinfo=UTC).timestamp()  # type: ignore[misc]


def test_labels_and_ends() -> None:
    lab = labels_at(ts(2026, 11, 28, 23, 59, 59))  # a Saturday
    assert (lab.day, lab.week, lab.month) == ("2026-11-28", "2026-W48", "2026-11")
    assert lab.label("total") == "total" and lab.end("total") is None
    assert lab.day_end == ts(2026, 11, 29)
    assert lab.week_end == ts(2026, 11, 30)  # next Monday 00:00 UTC
    assert lab.month_end == ts(2026, 12, 1)


def test_boundaries_are_at_utc_midnight() -> None:
    before, after = labels_at(ts(2026, 11, 29, 23, 59, 59) + 0.999), labels_at(ts(2026, 11, 30))
    assert before.day == "2026-11-29" and after.day == "2026-11-30"
    assert before.week == "2026-W48" and after.week == "2026-W49"  # Sunday → Monday
    assert before.month == after.month == "2026-11"


def test_iso_week_belongs_to_its_iso_year() -> None:
    assert labels_at(ts(2026, 12, 31, 12)).week == "2026-W53"
    assert labels_at(ts(2027, 1, 3, 12)).week == "2026-W53"  # Sunday of the same ISO week
    assert labels_at(ts(2027, 1, 4)).week == "2027-W01"
    dec = labels_at(ts(2026, 12, 31, 12))
    assert dec.month == "2026-12" and dec.month_end == ts(2027, 1, 1)
