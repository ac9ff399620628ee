"""Benign application traffic through the default policy and the official SDKs: served, and the upstream
receives what the developer sent (schema property names, stop sequences, image URLs, pasted code)."""

from __future__ import annotations

import anthropic
import openai
import pytest

from tests.gateway import Gateway

AGENT_SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}, "system_prompt": {"type": "string"}},
                "required": ["name", "system_prompt"]}
CODE = ("def split(xs):\n    return xs[::2], xs[1::2]\n\n\ndef login(url):\n"
        "    username, password = get_auth_from_url(url)\n    return username, password\n")


@pytest.fixture(scope="module")
def key(gateway: Gateway) -> str:
    return gateway.create_key(name="legit")


@pytest.fixture
def oc(gateway: Gateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=key, max_retries=0)


@pytest.fixture
def ac(gateway: Gateway, key: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway.url, api_key=key, max_retries=0)


@pytest.mark.parametrize("stream", [False, True])
def test_an_agent_builder_tool_with_a_system_prompt_property_is_served(oc, fake_upstream, stream) -> None:
    tools = [{"type": "function", "function": {"name": "create_agent", "parameters": AGENT_SCHEMA}}]
    r = oc.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Make an agent"}],
                                   tools=tools, stop=["\nSystem:", "\nUser:"], stream=stream)
    if stream:
        list(r)
    sent = fake_upstream.last("openai.chat").json
    assert sent["tools"][0]["function"]["parameters"] == AGENT_SCHEMA
    assert sent["stop"] == ["\nSystem:", "\nUser:"]


def test_anthropic_tool_with_a_system_prompt_property_is_served(ac, fake_upstream) -> None:
    ac.messages.create(model="claude-sonnet-4-6", max_tokens=64, messages=[{"role": "user", "content": "hi"}],
                       tools=[{"name": "create_agent", "input_schema": AGENT_SCHEMA}], metadata={"user_id": "user_123"})
    assert fake_upstream.last("anthropic.messages").json["tools"][0]["input_schema"] == AGENT_SCHEMA


def test_pasted_code_is_served_unchanged(oc, fake_upstream) -> None:
    text = f"Review this:\n\n```python\n{CODE}```"
    oc.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": text}])
    assert fake_upstream.last("openai.chat").json["messages"][0]["content"] == text


def test_an_image_url_on_an_ip_host_reaches_the_provider_as_a_url(oc, ac, fake_upstream) -> None:
    url = "http://203.0.113.7/camera/snapshot.jpg"
    oc.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": [
        {"type": "text", "text": "What is in this image?"}, {"type": "image_url", "image_url": {"url": url}}]}])
    assert fake_upstream.last("openai.chat").json["messages"][0]["content"][1]["image_url"]["url"] == url
    ac.messages.create(model="claude-sonnet-4-6", max_tokens=64, messages=[{"role": "user", "content": [
        {"type": "image", "source": {"type": "url", "url": url}}, {"type": "text", "text": "Describe it."}]}])
    assert fake_upstream.last("anthropic.messages").json["messages"][0]["content"][0]["source"]["url"] == url
