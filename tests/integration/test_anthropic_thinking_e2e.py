"""Anthropic extended thinking end to end through the official SDKs: reasoning blocks reach an Anthropic
client (streamed or not) and go back to the upstream unchanged in a tool-use loop; the output policy
scans reasoning (redacts it and drops the signature, or blocks); OpenAI clients never see it; thinking
tokens are priced as output."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from tests.fakes.reply import Reply
from tests.fakes.upstream import FakeUpstream
from tests.gateway import Gateway, base_config

MODEL = "claude-think"  # alias → anthropic target UPSTREAM_MODEL, priced below
UPSTREAM_MODEL = "claude-think-test"
PRICE = {"input_per_mtok": 1000, "output_per_mtok": 2000}  # micro-USD per token: 1000 in, 2000 out
GH = "ghp_x9wRamaJNcgZ9cqvIqvvfM7UTIfK71X2XKoB"
SIG = "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds+/="
DATA = "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpPkNRj2YfWXGmKDxH4mPnZ5sQ7vB9URj2pLmN3kF7BzPw=="
THOUGHT = "The user asks about Paris. I should call get_weather with city Paris, then answer briefly."
LEAKY = f"The config holds {GH}; I must not repeat it. Answer briefly."
THINKING = {"type": "enabled", "budget_tokens": 1024}
TOOLS = [{"name": "get_weather", "description": "Weather for a city",
          "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]


def message(thought: str, text: str = "Sunny, 21C.", output_tokens: int = 120) -> dict[str, Any]:
    return {"id": "msg_think01", "type": "message", "role": "assistant", "model": UPSTREAM_MODEL,
            "content": [{"type": "thinking", "thinking": thought, "signature": SIG},
                        {"type": "redacted_thinking", "data": DATA},
                        {"type": "text", "text": text}],
            "stop_reason": "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": 10, "output_tokens": output_tokens}}


def _frame(payload: dict[str, Any]) -> bytes:
    return f"event: {payload['type']}\ndata: {json.dumps(payload)}\n\n".encode()


def sse(thought: str, text: str = "Sunny, 21C.", output_tokens: int = 120) -> list[bytes]:
    """The upstream's SSE for `message(...)`: the thought in 12-character thinking deltas."""
    start = {**message(thought, text, output_tokens), "content": [], "stop_reason": None,
             "usage": {"input_tokens": 10, "output_tokens": 1}}
    frames = [_frame({"type": "message_start", "message": start}),
              _frame({"type": "content_block_start", "index": 0,
                      "content_block": {"type": "thinking", "thinking": "", "signature": ""}})]
    frames += [_frame({"type": "content_block_delta", "index": 0,
                       "delta": {"type": "thinking_delta", "thinking": thought[i:i + 12]}})
               for i in range(0, len(thought), 12)]
    frames += [_frame({"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": SIG}}),
               _frame({"type": "content_block_stop", "index": 0}),
               _frame({"type": "content_block_start", "index": 1,
                       "content_block": {"type": "redacted_thinking", "data": DATA}}),
               _frame({"type": "content_block_stop", "index": 1}),
               _frame({"type": "content_block_start", "index": 2, "content_block": {"type": "text", "text": ""}}),
               _frame({"type": "content_block_delta", "index": 2, "delta": {"type": "text_delta", "text": text}}),
               _frame({"type": "content_block_stop", "index": 2}),
               _frame({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                       "usage": {"output_tokens": output_tokens}}),
               _frame({"type": "message_stop"})]
    return frames


def upstream_reply(thought: str, stream: bool, **kw: Any) -> Reply:
    return Reply(raw=sse(thought, **kw)) if stream else Reply(json=message(thought, **kw))


def config(upstream: FakeUpstream, tmp: Path, **sections: Any) -> dict[str, Any]:
    cfg = base_config(upstream.url, tmp, **sections)
    cfg["models"].append({"name": MODEL, "targets": [{"provider": "anthropic", "model": UPSTREAM_MODEL}]})
    cfg["pricing"][UPSTREAM_MODEL] = PRICE
    return cfg


@pytest.fixture(scope="module")
def gateway(fake_upstream_server: FakeUpstream, module_tmp: Path) -> Iterator[Gateway]:
    gw = Gateway(config(fake_upstream_server, module_tmp), module_tmp)  # the default policy: redact on output
    gw.start()
    yield gw
    gw.stop()


def _client(gateway: Gateway) -> tuple[anthropic.Anthropic, str]:
    key = gateway.create_key(name="thinking-tests")
    return anthropic.Anthropic(base_url=gateway.url, api_key=key, max_retries=0), key


def _ask(an: anthropic.Anthropic, stream: bool, **kw: Any) -> tuple[anthropic.types.Message, list[str]]:
    """The final message, and for a stream the types of the content deltas the client saw."""
    args: dict[str, Any] = {"model": MODEL, "max_tokens": 2048, "thinking": THINKING,
                            "messages": [{"role": "user", "content": "Weather in Paris?"}], **kw}
    if not stream:
        return an.messages.create(**args), []
    with an.messages.stream(**args) as s:
        deltas = [e.delta.type for e in s if e.type == "content_block_delta"]
        return s.get_final_message(), deltas


def _cost_micros(gateway: Gateway, key: str) -> int:
    deadline = time.monotonic() + 10
    while True:
        status, body = gateway.admin("GET", f"/admin/usage?key={key.split('_')[1]}")
        assert status == 200, body
        if body["total"]["requests"] >= 1 or time.monotonic() > deadline:
            return int(body["total"]["cost_micros"])
        time.sleep(0.2)


