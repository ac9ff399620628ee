"""The credential before the body, end to end (real `bastion serve`, raw sockets).

A caller without a valid credential is answered from the request head alone: the 401 arrives while
the declared body is still unsent, the connection is closed (the rest is never read, nor taken for a
request), and the refusal is recorded as any 401 is. A valid caller is served as before, its body
slow or not. A client that aborts its upload leaves a record and no traceback.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.upstream import FakeUpstream
from tests.gateway import ADMIN_KEY, Gateway, base_config
from tests.integration.test_audit_e2e import export

pytestmark = pytest.mark.timeout(240)

DECLARED = 150_000  # Content-Length announced; only FIRST of it is ever sent before the answer
FIRST = b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"' + b"a" * 1000
WAIT = 20.0  # far beyond any answer from the head, well short of the body timeout below
FAKE_A = "bst_aaaaaaaaaaaa_" + "x" * 43
FAKE_B = "bst_bbbbbbbbbbbb_" + "y" * 43
MSG = [{"role": "user", "content": "hello"}]


@pytest.fixture(scope="module")
def gw(fake_upstream_server: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    tmp: Path = tmp_path_factory.mktemp("authbody")
    # A long body timeout: an answer that waited for the body could not arrive within WAIT.
    cfg = base_config(fake_upstream_server.url, tmp, server={"admin_key": ADMIN_KEY, "key_cache_ttl_seconds": 1.0,
                                                             "body_timeout_seconds": 120})
    with Gateway(cfg, tmp, name="authbody") as g:
        yield g


@pytest.fixture(scope="module")
def key(gw: Gateway) -> str:
    return gw.create_key(name="authbody")


# ---- raw HTTP/1.1 ----------------------------------------------------------------------------------

def connect(gw: Gateway) -> socket.socket:
    return socket.create_connection(("127.0.0.1", gw.port), timeout=WAIT)


def head(method: str, path: str, length: int, **headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: gw", "Content-Type: application/json", f"Content-Length: {length}"]
    lines += [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class Reply:
    def __init__(self, raw: bytes) -> None:
        top, _, self.body = raw.partition(b"\r\n\r\n")
        lines = top.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split(" ")[1]) if lines[0].startswith("HTTP/1.1 ") else -1
        self.headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}

    def json(self) -> dict:
        return json.loads(self.body)


def read_reply(s: socket.socket) -> Reply:
    """One complete response (Content-Length framed), leaving the connection as it is."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        assert chunk, f"connection closed before a response: {buf!r}"
        buf += chunk
    reply = Reply(buf)
    need = int(reply.headers["content-length"])
    while len(reply.body) < need:
        chunk = s.recv(65536)
        assert chunk, "connection closed inside a response"
        reply.body += chunk
    return reply


def read_to_close(s: socket.socket) -> tuple[bytes, bool]:
    """Everything until the server closes; (data, closed). `closed` False: still open after WAIT."""
    out = b""
    try:
        while chunk := s.recv(65536):
            out += chunk
    except TimeoutError:
        return out, False
    except ConnectionResetError:
        pass
    return out, True


def refused_early(gw: Gateway, method: str, path: str, **headers: str) -> Reply:
    """Send a head announcing DECLARED bytes and only FIRST of them; the answer must come (and the
    connection close) without one more byte sent."""
    with connect(gw) as s:
        s.sendall(head(method, path, DECLARED, **headers) + FIRST)
        raw, closed = read_to_close(s)
    assert raw, f"no answer to {method} {path} while its body was still unsent"
    assert raw.count(b"HTTP/1.1 ") == 1, raw[:300]
    reply = Reply(raw)
    assert reply.headers.get("connection") == "close", reply.headers
    assert closed, "the connection stayed open after the early answer"
    return reply


def access_lines(gw: Gateway) -> list[dict]:
    out = []
    for line in gw.logs().splitlines():
        if '"bastion.access"' in line:
            out.append(json.loads(line))
    return out


