"""The auth step: a presented virtual key → Principal, from a cache kept fresh by polling for changed keys."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hmac
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bastion.auth import keys
from bastion.auth.record import KeyRecord
from bastion.auth.store import KeyStore
from bastion.auth.throttle import FailureThrottle
from bastion.core.context import Principal
from bastion.core.errors import AuthenticationError, BastionError

MISSING = "missing API key: send `Authorization: Bearer <key>` or `x-api-key: <key>`"
MALFORMED = "malformed API key: expected a Bastion virtual key (bst_...) as `Authorization: Bearer` or `x-api-key`"
CONFLICTING = "conflicting API keys: `Authorization` and `x-api-key` carry different keys"
INVALID = "invalid API key"
REVOKED = "API key has been revoked"
EXPIRED = "API key has expired"


_SWEEP_MIN = 1024
_PARSED_MAX = 4096  # credentials remembered parsed (`Authenticator._parsed`); the map is emptied when full

log = logging.getLogger("bastion.auth")


@dataclass(slots=True)
class _Entry:
    record: KeyRecord
    principal: Principal
    fresh_until: float  # read + TTL: fresh on its own until then, later only while polls confirm it
    used: float  # last hit, for the sweep
    # The last secret presented that matched record.secret_hash: the same secret again needs no
    # SHA-256 (~9k instructions a request). Held as long as the entry, which a change replaces.
    verified: str | None = field(default=None, repr=False)


@dataclass(slots=True)
class _Miss:
    """A key id the store did not have."""

    fresh_until: float
    used: float


class _Uncached:
    """What the cache answers for a key id it cannot answer for."""


_UNCACHED = _Uncached()
_NO_HASH = "-" * 64  # no SHA-256 hex digest


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
    """Authenticates virtual keys against a KeyStore through a bounded cache.

    A key read from the store (found or not) is fresh for `ttl_seconds` (server.key_cache_ttl_seconds,
    <= 5 s). Once `start`ed, a poll every TTL/2 asks the store which keys were created, revoked or
    updated (`KeyStore.changed_since`) since the start of the last successful poll minus
    `poll_margin_seconds` (default max(TTL, 1 s): the clock skew between replicas plus the delay from
    stamping a change to committing it that is tolerated). Entries of changed keys take the new
    record; all others stay fresh until TTL after that poll started. So what any process writes is
    honoured here within the TTL, as before, and a warm key costs no store read. A failed poll extends
    nothing: entries expire TTL after their last confirmation, then lookups hit the store and fail
    closed (ServiceUnavailable) while it is down. `invalidate` is immediate in this process.

    Negative results have their own bounded map, so made-up ids cannot evict real keys. Entries unused
    for `idle_seconds` are swept (memory follows the keys in use), and each is re-read at least every
    `max_age_seconds`: the backstop for a change the polls missed (a writer's clock behind by more than
    the margin). Concurrent misses for one id share one lookup; a store error is not cached. An
    optional FailureThrottle refuses an address with too many recent failures before any lookup.
    """

    def __init__(self, store: KeyStore, ttl_seconds: float, *, max_entries: int = 100_000,
                 throttle: FailureThrottle | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time,
                 poll_margin_seconds: float | None = None, idle_seconds: float = 60.0,
                 max_age_seconds: float = 300.0) -> None:
        if ttl_seconds <= 0 or max_entries < 1 or idle_seconds <= 0 or max_age_seconds <= 0:
            raise ValueError("ttl_seconds, max_entries, idle_seconds and max_age_seconds must be positive")
        self._store = store
        self._ttl = ttl_seconds
        self._max = max_entries
        self._throttle = throttle
        self._clock = clock
        self._wall = wall_clock
        self._margin = max(ttl_seconds, 1.0) if poll_margin_seconds is None else poll_margin_seconds
        self._idle = idle_seconds
        self._max_age = max_age_seconds
        self._positive: dict[str, _Entry] = {}
        self._negative: dict[str, _Miss] = {}
        self._inflight: dict[str, asyncio.Task[_Entry | None]] = {}
        self._sweep_at = _SWEEP_MIN  # entries in both caches at which stale ones are dropped
        self._next_sweep = clock() + idle_seconds / 4
        # Every change committed after this wall time is reported by the next successful poll; every
        # entry cached now was read after it (nothing is cached before construction).
        self._polled_from = wall_clock()
        self._confirmed_until = float("-inf")  # what the last successful poll vouches for
        self._poller: asyncio.Task[None] | None = None
        # (Authorization, x-api-key) as presented -> (key_id, secret) parsed, of requests that passed:
        # a key's next request skips the parse (~10k instructions). Only keys that authenticated are
        # kept, so made-up ones cannot fill it; what a key's requests check after the parse (the
        # cache, the secret, revocation, expiry) they all still do.
        self._parsed: dict[tuple[str | None, str | None], tuple[str, str]] = {}

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
            presented = (authorization, x_api_key)
            selected = self._parsed.get(presented)
            if selected is None:
                fresh = _select(_candidates(authorization, x_api_key))
                if not isinstance(fresh, tuple):
                    raise AuthenticationError(fresh)
                selected = fresh
            key_id, secret = selected
            entry = self._cached(key_id)  # a warm key: no await
            if isinstance(entry, _Uncached):
                entry = await self._lookup(key_id)
            if entry is None:
                # The work of a wrong secret for a known id, so that the two cost the same.
                keys.verify(keys.hash_secret(secret), _NO_HASH)
                raise AuthenticationError(INVALID)
            if entry.verified is None or not hmac.compare_digest(entry.verified, secret):
                if not keys.verify(keys.hash_secret(secret), entry.record.secret_hash):
                    raise AuthenticationError(INVALID)
                entry.verified = secret
            # Only the holder of the right secret learns that a key was revoked or has expired.
            record = entry.record
            if record.revoked_at is not None:
                raise AuthenticationError(REVOKED)
            if record.expires_at is not None and record.expires_at <= self._wall():
                raise AuthenticationError(EXPIRED)
            parsed = self._parsed
            if presented not in parsed:
                if len(parsed) >= _PARSED_MAX:
                    parsed.clear()
                parsed[presented] = selected
            return entry.principal
        except AuthenticationError:
            if client is not None and self._throttle is not None:
                self._throttle.record_failure(client)
            raise

    def _cached(self, key_id: str) -> _Entry | _Uncached | None:
        """The cache's answer for `key_id` while it holds: the entry, None (not in the store), or
        _UNCACHED (ask the store)."""
        now = self._clock()
        hit = self._positive.get(key_id)
        if hit is not None and (hit.fresh_until > now or self._confirmed_until > now):
            hit.used = now
            return hit
        miss = self._negative.get(key_id)
        if miss is not None and (miss.fresh_until > now or self._confirmed_until > now):
            miss.used = now
            return None
        return _UNCACHED

    async def _lookup(self, key_id: str) -> _Entry | None:
        """The store's answer for a key id the cache has none for; concurrent misses share one read."""
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
        started = self._clock()
        record = await self._store.get(key_id)
        if self._inflight.get(key_id) is not asyncio.current_task():
            # invalidated or reported changed while loading: answer the waiters, do not cache what may be stale
            return _Entry(record, record.to_principal(), 0.0, 0.0) if record is not None else None
        fresh_until = started + self._ttl
        self._positive.pop(key_id, None)
        self._negative.pop(key_id, None)
        if record is None:
            self._negative[key_id] = _Miss(fresh_until, started)
            self._bound(self._negative)
            return None
        entry = _Entry(record, record.to_principal(), fresh_until, started)
        self._positive[key_id] = entry
        self._bound(self._positive)
        if len(self._positive) + len(self._negative) >= self._sweep_at:
            self._sweep()
        return entry

    async def poll(self) -> int:
        """One poll of the store for changed keys (the background task calls it every TTL/2); returns
        how many changed. Raises ServiceUnavailable when the store cannot answer: nothing is extended."""
        started, wall = self._clock(), self._wall()
        if started >= self._next_sweep:
            self._sweep()
        changed = await self._store.changed_since(self._polled_from - self._margin)
        for record in changed:
            self._apply(record, started)
        self._polled_from = wall
        self._confirmed_until = started + self._ttl
        return len(changed)

    def _apply(self, record: KeyRecord, started: float) -> None:
        key_id = record.id
        self._inflight.pop(key_id, None)  # a load in flight may have read the old row: not cached
        # An entry read after this poll started may be newer than it; if not, the next poll (whose
        # window overlaps this one by the margin) reports the change again.
        entry = self._positive.get(key_id)
        if entry is not None:
            if entry.fresh_until - self._ttl <= started:
                self._positive[key_id] = _Entry(record, record.to_principal(), started + self._ttl, entry.used)
            return
        miss = self._negative.get(key_id)
        if miss is not None and miss.fresh_until - self._ttl <= started:  # created since it was looked up
            del self._negative[key_id]
            self._positive[key_id] = _Entry(record, record.to_principal(), started + self._ttl, miss.used)
            self._bound(self._positive)

    async def start(self) -> None:
        """Start the background poll (app startup)."""
        if self._poller is None:
            self._poller = asyncio.create_task(self._poll_forever(), name="bastion-key-poll")

    async def stop(self) -> None:
        """Stop the background poll (app shutdown); cached entries then expire after the TTL."""
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None

    async def _poll_forever(self) -> None:
        interval = self._ttl / 2  # a poll may take up to TTL/2 before entries stop being vouched for
        failing = False
        next_at = self._clock() + interval
        while True:
            await asyncio.sleep(max(0.0, next_at - self._clock()))
            next_at = max(next_at + interval, self._clock())
            try:
                await self.poll()
            except BastionError as e:
                if not failing:
                    log.warning("key change poll failed (%s); cached keys expire after the TTL", e.message)
                failing = True
            except Exception:
                log.exception("key change poll failed; cached keys expire after the TTL")
                failing = True
            else:
                if failing:
                    log.info("key change poll recovered")
                failing = False

    def _sweep(self) -> None:
        """Drop entries a lookup would not use (past their freshness, or read more than max_age ago)
        and those not used for idle_seconds (unknown ids: for the TTL, so a flood of made-up ids holds
        no more than before), so memory follows the keys in use, not every key ever seen. Runs every
        idle/4 from the poll, and when the caches have doubled since the last sweep (amortised O(1) per
        load)."""
        now = self._clock()
        read_after = now - self._max_age + self._ttl
        confirmed = self._confirmed_until > now

        def keep(e: _Entry | _Miss, used_after: float) -> bool:
            return e.used > used_after and e.fresh_until > read_after and (confirmed or e.fresh_until > now)

        self._positive = {k: e for k, e in self._positive.items() if keep(e, now - self._idle)}
        self._negative = {k: m for k, m in self._negative.items() if keep(m, now - min(self._idle, self._ttl))}
        self._sweep_at = max(_SWEEP_MIN, 2 * (len(self._positive) + len(self._negative)))
        self._next_sweep = now + self._idle / 4

    def _bound(self, cache: dict[str, _Entry] | dict[str, _Miss]) -> None:
        while len(cache) > self._max:
            del cache[next(iter(cache))]

    def invalidate(self, key_id: str) -> None:
        """Forget what this process knows of `key_id` (call after creating, revoking or updating it)."""
        self._positive.pop(key_id, None)
        self._negative.pop(key_id, None)
        self._inflight.pop(key_id, None)
        self._parsed.clear()  # (a changed key's credentials need not stay in memory here)

    def clear(self) -> None:
        self._positive.clear()
        self._negative.clear()
        self._inflight.clear()
        self._parsed.clear()
