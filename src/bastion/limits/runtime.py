"""Builds rate limits, budgets and usage recording from the config, with one lifecycle.

    limits = LimitsRuntime(config, db)      # at create_app
    await limits.start()                     # loads scripts / current-period spend, starts the writer
    stages: limits.ratelimit, limits.cost    # pipeline order: auth, ratelimit, cost, policy-in, ...
    admin:  GET /admin/usage -> limits.usage_handler
    await limits.close()                     # flushes usage records, closes Redis
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from bastion.config.schema import BastionConfig
from bastion.cost.admin import usage_handler
from bastion.cost.pricing import PriceTable, check_prices
from bastion.cost.stage import BudgetStage
from bastion.cost.usage import UsageRecorder, load_spend, settled_spend
from bastion.http.types import HttpRequest, HttpResponse
from bastion.limits.backend import LimitsBackend
from bastion.limits.late import horizon
from bastion.limits.memory import MemoryBackend
from bastion.limits.redis_backend import RedisBackend
from bastion.limits.stage import RateLimitStage
from bastion.store.db import Database


def model_targets(config: BastionConfig) -> dict[str, list[str]]:
    """Model alias → upstream model names of its targets."""
    return {m.name: [t.model for t in m.targets] for m in config.models}


def config_errors(config: BastionConfig) -> list[str]:
    """Start-up errors of this capability, each naming its config path (for `config check`)."""
    errors = check_prices(config)
    if config.limits.backend == "memory" and config.server.workers > 1:
        errors.append("limits.backend: memory counters are per process, so with server.workers > 1 every "
                      "limit and budget would be multiplied by the worker count; use backend: redis")
    if config.limits.backend == "redis":
        from bastion.config.loader import ConfigError
        from bastion.limits.resp import parse_redis_url

        try:
            parse_redis_url(config.limits.redis_url)
        except ConfigError as e:
            errors.extend(e.errors)
    return errors


def make_backend(config: BastionConfig, clock: Callable[[], float] = time.time) -> LimitsBackend:
    lc = config.limits
    if lc.backend == "redis":
        return RedisBackend(lc.redis_url, prefix=lc.redis_key_prefix, timeout=lc.redis_timeout_seconds,
                            lease_ttl=lc.lease_ttl_seconds, retry_horizon=horizon(lc.lease_ttl_seconds), clock=clock)
    return MemoryBackend(clock=clock)


class LimitsRuntime:
    """Owns the backend, price table, usage recorder and the two stages."""

    def __init__(self, config: BastionConfig, db: Database | None, *, backend: LimitsBackend | None = None,
                 prices: PriceTable | None = None, clock: Callable[[], float] | None = None) -> None:
        self.config = config
        self.db = db
        self.backend = backend if backend is not None else make_backend(config, clock or time.time)
        self.prices = prices if prices is not None else PriceTable.for_config(config)
        self.recorder = UsageRecorder(db, flush_seconds=config.limits.usage_flush_seconds)
        targets = model_targets(config)
        self.ratelimit = RateLimitStage(self.backend, config.limits, config.teams, targets, clock=clock)
        self.cost = BudgetStage(self.backend, self.prices, config.limits, config.teams, targets,
                                recorder=self.recorder, clock=clock)
        self.ratelimit.pair(self.cost)  # one backend call to admit a request, one to conclude it
        if db is not None and isinstance(self.backend, RedisBackend):
            self.backend.spend_source = lambda slot: settled_spend(db, slot)
        self._clock = clock or time.time

    @property
    def usage_handler(self) -> Callable[[HttpRequest], Awaitable[HttpResponse]]:
        if self.db is None:
            raise RuntimeError("usage reports need a store")
        return usage_handler(self.db, self.recorder)

    async def start(self) -> None:
        await self.backend.start()
        await self.recorder.start()
        if isinstance(self.backend, MemoryBackend) and self.db is not None:
            self.backend.seed_spend(await load_spend(self.db, self._clock()))

    async def close(self) -> None:
        await self.ratelimit.late.close()
        await self.cost.late.close()
        await self.recorder.close()
        await self.backend.close()
