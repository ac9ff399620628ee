"""http/forwarded.py + http/asgi.py: the client address and request id behind trusted proxies.

X-Forwarded-For is read only from a trusted socket peer and walked from the right past trusted
hops; the leftmost (client-written) entries are never believed; a malformed entry stops the walk
at the last trusted hop. X-Request-Id is adopted only from a trusted peer and only when safe."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import ValidationError

from bastion.config.schema import ServerConfig
from bastion.http.asgi import BastionASGI, Routes
from bastion.http.forwarded import MAX_HOPS, TrustedProxies, parse_address, request_id
from bastion.http.limits import HttpLimits
from bastion.http.types import HttpRequest, HttpResponse

LB = "10.0.0.5"
PROXIES = TrustedProxies(["10.0.0.0/8", "127.0.0.1/32", "fd00::/8"])


# ---- the address walk ----------------------------------------------------------------------

def test_untrusted_peer_is_the_client_and_its_headers_are_not_read() -> None:
    assert PROXIES.resolve("203.0.113.9", [(b"x-forwarded-for", b"198.51.100.1"),
                                           (b"x-request-id", b"abc")]) == ("203.0.113.9", None)


def test_trusted_peer_single_hop_gives_the_forwarded_client() -> None:
    assert PROXIES.client(LB, ["198.51.100.7"]) == "198.51.100.7"


def test_spoofed_leftmost_entries_are_ignored() -> None:
    # The client sent "X-Forwarded-For: 1.1.1.1, 10.0.0.9"; the proxy appended the real address.
    assert PROXIES.client(LB, ["1.1.1.1, 10.0.0.9, 198.51.100.7"]) == "198.51.100.7"


def test_multiple_trusted_hops_are_skipped() -> None:
    # client -> edge (10.1.1.1) -> internal lb (127.0.0.1) -> peer 10.0.0.5
    assert PROXIES.client(LB, ["198.51.100.7, 10.1.1.1, 127.0.0.1"]) == "198.51.100.7"


def test_several_header_lines_are_one_list_in_order() -> None:
    assert PROXIES.client(LB, ["6.6.6.6, 198.51.100.7", "10.1.1.1"]) == "198.51.100.7"
    assert PROXIES.resolve(LB, [(b"X-Forwarded-For", b"6.6.6.6"), (b"x-forwarded-for", b"198.51.100.7")]) \
        == ("198.51.100.7", None)


def test_all_entries_trusted_gives_the_leftmost() -> None:
    assert PROXIES.client(LB, ["10.9.9.9, 10.1.1.1"]) == "10.9.9.9"


def test_no_header_keeps_the_peer() -> None:
    assert PROXIES.resolve(LB, [(b"host", b"x")]) == (LB, None)


@pytest.mark.parametrize("bad", ["unknown", "", " ", "_hidden", "999.1.1.1", "1.2.3", "example.com",
                                 "[::1", "[::1]x", "1.2.3.4:port", "fe80::1%eth0", "1.2.3.4\x00",
                                 "01.2.3.4", "0x7f.0.0.1", "1.2.3.4:99999999"])
def test_malformed_entry_stops_the_walk_at_the_last_trusted_hop(bad: str) -> None:
    assert PROXIES.client(LB, [bad]) == LB  # the peer handed us garbage: it is all we know
    # Behind two proxies: the inner one (10.1.1.1) passed garbage on; it is the client, not the spoof.
    assert PROXIES.client(LB, [f"6.6.6.6, {bad}, 10.1.1.1"]) == "10.1.1.1"


def test_the_walk_is_bounded() -> None:
    many = ", ".join(["10.2.2.2"] * (MAX_HOPS + 5))
    assert PROXIES.client(LB, [f"6.6.6.6, {many}"]) == "10.2.2.2"


def test_ipv6_clients_and_proxies() -> None:
    assert PROXIES.client("fd00::1", ["2001:db8::7"]) == "2001:db8::7"
    assert PROXIES.client("fd00::1", ["2001:db8::bad, [2001:DB8::7]:4711, fd12::3"]) == "2001:db8::7"
    assert PROXIES.client("203.0.113.1", ["2001:db8::7"]) == "203.0.113.1"  # untrusted peer


def test_ipv4_mapped_peer_is_matched_as_ipv4() -> None:
    assert PROXIES.trusts("::ffff:10.0.0.5")
    assert PROXIES.client("::ffff:10.0.0.5", ["198.51.100.7"]) == "198.51.100.7"
    assert not PROXIES.trusts("::ffff:203.0.113.9")


@pytest.mark.parametrize(("text", "addr"), [("198.51.100.7", "198.51.100.7"), (" 198.51.100.7:8080 ", "198.51.100.7"),
                                            ("2001:DB8:0::1", "2001:db8::1"), ("[2001:db8::1]", "2001:db8::1"),
                                            ("[2001:db8::1]:443", "2001:db8::1"), ("::ffff:1.2.3.4", "1.2.3.4")])
def test_addresses_are_canonical(text: str, addr: str) -> None:
    assert parse_address(text) == addr


def test_nothing_trusted_by_default() -> None:
    assert not TrustedProxies([])
    assert not TrustedProxies(ServerConfig().trusted_proxies)


# ---- the request id ------------------------------------------------------------------------

@pytest.mark.parametrize("good", [b"abc", b"0f3c-9a.x_y:z", b"a" * 128])
def test_safe_request_ids_are_taken(good: bytes) -> None:
    assert request_id([good]) == good.decode()


@pytest.mark.parametrize("bad", [b"", b"a" * 129, b"a b", b"a\nb", b"a\r\n", b"x\x00", b"a\"b", b"{x}",
                                 b"caf\xc3\xa9", b"a/b"])
def test_unsafe_request_ids_are_refused(bad: bytes) -> None:
    assert request_id([bad]) is None


def test_a_repeated_request_id_is_refused() -> None:
    assert request_id([b"a", b"b"]) is None


# ---- config --------------------------------------------------------------------------------

def test_config_accepts_cidrs_and_addresses() -> None:
    cfg = ServerConfig.model_validate({"trusted_proxies": ["10.0.0.0/8", "127.0.0.1", "fd00::/8"]})
    assert HttpLimits.from_server(cfg).trusted_proxies == ("10.0.0.0/8", "127.0.0.1", "fd00::/8")


@pytest.mark.parametrize("bad", ["10.0.0.1/8", "nginx", "10.0.0.0/33", ""])
def test_config_names_the_bad_entry(bad: str) -> None:
    with pytest.raises(ValidationError, match=r"server\.trusted_proxies\[1\]"):
        ServerConfig.model_validate({"trusted_proxies": ["10.0.0.0/8", bad]})


# ---- the ASGI app ----------------------------------------------------------------------------

class Seen:
    def __init__(self) -> None:
        self.reqs: list[HttpRequest] = []
        self.hold: asyncio.Event | None = None
        self.arrived = asyncio.Event()

    async def route(self, req: HttpRequest) -> HttpResponse:
        self.reqs.append(req)
        self.arrived.set()
        if self.hold is not None:
            await self.hold.wait()
        return HttpResponse.json({})


def make_app(seen: Seen, trusted: tuple[str, ...]) -> BastionASGI:
    routes = Routes(public={}, api={("POST", "/x"): seen.route}, prefixed=[], fallback=seen.route)
    return BastionASGI(routes, 1024, limits=HttpLimits(max_body_bytes=1024, trusted_proxies=trusted))


async def call(app: BastionASGI, peer: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    scope = {"type": "http", "method": "POST", "path": "/x", "headers": headers, "query_string": b"",
             "client": (peer, 5555), "http_version": "1.1"}
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(msg: Any) -> None:
        sent.append(msg)

    await app(scope, receive, send)
    return dict(sent[0]["headers"])


HEADERS = [(b"x-forwarded-for", b"6.6.6.6, 198.51.100.7"), (b"X-Request-ID", b"edge-42")]


async def test_app_uses_the_forwarded_client_and_request_id_from_a_trusted_peer() -> None:
    seen = Seen()
    hs = await call(make_app(seen, ("127.0.0.1/32",)), "127.0.0.1", HEADERS)
    assert seen.reqs[0].client == "198.51.100.7"
    assert seen.reqs[0].request_id == "edge-42"
    assert hs[b"x-request-id"] == b"edge-42"


async def test_app_ignores_both_headers_from_an_untrusted_peer() -> None:
    seen = Seen()
    hs = await call(make_app(seen, ("10.0.0.0/8",)), "127.0.0.1", HEADERS)
    assert seen.reqs[0].client == "127.0.0.1"
    assert seen.reqs[0].request_id.startswith("req_")
    assert hs[b"x-request-id"] == seen.reqs[0].request_id.encode()


async def test_app_without_trusted_proxies_ignores_both_headers() -> None:
    seen = Seen()
    await call(make_app(seen, ()), "127.0.0.1", HEADERS)
    assert seen.reqs[0].client == "127.0.0.1"
    assert seen.reqs[0].request_id.startswith("req_")


async def test_app_generates_an_id_for_an_unsafe_one() -> None:
    seen = Seen()
    await call(make_app(seen, ("127.0.0.1",)), "127.0.0.1", [(b"x-request-id", b"a\" injected=1")])
    assert seen.reqs[0].request_id.startswith("req_")


async def test_one_id_is_not_given_to_two_requests_in_flight() -> None:
    # Limit leases are keyed by request id: two concurrent requests sharing one must not merge.
    seen = Seen()
    seen.hold = asyncio.Event()
    seen.arrived.clear()
    app = make_app(seen, ("127.0.0.1",))
    first = asyncio.create_task(call(app, "127.0.0.1", [(b"x-request-id", b"dup")]))
    await seen.arrived.wait()
    seen.arrived.clear()
    second = asyncio.create_task(call(app, "127.0.0.1", [(b"x-request-id", b"dup")]))
    await seen.arrived.wait()
    seen.hold.set()
    await asyncio.gather(first, second)
    assert seen.reqs[0].request_id == "dup"
    assert seen.reqs[1].request_id.startswith("req_")
    await call(app, "127.0.0.1", [(b"x-request-id", b"dup")])  # the first finished: the id is free again
    assert seen.reqs[2].request_id == "dup"


def test_a_body_that_is_not_utf8_names_the_byte_and_its_position() -> None:
    from bastion.core.errors import InvalidRequest
    from bastion.http.types import HttpRequest

    req = HttpRequest(method="POST", path="/v1/chat/completions", query={}, headers={},
                      body=b"{\"model\": \"x\xffy\"}", client=None, request_id="r")
    with pytest.raises(InvalidRequest, match=r"not valid UTF-8: byte 0xff at position 12"):
        req.json()
