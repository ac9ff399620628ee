"""Authenticator change polling: what another replica writes is honoured within the TTL with no per-key
re-read; a failed poll fails closed; memory follows the keys in use. SQLite and the real PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest

from bastion.auth import authenticator as authn
from bastion.auth import keys
from bastion.auth.authenticator import Authenticator
from bastion.auth.record import KeyLimits, KeyRecord, KeySpec
from bastion.auth.store import IssuedKey, SqlKeyStore, issue_key
from bastion.core.errors import AuthenticationError, ServiceUnavailable
from bastion.store.db import Database

TTL = 2.0


class Clocks:
    """The reader's monotonic clock and the wall clock every replica stamps changes with."""

    def __init__(self) -> None:
        self.mono = 1000.0
        self.wall = 1_800_000_000.0

    def advance(self, dt: float) -> None:
        self.mono += dt
        self.wall += dt


class CountingStore:
    """The reader's store: counts per-key reads and polls; can fail both, or hold a poll's answer."""

    def __init__(self, inner: SqlKeyStore) -> None:
        self.inner = inner
        self.gets: list[str] = []
        self.polls = 0
        self.fail = False
        self.poll_gate: asyncio.Event | None = None
        self.polled = asyncio.Event()  # a poll answered
        self.attempted = asyncio.Event()  # a poll asked, whether or not it was answered

    async def get(self, key_id: str) -> KeyRecord | None:
        self.gets.append(key_id)
        if self.fail:
            raise ServiceUnavailable("store error: OperationalError")
        return await self.inner.get(key_id)

    async def changed_since(self, since: float) -> list[KeyRecord]:
        self.polls += 1
        self.attempted.set()
        if self.fail:
            raise ServiceUnavailable("store error: OperationalError")
        changed = await self.inner.changed_since(since)
        self.polled.set()
        if self.poll_gate is not None:
            await self.poll_gate.wait()
        return changed

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


@pytest.fixture
def clocks() -> Clocks:
    return Clocks()


@pytest.fixture
async def writer(replica_db: Database, clocks: Clocks) -> SqlKeyStore:
    """Another replica (or the CLI) writing the same database."""
    store = SqlKeyStore(replica_db, clock=lambda: clocks.wall)
    await store.migrate()
    return store


@pytest.fixture
def counting(db: Database, writer: SqlKeyStore, clocks: Clocks) -> CountingStore:
    return CountingStore(SqlKeyStore(db, clock=lambda: clocks.wall))


def make_auth(counting: CountingStore, clocks: Clocks, **kw: float) -> Authenticator:
    return Authenticator(counting, TTL, clock=lambda: clocks.mono, wall_clock=lambda: clocks.wall,  # type: ignore[arg-type]
                         **kw)


@pytest.fixture
def auth(counting: CountingStore, clocks: Clocks) -> Authenticator:
    return make_auth(counting, clocks)


async def tick(auth: Authenticator, clocks: Clocks) -> int:
    """What the background task does every TTL/2."""
    clocks.advance(TTL / 2)
    return await auth.poll()


async def issue(store: SqlKeyStore, clocks: Clocks, name: str = "svc") -> IssuedKey:
    return await issue_key(store, KeySpec(name=name), now=clocks.wall)


async def refused(auth: Authenticator, plaintext: str) -> str:
    with pytest.raises(AuthenticationError) as e:
        await auth.authenticate(None, plaintext)
    return e.value.message


async def test_a_revoke_by_another_replica_is_refused_after_one_poll_without_a_reread(
        auth: Authenticator, writer: SqlKeyStore, counting: CountingStore, clocks: Clocks) -> None:
    issued = await issue(writer, clocks)
    await auth.authenticate(None, issued.plaintext)
    for _ in range(6):  # three TTLs: kept fresh by the polls alone
        await tick(auth, clocks)
        await auth.authenticate(None, issued.plaintext)
    assert await writer.revoke(issued.record.id)
    assert await tick(auth, clocks) >= 1  # within TTL/2 of the revocation
    assert await refused(auth, issued.plaintext) == authn.REVOKED
    assert counting.gets == [issued.record.id]  # only the first lookup read the key


async def test_an_update_by_another_replica_is_seen_after_one_poll(
        auth: Authenticator, writer: SqlKeyStore, counting: CountingStore, clocks: Clocks) -> None:
    issued = await issue(writer, clocks)
    assert (await auth.authenticate(None, issued.plaintext)).rpm is None
    await tick(auth, clocks)
    assert await writer.update_limits(issued.record.id, KeyLimits(rpm=3, budget_usd_micros=9))
    await tick(auth, clocks)
    principal = await auth.authenticate(None, issued.plaintext)
    assert (principal.rpm, principal.budgets[0].micros) == (3, 9)
    assert counting.gets == [issued.record.id]


