"""Authenticator: header forms, every refusal, TTL cache, single-flight, bounds, brute-force throttle."""

from __future__ import annotations

import asyncio

import pytest

from bastion.auth import authenticator as authn
from bastion.auth import keys
from bastion.auth.authenticator import Authenticator, presented_key_id
from bastion.auth.record import KeyLimits, KeyRecord, KeySpec
from bastion.auth.store import IssuedKey, SqlKeyStore, issue_key
from bastion.auth.throttle import FailureThrottle
from bastion.core.context import Budget
from bastion.core.errors import AuthenticationError, RateLimited, ServiceUnavailable

ADMIN_KEY = "adm_test_0123456789abcdef0123456789"


class Clock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


class CountingStore:
    """Wraps a real store; counts lookups and can hold them at a gate."""

    def __init__(self, inner: SqlKeyStore) -> None:
        self.inner = inner
        self.gets: list[str] = []
        self.gate: asyncio.Event | None = None
        self.reached = asyncio.Event()
        self.fail = False

    async def get(self, key_id: str) -> KeyRecord | None:
        self.gets.append(key_id)
        if self.fail:
            raise ServiceUnavailable("store error: OperationalError")
        record = await self.inner.get(key_id)  # read, then (maybe) hold the answer: a slow round trip
        self.reached.set()
        if self.gate is not None:
            await self.gate.wait()
        return record

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def wall() -> Clock:
    return Clock(1_800_000_000.0)


@pytest.fixture
def counting(sqlite_store: SqlKeyStore) -> CountingStore:
    return CountingStore(sqlite_store)


@pytest.fixture
def auth(counting: CountingStore, clock: Clock, wall: Clock) -> Authenticator:
    return Authenticator(counting, ttl_seconds=2.0, clock=clock, wall_clock=wall,  # type: ignore[arg-type]
                         throttle=FailureThrottle(max_failures=20, window_seconds=10.0, clock=clock))


async def make(store: SqlKeyStore, **kw: object) -> IssuedKey:
    return await issue_key(store, KeySpec(name=str(kw.pop("name", "svc")), **kw), now=1_700_000_000.0)  # type: ignore[arg-type]


async def refused(auth: Authenticator, authorization: str | None = None, x_api_key: str | None = None,
                  client: str | None = None) -> str:
    with pytest.raises(AuthenticationError) as e:
        await auth.authenticate(authorization, x_api_key, client)
    assert e.value.status == 401
    return e.value.message


async def test_bearer_and_x_api_key_both_authenticate(auth: Authenticator, sqlite_store: SqlKeyStore) -> None:
    issued = await make(sqlite_store, team="payments",
                        limits=KeyLimits(rpm=5, budget_usd_micros=7, budget_period="week"))
    p1 = await auth.authenticate(f"Bearer {issued.plaintext}", None)
    p2 = await auth.authenticate(None, issued.plaintext)
    p3 = await auth.authenticate(f"bearer   {issued.plaintext}  ", issued.plaintext)
    assert p1 == p2 == p3
    assert (p1.key_id, p1.name, p1.team, p1.rpm) == (issued.record.id, "svc", "payments", 5)
    assert p1.budgets == (Budget(7, "week"),)


async def test_each_refusal_has_its_own_message(auth: Authenticator, sqlite_store: SqlKeyStore) -> None:
    issued = await make(sqlite_store)
    key_id, secret = keys.parse(issued.plaintext)  # type: ignore[misc]
    assert await refused(auth) == authn.MISSING
    assert await refused(auth, "Bearer ", "  ") == authn.MALFORMED  # a Bearer with no key
    assert await refused(auth, "Basic dXNlcjpwYXNz") == authn.MALFORMED
    assert await refused(auth, "Bearer sk-proj-abc") == authn.MALFORMED
    assert await refused(auth, None, "bst_nope") == authn.MALFORMED
    other = keys.generate()[1]
    assert await refused(auth, f"Bearer {issued.plaintext}", other) == authn.CONFLICTING
    assert await refused(auth, f"Bearer {other}") == authn.INVALID  # unknown id
    wrong = keys.format_key(key_id, "B" * 43)
    assert await refused(auth, f"Bearer {wrong}") == authn.INVALID  # right id, wrong secret
    for message in (authn.MISSING, authn.MALFORMED, authn.INVALID):
        assert secret not in message and key_id not in message


