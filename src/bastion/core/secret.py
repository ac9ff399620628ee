"""A string holder whose repr/str never reveal the value (provider keys, admin key, virtual keys)."""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit, urlunsplit


def redacted_url(url: str) -> str:
    """`url` with the password of its user info masked (store and Redis URLs on screen or in logs)."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:  # unparseable: show nothing of it rather than a secret
        return "<unparseable URL>"
    if password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{parts.username}:***@{host}" + (f":{port}" if port else "")
    return urlunsplit(parts._replace(netloc=netloc))


class Secret:
    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The raw value; call only where it is put on the wire (transport, auth)."""
        return self._value

    def equals(self, candidate: str) -> bool:
        """Constant-time comparison."""
        return hmac.compare_digest(self._value.encode(), candidate.encode())

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and hmac.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        return hash(("Secret", self._value))
