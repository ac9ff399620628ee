"""`audit.mode: sync` end to end: a client receives no answer before its audit record is durable."""

from __future__ import annotations

import sqlite3
import threading
import time
from concurrent.futures import Future
from pathlib import Path

import httpx
import pytest

from tests.gateway import Gateway, base_config

MSG = [{"role": "user", "content": "hi"}]


def _stored(db: Path, request_id: str) -> bool:
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT 1 FROM bastion_audit WHERE request_id = ?", (request_id,)).fetchone() is not None
    finally:
        con.close()


@pytest.mark.parametrize("stream", [False, True])
def test_sync_mode_holds_the_answer_until_its_record_is_stored(fake_upstream_server, fake_upstream, tmp_path,
                                                               stream: bool) -> None:
    cfg = base_config(fake_upstream_server.url, tmp_path, audit={"mode": "sync", "sync_timeout_seconds": 60})
    db = tmp_path / "bastion.db"
    with Gateway(cfg, tmp_path) as gw:
        key = gw.create_key(name="sync")
        headers = {"authorization": f"Bearer {key}"}
        body = {"model": "gpt-4o-mini", "messages": MSG, "stream": stream}
        with httpx.Client(base_url=gw.url, headers=headers, timeout=90) as client:
            assert client.post("/v1/chat/completions", json=body).status_code == 200  # key warm in the cache
            lock = sqlite3.connect(db, isolation_level=None, timeout=30)
            lock.execute("BEGIN IMMEDIATE")  # the store takes no write until released
            answer: Future[httpx.Response] = Future()
            sent = len(fake_upstream.requests_for("openai.chat"))

            def call() -> None:
                try:
                    r = client.post("/v1/chat/completions", json=body)
                    r.read()
                    answer.set_result(r)
                except BaseException as e:  # handed to the test thread
                    answer.set_exception(e)

            threading.Thread(target=call, daemon=True).start()
            while len(fake_upstream.requests_for("openai.chat")) == sent:
                time.sleep(0.01)
            time.sleep(0.5)  # a gateway that answers before its record is stored has answered by now
            answered_unrecorded = answer.done()
            lock.execute("ROLLBACK")
            lock.close()
            r = answer.result(timeout=60)
            assert r.status_code == 200, r.text
            rid = r.headers["x-request-id"]
            assert _stored(db, rid), "the client has its answer but the audit record is not stored"
            assert not answered_unrecorded, "sync mode answered while the audit store took no writes"


def test_readyz_is_503_while_the_audit_log_refuses_requests(fake_upstream_server, fake_upstream, tmp_path) -> None:
    cfg = base_config(fake_upstream_server.url, tmp_path, audit={"buffer_size": 3, "retry_backoff_max_seconds": 0.2})
    db = tmp_path / "bastion.db"
    with Gateway(cfg, tmp_path) as gw:
        key = gw.create_key(name="ready")
        body = {"model": "gpt-4o-mini", "messages": MSG}
        with httpx.Client(base_url=gw.url, headers={"authorization": f"Bearer {key}"}, timeout=30) as client:
            assert client.post("/v1/chat/completions", json=body).status_code == 200
            lock = sqlite3.connect(db, isolation_level=None, timeout=30)
            lock.execute("BEGIN IMMEDIATE")  # the store can be read but takes no write (as when its disk is full)
            try:
                codes: list[int] = []
                while 503 not in codes and len(codes) < 10:  # records fill the buffer, then it fails closed
                    codes.append(client.post("/v1/chat/completions", json=body).status_code)
                assert codes[-1] == 503 and set(codes[:-1]) == {200}, codes
                ready = client.get("/readyz")
                assert ready.status_code == 503, ready.text
                assert ready.json()["status"] == "audit log unavailable"
            finally:
                lock.execute("ROLLBACK")
                lock.close()
            deadline = time.monotonic() + 30
            while client.get("/readyz").status_code != 200 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert client.get("/readyz").status_code == 200
            assert client.post("/v1/chat/completions", json=body).status_code == 200
