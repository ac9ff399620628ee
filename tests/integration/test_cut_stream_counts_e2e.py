"""A stream that ends without reported usage (client cut, upstream error mid-stream) is counted the
same everywhere: usage report, audit record, metrics and access log agree on its tokens and cost.
An Anthropic upstream counts the input at the stream's start (message_start), before any text: that
count, not an estimate, is what such a stream is charged and recorded with, on both ingress APIs and
both stream paths (the canonical one under an output policy, the direct one without)."""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

import httpx
import pytest

from tests.fakes.reply import Reply, Usage
from tests.gateway import ADMIN_KEY, Gateway, base_config

BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 200, "stream": True}
PIECES = [f"word{i:02d} " for i in range(40)]


def _metric(text: str, name: str, **labels: str) -> float:
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(f"{name}{{{want}}} "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def _live(gw: Gateway, key: str, model: str, provider: str) -> dict[str, Any]:
    """The stream's tokens (and cost) in the usage report, once it has them, and in the metrics."""
    deadline = time.monotonic() + 20
    report: dict[str, Any] = {}
    while time.monotonic() < deadline:
        report = gw.admin("GET", f"/admin/usage?key={key.split('_')[1]}")[1]["total"]
        if report["requests"] == 1:
            break
        time.sleep(0.1)
    assert report["requests"] == 1 and report["output_tokens"] > 0, report
    metrics = httpx.get(f"{gw.url}/metrics", headers={"authorization": f"Bearer {ADMIN_KEY}"}, timeout=10).text
    return {
        "report": (report["input_tokens"], report["output_tokens"], report["cost_micros"]),
        "metrics": (_metric(metrics, "bastion_tokens_total", model=model, provider=provider, type="input"),
                    _metric(metrics, "bastion_tokens_total", model=model, provider=provider, type="output")),
    }


def _records(gw: Gateway) -> list[dict[str, Any]]:
    con = sqlite3.connect(gw.tmp / "bastion.db")
    records = [json.loads(b) for (b,) in con.execute("SELECT body FROM bastion_audit ORDER BY seq")]
    con.close()
    return records


def _written(gw: Gateway, sinks: dict[str, Any]) -> dict[str, Any]:
    """`sinks` and the stream's audit record and access log line (the gateway stopped: both flushed)."""
    (record,) = [r for r in _records(gw) if r["ingress"] != "admin"]  # the key's creation is a record too
    (access,) = [a for a in (json.loads(x) for x in gw.logs().splitlines() if '"bastion.access"' in x)
                 if a["operation"] == "chat"]
    return {**sinks, "audit": (record["usage"]["input_tokens"], record["usage"]["output_tokens"], record["cost_micros"]),
            "access": (access["input_tokens"], access["output_tokens"], access["cost_micros"])}


def _agree(sinks: dict[str, Any]) -> tuple[int, int]:
    tokens = sinks["report"][:2]
    assert sinks["metrics"] == tokens and sinks["audit"] == sinks["access"] == sinks["report"], sinks
    return tokens


@pytest.mark.parametrize("ending", ["client_cut", "upstream_error"])
def test_tokens_of_a_stream_without_usage_agree_everywhere(fake_upstream_server, fake_upstream, tmp_path,
                                                           ending: str) -> None:
    """An OpenAI stream reports usage only at its end (stream_options.include_usage): cut before it, it
    is estimated, the same in every sink."""
    cfg = base_config(fake_upstream_server.url, tmp_path, limits={"usage_flush_seconds": 0.1})
    if ending == "client_cut":
        fake_upstream.always("openai.chat", Reply(stream=PIECES, usage=Usage(input_tokens=3, output_tokens=40),
                                                  delay_between_chunks=0.05))
    else:
        fake_upstream.always("openai.chat", Reply.error(500, "boom", after_chunks=30, stream=PIECES))
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
            sinks = _live(gw, key, "gpt-4o-mini", "openai")
    input_tokens, _ = _agree(_written(gw, sinks))
    assert input_tokens != 3  # the upstream's count came only at the end, which never came: an estimate


@pytest.mark.parametrize("path", ["canonical", "direct"])
@pytest.mark.parametrize("ingress", ["openai", "anthropic"])
@pytest.mark.parametrize("ending", ["client_cut", "upstream_error"])
def test_a_cut_anthropic_stream_is_counted_by_the_input_its_start_reported(
        fake_upstream_server, fake_upstream, tmp_path, ending: str, ingress: str, path: str) -> None:
    sections: dict[str, Any] = {"limits": {"usage_flush_seconds": 0.1}}
    if path == "direct":
        sections["policies"] = {"default": {}}  # no output rule reads the stream: the direct path
    cfg = base_config(fake_upstream_server.url, tmp_path, **sections)
    usage = Usage(input_tokens=1234, output_tokens=40)  # message_start says 1234 input (and 1 output)
    if ending == "client_cut":
        fake_upstream.always("anthropic.messages", Reply(stream=PIECES, usage=usage, delay_between_chunks=0.05))
    else:
        fake_upstream.always("anthropic.messages",
                             Reply.error(529, "overloaded", type="overloaded_error", after_chunks=5, stream=PIECES,
                                         usage=usage))
    body = {**BODY, "model": "claude-sonnet-4-6"}
    if ingress == "openai":
        route, headers = "/v1/chat/completions", {"authorization": "Bearer {key}"}
    else:
        route, headers = "/v1/messages", {"x-api-key": "{key}", "anthropic-version": "2023-06-01"}
    with Gateway(cfg, tmp_path) as gw:
        key = gw.create_key(name="cut")
        with httpx.Client(base_url=gw.url, timeout=30) as client:
            with client.stream("POST", route, json=body,
                               headers={k: v.format(key=key) for k, v in headers.items()}) as r:
                assert r.status_code == 200
                got = 0
                for line in r.iter_lines():
                    got += line.count("word")
                    if ending == "client_cut" and got >= 1:
                        break  # the client goes away after the first text
            assert got >= 1
            sinks = _live(gw, key, "claude-sonnet-4-6", "anthropic")
    sinks = _written(gw, sinks)
    input_tokens, output_tokens = _agree(sinks)
    assert input_tokens == 1234, sinks
    assert 1 <= output_tokens < 40, sinks  # what was streamed (the final count never came)


@pytest.mark.parametrize("ingress", ["openai", "anthropic"])
def test_a_client_that_leaves_before_the_first_text_is_counted_by_the_input_the_start_reported(
        fake_upstream_server, fake_upstream, tmp_path, ingress: str) -> None:
    """Anthropic has counted (and bills) the input once message_start is out; a client that gives up
    before the first text (a long prefill, an SDK timeout) is not served for free."""
    cfg = base_config(fake_upstream_server.url, tmp_path, limits={"usage_flush_seconds": 0.1})
    fake_upstream.always("anthropic.messages", Reply(stream=PIECES, usage=Usage(input_tokens=1234, output_tokens=40),
                                                     stall_after_chunks=0, stall_max=8.0))
    body = {**BODY, "model": "claude-sonnet-4-6"}
    route = "/v1/chat/completions" if ingress == "openai" else "/v1/messages"
    with Gateway(cfg, tmp_path) as gw:
        key = gw.create_key(name="impatient")
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{gw.url}{route}", json=body, timeout=1.0,
                       headers={"authorization": f"Bearer {key}", "x-api-key": key})
        sinks = _live(gw, key, "claude-sonnet-4-6", "anthropic")  # the attempt in flight names its provider
    sinks = _written(gw, sinks)
    assert _agree(sinks)[0] == 1234 and sinks["report"][2] > 0, sinks
    (record,) = [r for r in _records(gw) if r["ingress"] != "admin"]
    assert record["status"] == 499 and record["client_disconnected"], record