async def test_unknown_and_wrong_secret_are_indistinguishable(auth: Authenticator, sqlite_store: SqlKeyStore) -> None:
    issued = await make(sqlite_store)
    await sqlite_store.revoke(issued.record.id)
    key_id, _ = keys.parse(issued.plaintext)  # type: ignore[misc]
    # a revoked (or expired) key is only reported as such to the holder of its secret
    assert await refused(auth, f"Bearer {keys.format_key(key_id, 'C' * 43)}") == authn.INVALID
    assert await refused(auth, f"Bearer {issued.plaintext}") == authn.REVOKED


async def test_expired_key_is_refused(auth: Authenticator, sqlite_store: SqlKeyStore, wall: Clock) -> None:
    issued = await make(sqlite_store, expires_at=wall.t + 60)
    assert (await auth.authenticate(None, issued.plaintext)).expires_at == wall.t + 60
    wall.t += 60  # expires_at <= now is expired
    assert await refused(auth, None, issued.plaintext) == authn.EXPIRED


async def test_admin_key_is_refused_on_v1_routes(auth: Authenticator, counting: CountingStore) -> None:
    assert await refused(auth, f"Bearer {ADMIN_KEY}") == authn.MALFORMED
    assert await refused(auth, None, ADMIN_KEY) == authn.MALFORMED
    assert counting.gets == []


async def test_warm_cache_does_no_store_lookup(auth: Authenticator, sqlite_store: SqlKeyStore,
                                               counting: CountingStore, clock: Clock) -> None:
    issued = await make(sqlite_store)
    for _ in range(50):
        await auth.authenticate(None, issued.plaintext)
    assert counting.gets == [issued.record.id]
    clock.t += 2.0  # ttl over: one fresh lookup
    await auth.authenticate(None, issued.plaintext)
    assert len(counting.gets) == 2


async def test_revocation_is_honoured_within_the_ttl(auth: Authenticator, sqlite_store: SqlKeyStore,
                                                     clock: Clock) -> None:
    issued = await make(sqlite_store)
    await auth.authenticate(None, issued.plaintext)
    await sqlite_store.revoke(issued.record.id)  # revoked by another process
    clock.t += 1.99
    await auth.authenticate(None, issued.plaintext)  # still cached (at most ttl of staleness)
    clock.t += 0.01
    assert await refused(auth, None, issued.plaintext) == authn.REVOKED


async def test_invalidate_makes_a_revocation_immediate(auth: Authenticator, sqlite_store: SqlKeyStore) -> None:
    issued = await make(sqlite_store)
    await auth.authenticate(None, issued.plaintext)
    await sqlite_store.revoke(issued.record.id)
    auth.invalidate(issued.record.id)
    assert await refused(auth, None, issued.plaintext) == authn.REVOKED


async def test_negative_results_are_cached_for_the_ttl(auth: Authenticator, sqlite_store: SqlKeyStore,
                                                       counting: CountingStore, clock: Clock) -> None:
    key_id, plaintext = keys.generate()
    for _ in range(5):
        await refused(auth, None, plaintext)
    assert counting.gets == [key_id]
    # the key now appears (created by another replica): honoured once the negative entry expires
    _, secret = keys.parse(plaintext)  # type: ignore[misc]
    await sqlite_store.create(KeyRecord(id=key_id, name="late", secret_hash=keys.hash_secret(secret),
                                        created_at=1.0))
    await refused(auth, None, plaintext)
    clock.t += 2.0
    assert (await auth.authenticate(None, plaintext)).name == "late"


async def test_concurrent_misses_share_one_lookup(auth: Authenticator, sqlite_store: SqlKeyStore,
                                                  counting: CountingStore) -> None:
    issued = await make(sqlite_store)
    counting.gate = asyncio.Event()
    tasks = [asyncio.create_task(auth.authenticate(None, issued.plaintext)) for _ in range(25)]
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    counting.gate.set()
    principals = await asyncio.gather(*tasks)
    assert counting.gets == [issued.record.id]
    assert {p.key_id for p in principals} == {issued.record.id}