async def test_a_key_created_elsewhere_after_a_negative_lookup_becomes_usable(
        auth: Authenticator, writer: SqlKeyStore, counting: CountingStore, clocks: Clocks) -> None:
    key_id, plaintext = keys.generate()
    assert await refused(auth, plaintext) == authn.INVALID
    for _ in range(4):  # the negative entry is kept by the polls too: no re-read per TTL
        await tick(auth, clocks)
        assert await refused(auth, plaintext) == authn.INVALID
    record = KeyRecord(id=key_id, name="late", secret_hash=keys.hash_secret(keys.parse(plaintext)[1]),  # type: ignore[index]
                       created_at=1.0)  # created_at back-dated: the write time is what counts
    assert await writer.create(record)
    await tick(auth, clocks)
    assert (await auth.authenticate(None, plaintext)).name == "late"
    assert counting.gets == [key_id]


async def test_a_writer_clock_behind_by_less_than_the_margin_is_tolerated(
        auth: Authenticator, db: Database, replica_db: Database, counting: CountingStore, clocks: Clocks) -> None:
    lagging = SqlKeyStore(replica_db, clock=lambda: clocks.wall - 1.9)  # margin: max(TTL, 1 s) = 2 s
    issued = await issue(lagging, clocks)
    await auth.authenticate(None, issued.plaintext)
    await tick(auth, clocks)
    await tick(auth, clocks)
    assert await lagging.revoke(issued.record.id)
    await tick(auth, clocks)
    assert await refused(auth, issued.plaintext) == authn.REVOKED


async def test_a_change_missed_by_the_polls_is_still_reread_within_max_age(
        counting: CountingStore, replica_db: Database, clocks: Clocks) -> None:
    auth = make_auth(counting, clocks, max_age_seconds=30.0, idle_seconds=60.0)
    far_behind = SqlKeyStore(replica_db, clock=lambda: clocks.wall - 3600)  # beyond any margin
    issued = await issue(far_behind, clocks)
    await auth.authenticate(None, issued.plaintext)
    assert await far_behind.revoke(issued.record.id)
    served = 0
    while True:
        await tick(auth, clocks)
        try:
            await auth.authenticate(None, issued.plaintext)
        except AuthenticationError as e:
            assert e.message == authn.REVOKED
            break
        served += 1
        assert served * TTL / 2 <= 30.0 + 60.0 / 4, "a missed change must not be served forever"
    assert len(counting.gets) == 2  # the backstop re-read


async def test_a_failed_poll_extends_nothing_and_auth_fails_closed(
        auth: Authenticator, writer: SqlKeyStore, counting: CountingStore, clocks: Clocks) -> None:
    issued = await issue(writer, clocks)
    await auth.authenticate(None, issued.plaintext)
    await tick(auth, clocks)  # vouches for the entry until TTL after this poll started
    counting.fail = True
    for _ in range(2):
        with pytest.raises(ServiceUnavailable):
            await tick(auth, clocks)
    # TTL since the last successful poll: the entry is no longer served, and the store is down
    with pytest.raises(ServiceUnavailable) as e:
        await auth.authenticate(None, issued.plaintext)
    assert e.value.status == 503
    for _ in range(10):  # however long the outage lasts
        with pytest.raises(ServiceUnavailable):
            await tick(auth, clocks)
        with pytest.raises(ServiceUnavailable):
            await auth.authenticate(None, issued.plaintext)
    counting.fail = False
    assert (await auth.authenticate(None, issued.plaintext)).key_id == issued.record.id


async def test_the_first_poll_after_an_outage_reports_what_changed_during_it(
        auth: Authenticator, writer: SqlKeyStore, counting: CountingStore, clocks: Clocks) -> None:
    issued = await issue(writer, clocks)
    await auth.authenticate(None, issued.plaintext)
    await tick(auth, clocks)
    counting.fail = True
    with pytest.raises(ServiceUnavailable):
        await tick(auth, clocks)
    assert await writer.revoke(issued.record.id)  # during the outage, long before it ends
    for _ in range(8):
        with pytest.raises(ServiceUnavailable):
            await tick(auth, clocks)
    counting.fail = False
    await tick(auth, clocks)  # its window reaches back to the last successful poll
    assert await refused(auth, issued.plaintext) == authn.REVOKED
    assert counting.gets == [issued.record.id]


