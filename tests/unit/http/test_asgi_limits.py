"""The ASGI app's own limits, driven in process: admission (load shedding), header checks, body
timeout, and the JSON checks of LimitedRequest (depth, NUL), including a property test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.core.errors import InvalidRequest
from bastion.http.asgi import BastionASGI, Routes
from bastion.http.limits import HttpLimits, LimitedRequest, check_json
from bastion.http.protocol import find_limits
from bastion.http.types import HttpRequest, HttpResponse, StreamingResponse


class App:
    """Routes whose handlers can be held open, to fill the in-flight slots."""

    def __init__(self, **limits: Any) -> None:
        self.gate = asyncio.Event()
        self.seen: list[HttpRequest] = []

        async def hold(req: HttpRequest) -> HttpResponse:
            self.seen.append(req)
            await self.gate.wait()
            return HttpResponse.json({"ok": True})

        async def parse(req: HttpRequest) -> HttpResponse:
            return HttpResponse.json(req.json())

        async def stream(req: HttpRequest) -> StreamingResponse:
            async def chunks() -> AsyncIterator[bytes]:
                await self.gate.wait()
                yield b"data: x\n\n"

            return StreamingResponse(chunks())

        async def health(req: HttpRequest) -> HttpResponse:
            return HttpResponse.json({"status": "ok"})

        routes = Routes(public={("GET", "/healthz"): health},
                        api={("POST", "/hold"): hold, ("POST", "/parse"): parse, ("POST", "/stream"): stream},
                        prefixed=[], fallback=hold)
        self.asgi = BastionASGI(routes, 1024, limits=HttpLimits(**{"max_body_bytes": 1024, **limits}))


async def call(app: BastionASGI, method: str, path: str, body: bytes = b"",
               headers: list[tuple[bytes, bytes]] | None = None, http_version: str = "1.1",
               trickle: bool = False) -> tuple[int, dict[str, str], bytes]:
    sent: list[dict[str, Any]] = []
    pending = [{"type": "http.request", "body": body, "more_body": trickle}]
    forever = asyncio.Event()

    async def receive() -> dict[str, Any]:
        if pending:
            return pending.pop(0)
        await forever.wait()
        return {"type": "http.disconnect"}

    async def send(msg: dict[str, Any]) -> None:
        sent.append(msg)

    scope = {"type": "http", "method": method, "path": path, "http_version": http_version, "query_string": b"",
             "headers": headers or [], "client": ("10.0.0.1", 1234)}
    await app(scope, receive, send)
    start = sent[0]
    hs = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], hs, b"".join(m.get("body", b"") for m in sent[1:])


async def test_admission_sheds_beyond_max_in_flight_and_exempts_health():
    a = App(max_in_flight=2, overload_retry_after=3)
    held = [asyncio.ensure_future(call(a.asgi, "POST", "/hold")) for _ in range(2)]
    await asyncio.sleep(0.01)
    assert a.asgi.in_flight == 2
    status, headers, body = await call(a.asgi, "POST", "/hold")
    assert status == 503 and headers["retry-after"] == "3" and orjson.loads(body)["error"]["code"] == "overloaded"
    assert a.asgi.shed_total == 1 and len(a.seen) == 2  # the refused request never reached a handler
    assert (await call(a.asgi, "GET", "/healthz"))[0] == 200
    a.gate.set()
    assert [r[0] for r in await asyncio.gather(*held)] == [200, 200]
    assert a.asgi.in_flight == 0
    assert (await call(a.asgi, "POST", "/hold"))[0] == 200  # recovered at once


async def test_a_stream_holds_its_slot_until_it_ends():
    a = App(max_in_flight=1)
    s = asyncio.ensure_future(call(a.asgi, "POST", "/stream"))
    await asyncio.sleep(0.01)
    assert (await call(a.asgi, "POST", "/parse", b"{}"))[0] == 503
    a.gate.set()
    assert (await s)[0] == 200 and a.asgi.in_flight == 0


async def test_a_failing_handler_frees_its_slot():
    a = App(max_in_flight=1)
    assert (await call(a.asgi, "POST", "/parse", b"[1"))[0] == 400
    assert a.asgi.in_flight == 0


@pytest.mark.parametrize("headers,status,says", [
    ([(b"x-h%d" % i, b"1") for i in range(11)], 431, "too many request headers"),
    ([(b"x-pad", b"a" * 3000)], 431, "headers exceed"),
    ([(b"authorization", b"Bearer a"), (b"authorization", b"Bearer b")], 400, "authorization header appears"),
    ([(b"x-api-key", b"a"), (b"X-API-KEY", b"b")], 400, "x-api-key header appears"),
    ([(b"content-length", b"2"), (b"content-length", b"2")], 400, "content-length header appears"),
    ([(b"host", b"a"), (b"host", b"b")], 400, "host header appears"),
])
async def test_header_checks(headers, status, says):
    a = App(max_headers=10, max_header_bytes=2048)
    got, _, body = await call(a.asgi, "POST", "/parse", b"{}", headers=headers)
    assert got == status and says in orjson.loads(body)["error"]["message"]
    assert a.asgi.in_flight == 0


async def test_repeated_ordinary_headers_are_fine():
    a = App()
    got, _, _ = await call(a.asgi, "POST", "/parse", b"{}", headers=[(b"accept", b"a"), (b"accept", b"b")])
    assert got == 200


async def test_transfer_encoding_in_http_1_0_is_refused():
    a = App()
    got, _, body = await call(a.asgi, "POST", "/parse", b"{}", headers=[(b"transfer-encoding", b"chunked")],
                              http_version="1.0")
    assert got == 400 and b"HTTP/1.0" in body


async def test_slow_body_times_out_with_408():
    a = App(body_timeout=0.05)
    got, _, body = await call(a.asgi, "POST", "/parse", b"{", trickle=True)
    assert got == 408 and b"not received in time" in body


async def test_json_limits_reach_the_handlers():
    a = App(max_json_depth=3)
    assert (await call(a.asgi, "POST", "/parse", b'{"a":[{"b":1}]}'))[0] == 200
    got, _, body = await call(a.asgi, "POST", "/parse", b'{"a":[{"b":[1]}]}')
    err = orjson.loads(body)["error"]
    assert got == 400 and err["param"] == "a[0].b" and "deeper than 3" in err["message"]
    got, _, body = await call(a.asgi, "POST", "/parse", b'{"a":{"b\\u0000c":1}}')
    assert got == 400 and orjson.loads(body)["error"]["param"] == "a"


def test_find_limits_looks_through_wrappers():
    limits = HttpLimits(header_timeout=1.5)

    class Inner:
        pass

    inner = Inner()
    inner.limits = limits  # type: ignore[attr-defined]

    class Wrapper:
        def __init__(self, app: object) -> None:
            self.app = app

    assert find_limits(Wrapper(Wrapper(inner))) is limits
    assert find_limits(object()) == HttpLimits()


def test_limited_request_keeps_the_base_errors():
    r = LimitedRequest("POST", "/", {}, {}, b"", None, "r")
    r.max_json_depth = 5
    with pytest.raises(InvalidRequest, match="empty"):
        r.json()


# ---- check_json against a reference, on any JSON ----------------------------------------------------

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
                    | st.text(max_size=5),
                    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children,
                                                                                       max_size=3),
                    max_leaves=30)


def depth(v: object) -> int:
    if isinstance(v, dict):
        return 1 + max((depth(x) for x in v.values()), default=0)
    if isinstance(v, list):
        return 1 + max((depth(x) for x in v), default=0)
    return 0


def has_nul(v: object) -> bool:
    if isinstance(v, str):
        return "\x00" in v
    if isinstance(v, dict):
        return any("\x00" in k or has_nul(x) for k, x in v.items())
    if isinstance(v, list):
        return any(has_nul(x) for x in v)
    return False


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.text(max_size=3), JSON, max_size=4), st.integers(1, 6))
def test_check_json_agrees_with_a_reference(obj, limit):
    bad = depth(obj) > limit or has_nul(obj)
    try:
        check_json(obj, limit)
    except InvalidRequest as e:
        assert bad, e.message
        assert depth(obj) > limit if "deeper" in e.message else has_nul(obj)
        return
    assert not bad


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.text(max_size=3), JSON, max_size=4), st.integers(1, 6))
def test_the_limited_request_decides_as_check_json(obj, limit):
    """LimitedRequest.json skips the walk when the body alone shows nothing can be wrong: same outcome."""
    import orjson
    from hypothesis import assume

    try:
        body = orjson.dumps(obj)
    except TypeError:  # integers beyond 64 bits: no JSON a client could send here
        assume(False)
    r = LimitedRequest("POST", "/", {}, {}, body, None, "r")
    r.max_json_depth = limit
    try:
        check_json(obj, limit)
        want = None
    except InvalidRequest as e:
        want = e.message
    try:
        r.json()
        got = None
    except InvalidRequest as e:
        got = e.message
    assert got == want


@pytest.mark.parametrize(("body", "refused"), [(b'{"a": "x\\u0000"}', True), (b'{"a\\u0000": 1}', True),
                                               (b'{"a": "x\\\\u0000"}', False), (b'{"a": [[[1]]]}', True),
                                               (b'{"a": "[[[["}', False)])
def test_the_limited_request_on_raw_bodies(body, refused):
    r = LimitedRequest("POST", "/", {}, {}, body, None, "r")
    r.max_json_depth = 3
    if refused:
        with pytest.raises(InvalidRequest):
            r.json()
    else:
        r.json()