async def test_a_cancelled_waiter_does_not_cancel_the_shared_lookup(
        auth: Authenticator, sqlite_store: SqlKeyStore, counting: CountingStore) -> None:
    issued = await make(sqlite_store)
    counting.gate = asyncio.Event()
    first = asyncio.create_task(auth.authenticate(None, issued.plaintext))
    second = asyncio.create_task(auth.authenticate(None, issued.plaintext))
    await asyncio.sleep(0)
    first.cancel()
    counting.gate.set()
    assert (await second).key_id == issued.record.id
    assert counting.gets == [issued.record.id]


async def test_store_failure_fails_closed_and_is_not_cached(auth: Authenticator, sqlite_store: SqlKeyStore,
                                                            counting: CountingStore) -> None:
    issued = await make(sqlite_store)
    counting.fail = True
    with pytest.raises(ServiceUnavailable):
        await auth.authenticate(None, issued.plaintext)
    counting.fail = False
    assert (await auth.authenticate(None, issued.plaintext)).key_id == issued.record.id


async def test_cache_is_bounded_and_misses_cannot_evict_real_keys(sqlite_store: SqlKeyStore, clock: Clock) -> None:
    counting = CountingStore(sqlite_store)
    auth = Authenticator(counting, ttl_seconds=5.0, max_entries=3, clock=clock)  # type: ignore[arg-type]
    real = await make(sqlite_store)
    await auth.authenticate(None, real.plaintext)
    for _ in range(20):
        await refused(auth, None, keys.generate()[1])
    assert auth.cache_size == 4  # 1 positive + 3 negative (bounded)
    before = len(counting.gets)
    await auth.authenticate(None, real.plaintext)
    assert len(counting.gets) == before  # still cached
    others = [await make(sqlite_store, name=f"k{i}") for i in range(5)]
    for k in others:
        await auth.authenticate(None, k.plaintext)
    assert auth.cache_size == 6


async def test_burst_of_failures_from_one_address_is_throttled(auth: Authenticator, sqlite_store: SqlKeyStore,
                                                               counting: CountingStore, clock: Clock) -> None:
    issued = await make(sqlite_store)
    for _ in range(20):
        await refused(auth, None, keys.generate()[1], client="203.0.113.9")
    lookups = len(counting.gets)
    with pytest.raises(RateLimited) as e:
        await auth.authenticate(None, issued.plaintext, "203.0.113.9")  # even a valid key, before lookup
    assert e.value.status == 429 and e.value.retry_after is not None and e.value.retry_after > 0
    assert len(counting.gets) == lookups
    assert (await auth.authenticate(None, issued.plaintext, "198.51.100.1")).key_id == issued.record.id
    clock.t += e.value.retry_after
    assert (await auth.authenticate(None, issued.plaintext, "203.0.113.9")).key_id == issued.record.id


async def test_throttle_counts_every_kind_of_failure(auth: Authenticator) -> None:
    for i in range(20):
        await refused(auth, None if i % 2 else "Basic x", None, client="a")
    with pytest.raises(RateLimited):
        await auth.authenticate(None, None, "a")


def test_throttle_memory_is_bounded() -> None:
    clock = Clock()
    throttle = FailureThrottle(max_failures=2, window_seconds=10, max_clients=100, clock=clock)
    for i in range(10_000):
        throttle.record_failure(f"10.0.{i // 256}.{i % 256}")
    assert len(throttle) == 100


def test_throttle_refills_smoothly_without_boundary_burst() -> None:
    clock = Clock()
    throttle = FailureThrottle(max_failures=4, window_seconds=8, clock=clock)
    for _ in range(4):
        throttle.check("c")
        throttle.record_failure("c")
    with pytest.raises(RateLimited):
        throttle.check("c")
    clock.t += 2.0  # one failure's worth (8 s / 4) refilled, not a whole new window
    throttle.check("c")
    throttle.record_failure("c")
    with pytest.raises(RateLimited):
        throttle.check("c")