async def test_steady_state_with_many_keys_in_use_reads_no_key_per_ttl(
        auth: Authenticator, writer: SqlKeyStore, counting: CountingStore, clocks: Clocks) -> None:
    used = [await issue(writer, clocks, name=f"k{i}") for i in range(40)]
    for k in used:
        await auth.authenticate(None, k.plaintext)
    assert len(counting.gets) == 40  # warm-up
    polls = counting.polls
    for _ in range(20):  # ten TTLs
        await tick(auth, clocks)
        for k in used:
            await auth.authenticate(None, k.plaintext)
    assert len(counting.gets) == 40
    assert counting.polls - polls == 20


async def test_entries_not_used_for_a_while_are_swept(
        counting: CountingStore, writer: SqlKeyStore, clocks: Clocks) -> None:
    auth = make_auth(counting, clocks, idle_seconds=20.0)
    hot = await issue(writer, clocks, name="hot")
    cold = [await issue(writer, clocks, name=f"cold{i}") for i in range(5)]
    for k in [hot, *cold]:
        await auth.authenticate(None, k.plaintext)
    _, unknown = keys.generate()
    await refused(auth, unknown)
    assert auth.cache_size == 7
    for _ in range(10):  # 10 s of polls (a sweep every idle/4 = 5 s); `hot` in use, the unknown id too
        await tick(auth, clocks)
        await auth.authenticate(None, hot.plaintext)
        if _ < 5:
            await refused(auth, unknown)
    assert auth.cache_size == 6  # an unknown id goes after a TTL unused; the cold keys stay for idle_seconds
    for _ in range(20):  # 20 s more: only `hot` in use
        await tick(auth, clocks)
        await auth.authenticate(None, hot.plaintext)
    assert auth.cache_size == 1
    assert counting.gets.count(hot.record.id) == 1
    assert len(counting.gets) == 7  # nothing re-read while it was in use


async def test_a_poll_older_than_a_reload_does_not_undo_an_invalidate(
        auth: Authenticator, writer: SqlKeyStore, counting: CountingStore, clocks: Clocks) -> None:
    issued = await issue(writer, clocks)  # changed just now: in the next polls' window
    await auth.authenticate(None, issued.plaintext)
    counting.poll_gate = asyncio.Event()
    clocks.advance(TTL / 2)
    slow_poll = asyncio.create_task(auth.poll())
    await counting.polled.wait()  # it has read the key, not yet revoked
    assert await writer.revoke(issued.record.id)
    auth.invalidate(issued.record.id)  # what the admin API does after revoking here
    clocks.advance(0.1)
    assert await refused(auth, issued.plaintext) == authn.REVOKED
    counting.poll_gate.set()
    await slow_poll
    assert await refused(auth, issued.plaintext) == authn.REVOKED


async def test_a_lookup_in_flight_when_its_key_is_reported_changed_is_not_cached(
        auth: Authenticator, writer: SqlKeyStore, counting: CountingStore, clocks: Clocks) -> None:
    issued = await issue(writer, clocks)
    gate = asyncio.Event()
    read = asyncio.Event()
    inner_get = counting.get

    async def slow_get(key_id: str) -> KeyRecord | None:
        record = await inner_get(key_id)
        read.set()
        await gate.wait()
        return record

    counting.get = slow_get  # type: ignore[method-assign]
    early = asyncio.create_task(auth.authenticate(None, issued.plaintext))
    await read.wait()  # read the key before its revocation
    assert await writer.revoke(issued.record.id)
    await tick(auth, clocks)
    gate.set()
    assert (await early).key_id == issued.record.id  # raced the revocation: may pass; nothing after it may
    assert await refused(auth, issued.plaintext) == authn.REVOKED


async def test_the_background_poll_starts_survives_failures_and_stops(
        counting: CountingStore, writer: SqlKeyStore) -> None:
    auth = Authenticator(counting, ttl_seconds=0.02)  # type: ignore[arg-type]
    counting.fail = True
    await auth.start()
    await auth.start()  # idempotent
    for _ in range(2):  # failing polls, and the task goes on
        await asyncio.wait_for(counting.attempted.wait(), 10)
        counting.attempted.clear()
    counting.fail = False
    counting.polled.clear()
    await asyncio.wait_for(counting.polled.wait(), 10)
    await auth.stop()
    await auth.stop()
    polls = counting.polls
    await asyncio.sleep(0.05)
    assert counting.polls == polls
