"""Key format: generation, strict parsing, hashing, constant-time verification."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bastion.auth import keys


def test_generated_key_has_the_documented_shape() -> None:
    key_id, plaintext = keys.generate()
    assert plaintext.startswith(f"bst_{key_id}_")
    assert len(key_id) == 12 and set(key_id) <= set("abcdefghijklmnopqrstuvwxyz234567")
    assert len(plaintext) == keys.KEY_LENGTH == 60
    assert keys.parse(plaintext) == (key_id, plaintext[len("bst_") + 13:])


def test_generated_keys_and_ids_are_unique() -> None:
    generated = [keys.generate() for _ in range(2000)]
    assert len({k for _, k in generated}) == 2000
    assert len({i for i, _ in generated}) == 2000


def test_secret_containing_underscores_parses_unambiguously() -> None:
    secret = "_a_b-c" + "x" * 36 + "_"
    assert len(secret) == keys.SECRET_LENGTH
    assert keys.parse(f"bst_abcdefghijkl_{secret}") == ("abcdefghijkl", secret)


@pytest.mark.parametrize("garbage", [
    None, 42, b"bst_abcdefghijkl_" + b"a" * 43, "", "bst_", "Bearer x",
    "bst_ABCDEFGHIJKL_" + "a" * 43,          # id must be lowercase
    "bst_abcdefghijk1_" + "a" * 43,          # '1' is not base32
    "bst_abcdefghijk_" + "a" * 44,           # id one short
    "bst_abcdefghijkl_" + "a" * 42,          # secret one short
    "bst_abcdefghijkl_" + "a" * 44,          # secret one long
    "bst_abcdefghijkl_" + "a" * 42 + "=",    # padding
    "bst_abcdefghijkl_" + "a" * 42 + "\n",   # trailing newline
    "xst_abcdefghijkl_" + "a" * 43,
    "bst_abcdefghijkl_" + "a" * 42 + "é",
    "bst_abcdefghijkl_" + "a" * 10_000_000,  # bounded: rejected on length alone
])
def test_parse_rejects_garbage_without_raising(garbage: object) -> None:
    assert keys.parse(garbage) is None


@given(st.text(max_size=120))
def test_parse_never_raises_and_roundtrips(text: str) -> None:
    parsed = keys.parse(text)
    if parsed is not None:
        assert keys.format_key(*parsed) == text


def test_hash_is_sha256_hex_of_the_secret_only() -> None:
    _, plaintext = keys.generate()
    _, secret = keys.parse(plaintext)  # type: ignore[misc]
    digest = keys.hash_secret(secret)
    assert digest == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in digest and len(digest) == 64


def test_verify_accepts_only_the_matching_hash() -> None:
    stored = keys.hash_secret("s" * 43)
    assert keys.verify(keys.hash_secret("s" * 43), stored)
    assert not keys.verify(keys.hash_secret("t" * 43), stored)
    assert not keys.verify("", stored)


def test_verify_is_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(keys.hmac, "compare_digest", spy)
    assert keys.verify("ab" * 32, "ab" * 32)
    assert calls == [(b"ab" * 32, b"ab" * 32)]


def test_is_key_id() -> None:
    assert keys.is_key_id("abcdefghijkl")
    assert not keys.is_key_id("abcdefghijk")
    assert not keys.is_key_id("../../etc/pa")
    assert not keys.is_key_id("ABCDEFGHIJKL")
