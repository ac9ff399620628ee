"""Usage records (batched writer, both stores), reports, GET /admin/usage and `bastion usage`."""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

import orjson
import pytest

from bastion.cli import usage as cli_usage
from bastion.core.errors import InvalidRequest, ServiceUnavailable
from bastion.cost.admin import usage_handler
from bastion.cost.usage import UsageRecorder, load_spend, query_usage, settled_spend
from bastion.http.types import HttpRequest
from bastion.limits.backend import BudgetSlot
from bastion.limits.scopes import key_scope, team_scope
from bastion.store.db import Database, SqliteDatabase


def fill(rec: UsageRecorder) -> None:
    rec.record("2026-11-01", "k1", "pay", "gpt-4o", 100, 10, 1_000)
    rec.record("2026-11-01", "k1", "pay", "gpt-4o", 100, 10, 1_000)
    rec.record("2026-11-27", "k1", "pay", "mini", 50, 5, 20)
    rec.record("2026-11-28", "k2", None, "gpt-4o", 1, 1, 7)
    rec.record("2026-10-31", "k2", None, "mini", 1, 1, 3)


async def test_recorder_batches_and_upserts(db: Database) -> None:
    rec = UsageRecorder(db, flush_seconds=3600)
    await rec.start()
    fill(rec)
    await rec.flush()
    fill(rec)  # the same rows again: counters add up in place
    await rec.close()
    rows = await query_usage(db, by="model")
    assert [(r.group, r.requests, r.input_tokens, r.output_tokens, r.cost_micros) for r in rows] == [
        ("gpt-4o", 6, 402, 42, 4_014), ("mini", 4, 102, 12, 46)]
    (k1,) = await query_usage(db, key="k1")
    assert (k1.requests, k1.cost_micros) == (6, 4_040)
    by_day = await query_usage(db, team="pay", since=date(2026, 11, 2), by="day")
    assert [(r.group, r.cost_micros) for r in by_day] == [("2026-11-27", 40)]
    assert await query_usage(db, key="nobody") == []


async def test_load_spend_sums_the_current_periods(db: Database) -> None:
    rec = UsageRecorder(db)
    await rec.start()
    fill(rec)
    await rec.close()
    now = date(2026, 11, 28)
    from datetime import UTC, datetime

    rows = await load_spend(db, datetime(now.year, now.month, now.day, 12, tzinfo=UTC).timestamp())
    got: dict[tuple[str, str], int] = {}
    for scope, period, _label, micros in rows:
        got[(scope, period)] = got.get((scope, period), 0) + micros
    assert got[("k:k1", "month")] == 2_020 and got[("t:pay", "month")] == 2_020
    assert got[("k:k1", "week")] == 20  # 2026-11-27 is in the ISO week of 11-28; 11-01 is not
    assert got[("k:k2", "day")] == 7 and ("k:k1", "day") not in got
    assert got[("k:k2", "total")] == 10 and got[("k:k1", "total")] == 2_020
    assert ("t:", "total") not in got  # keys without a team add nothing to a team


class BrokenDb(SqliteDatabase):
    fail = True

    async def executemany(self, sql: str, rows: object) -> None:  # type: ignore[override]
        if self.fail:
            raise ServiceUnavailable("store error: OperationalError")
        await super().executemany(sql, rows)  # type: ignore[arg-type]


async def test_settled_spend_of_one_budget_slot(db: Database) -> None:
    rec = UsageRecorder(db, flush_seconds=3600)
    await rec.start()
    fill(rec)
    rec.record("2026-11-29", "a:b%c", "t:x", "mini", 1, 1, 11)  # ids with the scope escape characters
    await rec.close()
    cases = [
        (key_scope("k1"), "day", "2026-11-01", 2_000), (key_scope("k1"), "week", "2026-W48", 20),
        (key_scope("k1"), "month", "2026-11", 2_020), (key_scope("k2"), "month", "2026-10", 3),
        (key_scope("k2"), "total", "total", 10), (team_scope("pay"), "month", "2026-11", 2_020),
        (team_scope("pay"), "week", "2026-W44", 2_000), (key_scope("a:b%c"), "week", "2026-W48", 11),
        (team_scope("t:x"), "total", "total", 11), (key_scope("k1"), "month", "2026-12", 0),
        ("km:k1:mini", "total", "total", 0)]
    for scope, period, label, micros in cases:
        assert await settled_spend(db, BudgetSlot(scope, period, label)) == micros, (scope, period, label)  # type: ignore[arg-type]


