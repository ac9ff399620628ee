"""Overhead of rate limits + budgets per request: check and finish of both stages.

Memory backend: CPU time per request (target <= 50 us) with key, team and per-model limits,
a key budget and a team budget, and usage recording on. Redis backend: the commands sent per
request and the wall time per request, with the two stages paired as the gateway runs them (one
call admits, one concludes: 2 commands) and, for comparison, unpaired (one per stage and phase: 4).
Usage: bench_limits.py [--n 20000] [--redis redis://127.0.0.1:6379/0] [--no-redis]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from typing import Any

from bastion.config.loader import parse_config
from bastion.config.schema import BastionConfig
from bastion.core.context import Attempt, Budget, ModelLimit, Principal, RequestContext
from bastion.core.types import ChatRequest, Message, TextPart, Usage
from bastion.cost.pricing import PriceTable
from bastion.cost.stage import BudgetStage
from bastion.cost.usage import UsageRecorder
from bastion.limits.backend import LimitsBackend
from bastion.limits.memory import MemoryBackend
from bastion.limits.stage import RateLimitStage

PROMPT = "Summarise the following paragraph in two sentences. " * 20  # ~1 KB prompt


def config() -> BastionConfig:
    return parse_config({
        "providers": {"openai": {"kind": "openai", "base_url": "https://api.openai.com/v1", "api_key": "sk-x"}},
        "models": [{"name": "gpt-4o-mini", "targets": [{"provider": "openai", "model": "gpt-4o-mini"},
                                                       {"provider": "openai", "model": "gpt-4o"}]}],
        "limits": {"default": {"rpm": 10**9, "tpm": 10**12, "max_parallel": 10**6}},
        "teams": {"payments": {"rpm": 10**9, "tpm": 10**12, "budgets": [{"usd": 10**9, "period": "month"}],
                               "models": {"gpt-4o-mini": {"rpm": 10**9}}}},
    }, env={})


def stages(backend: LimitsBackend, cfg: BastionConfig, paired: bool = True
           ) -> tuple[RateLimitStage, BudgetStage, UsageRecorder]:
    targets = {m.name: [t.model for t in m.targets] for m in cfg.models}
    rec = UsageRecorder(None)
    rl = RateLimitStage(backend, cfg.limits, cfg.teams, targets)
    cost = BudgetStage(backend, PriceTable.for_config(cfg), cfg.limits, cfg.teams, targets, recorder=rec)
    if paired:
        rl.pair(cost)  # as LimitsRuntime does
    return rl, cost, rec


PRINCIPAL = Principal("key-1", "bench", team="payments", budgets=(Budget(10**15, "day"),),
                      model_limits=(("gpt-4o-mini", ModelLimit(rpm=10**9, tpm=10**12)),))


async def one(rl: RateLimitStage, cost: BudgetStage, i: int, with_stages: bool = True) -> None:
    ctx = RequestContext(request_id=f"r{i}", ingress="openai", model="gpt-4o-mini", principal=PRINCIPAL)
    req = ChatRequest(model="gpt-4o-mini", messages=[Message("user", [TextPart(PROMPT)])], max_tokens=256)
    if not with_stages:
        return
    await rl.check(ctx, req)
    await cost.check(ctx, req)
    ctx.attempts.append(Attempt("openai", "gpt-4o-mini", "ok", 200))
    ctx.usage = Usage(input_tokens=260, output_tokens=120)
    await cost.finish(ctx)
    await rl.finish(ctx)


async def bench_memory(n: int) -> None:
    cfg = config()
    rl, cost, _ = stages(MemoryBackend(), cfg)  # paired, as in the gateway
    for i in range(2000):  # warm caches
        await one(rl, cost, i)
    best: list[float] = []
    for _ in range(5):
        t0 = time.process_time()
        for i in range(n):
            await one(rl, cost, i, with_stages=False)
        base = time.process_time() - t0
        t0 = time.process_time()
        for i in range(n):
            await one(rl, cost, i)
        best.append((time.process_time() - t0 - base) / n * 1e6)
    print(f"memory backend: {min(best):.1f} us CPU per request for check+finish of ratelimit and cost "
          f"(best of 5 x {n}; median {statistics.median(best):.1f} us; target <= 50 us)")


async def bench_redis(url: str, n: int, paired: bool) -> None:
    from bastion.limits.redis_backend import RedisBackend

    prefix = f"bastion-bench:{uuid.uuid4().hex}:"
    backend = RedisBackend(url, prefix=prefix, timeout=1.0)
    await backend.start()
    from bastion.limits.resp import parse

    conn = backend._client._conn  # opened by start()
    assert conn is not None
    sent: list[str] = []
    orig = conn.send

    def counting(payload: bytes) -> Any:
        cmd = parse(payload, 0)[0]
        assert isinstance(cmd, list) and isinstance(cmd[0], bytes)
        sent.append(cmd[0].decode())
        return orig(payload)

    conn.send = counting  # type: ignore[method-assign]
    rl, cost, _ = stages(backend, config(), paired)
    await one(rl, cost, 0)
    sent.clear()
    await one(rl, cost, 1)
    per_request = list(sent)
    lat: list[float] = []
    for i in range(n):
        t0 = time.perf_counter()
        await one(rl, cost, i + 2)
        lat.append((time.perf_counter() - t0) * 1e6)
    lat.sort()
    how = "paired (as the gateway runs)" if paired else "unpaired (one call per stage and phase)"
    print(f"redis backend, {how}: {len(per_request)} commands per request {per_request}; "
          f"wall p50 {lat[len(lat) // 2]:.0f} us, p99 {lat[int(len(lat) * 0.99)]:.0f} us per request")
    await backend.close()
    from redis.asyncio import Redis  # clean-up only (a test dependency)

    r = Redis.from_url(url)
    keys = [k async for k in r.scan_iter(match=prefix + "*", count=1000)]
    if keys:
        await r.delete(*keys)
    await r.aclose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    ap.add_argument("--no-redis", action="store_true")
    a = ap.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(bench_memory(a.n))
    if not a.no_redis:
        for paired in (False, True, False, True):  # alternated: the machine's load drifts
            asyncio.run(bench_redis(a.redis, min(a.n, 5000), paired))


if __name__ == "__main__":
    main()
