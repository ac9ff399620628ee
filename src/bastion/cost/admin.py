"""GET /admin/usage: requests, tokens and cost, filtered by key/team/since, grouped by model or day.

The admin router authenticates the caller; this handler only parses and answers. Pending
usage is flushed first, so a report includes requests that finished a moment ago.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Literal

from bastion.core.errors import InvalidRequest
from bastion.cost.pricing import format_usd
from bastion.cost.usage import UsageRecorder, UsageRow, query_usage
from bastion.http.types import HttpRequest, HttpResponse
from bastion.store.db import Database

_PARAMS = frozenset({"key", "team", "since", "by"})


def parse_since(value: str | None, param: str = "since") -> date | None:
    if value is None or value == "":
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidRequest(f"{param} must be a date as YYYY-MM-DD", param=param) from None


def parse_by(value: str | None, param: str = "by") -> Literal["model", "day"] | None:
    if value is None or value == "":
        return None
    if value == "model":
        return "model"
    if value == "day":
        return "day"
    raise InvalidRequest(f"{param} must be 'model' or 'day'", param=param)


def row_json(row: UsageRow, by: str | None) -> dict[str, object]:
    out: dict[str, object] = {}
    if by is not None:
        out[by] = row.group
    out.update(requests=row.requests, input_tokens=row.input_tokens, output_tokens=row.output_tokens,
               cost_micros=row.cost_micros, cost_usd=format_usd(row.cost_micros))
    return out


def usage_handler(db: Database, recorder: UsageRecorder | None = None
                  ) -> Callable[[HttpRequest], Awaitable[HttpResponse]]:
    """The handler for GET /admin/usage?key=&team=&since=YYYY-MM-DD&by=model|day."""

    async def handler(req: HttpRequest) -> HttpResponse:
        unknown = sorted(set(req.query) - _PARAMS)
        if unknown:
            raise InvalidRequest(f"unknown query parameter {unknown[0]!r}; expected key, team, since, by",
                                 param=unknown[0])
        since = parse_since(req.query.get("since"))
        by = parse_by(req.query.get("by"))
        if recorder is not None:
            await recorder.flush()
        key = req.query.get("key") or None
        team = req.query.get("team") or None
        rows = await query_usage(db, key=key, team=team, since=since, by=by)
        total = await query_usage(db, key=key, team=team, since=since) if by is not None else rows
        t = total[0] if total else UsageRow(None, 0, 0, 0, 0)
        body = {"object": "usage", "filters": {"key": key, "team": team,
                                               "since": since.isoformat() if since else None, "by": by},
                "data": [row_json(r, by) for r in rows] if by is not None else [],
                "total": row_json(t, None)}
        return HttpResponse.json(body)

    return handler