@pytest.mark.parametrize("stream", [False, True], ids=["non-stream", "stream"])
def test_reasoning_reaches_the_client_and_thinking_tokens_are_priced_as_output(gateway, fake_upstream, stream):
    fake_upstream.script("anthropic.messages", upstream_reply(THOUGHT, stream))
    an, key = _client(gateway)
    m, deltas = _ask(an, stream)
    an.close()
    assert fake_upstream.last("anthropic.messages").json["thinking"] == THINKING
    assert [b.type for b in m.content] == ["thinking", "redacted_thinking", "text"]
    assert (m.content[0].thinking, m.content[0].signature) == (THOUGHT, SIG)
    assert m.content[1].data == DATA and m.content[2].text == "Sunny, 21C."
    if stream:
        assert "thinking_delta" in deltas and "signature_delta" in deltas
    assert (m.usage.input_tokens, m.usage.output_tokens) == (10, 120)
    assert _cost_micros(gateway, key) == 10 * 1000 + 120 * 2000


def test_thinking_tool_loop_goes_back_to_the_upstream_unchanged(gateway, fake_upstream):
    fake_upstream.script("anthropic.messages", Reply(json=message("The tool says sunny.")))
    loop = [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": THOUGHT + "\n\t \u00e9\u200b", "signature": SIG},
            {"type": "redacted_thinking", "data": DATA},
            {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01", "content": "sunny"}]},
    ]
    an, _ = _client(gateway)
    m = an.messages.create(model=MODEL, max_tokens=2048, thinking=THINKING, tools=TOOLS, messages=copy.deepcopy(loop))
    an.close()
    assert m.content[0].thinking == "The tool says sunny."
    sent = fake_upstream.last("anthropic.messages").json
    assert sent["messages"] == loop and sent["thinking"] == THINKING


@pytest.mark.parametrize("stream", [False, True], ids=["non-stream", "stream"])
def test_secret_in_reasoning_is_redacted_and_the_block_cannot_come_back(gateway, fake_upstream, stream):
    fake_upstream.script("anthropic.messages", upstream_reply(LEAKY, stream))
    an, _ = _client(gateway)
    m, _ = _ask(an, stream)
    assert GH not in m.model_dump_json()
    assert m.content[0].thinking == LEAKY.replace(GH, "[GITHUB_TOKEN_1]")
    assert m.content[0].signature == ""  # changed text: unsigned
    assert (m.content[1].data, m.content[2].text) == (DATA, "Sunny, 21C.")

    before = len(fake_upstream.requests_for("anthropic.messages"))
    passed = [{"role": "user", "content": "Weather in Paris?"},
              {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in m.content]},
              {"role": "user", "content": "And tomorrow?"}]
    with pytest.raises(anthropic.BadRequestError) as e:
        an.messages.create(model=MODEL, max_tokens=2048, thinking=THINKING, messages=passed)
    an.close()
    assert "messages[1].content[0].signature" in str(e.value)
    assert len(fake_upstream.requests_for("anthropic.messages")) == before


def test_secret_in_reasoning_is_blocked_streamed_or_not(fake_upstream_server, fake_upstream, tmp_path):
    cfg = config(fake_upstream_server, tmp_path, policies={
        "default": {"output": [{"scanner": "secrets", "action": "block"}]}})
    with Gateway(cfg, tmp_path, name="think-block") as gw:
        an = anthropic.Anthropic(base_url=gw.url, api_key=gw.create_key(), max_retries=0)
        fake_upstream.script("anthropic.messages", upstream_reply(LEAKY, False))
        with pytest.raises(anthropic.BadRequestError) as e:
            _ask(an, False)
        assert e.value.body["error"]["type"] == "invalid_request_error" and "policy" in str(e.value).lower()
        assert GH not in str(e.value.body)

        fake_upstream.script("anthropic.messages", upstream_reply(LEAKY, True))
        seen: list[str] = []
        with pytest.raises(anthropic.APIError) as se, an.messages.stream(
                model=MODEL, max_tokens=2048, thinking=THINKING,
                messages=[{"role": "user", "content": "Weather in Paris?"}]) as s:
            for event in s:
                seen.append(event.model_dump_json())
        an.close()
        assert "policy" in str(se.value).lower()
        assert not any("ghp_" in x for x in seen)
        assert not any('"text_delta"' in x or '"signature_delta"' in x for x in seen)


@pytest.mark.parametrize("stream", [False, True], ids=["non-stream", "stream"])
def test_openai_client_never_sees_reasoning(gateway, fake_upstream, stream):
    fake_upstream.script("anthropic.messages", upstream_reply(THOUGHT, stream))
    oa = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=gateway.create_key(name="oa"), max_retries=0)
    kw: dict[str, Any] = {"model": MODEL, "messages": [{"role": "user", "content": "Weather in Paris?"}]}
    if stream:
        chunks = list(oa.chat.completions.create(stream=True, **kw))
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        seen = "".join(c.model_dump_json() for c in chunks)
    else:
        r = oa.chat.completions.create(**kw)
        text, seen = r.choices[0].message.content, r.model_dump_json()
    oa.close()
    assert text == "Sunny, 21C."
    assert "get_weather with city" not in seen and SIG not in seen and DATA not in seen
    assert "thinking" not in fake_upstream.last("anthropic.messages").json  # not requested from an OpenAI ingress
