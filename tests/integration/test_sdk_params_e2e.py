"""Parameters today's official SDKs send (openai 3.57, anthropic 2.14) are served end to end: each
reaches the upstream in its wire form, structured outputs cross formats both ways, a secret or an
e-mail inside a cache key, a safety identifier or a schema is blocked or redacted (never reaching
the upstream), and a bad value is a 400 naming the field."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import openai
import pydantic
import pytest

from tests.fakes.reply import Reply

AWS = "AKIAZ7QHW3XK5MNBV2QD"
EMAIL = "jane.roe@example.org"
CACHE: dict[str, Any] = {"prompt_cache_key": "tenant-42:support-v3", "safety_identifier": "6f1c0a9e2b",
                         "prompt_cache_retention": "24h", "prompt_cache_options": {"mode": "explicit", "ttl": "30m"}}
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
          "additionalProperties": False}
HI = [{"role": "user", "content": "hi"}]


class Weather(pydantic.BaseModel):
    city: str
    celsius: int


@pytest.fixture(scope="module")
def key(gateway):
    return gateway.create_key(name="sdk-params")


@pytest.fixture
def oa(gateway, key):
    with openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=key, max_retries=0) as client:
        yield client


@pytest.fixture
def an(gateway, key):
    with anthropic.Anthropic(base_url=gateway.url, api_key=key, max_retries=0) as client:
        yield client


# ---- OpenAI ingress: prompt caching and safety identifier ----------------------------------------

@pytest.mark.parametrize("model", ["gpt-4o-mini", "llama3.2"])
def test_cache_and_safety_parameters_reach_openai_format_upstreams(oa, fake_upstream, model):
    r = oa.chat.completions.create(model=model, messages=HI, **CACHE)
    assert r.choices[0].message.content == "echo: hi"
    sent = fake_upstream.last("openai.chat").json
    assert {k: sent[k] for k in CACHE} == CACHE


@pytest.mark.parametrize("stream", [False, True], ids=["non-stream", "stream"])
def test_anthropic_upstream_gets_safety_identifier_as_user_id_and_no_cache_parameters(oa, fake_upstream, stream):
    kw: dict[str, Any] = dict(model="claude-sonnet-4-6", messages=HI, user="legacy-user", **CACHE)
    if stream:
        text = "".join(c.choices[0].delta.content or "" for c in oa.chat.completions.create(stream=True, **kw)
                       if c.choices)
    else:
        text = oa.chat.completions.create(**kw).choices[0].message.content
    assert text == "echo: hi"
    sent = fake_upstream.last("anthropic.messages").json
    assert sent["metadata"] == {"user_id": "6f1c0a9e2b"}
    assert not set(CACHE) & set(sent)


@pytest.mark.parametrize("model,route", [("gpt-4o-mini", "openai.chat"), ("claude-sonnet-4-6", "anthropic.messages")])
def test_an_email_in_cache_key_or_safety_identifier_is_redacted_before_the_upstream(oa, fake_upstream, model, route):
    oa.chat.completions.create(model=model, messages=HI, prompt_cache_key=f"k:{EMAIL}", safety_identifier=EMAIL)
    raw = fake_upstream.last(route).body.decode()
    assert EMAIL not in raw
    sent = fake_upstream.last(route).json
    if route == "openai.chat":
        assert (sent["prompt_cache_key"], sent["safety_identifier"]) == ("k:[EMAIL_1]", "[EMAIL_1]")
    else:
        assert sent["metadata"] == {"user_id": "[EMAIL_1]"}


@pytest.mark.parametrize("field", ["prompt_cache_key", "safety_identifier"])
def test_a_secret_in_cache_key_or_safety_identifier_is_blocked(oa, fake_upstream, field):
    with pytest.raises(openai.BadRequestError) as e:
        oa.chat.completions.create(model="gpt-4o-mini", messages=HI, **{field: AWS})
    assert e.value.body["code"] == "policy_violation" and AWS not in json.dumps(e.value.body)
    assert fake_upstream.requests == []


@pytest.mark.parametrize(("kw", "param"), [
    ({"prompt_cache_key": "k" * 65}, "prompt_cache_key"),
    ({"safety_identifier": ""}, "safety_identifier"),
    ({"prompt_cache_retention": "forever"}, "prompt_cache_retention"),
    ({"prompt_cache_options": {"mode": "always"}}, "prompt_cache_options.mode"),
    ({"prompt_cache_options": {"ttl": "30m", "scope": "org"}}, "prompt_cache_options.scope"),
    ({"moderation": {"model": "omni-moderation-latest"}}, "moderation"),
])
def test_bad_values_are_an_openai_400_naming_the_field(oa, fake_upstream, kw, param):
    with pytest.raises(openai.BadRequestError) as e:
        oa.chat.completions.create(model="gpt-4o-mini", messages=HI, **kw)
    assert e.value.param == param and param in e.value.message
    assert fake_upstream.requests == []


# ---- structured outputs across formats -----------------------------------------------------------

@pytest.mark.parametrize("stream", [False, True], ids=["non-stream", "stream"])
def test_openai_json_schema_reaches_claude_as_output_config_format(oa, fake_upstream, stream):
    fake_upstream.script("anthropic.messages", Reply(text='{"city": "Paris", "celsius": 21}'))
    if stream:
        with oa.chat.completions.stream(model="claude-sonnet-4-6", messages=HI, response_format=Weather) as s:
            parsed = s.get_final_completion().choices[0].message.parsed
    else:
        parsed = oa.chat.completions.parse(model="claude-sonnet-4-6", messages=HI,
                                           response_format=Weather).choices[0].message.parsed
    assert parsed == Weather(city="Paris", celsius=21)
    sent = fake_upstream.last("anthropic.messages").json
    fmt = sent["output_config"]["format"]
    assert fmt["type"] == "json_schema" and set(fmt) == {"type", "schema"}
    assert fmt["schema"]["properties"].keys() == {"city", "celsius"}
    assert "response_format" not in sent


def test_json_object_to_claude_is_refused_naming_the_field(oa, fake_upstream):
    with pytest.raises(openai.BadRequestError) as e:
        oa.chat.completions.create(model="claude-sonnet-4-6", messages=HI, response_format={"type": "json_object"})
    assert e.value.param == "response_format.type" and "json_schema" in e.value.message
    assert fake_upstream.requests == []


@pytest.mark.parametrize("model", ["gpt-4o-mini", "llama3.2"])
def test_anthropic_output_config_reaches_openai_format_upstreams_as_response_format(an, fake_upstream, model):
    fake_upstream.script("openai.chat", Reply(text='{"city": "Paris"}'))
    m = an.messages.create(model=model, max_tokens=64, messages=HI, service_tier="auto", speed="fast",
                           inference_geo="us", cache_control={"type": "ephemeral"},
                           output_config={"format": {"type": "json_schema", "schema": SCHEMA}, "effort": "high"})
    assert m.content[0].text == '{"city": "Paris"}'
    sent = fake_upstream.last("openai.chat").json
    assert sent["response_format"] == {"type": "json_schema", "json_schema": {
        "name": "structured_output", "schema": SCHEMA, "strict": True}}
    assert sent["reasoning_effort"] == "high"
    assert not {"output_config", "service_tier", "speed", "inference_geo", "cache_control"} & set(sent)


@pytest.mark.parametrize("stream", [False, True], ids=["non-stream", "stream"])
def test_anthropic_options_reach_an_anthropic_upstream_as_sent(an, fake_upstream, stream):
    options: dict[str, Any] = {
        "output_config": {"format": {"type": "json_schema", "schema": SCHEMA}, "effort": "max"},
        "service_tier": "standard_only", "speed": "fast", "inference_geo": "us",
        "cache_control": {"type": "ephemeral", "ttl": "1h"}}
    fake_upstream.script("anthropic.messages", Reply(text='{"city": "Paris"}'))
    if stream:
        with an.messages.stream(model="claude-sonnet-4-6", max_tokens=64, messages=HI, **options) as s:
            text = "".join(s.text_stream)
    else:
        text = an.messages.create(model="claude-sonnet-4-6", max_tokens=64, messages=HI, **options).content[0].text
    assert text == '{"city": "Paris"}'
    sent = fake_upstream.last("anthropic.messages").json
    assert {k: sent[k] for k in options} == options


@pytest.mark.parametrize("model,route", [("claude-sonnet-4-6", "anthropic.messages"), ("gpt-4o-mini", "openai.chat")])
def test_an_email_in_an_output_schema_is_redacted_before_the_upstream(an, fake_upstream, model, route):
    schema = {"type": "object", "properties": {EMAIL: {"type": "string", "description": f"mail {EMAIL}"}}}
    an.messages.create(model=model, max_tokens=64, messages=HI,
                       output_config={"format": {"type": "json_schema", "schema": schema}})
    raw = fake_upstream.last(route).body.decode()
    assert EMAIL not in raw and "[EMAIL_1]" in raw


def test_a_secret_in_an_output_schema_is_blocked(an, fake_upstream):
    with pytest.raises(anthropic.BadRequestError) as e:
        an.messages.create(model="claude-sonnet-4-6", max_tokens=64, messages=HI, output_config={"format": {
            "type": "json_schema", "schema": {"type": "object", "properties": {"k": {"enum": [AWS]}}}}})
    assert "policy" in str(e.value) and AWS not in json.dumps(e.value.body)
    assert fake_upstream.requests == []


# ---- Anthropic ingress: validation --------------------------------------------------------------

FOUR = [{"type": "text", "text": f"part {i}", "cache_control": {"type": "ephemeral"}} for i in range(4)]


@pytest.mark.parametrize(("kw", "param"), [
    ({"service_tier": "priority"}, "service_tier"),
    ({"speed": "turbo"}, "speed"),
    ({"inference_geo": "Mars Base"}, "inference_geo"),
    ({"output_config": {"effort": "extreme"}}, "output_config.effort"),
    ({"output_config": {"format": {"type": "json_object"}}}, "output_config.format.type"),
    ({"cache_control": {"type": "ephemeral", "ttl": "24h"}}, "cache_control.ttl"),
    ({"cache_control": {"type": "ephemeral"}, "messages": [{"role": "user", "content": FOUR}]}, "cache_control"),
    ({"container": "container_011CZ"}, "container"),
    ({"extra_body": {"mcp_servers": [{"type": "url", "url": "https://mcp.example.com", "name": "x"}]}}, "mcp_servers"),
])
def test_bad_values_are_an_anthropic_400_naming_the_field(an, fake_upstream, kw, param):
    kw = {"messages": HI, **kw}
    with pytest.raises(anthropic.BadRequestError) as e:
        an.messages.create(model="claude-sonnet-4-6", max_tokens=64, **kw)
    assert e.value.status_code == 400 and e.value.body["error"]["type"] == "invalid_request_error"
    assert e.value.body["error"]["message"].startswith(f"{param}:")
    assert fake_upstream.requests == []
