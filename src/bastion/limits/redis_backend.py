"""Redis counters shared by every replica: each operation is one Lua script, one round trip.

No request may hang on Redis: opening a connection and each reply are bounded by `timeout`, so
a call by twice that (three times if Redis lost the scripts and EVALSHA must become EVAL; the
client retries nothing else), and after a refused or broken connection the backend fails fast
for a second (instead of every request paying the connect timeout again) before it tries again.
Failures become ServiceUnavailable; the stages apply `on_backend_error`. The client is
limits/resp.py, one pipelined connection: redis-py's asyncio client cost ~100 µs CPU per call.
Leases and reservations this process holds are renewed while their requests run
(limits/renewal.py), so `lease_ttl` only bounds what a crashed replica leaves behind.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from bastion.core.errors import ServiceUnavailable
from bastion.limits import lua
from bastion.limits.backend import (
    BUDGET_ALLOWED,
    BudgetDecision,
    BudgetSlot,
    DeniedKind,
    FailureCounter,
    RateDecision,
)
from bastion.limits.renewal import LeaseRenewal, Reservation
from bastion.limits.resp import Arg, Reply, ReplyError, RespClient, Script
from bastion.limits.scopes import ScopeLimit

_KINDS: dict[int, DeniedKind] = {1: "requests", 2: "tokens", 3: "parallel", 4: "too_large"}
ACQUIRE, RELEASE, RESERVE, SETTLE, ADMIT, CONCLUDE, SEED, RENEW = (
    Script(s) for s in (lua.ACQUIRE, lua.RELEASE, lua.RESERVE, lua.SETTLE, lua.ADMIT, lua.CONCLUDE, lua.SEED,
                        lua.RENEW))
log = logging.getLogger("bastion.limits")
_UNSEEDED = 2  # a script's first reply item when budget hashes must first be seeded from the store
SpendSource = Callable[[BudgetSlot], Awaitable[int]]


class RedisBackend:
    kind = "redis"

    def __init__(self, url: str, *, prefix: str = "bastion:", timeout: float = 1.0,
                 lease_ttl: float = 60.0, cooldown: float = 1.0, max_connections: int = 64,
                 client: RespClient | None = None, retry_horizon: float = 900.0,
                 clock: Callable[[], float] = time.time) -> None:
        # `max_connections` is kept for callers; one pipelined connection now serves every call.
        self._client = client if client is not None else RespClient(url, timeout=timeout)
        self._prefix = prefix
        self._lease_ttl = lease_ttl
        self._cooldown = cooldown
        self._down_until = 0.0
        self._down_why = ""
        self.failures = FailureCounter()
        self._names: dict[str, tuple[str, str, str]] = {}
        # The store's settled spend of a budget slot (micro-USD): seeds a budget counter Redis does
        # not hold (first use, or lost in a restart without persistence); None seeds 0.
        self.spend_source: SpendSource | None = None
        self.renewal = LeaseRenewal(lease_ttl, self._call, RENEW, retry_horizon=retry_horizon, clock=clock)

    async def start(self) -> None:
        """Load the scripts (so the first requests need no second round trip). A Redis that is
        down at start-up is not fatal: requests then meet `on_backend_error`."""
        self.renewal.start()
        for s in (ACQUIRE, RELEASE, RESERVE, SETTLE, ADMIT, CONCLUDE, SEED, RENEW):
            try:
                await self._call("start", None, ["SCRIPT", "LOAD", s.source])
            except ServiceUnavailable as e:
                log.error("limits.redis_url: Redis cannot be used at start-up (%s); requests meet "
                          "limits.on_backend_error until it can", e.message)
                return

    async def close(self) -> None:
        await self.renewal.close()
        await self._client.close()

    async def _call(self, op: str, script: Script | None, args: Sequence[Arg],
                    keys: Sequence[Arg] = ()) -> Reply:
        """EVALSHA of `script` (else the command `args`) with the failure rules: Redis errors become ServiceUnavailable; refused or broken connections (not slow
        answers) make the next `cooldown` seconds fail fast."""
        if self._down_until and time.monotonic() < self._down_until:
            self.failures.record(op, f"redis marked down after a recent failure ({self._down_why})")
            raise ServiceUnavailable(f"limits backend (redis) is unreachable: {self._down_why}")
        try:
            if script is not None:
                return await self._client.evalsha(script, keys, args)
            return await self._client.execute(*args)
        except (ReplyError, OSError) as e:
            # A slow answer (e.g. a busy event loop in a burst) fails the requests waiting on it,
            # not the next second; a refused, reset or error-answering Redis marks it down.
            # A refusal (wrong password, ...) is Redis's own text: it never echoes the password
            why = f"{type(e).__name__}: {e}"[:200] if isinstance(e, ReplyError) else type(e).__name__
            if not isinstance(e, TimeoutError):
                self._down_until = time.monotonic() + self._cooldown
                self._down_why = why
            self.failures.record(op, why)
            raise ServiceUnavailable(f"limits backend (redis) is unreachable: {why}") from None

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

    def _acquire_call(self, rid: str, scopes: Sequence[ScopeLimit], tokens: int,
                      now: float | None) -> tuple[list[Arg], list[Arg]]:
        keys: list[Arg] = []
        args: list[Arg] = [-1 if now is None else repr(now), tokens, rid, self._lease_ttl, len(scopes)]
        for s in scopes:
            keys.extend(self._scope_keys(s.id))
            args.extend((_n(s.rpm), _n(s.tpm), _n(s.max_parallel)))
        return keys, args

    async def acquire(self, rid: str, scopes: Sequence[ScopeLimit], tokens: int,
                      now: float | None = None) -> RateDecision:
        keys, args = self._acquire_call(rid, scopes, tokens, now)
        d = _rate(_ints(await self._call("acquire", ACQUIRE, args, keys)))
        if d.allowed:
            self.renewal.hold(rid, leases=self._lease_keys(scopes))
        return d

    def _lease_keys(self, scopes: Sequence[ScopeLimit]) -> list[str]:
        return [self._scope_keys(s.id)[2] for s in scopes if s.max_parallel is not None]

    def _reservations(self, rid: str, slots: Sequence[BudgetSlot], amount: int) -> list[Reservation]:
        member = f"{rid}|{amount}"
        out: list[Reservation] = []
        for s in slots:
            h, z = self._budget_keys(s)
            out.append((z, h, member, amount))
        return out

    def _release_call(self, rid: str, scopes: Sequence[ScopeLimit], token_delta: int,
                      now: float | None) -> tuple[list[Arg], list[Arg]]:
        """RELEASE's keys and args; none when there is nothing to release."""
        keys: list[Arg] = []
        args: list[Arg] = [-1 if now is None else repr(now), rid, token_delta, 0]
        n = 0
        for s in scopes:
            if (s.tpm is None or not token_delta) and s.max_parallel is None:
                continue
            _, t, p = self._scope_keys(s.id)
            keys.extend((t, p))
            args.extend((_n(s.tpm), 1 if s.max_parallel is not None else 0))
            n += 1
        if n == 0:
            return [], []
        args[3] = n
        return keys, args

    async def release(self, rid: str, scopes: Sequence[ScopeLimit], token_delta: int,
                      now: float | None = None) -> None:
        keys, args = self._release_call(rid, scopes, token_delta, now)
        if args:
            await self._concluding(rid, True, False, self._call("release", RELEASE, args, keys))

    def _reserve_call(self, rid: str, slots: Sequence[BudgetSlot], amount: int,
                      now: float) -> tuple[list[Arg], list[Arg]]:
        keys: list[Arg] = []
        args: list[Arg] = [repr(now), amount, f"{rid}|{amount}", repr(now + self._lease_ttl), len(slots)]
        for s in slots:
            keys.extend(self._budget_keys(s))
            args.extend((s.limit, s.expires_at or 0))
        return keys, args

    async def reserve(self, rid: str, slots: Sequence[BudgetSlot], amount: int, now: float) -> BudgetDecision:
        keys, args = self._reserve_call(rid, slots, amount, now)
        for _ in range(3):
            r = _ints(await self._call("reserve", RESERVE, args, keys))
            if r[0] != _UNSEEDED:
                if r[0] == 1:
                    self.renewal.hold(rid, reservations=self._reservations(rid, slots, amount))
                return _budget(r)
            await self._seed(slots, r[1:])
        raise ServiceUnavailable("limits backend (redis) keeps losing budget counters")

    async def _seed(self, slots: Sequence[BudgetSlot], indexes: Sequence[int]) -> None:
        """Seed the budget counters at `indexes` (1-based) with the store's settled spend, one
        round trip; a counter seeded meanwhile by another replica is left as it is."""
        keys: list[Arg] = []
        args: list[Arg] = []
        for i in indexes:
            slot = slots[i - 1]
            keys.append(self._budget_keys(slot)[0])
            args.extend((0 if self.spend_source is None else await self.spend_source(slot), slot.expires_at or 0))
        await self._call("seed", SEED, args, keys)

    def _settle_call(self, rid: str, reserved: Sequence[BudgetSlot], amount: int, actual: int,
                     spend: Sequence[BudgetSlot]) -> tuple[list[Arg], list[Arg]]:
        """SETTLE's keys and args; none when there is nothing to settle."""
        if not reserved and actual <= 0:
            return [], []
        keys: list[Arg] = []
        for s in reserved:
            keys.extend(self._budget_keys(s))
        expiries: list[Arg] = []
        for s in spend:
            keys.append(self._budget_keys(s)[0])
            expiries.append(s.expires_at or 0)
        args: list[Arg] = [f"{rid}|{amount}", amount, actual, len(reserved), len(spend), *expiries]
        return keys, args

    async def settle(self, rid: str, reserved: Sequence[BudgetSlot], amount: int, actual: int,
                     spend: Sequence[BudgetSlot], now: float) -> None:
        keys, args = self._settle_call(rid, reserved, amount, actual, spend)
        if args:
            await self._concluding(rid, False, True, self._call("settle", SETTLE, args, keys))

    async def admit(self, rid: str, scopes: Sequence[ScopeLimit], tokens: int, now: float | None,
                    slots: Sequence[BudgetSlot], amount: int, budget_now: float
                    ) -> tuple[RateDecision, BudgetDecision | None]:
        k1, a1 = self._acquire_call(rid, scopes, tokens, now)
        k2, a2 = self._reserve_call(rid, slots, amount, budget_now)
        for _ in range(3):
            r = _ints(await self._call("admit", ADMIT, [len(k1), len(a1), *a1, *a2], [*k1, *k2]))
            if r[0] != _UNSEEDED:
                break
            await self._seed(slots, r[1:])
        else:
            raise ServiceUnavailable("limits backend (redis) keeps losing budget counters")
        if r[0] != 1:
            return _rate(r), None
        bd = _budget(r[10:])
        self.renewal.hold(rid, leases=self._lease_keys(scopes),
                          reservations=self._reservations(rid, slots, amount) if bd.allowed else ())
        return _rate(r[:10]), bd

    async def conclude(self, rid: str, scopes: Sequence[ScopeLimit], token_delta: int, now: float | None,
                       reserved: Sequence[BudgetSlot], amount: int, actual: int,
                       spend: Sequence[BudgetSlot], budget_now: float) -> None:
        k1, a1 = self._release_call(rid, scopes, token_delta, now)
        k2, a2 = self._settle_call(rid, reserved, amount, actual, spend)
        if a1 or a2:
            await self._concluding(rid, True, True,
                                   self._call("conclude", CONCLUDE, [len(k1), len(a1), *a1, *a2], [*k1, *k2]))

    async def _concluding(self, rid: str, leases: bool, reservations: bool, call: Awaitable[Reply]) -> None:
        """Await a release/settlement and tell the renewal whether it was written."""
        self.renewal.concluding(rid)
        try:
            await call
        except BaseException:
            self.renewal.concluded(rid, leases=leases, reservations=reservations, ok=False)
            raise
        self.renewal.concluded(rid, leases=leases, reservations=reservations, ok=True)

    async def budget_state(self, slot: BudgetSlot) -> tuple[int, int]:
        h, _ = self._budget_keys(slot)
        v = await self._call("budget_state", None, ("HMGET", h, "spent", "reserved"))
        if not isinstance(v, list) or len(v) != 2:
            raise ServiceUnavailable("limits backend (redis) sent an unexpected reply")
        return _int(v[0]), _int(v[1])


