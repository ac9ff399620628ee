"""A bounded per-client-address throttle of failed authentications (slows key guessing)."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable
from functools import lru_cache

from bastion.core.errors import RateLimited


@lru_cache(maxsize=4096)
def _ipv6_source(client: str) -> str:
    try:
        ip = ipaddress.IPv6Address(client.partition("%")[0])
    except ValueError:
        return client  # not an address (a unix socket's name, say): counted as given
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))


def source(client: str) -> str:
    """What failures are counted under: an IPv4 address as it is, an IPv6 address by its /64 network
    (one host or site usually owns a whole /64, so a guesser could take a new address per attempt);
    an IPv4-mapped IPv6 address as its IPv4 address."""
    return _ipv6_source(client) if ":" in client else client


class FailureThrottle:
    """Refuses a client address that failed authentication `max_failures` times within `window_seconds`.

    GCRA over failures: each failure pushes the address's theoretical arrival time (TAT) by
    window / max_failures, so the allowance refills smoothly and there is no burst at window
    boundaries. A refused attempt is not itself counted, so an address recovers once it stops.
    Memory is bounded: at most `max_clients` addresses are tracked; the least recently failing
    one is forgotten first. Per process: replicas each hold their own counts. IPv6 clients are
    counted per /64 (`source`).
    """

    def __init__(self, max_failures: int = 20, window_seconds: float = 10.0, max_clients: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if max_failures < 1 or window_seconds <= 0 or max_clients < 1:
            raise ValueError("max_failures, window_seconds and max_clients must be positive")
        self._window = window_seconds
        self._interval = window_seconds / max_failures
        self._max_clients = max_clients
        self._clock = clock
        self._tat: dict[str, float] = {}

    def __len__(self) -> int:
        return len(self._tat)

    def check(self, client: str) -> None:
        """Raise RateLimited (429, with retry_after) if `client` is over its failure allowance."""
        if not self._tat:  # no failures counted anywhere (most of the time): nothing to look up
            return
        client = source(client)
        tat = self._tat.get(client)
        if tat is None:
            return
        now = self._clock()
        if tat <= now:
            del self._tat[client]
            return
        wait = tat - now - (self._window - self._interval)
        if wait > 0:
            raise RateLimited("too many failed authentication attempts from this address; retry later",
                              code="auth_throttled", retry_after=max(round(wait, 3), 0.001))

    def record_failure(self, client: str) -> None:
        client = source(client)
        now = self._clock()
        tat = self._tat.pop(client, now)
        self._tat[client] = max(tat, now) + self._interval
        if len(self._tat) > self._max_clients:
            del self._tat[next(iter(self._tat))]
