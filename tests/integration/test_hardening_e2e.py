"""Bad input, slow clients, request smuggling, steering the upstream, log injection, the key
boundary, and a schemathesis run against /openapi.json: every case a clear 4xx, never a 5xx.

HTTP-level attacks go through raw sockets to the real `bastion serve` (uvicorn + httptools);
cases that need the hardened protocol or tight timeouts use the in-process gateway.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tests.fakes.reply import Reply
from tests.fakes.upstream import FakeUpstream
from tests.gateway import ADMIN_KEY, PROVIDER_ANTHROPIC_KEY, PROVIDER_OPENAI_KEY, base_config
from tests.integration.inprocess import InProcessGateway

pytestmark = pytest.mark.timeout(90)

CHAT = b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'


@pytest.fixture(scope="module")
def key(gateway) -> str:
    return gateway.create_key(name="hardening")


def raw(url: str, data: bytes, wait: float = 3.0) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=wait) as s:
        s.sendall(data)
        out = b""
        try:
            while chunk := s.recv(65536):
                out += chunk
        except (TimeoutError, ConnectionResetError):
            pass
    return out


def status_line(resp: bytes) -> int:
    return int(resp.split(b" ", 2)[1]) if resp.startswith(b"HTTP/1.") else -1


def post(url: str, key: str, path: str, body: bytes, **headers: str) -> httpx.Response:
    return httpx.post(url + path, content=body, timeout=10,
                      headers={"authorization": f"Bearer {key}", "content-type": "application/json", **headers})


# ---- request smuggling and header injection ---------------------------------------------------

def _smuggle(key: str) -> dict[str, bytes]:
    auth = f"Authorization: Bearer {key}\r\n".encode()
    # Connection: close, so that a refusal that keeps the connection open still ends the read.
    start = b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n" + auth
    inner = start + b"Content-Length: %d\r\n\r\n" % len(CHAT) + CHAT
    chunked = b"0\r\n\r\n" + inner
    return {
        "duplicate Content-Length": start + b"Content-Length: %d\r\nContent-Length: 3\r\n\r\n" % len(CHAT) + CHAT,
        "Content-Length with Transfer-Encoding": start + b"Content-Length: %d\r\nTransfer-Encoding: chunked"
                                                         b"\r\n\r\n" % len(chunked) + chunked,
        "Transfer-Encoding chunked, identity": start + b"Transfer-Encoding: chunked, identity\r\n\r\n" + chunked,
        "Transfer-Encoding xchunked": start + b"Transfer-Encoding: xchunked\r\n\r\n" + chunked,
        "space before the colon": start + b"Transfer-Encoding : chunked\r\n\r\n" + chunked,
        "obs-fold continuation": start + b"Transfer-Encoding:\r\n chunked\r\n\r\n" + chunked,
        "two Transfer-Encoding headers": start + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked"
                                                 b"\r\n\r\n" + chunked,
        "bare LF line ends": inner.replace(b"\r\n", b"\n"),
        "CR inside a header value": start + b"X-Note: a\rContent-Length: 0\r\n\r\n",
        "LF inside a header value (CRLF injection)": start + b"X-Note: a\nTransfer-Encoding: chunked\r\n\r\n" + chunked,
        "NUL inside a header value": start + b"X-Note: a\x00b\r\nContent-Length: 0\r\n\r\n",
        "negative Content-Length": start + b"Content-Length: -1\r\n\r\n" + CHAT,
        "Content-Length with a plus sign": start + b"Content-Length: +%d\r\n\r\n" % len(CHAT) + CHAT,
        "Content-Length list": start + b"Content-Length: %d, %d\r\n\r\n" % (len(CHAT), len(CHAT)) + CHAT,
        "chunk size overflow": start + b"Transfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFF1\r\nx\r\n0\r\n\r\n",
        "Transfer-Encoding in HTTP/1.0": inner.replace(b"HTTP/1.1", b"HTTP/1.0").replace(
            b"Content-Length: %d\r\n" % len(CHAT), b"Transfer-Encoding: chunked\r\n").replace(
            b"\r\n\r\n" + CHAT, b"\r\n\r\n%x\r\n" % len(CHAT) + CHAT + b"\r\n0\r\n\r\n"),
        "duplicate Authorization": inner.replace(auth, auth + b"Authorization: Bearer bst_other_key\r\n"),
        "duplicate Host": inner.replace(b"Host: gw\r\n", b"Host: gw\r\nHost: evil.example\r\n"),
        "duplicate x-api-key": inner.replace(auth, f"x-api-key: {key}\r\nx-api-key: {key}\r\n".encode()),
    }


CASES = list(_smuggle("k"))


@pytest.mark.parametrize("case", CASES)
def test_smuggling_and_header_injection_are_rejected(gateway, key, fake_upstream, case):
    resp = raw(gateway.url, _smuggle(key)[case])
    assert status_line(resp) == 400, (case, resp[:200])
    assert resp.count(b"HTTP/1.1 ") == 1  # nothing smuggled behind it was answered
    assert fake_upstream.requests == []


def test_oversized_and_too_many_headers_are_431(gateway, key, fake_upstream):
    r = post(gateway.url, key, "/v1/chat/completions", CHAT, **{"x-pad": "a" * 40_000})
    assert r.status_code == 431 and "headers exceed" in r.json()["error"]["message"]
    many = {f"x-h{i}": "1" for i in range(120)}
    r = post(gateway.url, key, "/v1/chat/completions", CHAT, **many)
    assert r.status_code == 431 and "too many request headers" in r.json()["error"]["message"]
    assert fake_upstream.requests == []


# ---- bad bodies --------------------------------------------------------------------------------

DEEP_TOOL = ('{"model":"gpt-4o-mini","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function",'
             '"function":{"name":"f","parameters":' + '{"a":' * 500 + "1" + "}" * 500 + "}}]}").encode()
BAD_BODIES = {
    "invalid UTF-8": (b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"\xff\xfe"}]}', "UTF-8"),
    "lone surrogate": (b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"a\\ud800b"}]}', "surrogate"),
    "raw NUL byte": (b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"a\x00b"}]}', "control character"),
    "escaped NUL": (b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"a\\u0000b"}]}',
                    "NUL character (\\u0000) at messages[0].content"),
    "NUL in a key": (b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"x"}],"a\\u0000":1}', "NUL"),
    "number beyond a double": (b'{"model":"gpt-4o-mini","messages":[],"temperature":1e400}', "infinity"),
    "5000-digit number": (b'{"model":"gpt-4o-mini","messages":[],"seed":1' + b"0" * 5000 + b"}", "infinity"),
    "giant max_tokens": (b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"x"}],'
                         b'"max_tokens":123456789012345678901234567890}', "max_tokens"),
    "nesting deeper than the limit": (b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"x"}],'
                                      b'"metadata":' + b"[" * 100 + b"]" * 100 + b"}", "deeper than 64"),
    "deeply nested tool schema": (DEEP_TOOL, "deeper than 64"),
    "byte order mark": (b"\xef\xbb\xbf" + CHAT, "BOM"),
    "trailing garbage": (CHAT + b"}", "after document"),
    "empty body": (b"", "empty"),
    "not an object": (b'["model"]', "JSON object"),
}


@pytest.mark.parametrize("name", list(BAD_BODIES))
@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages"])
def test_bad_bodies_get_a_clear_400_never_a_5xx(gateway, key, fake_upstream, name, path):
    body, says = BAD_BODIES[name]
    if path == "/v1/messages":
        body = body.replace(b'"gpt-4o-mini"', b'"claude-sonnet-4-6"')
    r = post(gateway.url, key, path, body)
    assert r.status_code == 400, (name, r.status_code, r.text[:300])
    err = r.json()["error"]
    if path == "/v1/messages":
        assert r.json()["type"] == "error"
    if says not in ("max_tokens", "JSON object", "empty") or path == "/v1/chat/completions":
        assert says in err["message"], err
    assert fake_upstream.requests == []


def test_body_over_the_limit_without_content_length_is_413(gateway, key, fake_upstream):
    def chunks() -> Iterator[bytes]:
        for _ in range(11):
            yield b"x" * (1024 * 1024)

    r = httpx.post(f"{gateway.url}/v1/chat/completions", content=chunks(), timeout=20,
                   headers={"authorization": f"Bearer {key}"})
    assert r.status_code == 413
    assert fake_upstream.requests == []


# ---- slow clients (the hardened protocol, tight timeouts) ----------------------------------------

@pytest.fixture(scope="module")
def tight(fake_upstream_server: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessGateway]:
    tmp = tmp_path_factory.mktemp("tight")
    cfg = base_config(fake_upstream_server.url, tmp, server={"admin_key": ADMIN_KEY, "header_timeout_seconds": 0.5,
                                                             "body_timeout_seconds": 0.5})
    with InProcessGateway(cfg) as g:
        yield g


def _trickle(url: str, head: bytes, every: float, until: float) -> tuple[bytes, float]:
    host, port = url.removeprefix("http://").split(":")
    t0 = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=until) as s:
        for i in range(len(head)):
            try:
                s.sendall(head[i:i + 1])
            except OSError:
                break
            time.sleep(every)
            if time.monotonic() - t0 > until:
                break
        out = b""
        try:
            while chunk := s.recv(4096):
                out += chunk
        except (TimeoutError, ConnectionResetError):
            pass
    return out, time.monotonic() - t0


def test_slowloris_headers_are_cut_with_408(tight):
    head = b"GET /v1/models HTTP/1.1\r\nHost: gw\r\nX-Slow: " + b"a" * 200 + b"\r\n\r\n"
    out, took = _trickle(tight.url, head, every=0.05, until=5)
    assert status_line(out) == 408 and took < 3


def test_a_silent_connection_is_closed(tight):
    host, port = tight.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as s:
        t0 = time.monotonic()
        data = s.recv(4096)
        assert status_line(data) == 408 and time.monotonic() - t0 < 3


def test_slow_body_is_408(tight):
    key = tight.create_key(name="slow-body")
    head = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {key}\r\n"
            f"Content-Length: {len(CHAT)}\r\n\r\n").encode()
    host, port = tight.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(head + CHAT[:5])
        data = s.recv(4096)
    assert status_line(data) == 408 and b"not received in time" in data


def test_many_slow_clients_do_not_starve_others(tight):
    held = []
    host, port = tight.url.removeprefix("http://").split(":")
    for _ in range(50):
        s = socket.create_connection((host, int(port)), timeout=5)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: gw\r\n")  # never finishes its head
        held.append(s)
    try:
        assert httpx.get(f"{tight.url}/healthz", timeout=2).status_code == 200
        closed = 0
        for s in held:
            if status_line(s.recv(4096)) == 408:
                closed += 1
        assert closed == len(held)
    finally:
        for s in held:
            s.close()


# ---- the key boundary -----------------------------------------------------------------------------

SURFACE = [("GET", "/v1/models"), ("POST", "/v1/chat/completions"), ("POST", "/v1/messages"),
           ("POST", "/v1/embeddings"), ("GET", "/openapi.json"), ("GET", "/metrics"), ("GET", "/admin/keys"),
           ("POST", "/admin/keys"), ("DELETE", "/admin/keys/abc"), ("PUT", "/v1/chat/completions"),
           ("DELETE", "/v1/models"), ("OPTIONS", "/v1/chat/completions"), ("HEAD", "/v1/models"),
           ("POST", "/healthz"), ("GET", "/healthz/"), ("GET", "/HEALTHZ"), ("GET", "//healthz"),
           ("GET", "/healthz/../admin/keys"), ("GET", "/admin%2fkeys"), ("GET", "/v1/models%00"),
           ("TRACE", "/v1/models"), ("GET", "/v1/chat/completions/../../admin/keys")]


@pytest.mark.parametrize("method,path", SURFACE)
def test_nothing_but_health_answers_without_a_key(gateway, fake_upstream, method, path):
    r = httpx.request(method, f"{gateway.url}{path}", timeout=10)
    # 429: this address failed too often already; the throttle refuses before any route runs.
    assert r.status_code in (401, 403, 429), (method, path, r.status_code)
    assert "route" not in r.text  # the route layout is not revealed before authentication
    assert fake_upstream.requests == []


ADMIN_ROUTES = [("GET", "/admin/keys"), ("POST", "/admin/keys"), ("GET", "/admin/keys/{id}"),
                ("PATCH", "/admin/keys/{id}"), ("DELETE", "/admin/keys/{id}"), ("POST", "/admin/keys/{id}/revoke")]


@pytest.mark.parametrize("header", ["authorization", "x-api-key"])
def test_admin_api_refuses_virtual_keys_and_api_refuses_the_admin_key(fake_upstream, tmp_path, header):
    # A gateway of its own: its failure throttle must not have been used up by other tests.
    with InProcessGateway(base_config(fake_upstream.url, tmp_path)) as gateway:
        _admin_and_api_keys_stay_apart(gateway, gateway.create_key(name="boundary"), fake_upstream, header)


def _admin_and_api_keys_stay_apart(gateway: InProcessGateway, key: str, fake_upstream: FakeUpstream,
                                   header: str) -> None:
    key_id = key.split("_")[1]
    cred = (lambda k: {"authorization": f"Bearer {k}"}) if header == "authorization" else (lambda k: {"x-api-key": k})
    for method, path in ADMIN_ROUTES:
        r = httpx.request(method, gateway.url + path.format(id=key_id), headers=cred(key), json={"name": "x"})
        assert r.status_code in (401, 403), (method, path, r.status_code)
    for path in ("/v1/chat/completions", "/v1/messages", "/v1/embeddings"):
        r = httpx.post(gateway.url + path, headers=cred(ADMIN_KEY), content=CHAT)
        assert r.status_code == 401, (path, r.status_code)
    assert httpx.get(gateway.url + "/v1/models", headers=cred(ADMIN_KEY)).status_code == 401
    r = httpx.get(f"{gateway.url}/admin/keys/{key_id}", headers={"authorization": f"Bearer {ADMIN_KEY}"})
    assert r.status_code == 200 and r.json()["revoked_at"] is None  # the refused calls changed nothing
    assert httpx.post(f"{gateway.url}/v1/chat/completions", headers=cred(key), content=CHAT).status_code == 200
    assert len(fake_upstream.requests) == 1  # only the last, legitimate call


def test_a_burst_of_invalid_keys_from_one_address_is_throttled(fake_upstream, tmp_path):
    with InProcessGateway(base_config(fake_upstream.url, tmp_path)) as gw, httpx.Client(timeout=10) as client:
        codes = [client.post(f"{gw.url}/v1/chat/completions", content=CHAT,
                             headers={"authorization": f"Bearer bst_guess{i:04d}_{'x' * 40}"}) for i in range(30)]
        statuses = [r.status_code for r in codes]
        assert set(statuses) <= {401, 429} and 429 in statuses
        throttled = next(r for r in codes if r.status_code == 429)
        assert int(throttled.headers["retry-after"]) >= 1
        assert statuses.index(429) <= 25  # the default allowance is 20 failures per 10 s
    assert fake_upstream.requests == []


# ---- the client cannot steer the upstream ---------------------------------------------------------

UPSTREAM_MAY_SEE = {"host", "content-type", "content-length", "user-agent", "authorization", "x-api-key",
                    "anthropic-version", "accept", "accept-encoding", "connection"}
STEERING_HEADERS = {
    "cookie": "session=stolen", "x-forwarded-host": "evil.example", "x-forwarded-for": "6.6.6.6",
    "x-custom-thing": "steer", "openai-organization": "org-evil", "openai-project": "proj-evil",
    "anthropic-beta": "evil-beta", "proxy-authorization": "Basic ZXZpbDpldmls", "x-upstream-url": "http://evil",
    "x-provider": "anthropic", "x-api-base": "http://evil.example/v1", "forwarded": "host=evil.example",
}


@pytest.mark.parametrize("path,model,route", [("/v1/chat/completions", "gpt-4o-mini", "openai.chat"),
                                              ("/v1/messages", "claude-sonnet-4-6", "anthropic.messages"),
                                              ("/v1/chat/completions", "claude-sonnet-4-6", "anthropic.messages")])
def test_client_headers_and_credentials_never_reach_the_upstream(gateway, key, fake_upstream, path, model, route):
    body = {"model": model, "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    r = httpx.post(f"{gateway.url}{path}?base_url=http://evil.example&api-version=x", json=body, timeout=10,
                   headers={"authorization": f"Bearer {key}", "x-api-key": key, **STEERING_HEADERS})
    assert r.status_code == 200, r.text
    sent = fake_upstream.last(route)
    assert set(sent.headers) <= UPSTREAM_MAY_SEE, set(sent.headers) - UPSTREAM_MAY_SEE
    assert key not in json.dumps(sent.headers) and key.split("_", 2)[2] not in sent.body.decode()
    assert sent.headers["host"] == fake_upstream.url.removeprefix("http://")
    assert sent.query == {} and sent.path in ("/v1/chat/completions", "/v1/messages")
    provider_key = PROVIDER_ANTHROPIC_KEY if route == "anthropic.messages" else PROVIDER_OPENAI_KEY
    assert provider_key in (sent.headers.get("x-api-key"), sent.headers.get("authorization", "")[7:])


@pytest.mark.parametrize("field,value", [("base_url", "http://evil.example/v1"), ("api_base", "http://evil.example"),
                                         ("api_key", "sk-evil"), ("extra_headers", {"x-a": "1"}),
                                         ("headers", {"authorization": "Bearer sk-evil"}), ("provider", "anthropic")])
def test_body_fields_that_would_steer_the_upstream_are_refused(gateway, key, fake_upstream, field, value):
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], field: value}
    r = httpx.post(f"{gateway.url}/v1/chat/completions", json=body, headers={"authorization": f"Bearer {key}"})
    assert r.status_code == 400 and r.json()["error"]["param"] == field
    assert fake_upstream.requests == []


@pytest.mark.parametrize("model", ["http://evil.example/v1", "../../admin/keys", "openai/gpt-4o-mini",
                                   "gpt-4o-mini@evil.example", "gpt-4o-mini\r\nHost: evil"])
def test_model_names_cannot_address_an_upstream(gateway, key, fake_upstream, model):
    r = httpx.post(f"{gateway.url}/v1/chat/completions", headers={"authorization": f"Bearer {key}"},
                   json={"model": model, "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 404
    assert fake_upstream.requests == []


# ---- log injection ----------------------------------------------------------------------------------

FORGED = '{"level":"error","logger":"bastion","msg":"FORGED admin login"}'


def test_newlines_and_ansi_escapes_in_input_cannot_forge_log_lines(gateway, key, fake_upstream):
    evil = ["\n" + FORGED, "\r\n" + FORGED, "\x1b[2K\x1b[1G" + FORGED, "\u2028" + FORGED, "\x85" + FORGED]
    hdr = {"authorization": f"Bearer {key}"}
    with httpx.Client(base_url=gateway.url, timeout=10) as client:
        for e in evil:
            client.post("/v1/chat/completions", headers=hdr,
                        json={"model": "gpt-4o-mini" + e, "messages": [{"role": "user", "content": e}]})
            client.post("/v1/messages", headers=hdr, json={"model": e, "max_tokens": 5, "messages": []})
            client.get(f"/v1/{quote(e)}", headers=hdr)  # uvicorn decodes it to raw control bytes
            client.post("/v1/chat/completions", json={"model": e},
                        headers={"authorization": "Bearer bst_" + e.encode("unicode_escape").decode()})
    # an upstream failing mid-stream with a hostile message: the gateway logs that error
    fake_upstream.always("openai.chat", Reply.error(500, "upstream says\n" + FORGED + "\x1b[31m", after_chunks=1,
                                                    stream=["a", "b"]))
    with httpx.stream("POST", f"{gateway.url}/v1/chat/completions", headers=hdr, timeout=10,
                      json={"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "x"}]}) as r:
        r.read()
    httpx.get(f"{gateway.url}/%0a{FORGED}", headers=hdr)  # a path uvicorn decodes to a newline
    time.sleep(0.3)
    logs = gateway.logs()
    assert "\x1b" not in logs
    for line in logs.splitlines():
        assert not line.lstrip().startswith('{"level":"error","logger":"bastion","msg":"FORGED'), line
        if "FORGED" in line and line.lstrip().startswith("{"):
            json.loads(line)  # a JSON log line that mentions it is still one whole, valid line


# ---- /openapi.json and a fuzzing run against it ------------------------------------------------------

def test_openapi_is_behind_a_key_and_names_only_the_keys_models(tight, fake_upstream):
    assert httpx.get(f"{tight.url}/openapi.json").status_code == 401
    limited = tight.create_key(name="limited", models=["llama3.2"])
    doc = httpx.get(f"{tight.url}/openapi.json", headers={"authorization": f"Bearer {limited}"}).json()
    assert doc["openapi"] == "3.1.0"
    assert set(doc["paths"]) == {"/v1/chat/completions", "/v1/messages", "/v1/embeddings", "/v1/models",
                                 "/openapi.json", "/healthz", "/readyz"}
    chat = doc["components"]["schemas"]["ChatCompletionRequest"]["properties"]["model"]
    assert chat == {"enum": ["llama3.2"]}
    assert "gpt-4o-mini" not in json.dumps(doc)  # no model the key may not use, as in /v1/models
    assert fake_upstream.requests == []


def test_schemathesis_finds_no_server_error(tight, fake_upstream, tmp_path):
    """A bounded fuzzing run (BASTION_FUZZ_EXAMPLES per operation, default 10) with zero 5xx,
    zero crashes and responses that match the document."""
    key = tight.create_key(name="fuzz")
    fake_upstream.always("openai.embeddings", Reply(embeddings=[[0.5, 0.25]]))  # the fake builds any dimension
    examples = os.environ.get("BASTION_FUZZ_EXAMPLES", "10")
    st = Path(sys.executable).with_name("st")
    if not st.exists():
        message = "schemathesis is not installed (a test dependency: pip install schemathesis)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    proc = subprocess.run(
        [str(st), "run", f"{tight.url}/openapi.json", "-H", f"Authorization: Bearer {key}",
         "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,"
                     "response_schema_conformance",
         "--phases", "examples,fuzzing", "-n", examples, "--workers", "4", "--seed", "7", "--no-color",
         "--generation-database", "none", "--request-timeout", "10", "--suppress-health-check", "all",
         "--warnings", "off"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120)
    tail = proc.stdout[-4000:] + proc.stderr[-2000:]
    assert proc.returncode == 0, tail
    assert " passed" in tail and "errored" not in tail and "failed" not in tail, tail
    assert tight.app.in_flight == 0


def test_a_forged_x_forwarded_for_does_not_evade_the_throttle(gateway, fake_upstream):
    with httpx.Client(timeout=10) as client:
        codes = [client.post(f"{gateway.url}/v1/chat/completions", content=CHAT,
                             headers={"authorization": f"Bearer bst_guess{i:04d}_{'x' * 40}",
                                      "x-forwarded-for": f"10.9.{i // 200}.{i % 200}"}).status_code
                 for i in range(30)]
    assert 429 in codes
