"""Usage records: per request aggregated in memory by (day, key, team, model), written to the
store in batches by a background task, never on the request path; queried for reports.

The table `usage_daily` is also the durable record of spend: the memory backend sums the current
periods at start-up (`load_spend`); the Redis backend seeds each budget counter it does not hold
from it (`settled_spend`), so a Redis restart without persistence forgets no spend. A request counts on the UTC day it started.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from bastion.core.errors import ServiceUnavailable
from bastion.cost.periods import Period, labels_at
from bastion.limits.backend import BudgetSlot
from bastion.limits.scopes import budget_owner, key_scope, team_scope
from bastion.store.db import Database

log = logging.getLogger("bastion.cost")

DDL = (
    "CREATE TABLE IF NOT EXISTS usage_daily ("
    " day TEXT NOT NULL, key_id TEXT NOT NULL, team TEXT NOT NULL, model TEXT NOT NULL,"
    " requests BIGINT NOT NULL, input_tokens BIGINT NOT NULL, output_tokens BIGINT NOT NULL,"
    " cost_micros BIGINT NOT NULL, PRIMARY KEY (day, key_id, team, model))",
)

_UPSERT = (
    "INSERT INTO usage_daily (day, key_id, team, model, requests, input_tokens, output_tokens, cost_micros)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (day, key_id, team, model) DO UPDATE SET"
    " requests = usage_daily.requests + excluded.requests,"
    " input_tokens = usage_daily.input_tokens + excluded.input_tokens,"
    " output_tokens = usage_daily.output_tokens + excluded.output_tokens,"
    " cost_micros = usage_daily.cost_micros + excluded.cost_micros"
)

_Key = tuple[str, str, str, str]  # day, key_id, team ("" = none), model


class UsageRecorder:
    """Aggregates usage in memory and writes it every `flush_seconds`. The buffer is bounded:
    past `max_pending` distinct rows new rows are dropped and counted (`dropped`), so a store
    outage cannot exhaust memory. Rows that fail to write are kept for the next flush."""

    def __init__(self, db: Database | None, *, flush_seconds: float = 1.0, max_pending: int = 100_000) -> None:
        self._db = db
        self._every = flush_seconds
        self._max = max_pending
        self._pending: dict[_Key, list[int]] = {}
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0
        self.write_failures = 0

    def record(self, day: str, key_id: str, team: str | None, model: str,
               input_tokens: int, output_tokens: int, cost_micros: int) -> None:
        k = (day, key_id, team or "", model)
        row = self._pending.get(k)
        if row is None:
            if len(self._pending) >= self._max:
                self.dropped += 1
                return
            self._pending[k] = [1, input_tokens, output_tokens, cost_micros]
        else:
            row[0] += 1
            row[1] += input_tokens
            row[2] += output_tokens
            row[3] += cost_micros

    async def start(self) -> None:
        if self._db is None:
            return
        await self._db.migrate(DDL)
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="bastion-usage-writer")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._every)
            try:
                await self.flush()
            except Exception:  # a bug must not end the writer: every later usage row would be lost
                log.exception("usage records not written")

    async def flush(self) -> None:
        """Write what is pending now (also called by reports, so they include it)."""
        if self._db is None:
            return
        async with self._lock:
            if not self._pending:
                return
            batch, self._pending = self._pending, {}
            rows = [(*k, *v) for k, v in batch.items()]
            try:
                await self._db.executemany(_UPSERT, rows)
            except ServiceUnavailable as e:
                self.write_failures += 1
                log.error("usage records not written (%s); %d rows kept for the next try", e.message, len(rows))
                for k, v in batch.items():
                    if k in self._pending:
                        cur = self._pending[k]
                        for i in range(4):
                            cur[i] += v[i]
                    elif len(self._pending) < self._max:
                        self._pending[k] = v
                    else:
                        self.dropped += 1

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()


@dataclass(slots=True, frozen=True)
class UsageRow:
    group: str | None  # the model or day; None for the grand total
    requests: int
    input_tokens: int
    output_tokens: int
    cost_micros: int


async def query_usage(db: Database, *, key: str | None = None, team: str | None = None,
                      since: date | None = None, by: Literal["model", "day"] | None = None) -> list[UsageRow]:
    """Totals of requests, tokens and cost, optionally filtered and grouped by model or day."""
    where: list[str] = []
    params: list[object] = []
    if key is not None:
        where.append("key_id = ?")
        params.append(key)
    if team is not None:
        where.append("team = ?")
        params.append(team)
    if since is not None:
        where.append("day >= ?")
        params.append(since.isoformat())
    cond = (" WHERE " + " AND ".join(where)) if where else ""
    sums = "SUM(requests), SUM(input_tokens), SUM(output_tokens), SUM(cost_micros)"
    if by is None:
        rows = await db.fetchall(f"SELECT NULL, {sums} FROM usage_daily{cond}", params)
    else:
        col = "model" if by == "model" else "day"
        rows = await db.fetchall(
            f"SELECT {col}, {sums} FROM usage_daily{cond} GROUP BY {col} ORDER BY {col}", params)
    return [UsageRow(r[0], int(r[1] or 0), int(r[2] or 0), int(r[3] or 0), int(r[4] or 0))
            for r in rows if r[1] is not None]


async def settled_spend(db: Database, slot: BudgetSlot) -> int:
    """Micro-USD the store holds as spent by a budget slot's key or team in its period label
    (what the Redis backend seeds a counter it does not hold with)."""
    owner = budget_owner(slot.scope)
    if owner is None:
        return 0
    where = ["key_id = ?" if owner[0] == "key" else "team = ?"]
    params: list[object] = [owner[1]]
    if slot.period != "total":
        first, end = _label_days(slot.period, slot.label)
        where.append("day >= ? AND day < ?")
        params.extend((first.isoformat(), end.isoformat()))
    rows = await db.fetchall(f"SELECT SUM(cost_micros) FROM usage_daily WHERE {' AND '.join(where)}", params)
    return int(rows[0][0] or 0) if rows else 0


def _label_days(period: Period, label: str) -> tuple[date, date]:
    """The first day of a day, week ("2026-W48") or month ("2026-11") label and the day after its last."""
    if period == "day":
        d = date.fromisoformat(label)
        return d, d + timedelta(days=1)
    if period == "week":
        iso_year, _, week = label.partition("-W")
        d = date.fromisocalendar(int(iso_year), int(week), 1)
        return d, d + timedelta(days=7)
    year, month = int(label[:4]), int(label[5:7])
    return date(year, month, 1), date(year + month // 12, month % 12 + 1, 1)


async def load_spend(db: Database, now: float) -> list[tuple[str, Period, str, int]]:
    """Settled spend of the current day, week, month and all time, per key and team scope,
    as (scope, period, label, micros) rows for MemoryBackend.seed_spend."""
    await db.migrate(DDL)
    lab = labels_at(now)
    start = min(lab.week_start, lab.month_start).isoformat()
    out: list[tuple[str, Period, str, int]] = []
    rows = await db.fetchall(
        "SELECT day, key_id, team, SUM(cost_micros) FROM usage_daily WHERE day >= ? GROUP BY day, key_id, team",
        (start,))
    for day_s, key_id, team, micros in rows:
        d = date.fromisoformat(str(day_s))
        scopes: Sequence[str] = (key_scope(key_id), team_scope(team)) if team else (key_scope(key_id),)
        for scope in scopes:
            if d == lab.day_start:
                out.append((scope, "day", lab.day, int(micros)))
            if lab.week_start <= d < lab.week_start.fromordinal(lab.week_start.toordinal() + 7):
                out.append((scope, "week", lab.week, int(micros)))
            if d >= lab.month_start and d.month == lab.month_start.month and d.year == lab.month_start.year:
                out.append((scope, "month", lab.month, int(micros)))
    for key_id, team, micros in await db.fetchall(
            "SELECT key_id, team, SUM(cost_micros) FROM usage_daily GROUP BY key_id, team"):
        out.append((key_scope(key_id), "total", "total", int(micros)))
        if team:
            out.append((team_scope(team), "total", "total", int(micros)))
    return out