def eventually(fn, what: str, timeout: float = 30.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        got = fn()
        if got:
            return got
        assert time.monotonic() < deadline, f"never saw {what}"
        time.sleep(0.3)


# ---- (a, b) no key, invalid keys: answered from the head -------------------------------------------

API_REFUSALS = {
    "chat, no key": ("POST", "/v1/chat/completions", {}),
    "chat, unknown key": ("POST", "/v1/chat/completions", {"authorization": f"Bearer {FAKE_A}"}),
    "chat, not a bearer credential": ("POST", "/v1/chat/completions", {"authorization": "Basic dXNlcjpwYXNz"}),
    "chat, conflicting keys": ("POST", "/v1/chat/completions",
                               {"authorization": f"Bearer {FAKE_A}", "x_api_key": FAKE_B}),
    "messages, no key": ("POST", "/v1/messages", {"anthropic_version": "2023-06-01"}),
    "messages, unknown x-api-key": ("POST", "/v1/messages", {"x_api_key": FAKE_A, "anthropic_version": "2023-06-01"}),
    "messages, malformed key": ("POST", "/v1/messages", {"x_api_key": "sk-not-a-bastion-key"}),
    "embeddings, no key": ("POST", "/v1/embeddings", {}),
    "models with a body, no key": ("GET", "/v1/models", {}),
    "openapi with a body, no key": ("GET", "/openapi.json", {}),
    "unknown path, no key": ("POST", "/v1/nothing/here", {}),
}


@pytest.mark.parametrize("case", list(API_REFUSALS))
def test_no_or_bad_key_is_refused_before_the_body_and_the_connection_closes(gw, fake_upstream, case):
    method, path, headers = API_REFUSALS[case]
    reply = refused_early(gw, method, path, **headers)
    assert reply.status == 401, (case, reply.status, reply.body[:300])
    body = reply.json()
    if path == "/v1/messages":
        assert body["type"] == "error" and body["error"]["type"] == "authentication_error", body
    else:
        assert body["error"]["code"] == "invalid_api_key", body
    assert fake_upstream.requests == []
    # Recorded as every 401 is: its access line (and, below, its audit record).
    rid = reply.headers["x-request-id"]
    line = eventually(lambda: [a for a in access_lines(gw) if a.get("request_id") == rid], f"access line {rid}")[0]
    assert line["status"] == 401 and line["error_code"] == "invalid_api_key"


def test_an_early_401_is_audited_as_before(gw, fake_upstream):
    reply = refused_early(gw, "POST", "/v1/chat/completions", authorization=f"Bearer {FAKE_A}")
    assert reply.status == 401
    rid = reply.headers["x-request-id"]
    rec = eventually(lambda: [r for r in export(gw) if r["request_id"] == rid], f"audit record {rid}")[0]
    assert rec["status"] == 401 and rec["error_code"] == "invalid_api_key"
    assert rec["authenticated"] is False and rec["key_id"] == FAKE_A.split("_")[1]
    assert rec["client_disconnected"] is False


def test_the_unread_body_is_never_taken_for_a_request(gw, fake_upstream):
    """The declared body holds a whole request; after the early 401 nothing of it is answered."""
    inner = b"GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n"
    with connect(gw) as s:
        s.sendall(head("POST", "/v1/chat/completions", len(inner) + 10_000))
        raw, closed = read_to_close(s)
        assert raw.startswith(b"HTTP/1.1 401 ") and closed
        try:
            s.sendall(inner * 3)
            more = s.recv(65536)
        except OSError:
            more = b""
    assert more == b""
    assert raw.count(b"HTTP/1.1 ") == 1


# ---- (c) valid keys: served as before, slow bodies included; 100-continue only for them ---------------

def _slow_exchange(s: socket.socket, method: str, path: str, body: bytes, pieces: int = 4, **headers: str) -> Reply:
    s.sendall(head(method, path, len(body), **headers))
    step = len(body) // pieces + 1
    for i in range(0, len(body), step):
        time.sleep(0.2)
        s.sendall(body[i:i + step])
    return read_reply(s)


def test_valid_keys_get_100_continue_and_slow_bodies_are_served_on_a_kept_connection(gw, key, fake_upstream):
    chat = json.dumps({"model": "gpt-4o-mini", "messages": MSG}).encode()
    with connect(gw) as s:
        s.sendall(head("POST", "/v1/chat/completions", len(chat), authorization=f"Bearer {key}",
                       expect="100-continue"))
        assert s.recv(25) == b"HTTP/1.1 100 Continue\r\n\r\n"  # asked for the body: the key passed
        for i in range(0, len(chat), 20):
            time.sleep(0.05)
            s.sendall(chat[i:i + 20])
        first = read_reply(s)
        assert first.status == 200, first.body[:300]
        assert first.json()["choices"][0]["message"]["content"]
        assert first.headers.get("connection") != "close"
        # the same connection serves the next one, its body in slow pieces, key as x-api-key
        msgs = json.dumps({"model": "claude-sonnet-4-6", "max_tokens": 20, "messages": MSG}).encode()
        second = _slow_exchange(s, "POST", "/v1/messages", msgs, x_api_key=key, anthropic_version="2023-06-01")
        assert second.status == 200, second.body[:300]
        assert second.json()["content"][0]["text"] == "echo: hello"
    # Without a key no 100 Continue is sent: the client never has to send the body at all.
    with connect(gw) as s:
        s.sendall(head("POST", "/v1/chat/completions", DECLARED, expect="100-continue"))
        raw, closed = read_to_close(s)
    assert raw.startswith(b"HTTP/1.1 401 "), raw[:200]
    assert closed


# ---- (d) aborted uploads ----------------------------------------------------------------------------

def test_an_aborted_upload_is_recorded_and_logs_no_traceback(gw, key, fake_upstream):
    key_id = key.split("_")[1]
    with connect(gw) as s:
        s.sendall(head("POST", "/v1/chat/completions", DECLARED, authorization=f"Bearer {key}") + FIRST)
        time.sleep(0.5)
    # Recorded like a stream the client cut: it reached the gateway with a valid key.
    rec = eventually(lambda: [r for r in export(gw) if r["key_id"] == key_id and r["status"] == 499],
                     "the aborted upload's audit record")[0]
    assert rec["error_code"] == "client_disconnected" and rec["client_disconnected"] is True
    assert rec["authenticated"] is True and rec["operation"] == "chat"
    assert fake_upstream.requests == []
    line = eventually(lambda: [a for a in access_lines(gw) if a["request_id"] == rec["request_id"]],
                      "the aborted upload's access line")[0]
    assert line["status"] == 499 and line["client_disconnected"] is True and line["key_id"] == key_id
    # Without a key the abort is just the 401 it already got; with the admin key there is nothing to record.
    before = len(access_lines(gw))
    with connect(gw) as s:
        s.sendall(head("POST", "/v1/chat/completions", DECLARED) + FIRST)
    with connect(gw) as s:
        s.sendall(head("POST", "/admin/keys", DECLARED, authorization=f"Bearer {ADMIN_KEY}") + FIRST)
        time.sleep(0.5)
    eventually(lambda: [a for a in access_lines(gw)[before:] if a["status"] == 401], "the 401 of the stranger")
    time.sleep(1.0)  # the gateway has seen both closes (nothing to wait on for the admin one)
    logs = gw.logs()
    assert "Exception in ASGI application" not in logs
    assert "Traceback" not in logs
    assert '"level":"error"' not in logs.replace(" ", "")


# ---- (e) admin and public routes --------------------------------------------------------------------

@pytest.mark.parametrize("credential", [None, "Bearer adm_wrong_0123456789abcdef", f"Bearer {FAKE_A}"])
def test_admin_routes_check_the_admin_key_before_the_body(gw, credential):
    headers = {"authorization": credential} if credential else {}
    reply = refused_early(gw, "POST", "/admin/keys", **headers)
    assert reply.status == 401, reply.body[:300]
    reply = refused_early(gw, "PATCH", "/admin/keys/aaaaaaaaaaaa", **headers)
    assert reply.status == 401, reply.body[:300]


def test_the_admin_key_still_creates_keys_from_a_slow_body(gw):
    body = json.dumps({"name": "slow-admin", "rpm": 100}).encode()
    with connect(gw) as s:
        reply = _slow_exchange(s, "POST", "/admin/keys", body, authorization=f"Bearer {ADMIN_KEY}")
    assert reply.status == 201, reply.body[:300]
    assert reply.json()["key"].startswith("bst_")
    # and a stranger's admin request is still refused from its head, body unsent
    assert refused_early(gw, "POST", "/admin/keys").status == 401


def test_health_routes_never_read_a_body(gw):
    reply = refused_early(gw, "GET", "/healthz")
    assert reply.status == 200 and reply.json() == {"status": "ok"}
