"""The admin credential check: `Authorization: Bearer <admin key>`, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac

from bastion.auth import keys
from bastion.auth.throttle import FailureThrottle
from bastion.core.errors import AuthenticationError, PermissionDenied
from bastion.core.secret import Secret


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8", "replace")).digest()


class AdminAuth:
    """Guards /admin/*. Only the configured admin key is accepted; a virtual key (bst_...) never is.

    Both sides are hashed before `hmac.compare_digest`, so neither the content nor the length
    of the admin key leaks through timing. With no admin key configured the admin API is off.
    """

    def __init__(self, admin_key: Secret | None, throttle: FailureThrottle | None = None) -> None:
        if admin_key and keys.looks_like_key(admin_key.reveal()):
            raise ValueError("server.admin_key must not start with bst_ (the virtual key prefix)")
        self._digest = _digest(admin_key.reveal()) if admin_key else None
        self._throttle = throttle

    @property
    def enabled(self) -> bool:
        return self._digest is not None

    def check(self, authorization: str | None, client: str | None = None) -> None:
        """Return if `authorization` carries the admin key; raise AuthenticationError (401),
        PermissionDenied (403, admin API disabled) or RateLimited (429, throttled address)."""
        if self._digest is None:
            raise PermissionDenied("the admin API is disabled: set server.admin_key in the config",
                                   code="admin_disabled")
        if client is not None and self._throttle is not None:
            self._throttle.check(client)
        try:
            self._verify(authorization, self._digest)
        except AuthenticationError:
            if client is not None and self._throttle is not None:
                self._throttle.record_failure(client)
            raise

    @staticmethod
    def _verify(authorization: str | None, expected: bytes) -> None:
        if authorization is None or not authorization.strip():
            raise AuthenticationError("missing admin key: send `Authorization: Bearer <admin key>`")
        scheme, _, value = authorization.strip().partition(" ")
        value = value.strip()
        if scheme.lower() != "bearer" or not value:
            raise AuthenticationError("malformed admin credential: expected `Authorization: Bearer <admin key>`")
        if keys.looks_like_key(value):
            raise AuthenticationError("virtual keys cannot be used on the admin API; use the admin key")
        if not hmac.compare_digest(_digest(value), expected):
            raise AuthenticationError("invalid admin key")
