"""A request that outlives limits.lease_ttl_seconds keeps its concurrency lease and budget
reservation (Redis backend): only a crashed replica's leases expire."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import pytest

from tests.fakes.reply import Reply, Usage
from tests.gateway import Gateway, base_config

TTL = 1.0
SLOW = 6.0  # the first request's upstream answer takes this long: several lease TTLs


@pytest.fixture
def gw(redis_url, fake_upstream_server, tmp_path):
    cfg = base_config(fake_upstream_server.url, tmp_path,
                      limits={"backend": "redis", "redis_url": redis_url, "lease_ttl_seconds": TTL,
                              "redis_key_prefix": f"t{uuid.uuid4().hex[:8]}:"})
    cfg["providers"]["openai"]["timeouts"] = {"connect": 2, "first_byte": 30, "idle": 30, "total": 30}
    cfg["models"].append({"name": "budget-model", "targets": [{"provider": "openai", "model": "gpt-budget"}]})
    cfg["pricing"]["gpt-budget"] = {"input_per_mtok": 0, "output_per_mtok": 10000}  # 60 tokens: $0.60
    with Gateway(cfg, tmp_path) as g:
        yield g


def _wait_until_received(fake_upstream) -> None:
    deadline = time.monotonic() + 30
    while not fake_upstream.requests_for("openai.chat") and time.monotonic() < deadline:
        time.sleep(0.01)  # the fake records requests from its own thread


@pytest.mark.parametrize(("limit", "code"), [({"max_parallel": 1}, "rate_limit_exceeded"),
                                             ({"budget_usd": 1.0, "budget_period": "day"}, "budget_exceeded")])
def test_a_request_longer_than_the_lease_ttl_still_holds_its_lease(gw: Gateway, fake_upstream, limit: dict,
                                                                    code: str) -> None:
    key = gw.create_key(name="long", **limit)
    body = {"model": "budget-model", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 60}
    headers = {"authorization": f"Bearer {key}"}
    fake_upstream.script("openai.chat",
                         Reply(text="slow", usage=Usage(input_tokens=1, output_tokens=60), delay_before_headers=SLOW))
    fake_upstream.always("openai.chat", Reply(text="fast", usage=Usage(input_tokens=1, output_tokens=60)))

    async def run() -> tuple[httpx.Response, httpx.Response]:
        async with httpx.AsyncClient(base_url=gw.url, headers=headers, timeout=60) as c:
            slow = asyncio.create_task(c.post("/v1/chat/completions", json=body))
            await asyncio.to_thread(_wait_until_received, fake_upstream)
            await asyncio.sleep(3 * TTL)  # an unrenewed lease or reservation has expired by now
            second = await c.post("/v1/chat/completions", json=body)
            return await slow, second

    first, second = asyncio.run(run())
    assert first.status_code == 200, first.text
    assert second.status_code == 429, second.text  # the first one still holds its lease / reservation
    assert second.json()["error"]["code"] == code
    assert len(fake_upstream.requests_for("openai.chat")) == 1
    time.sleep(0.2)
    if "max_parallel" in limit:  # released once it ended
        r = httpx.post(f"{gw.url}/v1/chat/completions", json=body, headers=headers, timeout=30)
        assert r.status_code == 200, r.text
