"""Upstream faults leave the right audit and cost records: attempts, status, no charge for failures."""

from __future__ import annotations

import time

import httpx
import openai
import pytest

from tests.fakes.reply import Reply, Usage
from tests.gateway import Gateway, base_config
from tests.integration.test_audit_e2e import export

MSG = [{"role": "user", "content": "hi"}]


def _records(gw: Gateway, n: int) -> list[dict]:
    deadline = time.monotonic() + 10
    while True:
        recs = [r for r in export(gw) if r.get("operation") == "chat"]
        if len(recs) >= n or time.monotonic() > deadline:
            return sorted(recs, key=lambda r: r["seq"])
        time.sleep(0.3)


def test_fault_outcomes_are_recorded(fake_upstream_server, fake_upstream, tmp_path):
    cfg = base_config(fake_upstream_server.url, tmp_path)
    cfg["providers"]["openai"]["timeouts"] = {"connect": 1, "first_byte": 1, "idle": 0.5, "total": 3}
    with Gateway(cfg, tmp_path, name="faults") as gw:
        key = gw.create_key(name="faults", budget_usd=10.0, budget_period="day")
        c = openai.OpenAI(base_url=f"{gw.url}/v1", api_key=key, max_retries=0, timeout=20)
        # 1. every try fails with 500: two attempts recorded, 502 to the client, nothing charged
        fake_upstream.always("openai.chat", Reply.error(500, "boom"))
        with pytest.raises(openai.InternalServerError):
            c.chat.completions.create(model="gpt-4o-mini", messages=MSG)
        # 2. fallback: anthropic target overloaded, openai target answers
        fake_upstream.always("openai.chat", Reply(text="ok", usage=Usage(1000, 100)))
        fake_upstream.always("anthropic.messages", Reply.error(529, "overloaded"))
        c.chat.completions.create(model="smart", messages=MSG)
        # 3. a stream the client cuts halfway is charged for what was streamed
        fake_upstream.always("openai.chat", Reply(stream=[f"word{i} " for i in range(400)], delay_between_chunks=0.01))
        with httpx.stream("POST", f"{gw.url}/v1/chat/completions", headers={"authorization": f"Bearer {key}"},
                          json={"model": "gpt-4o-mini", "messages": MSG, "stream": True}, timeout=10) as r:
            it = r.iter_bytes()
            for _ in range(5):
                next(it)
        fake_upstream_server.wait_for_disconnects(1, timeout=5)
        recs = _records(gw, 3)
    failed, fell_back, cut = recs[:3]
    assert failed["status"] == 502
    assert [a["outcome"] for a in failed["attempts"]] and len(failed["attempts"]) == 2
    assert failed["cost_micros"] == 0
    assert fell_back["status"] == 200
    assert [a["provider"] for a in fell_back["attempts"]][-1] == "openai"
    assert fell_back["attempts"][0]["provider"] == "anthropic"
    assert fell_back["cost_micros"] > 0
    assert cut["client_disconnected"] is True
    assert cut["stream"] is True
    assert cut["cost_micros"] > 0  # what was streamed is charged
