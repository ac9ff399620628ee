"""Anthropic prompt caching end to end through the official SDK: the upstream receives the client's
cache_control markers at the same positions, cache usage comes back to the client, and the cost
stage prices cache reads and writes at their own (cheaper / dearer) rates."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import anthropic
import pytest

from tests.fakes.reply import Reply, Usage
from tests.fakes.upstream import FakeUpstream
from tests.gateway import Gateway, base_config

MODEL = "claude-cache"  # alias → anthropic target UPSTREAM_MODEL, priced below
UPSTREAM_MODEL = "claude-cache-test"
# USD per million tokens = micro-USD per token / 1: input 1000 µ$, cache read 100 µ$, write 1250 µ$.
PRICE = {"input_per_mtok": 1000, "output_per_mtok": 2000, "cached_input_per_mtok": 100,
         "cache_write_per_mtok": 1250}
EPHEMERAL = {"type": "ephemeral"}
HOUR = {"type": "ephemeral", "ttl": "1h"}
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}}

SYSTEM = [{"type": "text", "text": "You are terse."},
          {"type": "text", "text": "A long, stable policy document.", "cache_control": HOUR}]
TOOLS = [{"name": "get_weather", "description": "Weather for a city", "input_schema": SCHEMA,
          "cache_control": HOUR}]
MESSAGES = [
    {"role": "user", "content": [{"type": "text", "text": "A big reference document.", "cache_control": EPHEMERAL},
                                 {"type": "text", "text": "Weather in Paris?"}]},
    {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_01", "name": "get_weather",
                                       "input": {"city": "Paris"}}]},
    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01", "content": "sunny",
                                  "cache_control": EPHEMERAL}]},
]


@pytest.fixture(scope="module")
def gateway(fake_upstream_server: FakeUpstream, module_tmp: Path) -> Iterator[Gateway]:
    cfg = base_config(fake_upstream_server.url, module_tmp)
    cfg["models"].append({"name": MODEL, "targets": [{"provider": "anthropic", "model": UPSTREAM_MODEL}]})
    cfg["pricing"][UPSTREAM_MODEL] = PRICE
    gw = Gateway(cfg, module_tmp)
    gw.start()
    yield gw
    gw.stop()


def _client(gateway: Gateway) -> tuple[anthropic.Anthropic, str]:
    key = gateway.create_key(name="cache-tests")
    return anthropic.Anthropic(base_url=gateway.url, api_key=key, max_retries=0), key


def _cost_micros(gateway: Gateway, key: str) -> int:
    deadline = time.monotonic() + 10
    while True:
        status, body = gateway.admin("GET", f"/admin/usage?key={key.split('_')[1]}")
        assert status == 200, body
        if body["total"]["requests"] >= 1 or time.monotonic() > deadline:
            return int(body["total"]["cost_micros"])
        time.sleep(0.2)


@pytest.mark.parametrize("stream", [False, True], ids=["non-stream", "stream"])
def test_cache_control_reaches_the_upstream_and_cache_usage_is_priced(gateway, fake_upstream, stream):
    fake_upstream.script("anthropic.messages", Reply(
        text="sunny, 21C", usage=Usage(input_tokens=10, output_tokens=5, cached_tokens=1000,
                                       cache_creation_tokens=200)))
    an, key = _client(gateway)
    kw = dict(model=MODEL, max_tokens=64, system=SYSTEM, tools=TOOLS, messages=MESSAGES)
    if stream:
        with an.messages.stream(**kw) as s:
            m = s.get_final_message()
    else:
        m = an.messages.create(**kw)
    an.close()

    sent = fake_upstream.last("anthropic.messages").json
    assert sent["model"] == UPSTREAM_MODEL
    assert sent["system"] == SYSTEM
    assert sent["tools"] == TOOLS
    assert sent["messages"][0]["content"][0]["cache_control"] == EPHEMERAL
    assert "cache_control" not in sent["messages"][0]["content"][1]
    assert "cache_control" not in sent["messages"][1]["content"][0]
    assert sent["messages"][2]["content"][0]["cache_control"] == EPHEMERAL
    assert sent["messages"] == MESSAGES

    assert m.content[0].text == "sunny, 21C"
    assert (m.usage.input_tokens, m.usage.output_tokens) == (10, 5)
    assert m.usage.cache_read_input_tokens == 1000
    assert m.usage.cache_creation_input_tokens == 200

    # 10 uncached x 1000 + 1000 read x 100 + 200 written x 1250 + 5 out x 2000 micro-USD
    cost = _cost_micros(gateway, key)
    assert cost == 10 * 1000 + 1000 * 100 + 200 * 1250 + 5 * 2000
    assert cost < 1210 * 1000  # the same input uncached would cost more than three times as much


def test_invalid_cache_control_is_an_anthropic_400_naming_the_field(gateway, fake_upstream):
    an, _ = _client(gateway)
    before = len(fake_upstream.requests_for("anthropic.messages"))
    with pytest.raises(anthropic.BadRequestError) as e:
        an.messages.create(model=MODEL, max_tokens=16, messages=[{"role": "user", "content": [
            {"type": "text", "text": "hi", "cache_control": {"type": "ephemeral", "ttl": "24h"}}]}])
    an.close()
    assert e.value.status_code == 400
    assert "messages[0].content[0].cache_control.ttl" in str(e.value)
    assert len(fake_upstream.requests_for("anthropic.messages")) == before


def test_cache_control_is_dropped_for_an_openai_upstream(gateway, fake_upstream):
    an, _ = _client(gateway)
    m = an.messages.create(model="gpt-4o-mini", max_tokens=16, system=SYSTEM, messages=[
        {"role": "user", "content": [{"type": "text", "text": "hello world", "cache_control": EPHEMERAL}]}])
    an.close()
    assert m.content[0].text
    raw = fake_upstream.last("openai.chat").body
    assert b"cache_control" not in raw and b"A long, stable policy document." in raw
