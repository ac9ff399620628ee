"""The virtual key format `bst_<id>_<secret>`: generation, strict parsing, hashing and verification.

`id` is 12 characters of lowercase base32 (60 random bits): public, it names the key in logs,
audit records, the admin API and the CLI. `secret` is 32 random bytes in URL-safe base64
without padding (43 characters). The id alphabet has no "_", so the key splits unambiguously
on its first two underscores even when the secret itself contains "_".

Only `hash_secret(secret)` is ever stored. A single SHA-256 is the right hash here: the secret
carries 256 bits of entropy, so there is nothing for a slow KDF (bcrypt, scrypt, argon2) to
protect against a dictionary attack, and a slow hash on every request would only burn CPU.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

PREFIX = "bst_"
ID_LENGTH = 12
SECRET_LENGTH = 43  # 32 bytes, base64 without padding
KEY_LENGTH = len(PREFIX) + ID_LENGTH + 1 + SECRET_LENGTH

_KEY = re.compile(r"bst_([a-z2-7]{12})_([A-Za-z0-9_-]{43})")
_ID = re.compile(r"[a-z2-7]{12}")


def new_key_id() -> str:
    """A fresh public key id (12 characters of lowercase base32)."""
    return base64.b32encode(secrets.token_bytes(8)).decode("ascii")[:ID_LENGTH].lower()


def new_secret() -> str:
    """A fresh secret: 32 random bytes, URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode("ascii").rstrip("=")


def format_key(key_id: str, secret: str) -> str:
    return f"{PREFIX}{key_id}_{secret}"


def generate() -> tuple[str, str]:
    """A new key: (public key id, full plaintext key). Show the plaintext once, store its hash."""
    key_id = new_key_id()
    return key_id, format_key(key_id, new_secret())


def is_key_id(value: str) -> bool:
    """Whether `value` has the shape of a public key id (for path parameters and CLI input)."""
    return isinstance(value, str) and len(value) == ID_LENGTH and _ID.fullmatch(value) is not None


def looks_like_key(value: str) -> bool:
    """Whether `value` starts like a virtual key (used to refuse virtual keys where they do not belong)."""
    return value.startswith(PREFIX)


def parse(presented: object) -> tuple[str, str] | None:
    """(key_id, secret) of a well-formed key, else None. Never raises; bounded work on any input."""
    if not isinstance(presented, str) or len(presented) != KEY_LENGTH:
        return None
    m = _KEY.fullmatch(presented)
    if m is None:
        return None
    return m.group(1), m.group(2)


def hash_secret(secret: str) -> str:
    """SHA-256 hex digest of the secret: the only form in which a key is stored."""
    return hashlib.sha256(secret.encode("ascii", "replace")).hexdigest()


def verify(secret_digest: str, stored_hash: str) -> bool:
    """Constant-time comparison of a presented secret's digest with the stored hash."""
    return hmac.compare_digest(secret_digest.encode("ascii"), stored_hash.encode("ascii", "replace"))