def test_presented_key_id_never_returns_the_secret() -> None:
    key_id, plaintext = keys.generate()
    assert presented_key_id(f"Bearer {plaintext}", None) == key_id
    assert presented_key_id(None, plaintext) == key_id
    assert Authenticator.presented_key_id(None, plaintext) == key_id
    assert presented_key_id(None, None) is None
    assert presented_key_id(f"Bearer {ADMIN_KEY}", None) is None
    assert presented_key_id("Bearer " + plaintext[:-1], None) is None
    assert presented_key_id(f"Bearer {plaintext}", keys.generate()[1]) is None


async def test_invalidate_during_a_lookup_does_not_cache_its_stale_answer(
        auth: Authenticator, sqlite_store: SqlKeyStore, counting: CountingStore) -> None:
    issued = await make(sqlite_store)
    counting.gate = asyncio.Event()
    early = asyncio.create_task(auth.authenticate(None, issued.plaintext))
    await counting.reached.wait()  # the lookup has read its (soon stale) answer
    await sqlite_store.revoke(issued.record.id)
    auth.invalidate(issued.record.id)  # what the admin API does after revoking
    counting.gate.set()
    assert (await early).key_id == issued.record.id  # raced the revocation: may pass; nothing after it may
    assert await refused(auth, None, issued.plaintext) == authn.REVOKED
    assert len(counting.gets) == 2


async def test_stale_entries_are_dropped_so_memory_follows_the_keys_in_use(sqlite_store: SqlKeyStore,
                                                                           clock: Clock) -> None:
    auth = Authenticator(sqlite_store, ttl_seconds=2.0, clock=clock)
    first = [await make(sqlite_store, name=f"old{i}") for i in range(authn._SWEEP_MIN // 2)]
    for k in first:
        await auth.authenticate(None, k.plaintext)
    for _ in range(authn._SWEEP_MIN // 2):
        await refused(auth, None, keys.generate()[1])
    clock.t += 10  # every entry above is now past its TTL
    fresh = [await make(sqlite_store, name=f"new{i}") for i in range(4)]
    for k in fresh:
        await auth.authenticate(None, k.plaintext)
    assert auth.cache_size == 4  # the stale ones went at the sweep; the fresh ones stay cached
    for k in fresh:  # and still answer without a store lookup, revoked keys still refused
        assert (await auth.authenticate(None, k.plaintext)).key_id == k.record.id


async def test_a_verified_secret_skips_the_hash_but_no_other_secret_passes(
        auth: Authenticator, sqlite_store: SqlKeyStore, monkeypatch: pytest.MonkeyPatch) -> None:
    issued = await make(sqlite_store)
    key_id, secret = keys.parse(issued.plaintext)  # type: ignore[misc]
    hashed: list[str] = []
    real = keys.hash_secret
    monkeypatch.setattr(keys, "hash_secret", lambda s: hashed.append(s) or real(s))
    for _ in range(3):
        await auth.authenticate(None, issued.plaintext)
    assert hashed == [secret]  # once, then the cached entry vouches for the same secret
    near = secret[:-1] + ("A" if secret[-1] != "A" else "B")  # one character off the verified secret
    assert await refused(auth, None, keys.format_key(key_id, near)) == authn.INVALID
    assert await refused(auth, None, keys.format_key(key_id, "D" * 43)) == authn.INVALID
    assert hashed == [secret, near, "D" * 43]  # a secret other than the verified one is hashed and refused
    assert await refused(auth, None, keys.generate()[1]) == authn.INVALID  # unknown id: hashed all the same
    assert len(hashed) == 4
    await auth.authenticate(None, issued.plaintext)  # the wrong ones did not displace the verified secret
    assert len(hashed) == 4
    await sqlite_store.revoke(key_id)
    auth.invalidate(key_id)  # a new entry: verified again, then refused as revoked
    assert await refused(auth, None, issued.plaintext) == authn.REVOKED
    assert hashed[-1] == secret and len(hashed) == 5
