"""Redis counters shared by every replica: each operation is one Lua script, one round trip.

No request may hang on Redis: connect and socket timeouts are short, the client never
retries, every call has an overall deadline, and after a failure the backend fails fast for
a second (instead of every request paying the connect timeout again) before it tries again.
Failures become ServiceUnavailable; the stages apply `on_backend_error`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from bastion.core.errors import ServiceUnavailable
from bastion.limits import lua
from bastion.limits.backend import BudgetDecision, BudgetSlot, DeniedKind, FailureCounter, RateDecision
from bastion.limits.scopes import ScopeLimit

_KINDS: dict[int, DeniedKind] = {1: "requests", 2: "tokens", 3: "parallel", 4: "too_large"}


class RedisBackend:
    kind = "redis"

    def __init__(self, url: str, *, prefix: str = "bastion:", timeout: float = 1.0,
                 lease_ttl: float = 900.0, cooldown: float = 1.0, max_connections: int = 64,
                 client: Redis | None = None) -> None:
        self._deadline = timeout * 2 + 0.05
        if client is None:
            # A bounded pool whose callers wait (briefly) for a free connection instead of failing
            # under load; no retries, so a dead Redis costs one timeout, not a backoff series.
            pool = BlockingConnectionPool.from_url(
                url, max_connections=max_connections, timeout=self._deadline, socket_timeout=timeout,
                socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0), health_check_interval=0)
            client = Redis.from_pool(pool)
        self._client: Redis = client
        self._prefix = prefix
        self._lease_ttl = lease_ttl
        self._cooldown = cooldown
        self._down_until = 0.0
        self.failures = FailureCounter()
        self._acquire = self._client.register_script(lua.ACQUIRE)
        self._release = self._client.register_script(lua.RELEASE)
        self._reserve = self._client.register_script(lua.RESERVE)
        self._settle = self._client.register_script(lua.SETTLE)
        self._names: dict[str, tuple[str, str, str]] = {}

    async def start(self) -> None:
        """Load the scripts (so the first requests need no second round trip). A Redis that is
        down at start-up is not fatal: requests then meet `on_backend_error`."""
        try:
            await self._call("start", self._client.script_load(lua.ACQUIRE))
            for s in (lua.RELEASE, lua.RESERVE, lua.SETTLE):
                await self._call("start", self._client.script_load(s))
        except ServiceUnavailable:
            pass

    async def close(self) -> None:
        await self._client.aclose()

    async def _call(self, op: str, awaitable: Any) -> Any:
        loop = asyncio.get_running_loop()
        if loop.time() < self._down_until:
            awaitable.close()  # never awaited: do not leak the coroutine
            self.failures.record(op, "redis marked down after a recent failure")
            raise ServiceUnavailable("limits backend (redis) is unreachable")
        try:
            async with asyncio.timeout(self._deadline):
                return await awaitable
        except (RedisError, OSError, TimeoutError) as e:
            # Only a refused/broken connection marks Redis down for the cool-down; a slow answer
            # (e.g. a busy event loop in a burst) fails this request alone, not the next second.
            if not isinstance(e, TimeoutError | RedisTimeoutError):
                self._down_until = loop.time() + self._cooldown
            self.failures.record(op, type(e).__name__)
            raise ServiceUnavailable(f"limits backend (redis) is unreachable: {type(e).__name__}") from None

    def _scope_keys(self, scope_id: str) -> tuple[str, str, str]:
        k = self._names.get(scope_id)
        if k is None:
            base = f"{self._prefix}rl:{scope_id}:"
            if len(self._names) > 100_000:
                self._names.clear()
            k = self._names[scope_id] = (base + "r", base + "t", base + "p")
        return k

    def _budget_keys(self, slot: BudgetSlot) -> tuple[str, str]:
        h = f"{self._prefix}b:{slot.scope}:{slot.period}:{slot.label}"
        return h, h + ":r"

    async def acquire(self, rid: str, scopes: Sequence[ScopeLimit], tokens: int,
                      now: float | None = None) -> RateDecision:
        keys: list[str] = []
        args: list[str | int | float] = [-1 if now is None else repr(now), tokens, rid, self._lease_ttl, len(scopes)]
        for s in scopes:
            keys.extend(self._scope_keys(s.id))
            args.extend((_n(s.rpm), _n(s.tpm), _n(s.max_parallel)))
        r = await self._call("acquire", self._acquire(keys=keys, args=args))
        if int(r[0]) != 1:
            return RateDecision(False, int(r[1]) / 1000.0, int(r[2]) - 1, _KINDS[int(r[3])])
        d = RateDecision(True)
        if int(r[4]) >= 0:
            d.req_limit, d.req_remaining, d.req_reset = int(r[4]), int(r[5]), int(r[6]) / 1000.0
        if int(r[7]) >= 0:
            d.tok_limit, d.tok_remaining, d.tok_reset = int(r[7]), int(r[8]), int(r[9]) / 1000.0
        return d

    async def release(self, rid: str, scopes: Sequence[ScopeLimit], token_delta: int,
                      now: float | None = None) -> None:
        keys: list[str] = []
        args: list[str | int | float] = [-1 if now is None else repr(now), rid, token_delta, 0]
        n = 0
        for s in scopes:
            if (s.tpm is None or not token_delta) and s.max_parallel is None:
                continue
            _, t, p = self._scope_keys(s.id)
            keys.extend((t, p))
            args.extend((_n(s.tpm), 1 if s.max_parallel is not None else 0))
            n += 1
        if n == 0:
            return
        args[3] = n
        await self._call("release", self._release(keys=keys, args=args))

    async def reserve(self, rid: str, slots: Sequence[BudgetSlot], amount: int, now: float) -> BudgetDecision:
        keys: list[str] = []
        args: list[str | int | float] = [repr(now), amount, f"{rid}|{amount}", repr(now + self._lease_ttl), len(slots)]
        for s in slots:
            keys.extend(self._budget_keys(s))
            args.extend((s.limit, s.expires_at or 0))
        r = await self._call("reserve", self._reserve(keys=keys, args=args))
        if int(r[0]) == 1:
            return BudgetDecision(True)
        return BudgetDecision(False, int(r[1]) - 1, int(r[2]), int(r[3]))

    async def settle(self, rid: str, reserved: Sequence[BudgetSlot], amount: int, actual: int,
                     spend: Sequence[BudgetSlot], now: float) -> None:
        if not reserved and actual <= 0:
            return
        keys: list[str] = []
        for s in reserved:
            keys.extend(self._budget_keys(s))
        expiries: list[str | int | float] = []
        for s in spend:
            keys.append(self._budget_keys(s)[0])
            expiries.append(s.expires_at or 0)
        args: list[str | int | float] = [f"{rid}|{amount}", amount, actual, len(reserved), len(spend), *expiries]
        await self._call("settle", self._settle(keys=keys, args=args))

    async def budget_state(self, slot: BudgetSlot) -> tuple[int, int]:
        h, _ = self._budget_keys(slot)
        v = await self._call("budget_state", self._client.hmget(h, ["spent", "reserved"]))
        return int(v[0] or 0), int(v[1] or 0)


def _n(v: int | None) -> int:
    return -1 if v is None else v