def _rate(r: list[int]) -> RateDecision:
    """ACQUIRE's reply as a decision (see lua.ACQUIRE)."""
    if r[0] != 1:
        return RateDecision(False, r[1] / 1000.0, r[2] - 1, _KINDS[r[3]])
    d = RateDecision(True)
    if r[4] >= 0:
        d.req_limit, d.req_remaining, d.req_reset = r[4], r[5], r[6] / 1000.0
    if r[7] >= 0:
        d.tok_limit, d.tok_remaining, d.tok_reset = r[7], r[8], r[9] / 1000.0
    return d


def _budget(r: list[int]) -> BudgetDecision:
    """RESERVE's reply as a decision (see lua.RESERVE)."""
    if r[0] == 1:
        return BUDGET_ALLOWED
    return BudgetDecision(False, r[1] - 1, r[2], r[3])


def _ints(r: Reply) -> list[int]:
    """A script's reply: a flat array of integers (anything else means a wrong script or server)."""
    if type(r) is not list or not all(type(x) is int for x in r):
        raise ServiceUnavailable("limits backend (redis) sent an unexpected reply")
    return r  # type: ignore[return-value]  # checked above


def _int(v: Reply) -> int:
    if v is None:
        return 0
    if isinstance(v, int | bytes | str):
        return int(v)
    raise ServiceUnavailable("limits backend (redis) sent an unexpected reply")


def _n(v: int | None) -> int:
    return -1 if v is None else v
