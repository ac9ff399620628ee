"""The auth step: a presented virtual key → Principal, from a short-TTL cache (no DB round trip when warm)."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass

from bastion.auth import keys
from bastion.auth.record import KeyRecord
from bastion.auth.store import KeyStore
from bastion.auth.throttle import FailureThrottle
from bastion.core.context import Principal
from bastion.core.errors import AuthenticationError

MISSING = "missing API key: send `Authorization: Bearer <key>` or `x-api-key: <key>`"
MALFORMED = "malformed API key: expected a Bastion virtual key (bst_...) as `Authorization: Bearer` or `x-api-key`"
CONFLICTING = "conflicting API keys: `Authorization` and `x-api-key` carry different keys"
INVALID = "invalid API key"
REVOKED = "API key has been revoked"
EXPIRED = "API key has expired"


_SWEEP_MIN = 1024


@dataclass(slots=True)
class _Entry:
    record: KeyRecord
    principal: Principal
    fresh_until: float


def _candidates(authorization: str | None, x_api_key: str | None) -> list[str]:
    """The credential values presented, in header order; a non-Bearer Authorization counts as one that
    cannot parse."""
    out: list[str] = []
    if authorization is not None and authorization.strip():
        scheme, _, value = authorization.strip().partition(" ")
        out.append(value.strip() if scheme.lower() == "bearer" else "")
    if x_api_key is not None and x_api_key.strip():
        out.append(x_api_key.strip())
    return out


def _select(candidates: list[str]) -> tuple[str, str] | str:
    """The one (key_id, secret) presented; else the message explaining why there is none."""
    if len(candidates) == 1:  # the usual case: one header, nothing to reconcile
        one = keys.parse(candidates[0])
        return one if one is not None else MALFORMED
    if not candidates:
        return MISSING
    parsed = {p for p in map(keys.parse, candidates) if p is not None}
    if len(parsed) > 1:
        return CONFLICTING
    return parsed.pop() if parsed else MALFORMED


def presented_key_id(authorization: str | None, x_api_key: str | None) -> str | None:
    """The public id of the key presented, if one parses (for logs and audit of refused requests).
    Never the secret; never raises."""
    selected = _select(_candidates(authorization, x_api_key))
    return selected[0] if isinstance(selected, tuple) else None


class Authenticator:
    """Authenticates virtual keys against a KeyStore through a bounded TTL cache.

    Positive and negative lookups are cached per key id for `ttl_seconds` (config
    server.key_cache_ttl_seconds, <= 5 s), so a key created or revoked elsewhere is honoured
    within that time; `invalidate` makes it immediate in this process. Negative results live
    in their own bounded map, so a flood of made-up ids cannot evict real keys. Concurrent
    misses for one id share one store lookup. A store error is not cached and propagates
    (ServiceUnavailable, fail closed). An optional FailureThrottle refuses an address with too
    many recent failures before its key is even looked up.
    """

    def __init__(self, store: KeyStore, ttl_seconds: float, *, max_entries: int = 100_000,
                 throttle: FailureThrottle | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time) -> None:
        if ttl_seconds <= 0 or max_entries < 1:
            raise ValueError("ttl_seconds and max_entries must be positive")
        self._store = store
        self._ttl = ttl_seconds
        self._max = max_entries
        self._throttle = throttle
        self._clock = clock
        self._wall = wall_clock
        self._positive: dict[str, _Entry] = {}
        self._negative: dict[str, float] = {}
        self._inflight: dict[str, asyncio.Task[_Entry | None]] = {}
        self._sweep_at = _SWEEP_MIN  # entries in both caches at which stale ones are dropped

    @property
    def cache_size(self) -> int:
        return len(self._positive) + len(self._negative)

    presented_key_id = staticmethod(presented_key_id)

    async def authenticate(self, authorization: str | None, x_api_key: str | None,
                           client: str | None = None) -> Principal:
        """The Principal of the presented key. Raises AuthenticationError (401) for a missing,
        malformed, unknown, wrong, revoked or expired key; RateLimited (429) when `client` is
        throttled; ServiceUnavailable when the store cannot be reached."""
        if client is not None and self._throttle is not None:
            self._throttle.check(client)
        try:
            return await self._authenticate(authorization, x_api_key)
        except AuthenticationError:
            if client is not None and self._throttle is not None:
                self._throttle.record_failure(client)
            raise

    async def _authenticate(self, authorization: str | None, x_api_key: str | None) -> Principal:
        selected = _select(_candidates(authorization, x_api_key))
        if not isinstance(selected, tuple):
            raise AuthenticationError(selected)
        key_id, secret = selected
        # Hash before the lookup, so a known id and an unknown one cost the same work.
        digest = keys.hash_secret(secret)
        entry = await self._lookup(key_id)
        if entry is None or not keys.verify(digest, entry.record.secret_hash):
            raise AuthenticationError(INVALID)
        # Only the holder of the right secret learns that a key was revoked or has expired.
        record = entry.record
        if record.revoked_at is not None:
            raise AuthenticationError(REVOKED)
        if record.expires_at is not None and record.expires_at <= self._wall():
            raise AuthenticationError(EXPIRED)
        return entry.principal

    async def _lookup(self, key_id: str) -> _Entry | None:
        now = self._clock()
        hit = self._positive.get(key_id)
        if hit is not None and hit.fresh_until > now:
            return hit
        miss_until = self._negative.get(key_id)
        if miss_until is not None and miss_until > now:
            return None
        task = self._inflight.get(key_id)
        if task is None:
            task = asyncio.ensure_future(self._load(key_id))
            self._inflight[key_id] = task
            task.add_done_callback(functools.partial(self._settled, key_id))
        # Shielded: one caller giving up (client gone) must not cancel the lookup others await.
        return await asyncio.shield(task)

    def _settled(self, key_id: str, task: asyncio.Task[_Entry | None]) -> None:
        if self._inflight.get(key_id) is task:
            del self._inflight[key_id]
        if not task.cancelled():
            task.exception()  # retrieved: waiters re-raise it; nobody waiting must not log it

    async def _load(self, key_id: str) -> _Entry | None:
        record = await self._store.get(key_id)
        if self._inflight.get(key_id) is not asyncio.current_task():
            # invalidated while loading: answer the waiters, but do not cache what may be stale
            return _Entry(record, record.to_principal(), 0.0) if record is not None else None
        fresh_until = self._clock() + self._ttl
        self._positive.pop(key_id, None)
        self._negative.pop(key_id, None)
        if record is None:
            self._negative[key_id] = fresh_until
            self._bound(self._negative)
            return None
        entry = _Entry(record, record.to_principal(), fresh_until)
        self._positive[key_id] = entry
        self._bound(self._positive)
        if len(self._positive) + len(self._negative) >= self._sweep_at:
            self._sweep()
        return entry

    def _sweep(self) -> None:
        """Drop entries past their TTL (a lookup would reload them anyway), so memory follows the keys in
        use within the TTL, not every key ever seen. Runs when the caches have doubled since the last
        sweep: amortised O(1) per load."""
        now = self._clock()
        self._positive = {k: e for k, e in self._positive.items() if e.fresh_until > now}
        self._negative = {k: t for k, t in self._negative.items() if t > now}
        self._sweep_at = max(_SWEEP_MIN, 2 * (len(self._positive) + len(self._negative)))

    def _bound(self, cache: dict[str, _Entry] | dict[str, float]) -> None:
        while len(cache) > self._max:
            del cache[next(iter(cache))]

    def invalidate(self, key_id: str) -> None:
        """Forget what this process knows of `key_id` (call after creating, revoking or updating it)."""
        self._positive.pop(key_id, None)
        self._negative.pop(key_id, None)
        self._inflight.pop(key_id, None)

    def clear(self) -> None:
        self._positive.clear()
        self._negative.clear()
        self._inflight.clear()
