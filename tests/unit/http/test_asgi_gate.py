"""http/asgi.py + http/gate.py + http/api.py: the credential is checked from the head before any
body is read. A refusal never touches the body (receive is not called) and closes a connection
whose body was declared; an admitted request is authenticated once and its body read; a client
that leaves mid-upload is recorded by its admission, never raised out of the app."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bastion.core.context import Principal, RequestContext
from bastion.core.errors import AuthenticationError, BastionError
from bastion.http.api import CLIENT_GONE, CLIENT_GONE_STATUS, key_first
from bastion.http.asgi import BastionASGI, Routes
from bastion.http.gate import Admission, Gated
from bastion.http.limits import HttpLimits
from bastion.http.types import HttpRequest, HttpResponse, StreamingResponse
from bastion.pipeline.runner import Pipeline

KEY = "bst_aaaaaaaaaaaa_" + "x" * 43


class Recorder:
    """A gated route's gate and its admission, recording what the ASGI layer asked of them."""

    def __init__(self) -> None:
        self.gates: list[HttpRequest] = []
        self.served: list[bytes] = []
        self.unreads: list[BastionError | None] = []

    async def gate(self, head: HttpRequest) -> Admission | HttpResponse:
        self.gates.append(head)
        assert head.body == b""  # the body is not read before the gate
        if head.headers.get("authorization") != "Bearer ok":
            raise AuthenticationError("invalid API key")
        return self

    async def serve(self, req: HttpRequest) -> HttpResponse | StreamingResponse:
        self.served.append(req.body)
        return HttpResponse.json({"got": len(req.body)})

    async def unread(self, err: BastionError | None) -> None:
        self.unreads.append(err)


def app(rec: Recorder, **limits: Any) -> BastionASGI:
    async def health(req: HttpRequest) -> HttpResponse:
        return HttpResponse.json({"status": "ok", "body": len(req.body)})

    async def legacy(req: HttpRequest) -> HttpResponse:
        return HttpResponse.json({"got": len(req.body)})

    routes = Routes(public={("GET", "/healthz"): health}, api={("POST", "/gated"): Gated(rec.gate),
                                                                ("POST", "/legacy"): legacy},
                    prefixed=[], fallback=Gated(rec.gate))
    return BastionASGI(routes, 1024, limits=HttpLimits(**{"max_body_bytes": 1024, **limits}))


async def call(asgi: BastionASGI, method: str, path: str, messages: list[dict[str, Any]] | None,
               headers: dict[str, str]) -> list[dict[str, Any]]:
    """`messages` None: receive must never be called (the body stays unread). Past the given
    messages the client is gone (http.disconnect)."""
    sent: list[dict[str, Any]] = []
    pending = list(messages or [])

    async def receive() -> dict[str, Any]:
        assert messages is not None, "the body was read"
        await asyncio.sleep(0)
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    async def send(msg: dict[str, Any]) -> None:
        sent.append(msg)

    scope = {"type": "http", "method": method, "path": path, "http_version": "1.1", "query_string": b"",
             "headers": [(k.encode(), v.encode()) for k, v in headers.items()], "client": ("10.0.0.1", 1)}
    await asgi(scope, receive, send)
    return sent


def start(sent: list[dict[str, Any]]) -> tuple[int, dict[str, str]]:
    return sent[0]["status"], {k.decode(): v.decode() for k, v in sent[0]["headers"]}


@pytest.mark.parametrize("path", ["/gated", "/anything/else"])
async def test_a_refused_credential_never_reads_the_body_and_closes(path: str) -> None:
    rec = Recorder()
    sent = await call(app(rec), "POST", path, None, {"content-length": "150000"})
    status, hs = start(sent)
    assert status == 401 and hs["connection"] == "close"
    assert rec.served == [] and rec.unreads == []


async def test_a_refusal_without_a_declared_body_keeps_the_connection() -> None:
    sent = await call(app(Recorder()), "POST", "/gated", None, {"content-length": "0"})
    status, hs = start(sent)
    assert status == 401 and "connection" not in hs


async def test_an_admitted_request_is_gated_once_and_gets_its_body_in_pieces() -> None:
    rec = Recorder()
    pieces = [{"type": "http.request", "body": b"ab", "more_body": True},
              {"type": "http.request", "body": b"cd", "more_body": True},
              {"type": "http.request", "body": b"e", "more_body": False}]
    sent = await call(app(rec), "POST", "/gated", pieces, {"authorization": "Bearer ok", "content-length": "5"})
    status, hs = start(sent)
    assert status == 200 and "connection" not in hs
    assert len(rec.gates) == 1 and rec.served == [b"abcde"] and rec.unreads == []


async def test_a_client_gone_mid_upload_is_recorded_once_and_nothing_is_raised_or_sent() -> None:
    rec = Recorder()
    sent = await call(app(rec), "POST", "/gated", [{"type": "http.request", "body": b"ab", "more_body": True}],
                      {"authorization": "Bearer ok", "content-length": "500"})
    assert sent == []
    assert rec.unreads == [None] and rec.served == []


async def test_a_client_gone_on_a_plain_route_raises_nothing() -> None:
    sent = await call(app(Recorder()), "POST", "/legacy", [{"type": "http.request", "body": b"a", "more_body": True}],
                      {"content-length": "500"})
    assert sent == []


async def test_a_body_refused_after_admission_is_recorded_with_its_error() -> None:
    rec = Recorder()
    sent = await call(app(rec), "POST", "/gated", None, {"authorization": "Bearer ok", "content-length": "5000"})
    status, hs = start(sent)
    assert status == 413 and hs["connection"] == "close"
    assert [e.status for e in rec.unreads if e is not None] == [413] and rec.served == []


