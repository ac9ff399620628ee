"""Behind a reverse proxy, end to end (`bastion serve` under uvicorn): with `server.trusted_proxies`
the audit record and access log name the forwarded client, a proxy's X-Request-Id is the request id,
and the failed-auth throttle counts each forwarded client apart; without it X-Forwarded-For and
X-Request-Id are ignored and cannot dodge the throttle."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.upstream import FakeUpstream
from tests.gateway import Gateway, base_config

MSG = [{"role": "user", "content": "hi"}]
BAD_KEY = "bst_badbadbadbad_" + "x" * 43
MAX_GUESSES = 200  # well past FailureThrottle's default allowance (20 failures in 10 s)


def _start(upstream: FakeUpstream, tmp: Path, name: str, trusted: list[str]) -> Gateway:
    cfg = base_config(upstream.url, tmp)
    cfg["server"] = {**cfg["server"], "trusted_proxies": trusted}
    cfg["store"] = {"url": f"sqlite:///{tmp / (name + '.db')}"}
    return Gateway(cfg, tmp, name=name).start()


@pytest.fixture(scope="module")
def proxied(fake_upstream_server: FakeUpstream, module_tmp: Path) -> Iterator[Gateway]:
    gw = _start(fake_upstream_server, module_tmp, "proxied", ["127.0.0.1/32"])
    yield gw
    gw.stop()


@pytest.fixture(scope="module")
def direct(fake_upstream_server: FakeUpstream, module_tmp: Path) -> Iterator[Gateway]:
    gw = _start(fake_upstream_server, module_tmp, "direct", [])
    yield gw
    gw.stop()


def chat(gw: Gateway, key: str, headers: dict[str, str], client: httpx.Client | None = None) -> httpx.Response:
    post = client.post if client is not None else httpx.post
    return post(f"{gw.url}/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": MSG},
                headers={"authorization": f"Bearer {key}", **headers}, timeout=20)


def guess_until_throttled(gw: Gateway, xff: list[str]) -> list[int]:
    """Failed authentications, cycling through X-Forwarded-For values, until one is throttled."""
    codes: list[int] = []
    with httpx.Client() as c:
        for i in range(MAX_GUESSES):
            r = chat(gw, BAD_KEY, {"x-forwarded-for": xff[i % len(xff)]}, c)
            codes.append(r.status_code)
            if codes[-1] != 401:
                assert r.json()["error"]["code"] == "auth_throttled"
                break
    return codes


def audit_record(gw: Gateway, rid: str) -> dict[str, Any]:
    deadline = time.monotonic() + 15
    while True:
        out = subprocess.run([sys.executable, "-m", "bastion.cli.main", "audit", "export", "--since", "2000-01-01",
                              "--format", "jsonl", "--config", str(gw.config_path)],
                             capture_output=True, text=True, timeout=60, cwd=str(gw.tmp))
        assert out.returncode == 0, out.stderr
        for line in out.stdout.splitlines():
            if line.strip() and (rec := json.loads(line)).get("request_id") == rid:
                return rec
        assert time.monotonic() < deadline, f"no audit record for {rid}"
        time.sleep(0.3)


def access_line(gw: Gateway, rid: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while True:
        for line in gw.logs().splitlines():
            if rid in line and line.startswith("{"):
                obj: dict[str, Any] = json.loads(line)
                flat = {**obj, **obj.get("fields", {})}
                if flat.get("logger") == "bastion.access" and flat.get("request_id") == rid:
                    return flat
        assert time.monotonic() < deadline, f"no access log line for {rid}"
        time.sleep(0.2)


def test_trusted_proxy_forwards_client_and_request_id(proxied: Gateway, fake_upstream: FakeUpstream) -> None:
    key = proxied.create_key(name="fwd")
    # The client spoofed a leftmost entry; the proxy (127.0.0.1, trusted) appended the real address.
    r = chat(proxied, key, {"x-forwarded-for": "6.6.6.6, 198.51.100.23", "X-Request-ID": "edge-req-0001"})
    assert r.status_code == 200, r.text
    assert r.headers["x-request-id"] == "edge-req-0001"
    assert audit_record(proxied, "edge-req-0001")["client_addr"] == "198.51.100.23"
    assert access_line(proxied, "edge-req-0001")["client_addr"] == "198.51.100.23"


def test_unsafe_request_id_from_a_trusted_proxy_is_replaced(proxied: Gateway, fake_upstream: FakeUpstream) -> None:
    key = proxied.create_key(name="fwd-unsafe")
    r = chat(proxied, key, {"x-forwarded-for": "[2001:db8::5]:4711", "x-request-id": "a b\tinjected"})
    assert r.status_code == 200, r.text
    rid = r.headers["x-request-id"]
    assert rid.startswith("req_")
    assert audit_record(proxied, rid)["client_addr"] == "2001:db8::5"


def test_untrusted_peer_xff_and_request_id_are_ignored(direct: Gateway, fake_upstream: FakeUpstream) -> None:
    key = direct.create_key(name="nofwd")
    r = chat(direct, key, {"x-forwarded-for": "198.51.100.23", "x-request-id": "edge-req-0002"})
    assert r.status_code == 200, r.text
    rid = r.headers["x-request-id"]
    assert rid != "edge-req-0002"
    assert audit_record(direct, rid)["client_addr"] == "127.0.0.1"
    assert access_line(direct, rid)["client_addr"] == "127.0.0.1"


def test_throttle_is_per_forwarded_client(proxied: Gateway, fake_upstream: FakeUpstream) -> None:
    # One guessing client behind the proxy, writing a fresh spoofed leftmost entry each time: were
    # the leftmost entry believed, each guess would land in a fresh bucket and none be throttled.
    codes = guess_until_throttled(proxied, [f"203.0.113.{i}, 198.51.100.66" for i in range(1, 250)])
    assert codes[0] == 401
    assert codes[-1] == 429, codes
    # Another client behind the same proxy has its own bucket: it gets its full allowance of
    # failures (a shared bucket, as when keyed by the proxy's address, would refuse it at once).
    other = guess_until_throttled(proxied, ["198.51.100.77"])
    assert other[-1] == 429
    assert len(other) > 10, other
    assert fake_upstream.requests == []


def test_untrusted_peer_cannot_dodge_the_throttle_with_xff(direct: Gateway, fake_upstream: FakeUpstream) -> None:
    codes = guess_until_throttled(direct, [f"198.51.100.{i}" for i in range(1, 250)])
    assert codes[0] == 401
    assert codes[-1] == 429, codes  # every "client" was the one peer, 127.0.0.1
    assert fake_upstream.requests == []