async def test_failed_writes_are_kept_and_the_buffer_is_bounded(tmp_path: Path) -> None:
    db = BrokenDb(str(tmp_path / "u.db"))
    rec = UsageRecorder(db, max_pending=2)
    await rec.start()
    rec.record("2026-11-28", "a", None, "m", 1, 1, 1)
    rec.record("2026-11-28", "b", None, "m", 1, 1, 1)
    rec.record("2026-11-28", "c", None, "m", 1, 1, 1)  # over the bound: dropped and counted
    assert rec.dropped == 1
    await rec.flush()
    assert rec.write_failures == 1
    rec.record("2026-11-28", "a", None, "m", 1, 1, 1)
    db.fail = False
    await rec.close()
    rows = await query_usage(db, by="model")
    assert [(r.requests, r.cost_micros) for r in rows] == [(3, 3)]
    await db.close()


def req(**query: str) -> HttpRequest:
    return HttpRequest("GET", "/admin/usage", query, {}, b"", None, "rid")


async def test_admin_usage_handler(tmp_path: Path) -> None:
    db = SqliteDatabase(str(tmp_path / "u.db"))
    rec = UsageRecorder(db, flush_seconds=3600)
    await rec.start()
    fill(rec)  # not flushed yet: the handler flushes first
    handler = usage_handler(db, rec)
    resp = await handler(req(key="k1", by="model", since="2026-11-01"))
    body = orjson.loads(resp.body)
    assert resp.status == 200
    assert body["data"] == [
        {"model": "gpt-4o", "requests": 2, "input_tokens": 200, "output_tokens": 20, "cost_micros": 2000,
         "cost_usd": "0.002000"},
        {"model": "mini", "requests": 1, "input_tokens": 50, "output_tokens": 5, "cost_micros": 20,
         "cost_usd": "0.000020"}]
    assert body["total"]["cost_micros"] == 2020 and body["filters"]["key"] == "k1"
    total = orjson.loads((await handler(req())).body)
    assert total["total"]["requests"] == 5 and total["data"] == []
    for bad in ({"since": "yesterday"}, {"by": "hour"}, {"limit": "5"}):
        with pytest.raises(InvalidRequest) as e:
            await handler(req(**bad))
        assert e.value.param in bad
    await rec.close()
    await db.close()


async def _seed(path: Path) -> None:
    db = SqliteDatabase(str(path))
    rec = UsageRecorder(db)
    await rec.start()
    fill(rec)
    await rec.close()
    await db.close()


def test_cli_usage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio

    asyncio.run(_seed(tmp_path / "u.db"))
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"store: {{url: 'sqlite:///{tmp_path / 'u.db'}'}}\n")
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    cli_usage.register(sub)
    args = parser.parse_args(["usage", "--config", str(cfg), "--team", "pay", "--by", "day"])
    assert args.func(args) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["day", "requests", "input_tokens", "output_tokens", "cost_usd"]
    assert out[1].split() == ["2026-11-01", "2", "200", "20", "0.002000"]
    assert out[-1].split() == ["TOTAL", "3", "250", "25", "0.002020"]
    args = parser.parse_args(["usage", "--config", str(cfg), "--key", "k2", "--json"])
    assert args.func(args) == 0
    assert orjson.loads(capsys.readouterr().out)["total"]["cost_usd"] == "0.000010"
    args = parser.parse_args(["usage", "--config", str(cfg), "--since", "28/11/2026"])
    assert args.func(args) == 2
    assert "--since must be a date" in capsys.readouterr().err
