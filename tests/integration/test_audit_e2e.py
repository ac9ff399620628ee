"""Audit and observability end to end: a record for every request of every outcome, SIGTERM under
load, the store going away and coming back, and no secret in any sink."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import openai
import pytest

from tests.fakes.reply import Reply
from tests.gateway import ADMIN_KEY, PROVIDER_ANTHROPIC_KEY, PROVIDER_OPENAI_KEY, Gateway, base_config

MSG = [{"role": "user", "content": "hi"}]


def export(gw: Gateway) -> list[dict]:
    out = subprocess.run([sys.executable, "-m", "bastion.cli.main", "audit", "export", "--since", "2000-01-01",
                          "--format", "jsonl", "--config", str(gw.config_path)],
                         capture_output=True, text=True, timeout=60, cwd=str(gw.tmp))
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def verify(gw: Gateway, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bastion.cli.main", "audit", "verify", "--config",
                           str(gw.config_path), *extra], capture_output=True, text=True, timeout=60, cwd=str(gw.tmp))


def test_one_record_per_request_of_every_outcome(fake_upstream_server, fake_upstream, tmp_path):
    cfg = base_config(fake_upstream_server.url, tmp_path)
    with Gateway(cfg, tmp_path, name="audit") as gw:
        key = gw.create_key(name="aud", rpm=1000)
        limited = gw.create_key(name="limited", rpm=1)
        fake_upstream.script("openai.chat", *[Reply.error(400, "nope") for _ in range(5)])

        async def run() -> list[int]:
            async with httpx.AsyncClient(timeout=20) as c:
                async def call(k: str, model: str = "gpt-4o-mini", **extra) -> int:
                    r = await c.post(f"{gw.url}/v1/chat/completions", headers={"authorization": f"Bearer {k}"},
                                     json={"model": model, "messages": MSG, **extra})
                    return r.status_code
                jobs = []
                jobs += [call(key) for _ in range(5)]                       # upstream 400 (scripted)
                jobs += [call("bst_badbadbadbad_" + "x" * 43) for _ in range(5)]  # auth refused
                jobs += [call(key, model="nope") for _ in range(5)]         # unknown model
                jobs += [call(limited) for _ in range(5)]                   # 1 served, 4 rate limited
                first = await asyncio.gather(*jobs)
                second = await asyncio.gather(*[call(key) for _ in range(20)])  # served
                return list(first) + list(second)
        codes = asyncio.run(run())
        n = len(codes)
        deadline = time.monotonic() + 10
        records = export(gw)
        while sum(r.get("operation") == "chat" for r in records) < n and time.monotonic() < deadline:
            time.sleep(0.3)
            records = export(gw)
    chat = [r for r in records if r.get("operation") == "chat"]
    assert len(chat) == n, (len(chat), n)
    statuses = sorted(r["status"] for r in chat)
    assert statuses == sorted(codes)
    refused = [r for r in chat if r["status"] == 401]
    assert len(refused) == 5
    assert all(r["key_id"] == "badbadbadbad" for r in refused)
    assert all("x" * 20 not in json.dumps(r) for r in records)
    assert sum(1 for r in chat if r["status"] == 429) == 4
    assert "intact" in verify(gw).stdout.lower()


def test_sigterm_under_load_keeps_every_admitted_record(fake_upstream_server, fake_upstream, tmp_path):
    cfg = base_config(fake_upstream_server.url, tmp_path)
    fake_upstream.always("openai.chat", Reply(stream=[f"w{i} " for i in range(10)], delay_between_chunks=0.05))
    gw = Gateway(cfg, tmp_path, name="term").start()
    key = gw.create_key(name="term")
    results: list[int] = []

    def client() -> None:
        for _ in range(10):
            try:
                with httpx.stream("POST", f"{gw.url}/v1/chat/completions", headers={"authorization": f"Bearer {key}"},
                                  json={"model": "gpt-4o-mini", "messages": MSG, "stream": True}, timeout=10) as r:
                    body = b"".join(r.iter_bytes())
                    results.append(r.status_code if b"[DONE]" in body else -1)
            except httpx.HTTPError:
                return

    threads = [threading.Thread(target=client) for _ in range(8)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    rc = gw.stop(signal.SIGTERM)
    for t in threads:
        t.join(20)
    assert rc == 0, gw.logs()[-2000:]
    completed = results.count(200)
    assert completed > 0
    records = [r for r in export(gw) if r.get("operation") == "chat"]
    # every request that completed has a record; nothing admitted was lost
    assert len(records) >= completed
    assert sum(1 for r in records if r["status"] == 200 and not r.get("error_code")) >= completed
    assert "intact" in verify(gw).stdout.lower()


class _Proxy:
    """A TCP proxy to PostgreSQL that the test can cut and restore."""

    def __init__(self, target_port: int) -> None:
        self.target = target_port
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.up = True
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _pipe(self, a: socket.socket, b: socket.socket) -> None:
        try:
            while self.up:
                d = a.recv(65536)
                if not d:
                    break
                b.sendall(d)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.close()
            except OSError:
                pass

    def _accept(self) -> None:
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            if not self.up:
                c.close()
                continue
            u = socket.create_connection(("127.0.0.1", self.target))
            self.conns += [c, u]
            threading.Thread(target=self._pipe, args=(c, u), daemon=True).start()
            threading.Thread(target=self._pipe, args=(u, c), daemon=True).start()

    def cut(self) -> None:
        self.up = False
        for s in self.conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass
        self.conns.clear()

    def restore(self) -> None:
        self.up = True

    def close(self) -> None:
        self.cut()
        self.sock.close()


def test_store_down_refuses_then_recovers_without_restart(pg_schema_url, fake_upstream_server, tmp_path):
    proxy = _Proxy(5432)
    try:
        cfg = base_config(fake_upstream_server.url, tmp_path,  # a private schema: no table shared with a parallel test
                          store={"url": pg_schema_url.replace(":5432/", f":{proxy.port}/", 1)},
                          audit={"buffer_size": 8, "batch_size": 4, "flush_interval_seconds": 0.05})
        with Gateway(cfg, tmp_path, name="pgdown") as gw:
            key = gw.create_key(name="pg")
            c = openai.OpenAI(base_url=f"{gw.url}/v1", api_key=key, max_retries=0, timeout=15)
            c.chat.completions.create(model="gpt-4o-mini", messages=MSG)
            proxy.cut()
            refused = 0
            for _ in range(30):
                try:
                    c.chat.completions.create(model="gpt-4o-mini", messages=MSG)
                except openai.InternalServerError as e:
                    assert e.status_code == 503
                    refused += 1
                    if refused >= 3:
                        break
            assert refused > 0  # fail closed: no unaudited traffic beyond the bounded buffer
            proxy.restore()
            deadline = time.monotonic() + 20
            while True:
                try:
                    c.chat.completions.create(model="gpt-4o-mini", messages=MSG)
                    break
                except openai.InternalServerError:
                    assert time.monotonic() < deadline, "did not recover after the store came back"
                    time.sleep(0.5)
    finally:
        proxy.close()


def test_no_secret_in_logs_metrics_or_audit_store(fake_upstream_server, fake_upstream, tmp_path):
    cfg = base_config(fake_upstream_server.url, tmp_path)
    with Gateway(cfg, tmp_path, name="leak") as gw:
        key = gw.create_key(name="leak")
        secret = key.split("_", 2)[2]
        email = "jane.doe.leak@example.com"
        fake_upstream.script("openai.chat", Reply.error(401, f"Incorrect API key provided: {PROVIDER_OPENAI_KEY}"))
        c = openai.OpenAI(base_url=f"{gw.url}/v1", api_key=key, max_retries=0)
        with pytest.raises(openai.APIStatusError):
            c.chat.completions.create(model="gpt-4o-mini", messages=MSG)
        c.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": f"mail {email}"}])
        for bad in (key[:-1] + "A", f"Bearer {key}\r\nX-Evil: 1"):
            httpx.post(f"{gw.url}/v1/chat/completions", headers={"authorization": f"Bearer {bad}"[:200]
                                                                 .replace("\r\n", " ")}, json={})
        metrics = httpx.get(f"{gw.url}/metrics", headers={"authorization": f"Bearer {ADMIN_KEY}"})
        assert metrics.status_code == 200 and b"bastion_" in metrics.content
        time.sleep(1.0)
    sinks = {"log": gw.logs().encode(), "metrics": metrics.content,
             "store": b"".join(p.read_bytes() for p in Path(tmp_path).glob("bastion.db*"))}
    for name, data in sinks.items():
        for planted in (secret, PROVIDER_OPENAI_KEY, PROVIDER_ANTHROPIC_KEY, ADMIN_KEY, email):
            assert planted.encode() not in data, f"{planted[:8]}… found in {name}"


@pytest.mark.parametrize("mode", ["redacted", "full"])
@pytest.mark.parametrize("stream", [False, True])
def test_content_capture_modes(fake_upstream_server, fake_upstream, tmp_path, mode, stream):
    email = "capture.me@example.net"
    cfg = base_config(fake_upstream_server.url, tmp_path, policies={"default": {
        "capture": mode, "input": [{"scanner": "pii", "action": "redact", "restore": True}]}})
    with Gateway(cfg, tmp_path, name=f"cap-{mode}-{stream}") as gw:
        c = openai.OpenAI(base_url=f"{gw.url}/v1", api_key=gw.create_key(), max_retries=0)
        kw = dict(model="gpt-4o-mini", messages=[{"role": "user", "content": f"write to {email}"}])
        if stream:
            text = "".join(ch.choices[0].delta.content or "" for ch in c.chat.completions.create(stream=True, **kw)
                           if ch.choices)
        else:
            text = c.chat.completions.create(**kw).choices[0].message.content
        assert email in text  # restored for the client
        deadline = time.monotonic() + 10
        while not (recs := [r for r in export(gw) if r.get("operation") == "chat"]) and time.monotonic() < deadline:
            time.sleep(0.2)
    content = json.dumps(recs[0]["content"])
    assert "[EMAIL_1]" in content
    if mode == "redacted":
        assert email not in content
    else:
        assert email in content


def test_a_non_streamed_request_whose_client_left_is_abandoned_and_recorded(fake_upstream_server, fake_upstream,
                                                                            tmp_path):
    """The client gives up (an SDK timeout) while the upstream is still working: the gateway stops
    the call instead of waiting for an answer nobody reads, and records the request as one whose
    client went away (499), as it does for a stream the client cuts."""
    cfg = base_config(fake_upstream_server.url, tmp_path)
    fake_upstream.always("openai.chat", Reply(text="too late", delay_before_headers=30.0))
    with Gateway(cfg, tmp_path, name="gone") as gw:
        key = gw.create_key(name="impatient")
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{gw.url}/v1/chat/completions", headers={"authorization": f"Bearer {key}"},
                       json={"model": "gpt-4o-mini", "messages": MSG}, timeout=1.0)
        deadline = time.monotonic() + 15  # well before the upstream's 30 s answer
        records: list[dict] = []
        while time.monotonic() < deadline:
            records = [r for r in export(gw) if r["ingress"] == "openai"]
            if records:
                break
            time.sleep(0.2)
        assert len(records) == 1, records
        r = records[0]
        assert r["status"] == 499 and r["client_disconnected"] and r["error_code"] == "client_disconnected", r
        # the call was in flight: the provider may bill the input it read, so the request is settled on its
        # input estimate, not on zero (a budget must not be overspent by clients that give up)
        assert [a["outcome"] for a in r["attempts"]] == ["cancelled"], r["attempts"]
        assert r["usage"]["input_tokens"] > 0 and r["usage"]["output_tokens"] == 0, r["usage"]
        assert r["cost_micros"] > 0, r
        status, usage = gw.admin("GET", "/admin/usage")
        assert status == 200, usage
        # the gateway still serves this key at once (its concurrency slot and audit slot came back)
        fake_upstream.always("openai.chat", Reply(text="ok"))
        ok = httpx.post(f"{gw.url}/v1/chat/completions", headers={"authorization": f"Bearer {key}"},
                        json={"model": "gpt-4o-mini", "messages": MSG}, timeout=10)
        assert ok.status_code == 200, ok.text
