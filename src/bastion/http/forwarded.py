"""The client behind trusted proxies: its address from X-Forwarded-For, its request id from X-Request-Id.

Only a request whose socket peer is in `server.trusted_proxies` has these headers read; from any
other peer they are ignored entirely (a client could otherwise choose its address, dodging the
failed-auth throttle and writing what it likes into the audit record).

The address is found by the "rightmost untrusted" rule: X-Forwarded-For is walked from the right
(the entry the nearest proxy appended) leftwards, past every trusted address, and the first
untrusted one is the client. The leftmost entries are whatever the client sent and are never
believed unless every hop to their right is trusted. An entry that is not an IP address (empty,
`unknown`, an obfuscated name, garbage) stops the walk: the client is then the last trusted hop
reached, the one that handed us the entry, since nothing it says about its own client can be read.
So does a run of more than `MAX_HOPS` trusted entries. When every entry is trusted the leftmost one
is the client. The RFC 7239 `Forwarded` header is not read: nginx, Envoy and cloud load balancers
all write X-Forwarded-For.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable, Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_HOPS = 32  # trusted entries walked past at most; a real chain of proxies is a handful
_CACHE_SIZE = 4096  # peers whose trust is remembered; cleared when full
_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")
_V4_MAPPED = bytes(10) + b"\xff\xff"
_IPV4_PORT = re.compile(r"(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}")


def parse_network(text: str) -> Network:
    """A CIDR (or a bare address, meaning just it); ValueError naming the problem otherwise."""
    try:
        return ipaddress.ip_network(text.strip(), strict=True)
    except ValueError as e:
        raise ValueError(f"{text!r} is not an IP address or CIDR range ({e})") from None


def parse_address(text: str) -> str | None:
    """The canonical text of an address as written in an X-Forwarded-For entry, or None when the
    entry is not one. Accepts `1.2.3.4`, `1.2.3.4:port`, `2001:db8::1`, `[2001:db8::1]` and
    `[2001:db8::1]:port`; an IPv4-mapped IPv6 address is given as its IPv4 form, so one client
    has one throttle bucket however it is written."""
    s = text.strip()
    if not s:
        return None
    if s[0] == "[":
        end = s.find("]")
        if end < 0 or (end + 1 < len(s) and not (s[end + 1] == ":" and s[end + 2:].isdigit())):
            return None
        s = s[1:end]
    elif s.count(":") == 1:
        m = _IPV4_PORT.fullmatch(s)
        if m is None:
            return None
        s = m.group(1)
    try:  # inet_pton: strict forms only (no octal, no short IPv4), several times faster than ipaddress
        if ":" in s:
            packed = socket.inet_pton(socket.AF_INET6, s)
            if packed[:12] == _V4_MAPPED:
                return socket.inet_ntop(socket.AF_INET, packed[12:])
            return socket.inet_ntop(socket.AF_INET6, packed)
        return socket.inet_ntop(socket.AF_INET, socket.inet_pton(socket.AF_INET, s))
    except (OSError, ValueError):  # ValueError: an embedded NUL
        return None


class TrustedProxies:
    """The `server.trusted_proxies` ranges, and the client and request id they vouch for."""

    __slots__ = ("_cache", "_networks")

    def __init__(self, cidrs: Iterable[str]) -> None:
        self._networks: tuple[Network, ...] = tuple(parse_network(c) for c in cidrs)
        self._cache: dict[str, bool] = {}

    def __bool__(self) -> bool:
        return bool(self._networks)

    def trusts(self, addr: str) -> bool:
        """Whether `addr` (a socket peer or a forwarded entry) is inside a trusted range."""
        hit = self._cache.get(addr)
        if hit is None:
            hit = self._match(addr)
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()
            self._cache[addr] = hit
        return hit

    def _match(self, addr: str) -> bool:
        try:
            ip: Address = ipaddress.ip_address(addr)
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in n for n in self._networks)

    def client(self, peer: str, forwarded_for: Sequence[str]) -> str:
        """The client address for a request from `peer`, given its X-Forwarded-For header lines
        in the order received (several lines are one comma-separated list)."""
        current = peer
        hops = 0
        for line in reversed(forwarded_for):
            for entry in reversed(line.split(",")):
                if not self.trusts(current) or hops >= MAX_HOPS:
                    return current
                addr = parse_address(entry)
                if addr is None:
                    return current
                current = addr
                hops += 1
        return current

    def resolve(self, peer: str, raw_headers: Iterable[tuple[bytes, bytes]]) -> tuple[str, str | None]:
        """(client address, request id the proxy sent or None) for a request from `peer`.
        From an untrusted peer: (peer, None), with no header read."""
        if not self.trusts(peer):
            return peer, None
        xff: list[str] = []
        rids: list[bytes] = []
        for k, v in raw_headers:
            if len(k) == 15 and k.lower() == b"x-forwarded-for":
                xff.append(v.decode("latin-1"))
            elif len(k) == 12 and k.lower() == b"x-request-id":
                rids.append(v)
        return (self.client(peer, xff) if xff else peer), request_id(rids)


def request_id(values: Sequence[bytes]) -> str | None:
    """The X-Request-Id a trusted proxy sent, when it sent exactly one safe one: 1 to 128 of
    `A-Z a-z 0-9 . _ : -` (nothing a log line or audit query could be confused by)."""
    if len(values) != 1 or _REQUEST_ID.fullmatch(values[0]) is None:
        return None
    return values[0].decode("ascii")
