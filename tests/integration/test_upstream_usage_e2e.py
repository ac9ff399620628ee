"""An upstream that reports an absurd token count is a malformed answer (502, next target), not a
crash that loses the request's audit record and every pending usage row with it."""

from __future__ import annotations

import json
import sqlite3
import time

import httpx
import pytest

from tests.fakes.reply import Reply, Usage
from tests.gateway import Gateway, base_config

HUGE = 2**64 - 1  # fits the JSON parser, overflows every 64-bit integer downstream


@pytest.mark.parametrize(("model", "route", "stream"), [("gpt-4o-mini", "openai.chat", False),
                                                        ("gpt-4o-mini", "openai.chat", True),
                                                        ("claude-sonnet-4-6", "anthropic.messages", False)])
def test_an_absurd_usage_is_refused_and_nothing_else_is_lost(fake_upstream_server, fake_upstream, tmp_path,
                                                             model: str, route: str, stream: bool) -> None:
    cfg = base_config(fake_upstream_server.url, tmp_path, limits={"usage_flush_seconds": 0.1})
    cfg["providers"]["openai"]["retry"]["attempts"] = 1
    cfg["providers"]["anthropic"]["retry"]["attempts"] = 1
    with Gateway(cfg, tmp_path) as gw:
        key = gw.create_key(name="usage")
        body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": stream}
        with httpx.Client(base_url=gw.url, headers={"authorization": f"Bearer {key}"}, timeout=30) as client:
            fake_upstream.always(route, Reply(text="ok", usage=Usage(input_tokens=1, output_tokens=1)))
            assert client.post("/v1/chat/completions", json=body).status_code == 200
            fake_upstream.always(route, Reply(text="ok", usage=Usage(input_tokens=HUGE, output_tokens=1)))
            bad = client.post("/v1/chat/completions", json=body)
            if not stream:
                assert bad.status_code == 502, bad.text
                assert bad.json()["error"]["code"] == "upstream_error"
            fake_upstream.always(route, Reply(text="ok", usage=Usage(input_tokens=1, output_tokens=1)))
            assert client.post("/v1/chat/completions", json=body).status_code == 200
            deadline = time.monotonic() + 20
            total: dict = {}
            while time.monotonic() < deadline:
                total = gw.admin("GET", f"/admin/usage?key={key.split('_')[1]}")[1]["total"]
                if total["requests"] >= 3:
                    break
                time.sleep(0.1)
            assert total["requests"] == 3, total  # the usage rows of the good requests were written
            assert total["input_tokens"] < 100, total
    con = sqlite3.connect(tmp_path / "bastion.db")
    records = [json.loads(b) for (b,) in con.execute("SELECT body FROM bastion_audit")]
    con.close()
    assert len([r for r in records if r["operation"] == "chat"]) == 3  # one record per request
