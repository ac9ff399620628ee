"""A stream that ends without reported usage (client cut, upstream error mid-stream) is counted the
same everywhere: usage report, audit record, metrics and access log agree on its tokens and cost."""

from __future__ import annotations

import json
import sqlite3
import time

import httpx
import pytest

from tests.fakes.reply import Reply, Usage
from tests.gateway import ADMIN_KEY, Gateway, base_config

BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 200, "stream": True}


def _metric(text: str, name: str, **labels: str) -> float:
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(f"{name}{{{want}}} "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.mark.parametrize("ending", ["client_cut", "upstream_error"])
def test_tokens_of_a_stream_without_usage_agree_everywhere(fake_upstream_server, fake_upstream, tmp_path,
                                                           ending: str) -> None:
    cfg = base_config(fake_upstream_server.url, tmp_path, limits={"usage_flush_seconds": 0.1})
    pieces = [f"word{i:02d} " for i in range(40)]
    if ending == "client_cut":
        fake_upstream.always("openai.chat", Reply(stream=pieces, usage=Usage(input_tokens=3, output_tokens=40),
                                                  delay_between_chunks=0.05))
    else:
        fake_upstream.always("openai.chat", Reply.error(500, "boom", after_chunks=30, stream=pieces))
    with Gateway(cfg, tmp_path) as gw:
        key = gw.create_key(name="cut")
        with httpx.Client(base_url=gw.url, timeout=30) as client:
            with client.stream("POST", "/v1/chat/completions", json=BODY,
                               headers={"authorization": f"Bearer {key}"}) as r:
                assert r.status_code == 200
                got = 0
                for line in r.iter_lines():
                    got += line.count("word")
                    if ending == "client_cut" and got >= 20:
                        break  # the client goes away halfway
            deadline = time.monotonic() + 20
            report: dict = {}
            while time.monotonic() < deadline:
                report = gw.admin("GET", f"/admin/usage?key={key.split('_')[1]}")[1]["total"]
                if report["requests"] == 1:
                    break
                time.sleep(0.1)
            assert report["requests"] == 1 and report["output_tokens"] > 0, report
            metrics = client.get("/metrics", headers={"authorization": f"Bearer {ADMIN_KEY}"}).text
    out = _metric(metrics, "bastion_tokens_total", model="gpt-4o-mini", provider="openai", type="output")
    assert out == report["output_tokens"], (out, report)
    assert _metric(metrics, "bastion_tokens_total", model="gpt-4o-mini", provider="openai",
                   type="input") == report["input_tokens"]
    con = sqlite3.connect(tmp_path / "bastion.db")
    records = [json.loads(b) for (b,) in con.execute("SELECT body FROM bastion_audit ORDER BY seq")]
    con.close()
    (record,) = [r for r in records if r["ingress"] != "admin"]  # the key's creation is a record too
    assert record["usage"]["output_tokens"] == report["output_tokens"], record
    assert record["cost_micros"] == report["cost_micros"]
    access = [json.loads(x) for x in gw.logs().splitlines() if '"bastion.access"' in x]
    assert [a["output_tokens"] for a in access if a["operation"] == "chat"] == [report["output_tokens"]]
    assert record["usage"]["input_tokens"] == report["input_tokens"]
