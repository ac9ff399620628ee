"""Replicas sharing PostgreSQL and Redis: what survives when Redis loses its data."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx

from tests.fakes.reply import Reply, Usage
from tests.fakes.upstream import FakeUpstream
from tests.gateway import Gateway, base_config

MSG = [{"role": "user", "content": "hi"}]


def _drop_redis_prefix(prefix: str) -> int:
    """What a Redis restart without persistence (or an eviction) does to this gateway's counters."""
    import redis

    r = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    try:
        keys = list(r.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            r.delete(*keys)
        return len(keys)
    finally:
        r.close()


def _burst(urls: list[str], key: str, n: int) -> list[int]:
    body = {"model": "budget-model", "messages": MSG, "max_tokens": 10}

    async def run() -> list[int]:
        async with httpx.AsyncClient(timeout=30) as c:
            async def one(i: int) -> int:
                r = await c.post(f"{urls[i % len(urls)]}/v1/chat/completions", json=body,
                                 headers={"authorization": f"Bearer {key}"})
                return r.status_code
            return list(await asyncio.gather(*(one(i) for i in range(n))))
    return asyncio.run(run())


def test_budget_spent_is_not_forgotten_when_redis_loses_its_data(
        pg_schema_url: str, redis_url: str, fake_upstream: FakeUpstream, tmp_path: Path) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}:"
    cfg = base_config(fake_upstream.url, tmp_path, store={"url": pg_schema_url},
                      limits={"backend": "redis", "redis_url": redis_url, "redis_key_prefix": prefix,
                              "usage_flush_seconds": 0.1})
    cfg["models"].append({"name": "budget-model", "targets": [{"provider": "openai", "model": "gpt-budget"}]})
    cfg["pricing"]["gpt-budget"] = {"input_per_mtok": 0, "output_per_mtok": 10000}  # $0.10 a request
    fake_upstream.always("openai.chat", Reply(text="ok", usage=Usage(input_tokens=7, output_tokens=10)))
    try:
        with Gateway(cfg, tmp_path, name="a") as a, Gateway(cfg, tmp_path, name="b") as b:
            key = a.create_key(name="capped", budget_usd=0.5, budget_period="month")
            first = _burst([a.url, b.url], key, 10)
            assert first.count(200) == 5, first
            status, usage = a.admin("GET", "/admin/usage")  # flushes a's usage records
            assert status == 200, usage
            b.admin("GET", "/admin/usage")
            assert _drop_redis_prefix(prefix) > 0  # Redis restarted without persistence
            again = _burst([a.url, b.url], key, 10)
            # $0.50 was spent (the store says so): nothing more may be served
            assert again.count(200) == 0, again
            assert set(again) == {429}, again
    finally:
        _drop_redis_prefix(prefix)


def test_a_crashed_replica_frees_its_concurrency_slot_after_the_lease_ttl_and_a_live_one_keeps_it(
        redis_url: str, fake_upstream: FakeUpstream, tmp_path: Path) -> None:
    """max_parallel 1, a long stream on replica a: its slot stays taken while the stream runs longer
    than limits.lease_ttl_seconds (renewed), and comes back once a is killed outright (expired),
    instead of staying locked for the old fixed 15 minutes."""
    import signal
    import threading
    import time

    prefix = f"t{uuid.uuid4().hex[:8]}:"
    cfg = base_config(fake_upstream.url, tmp_path,
                      limits={"backend": "redis", "redis_url": redis_url, "redis_key_prefix": prefix,
                              "lease_ttl_seconds": 2})
    fake_upstream.always("openai.chat", Reply(stream=["tick "] * 400, delay_between_chunks=0.05))
    body = {"model": "gpt-4o-mini", "messages": MSG, "max_tokens": 10}
    try:
        with Gateway(cfg, tmp_path, name="a") as a, Gateway(cfg, tmp_path, name="b") as b:
            key = a.create_key(name="one-at-a-time", max_parallel=1)
            auth = {"authorization": f"Bearer {key}"}
            started = threading.Event()
            chunks: list[bytes] = []

            def long_stream() -> None:
                try:
                    with httpx.stream("POST", f"{a.url}/v1/chat/completions", json={**body, "stream": True},
                                      headers=auth, timeout=60) as r:
                        assert r.status_code == 200
                        for chunk in r.iter_bytes():
                            chunks.append(chunk)
                            started.set()
                except httpx.HTTPError:
                    pass  # a is killed under it
                finally:
                    started.set()

            t = threading.Thread(target=long_stream, daemon=True)
            t.start()
            assert started.wait(30) and chunks
            time.sleep(5)  # 2.5 TTLs into the stream: renewed, so still held
            r = httpx.post(f"{b.url}/v1/chat/completions", json=body, headers=auth, timeout=30)
            assert r.status_code == 429, r.text
            assert "concurrent" in r.text.lower() or "parallel" in r.text.lower(), r.text
            a.stop(signal.SIGKILL)  # no release, no renewal
            t.join(10)
            deadline = time.monotonic() + 20
            statuses = []
            while time.monotonic() < deadline:
                r = httpx.post(f"{b.url}/v1/chat/completions", json=body, headers=auth, timeout=30)
                statuses.append(r.status_code)
                if r.status_code == 200:
                    break
                time.sleep(0.25)
            assert statuses[-1] == 200, statuses  # the dead replica's lease expired
    finally:
        _drop_redis_prefix(prefix)
