"""Streams that no output rule reads take the direct path (pipeline/runner.py `DirectStream`,
providers/frames.py): the chat suite (both ingress APIs x both provider kinds, streamed and not,
tool calls) and the reasoning tests run again here against a gateway whose policy is off; and
what only the direct path could get wrong: an unknown upstream event after text has started is
still an error for the client, a stream's usage still reaches the spend records."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx
import openai
import pytest

from tests.fakes.reply import Reply, Usage
from tests.fakes.upstream import FakeUpstream
from tests.gateway import Gateway
from tests.integration.test_anthropic_thinking_e2e import config as thinking_config
from tests.integration.test_anthropic_thinking_e2e import (
    test_openai_client_never_sees_reasoning,  # noqa: F401  (collected again here: policy off)
    test_reasoning_reaches_the_client_and_thinking_tokens_are_priced_as_output,  # noqa: F401
)
from tests.integration.test_chat_e2e import *  # noqa: F403  (every chat test again, on this module's gateway)
from tests.integration.test_chat_e2e import MSG

POLICY_OFF = {"policies": {"default": {}}}


@pytest.fixture(scope="module")
def gateway(fake_upstream_server: FakeUpstream, module_tmp: Path) -> Iterator[Gateway]:
    gw = Gateway(thinking_config(fake_upstream_server, module_tmp, **POLICY_OFF), module_tmp)
    gw.start()
    yield gw
    gw.stop()


def _sse(name: str, data: str) -> bytes:
    return f"event: {name}\ndata: {data}\n\n".encode()


def _anthropic_stream_with(surprise: bytes) -> list[bytes]:
    start = ('{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],'
             '"model":"claude-sonnet-4-6","stop_reason":null,"stop_sequence":null,'
             '"usage":{"input_tokens":3,"output_tokens":1}}}')
    block = '{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}'
    delta = '{{"type":"content_block_delta","index":0,"delta":{{"type":"text_delta","text":"{}"}}}}'
    events = [_sse("message_start", start), _sse("content_block_start", block)]
    events += [_sse("content_block_delta", delta.format(w)) for w in ("one ", "two ", "three ")]
    return [b"".join([*events, surprise, _sse("content_block_delta", delta.format("four"))])]


@pytest.mark.parametrize("surprise", [
    _sse("content_block_surprise", '{"type":"content_block_surprise","index":0}'),  # an unknown event type
    _sse("content_block_delta", '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":1}}'),
    _sse("content_block_delta", '{"type":"content_block_delta","index":3,"delta":{"type":"text_delta","text":"x"}}'),
], ids=["unknown-event", "text-not-a-string", "unknown-block"])
def test_an_event_the_adapter_does_not_know_ends_the_stream_with_an_error(gateway, fake_upstream, surprise):
    fake_upstream.always("anthropic.messages", Reply(raw=_anthropic_stream_with(surprise)))
    key = gateway.create_key(name="direct-unknown")
    an = anthropic.Anthropic(base_url=gateway.url, api_key=key, max_retries=0)
    got = ""
    with pytest.raises((anthropic.APIError, httpx.HTTPError)):
        with an.messages.stream(model="claude-sonnet-4-6", max_tokens=20, messages=MSG) as s:
            for t in s.text_stream:
                got += t
    an.close()
    assert got == "one two three "
    oa = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=key, max_retries=0)
    text = ""
    with pytest.raises(openai.APIError):
        for chunk in oa.chat.completions.create(model="claude-sonnet-4-6", messages=MSG, stream=True):
            text += chunk.choices[0].delta.content or "" if chunk.choices else ""
    oa.close()
    assert text == "one two three "


@pytest.mark.parametrize("model,route", [("gpt-4o-mini", "openai.chat"), ("claude-sonnet-4-6", "anthropic.messages")])
def test_a_streams_usage_reaches_the_spend_records(gateway, fake_upstream, model, route):
    fake_upstream.always(route, Reply(stream=["a", "b", "c"], usage=Usage(1000, 2000)))
    key = gateway.create_key(name=f"direct-usage-{route}")
    oa = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=key, max_retries=0)
    text = "".join(c.choices[0].delta.content or "" for c in oa.chat.completions.create(
        model=model, messages=MSG, stream=True) if c.choices)
    oa.close()
    assert text == "abc"
    status, body = gateway.admin("GET", f"/admin/usage?key={key.split('_')[1]}")
    assert status == 200, body
    assert (body["total"]["input_tokens"], body["total"]["output_tokens"]) == (1000, 2000)
