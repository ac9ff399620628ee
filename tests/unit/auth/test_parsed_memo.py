"""auth/authenticator.py `Authenticator._parsed`: a credential that authenticated is not parsed again.
What follows the parse (the cache, the secret, revocation, expiry, conflicts) is checked as before: a
remembered credential answers exactly as a fresh parse does, and only credentials that passed are kept."""

from __future__ import annotations

import pytest

from bastion.auth import authenticator as authn
from bastion.auth import keys
from bastion.auth.authenticator import Authenticator
from bastion.auth.record import KeySpec
from bastion.auth.store import IssuedKey, SqlKeyStore, issue_key
from bastion.core.errors import AuthenticationError


async def _issue(store: SqlKeyStore, **kw: object) -> IssuedKey:
    return await issue_key(store, KeySpec(name="svc", **kw), now=1_700_000_000.0)  # type: ignore[arg-type]


class _Wall:
    def __init__(self) -> None:
        self.t = 1_800_000_000.0

    def __call__(self) -> float:
        return self.t


async def _outcome(auth: Authenticator, authorization: str | None, x_api_key: str | None) -> object:
    try:
        return await auth.authenticate(authorization, x_api_key)
    except AuthenticationError as e:
        return e.message


async def test_a_remembered_credential_answers_as_a_fresh_parse(sqlite_store: SqlKeyStore) -> None:
    issued = await _issue(sqlite_store)
    other = (await _issue(sqlite_store)).plaintext
    key_id = issued.record.id
    wrong = keys.format_key(key_id, "B" * 43)
    forms = [(f"Bearer {issued.plaintext}", None), (None, issued.plaintext),
             (f"bearer   {issued.plaintext}  ", issued.plaintext), (f"Bearer {issued.plaintext}", other),
             (f"Bearer {wrong}", None), (None, wrong), (f"Basic {issued.plaintext}", None), (None, None),
             (f"Bearer {other}", None), ("Bearer ", "  ")]
    remembering = Authenticator(sqlite_store, ttl_seconds=2.0)
    for _ in range(3):  # the first round parses; later rounds answer from the memo where one was kept
        for authorization, x_api_key in forms:
            fresh = Authenticator(sqlite_store, ttl_seconds=2.0)  # nothing remembered
            assert await _outcome(remembering, authorization, x_api_key) == \
                await _outcome(fresh, authorization, x_api_key), (authorization, x_api_key)
    # only what authenticated is remembered: a wrong secret, a malformed or conflicting pair never is
    assert set(remembering._parsed) == {(f"Bearer {issued.plaintext}", None), (None, issued.plaintext),
                                        (f"bearer   {issued.plaintext}  ", issued.plaintext),
                                        (f"Bearer {other}", None)}
    assert all(v == keys.parse(issued.plaintext) or v == keys.parse(other) for v in remembering._parsed.values())


async def test_a_remembered_credential_is_still_refused_once_revoked_or_expired(sqlite_store: SqlKeyStore) -> None:
    wall = _Wall()
    auth = Authenticator(sqlite_store, ttl_seconds=2.0, wall_clock=wall)
    revoked = await _issue(sqlite_store)
    expiring = await _issue(sqlite_store, expires_at=wall.t + 60)
    await auth.authenticate(f"Bearer {revoked.plaintext}", None)
    await auth.authenticate(f"Bearer {expiring.plaintext}", None)
    assert len(auth._parsed) == 2
    await sqlite_store.revoke(revoked.record.id)
    auth.invalidate(revoked.record.id)
    assert await _outcome(auth, f"Bearer {revoked.plaintext}", None) == authn.REVOKED
    wall.t += 60
    assert await _outcome(auth, f"Bearer {expiring.plaintext}", None) == authn.EXPIRED


async def test_the_memo_is_bounded(sqlite_store: SqlKeyStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(authn, "_PARSED_MAX", 3)
    auth = Authenticator(sqlite_store, ttl_seconds=2.0)
    issued = await _issue(sqlite_store)
    for n in range(10):  # ten distinct presentations of one key (spaces differ)
        p = await auth.authenticate("Bearer " + " " * n + issued.plaintext, None)
        assert p.key_id == issued.record.id
        assert len(auth._parsed) <= 3