async def test_a_body_timeout_after_admission_is_recorded_as_408() -> None:
    rec = Recorder()
    asgi = app(rec, body_timeout=0.05)
    sent: list[dict[str, Any]] = []
    msgs = [{"type": "http.request", "body": b"a", "more_body": True}]
    never = asyncio.Event()

    async def receive() -> dict[str, Any]:
        if msgs:
            return msgs.pop(0)
        await never.wait()
        return {"type": "http.disconnect"}

    async def send(msg: dict[str, Any]) -> None:
        sent.append(msg)

    scope = {"type": "http", "method": "POST", "path": "/gated", "http_version": "1.1", "query_string": b"",
             "headers": [(b"authorization", b"Bearer ok"), (b"transfer-encoding", b"chunked")], "client": None}
    await asgi(scope, receive, send)
    status, hs = start(sent)
    assert status == 408 and hs["connection"] == "close"
    assert [e.code for e in rec.unreads if e is not None] == ["request_timeout"]


async def test_public_routes_never_read_a_body() -> None:
    sent = await call(app(Recorder()), "GET", "/healthz", None, {"content-length": "150000"})
    status, hs = start(sent)
    assert status == 200 and hs["connection"] == "close"
    sent = await call(app(Recorder()), "GET", "/healthz", None, {})
    assert "connection" not in start(sent)[1]


# ---- key_first: one authentication, the refusal and the abort recorded by the pipeline ------------

class Auth:
    def __init__(self) -> None:
        self.calls = 0

    async def authenticate(self, authorization: str | None, x_api_key: str | None,
                           client: str | None = None) -> Principal:
        self.calls += 1
        if authorization != f"Bearer {KEY}":
            raise AuthenticationError("invalid API key")
        return Principal(key_id="aaaaaaaaaaaa", name="k", team=None)

    def presented_key_id(self, authorization: str | None, x_api_key: str | None) -> str | None:
        return "aaaaaaaaaaaa" if authorization else None


class Observer:
    name = "rec"

    def __init__(self) -> None:
        self.finished: list[RequestContext] = []

    def admit(self, ctx: RequestContext) -> None:
        pass

    async def finish(self, ctx: RequestContext) -> None:
        self.finished.append(ctx)


def pipeline() -> tuple[Pipeline, Auth, Observer]:
    auth, obs = Auth(), Observer()
    return Pipeline(auth, [], None, None, [obs]), auth, obs  # type: ignore[arg-type]


def head(authorization: str | None = None) -> HttpRequest:
    hs = {"authorization": authorization} if authorization else {}
    return HttpRequest("POST", "/v1/embeddings", {}, hs, b"", "10.0.0.1", "req_1")


async def test_key_first_refuses_from_the_head_and_records_the_401_once() -> None:
    p, auth, obs = pipeline()
    out = await key_first(p, lambda ctx, req: None, "openai").gate(head())  # type: ignore[arg-type,return-value]
    assert isinstance(out, HttpResponse) and out.status == 401
    assert auth.calls == 1
    assert obs.finished == []  # the observers run once the answer is sent (HttpResponse.after)
    assert out.after is not None
    await out.after()
    assert [(c.status, c.error_code, c.client_disconnected) for c in obs.finished] == [(401, "invalid_api_key", False)]


async def test_key_first_authenticates_once_and_serves_with_the_admitted_context() -> None:
    p, auth, obs = pipeline()
    seen: list[RequestContext] = []

    async def serve(ctx: RequestContext, req: HttpRequest) -> HttpResponse:
        seen.append(ctx)
        return HttpResponse.json({"body": req.body.decode()})

    admitted = await key_first(p, serve, "openai").gate(head(f"Bearer {KEY}"))
    assert not isinstance(admitted, HttpResponse)
    resp = await admitted.serve(HttpRequest("POST", "/v1/embeddings", {}, {}, b"x", None, "req_1"))
    assert resp.status == 200 and auth.calls == 1
    assert obs.finished == []  # admission alone records nothing: the request is recorded once, when it ends
    assert seen[0].principal is not None and seen[0].principal.key_id == "aaaaaaaaaaaa"


async def test_key_first_records_an_abandoned_upload_as_client_disconnected() -> None:
    p, auth, obs = pipeline()
    admitted = await key_first(p, lambda ctx, req: None, "openai",  # type: ignore[arg-type,return-value]
                               admitted_operation="embeddings").gate(head(f"Bearer {KEY}"))
    assert not isinstance(admitted, HttpResponse)
    await admitted.unread(None)
    (ctx,) = obs.finished
    assert (ctx.status, ctx.error_code, ctx.client_disconnected) == (CLIENT_GONE_STATUS, CLIENT_GONE, True)
    assert ctx.operation == "embeddings" and ctx.principal is not None and auth.calls == 1


async def test_an_embeddings_request_refused_before_the_pipeline_is_recorded_as_embeddings() -> None:
    """A body the embeddings route refuses while decoding (token arrays, bad JSON) never reaches
    Pipeline.embeddings: its access log line and audit record still say embeddings, not chat."""
    from bastion.http.api import ApiHandlers

    p, _auth, _obs = pipeline()
    admitted = await ApiHandlers(p, max_messages=10).embeddings.gate(head(f"Bearer {KEY}"))
    assert not isinstance(admitted, HttpResponse)
    assert admitted.ctx.operation == "embeddings"  # type: ignore[attr-defined]
