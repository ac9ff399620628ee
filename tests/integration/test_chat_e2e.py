"""Chat end to end through the official SDKs: both ingress APIs x both provider kinds,
streamed and not, tool calls, embeddings, models."""

from __future__ import annotations

import json

import anthropic
import openai
import pytest

from tests.fakes.reply import Reply, ToolCall, Usage

MSG = [{"role": "user", "content": "hello world"}]
WEATHER_TOOL_OA = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
WEATHER_TOOL_AN = {"name": "get_weather", "description": "Weather for a city",
                   "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}


@pytest.fixture(scope="module")
def key(gateway):
    return gateway.create_key(name="chat-tests")


@pytest.fixture
def oa(gateway, key):
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=key, max_retries=0)


@pytest.fixture
def an(gateway, key):
    return anthropic.Anthropic(base_url=gateway.url, api_key=key, max_retries=0)


# ---- OpenAI ingress -----------------------------------------------------------------------

@pytest.mark.parametrize("model,route", [("gpt-4o-mini", "openai.chat"), ("llama3.2", "openai.chat"),
                                         ("claude-sonnet-4-6", "anthropic.messages")])
def test_openai_ingress_non_stream(oa, fake_upstream, model, route):
    r = oa.chat.completions.create(model=model, messages=[
        {"role": "system", "content": "be brief"}, *MSG], temperature=0.2, max_tokens=50)
    assert r.choices[0].message.content == "echo: hello world"
    assert r.model == model
    assert r.usage.prompt_tokens > 0 and r.usage.completion_tokens > 0
    sent = fake_upstream.last(route)
    if route == "anthropic.messages":
        assert sent.json["system"] in ("be brief", [{"type": "text", "text": "be brief"}])
        assert sent.json["max_tokens"] == 50
    assert "authorization" not in {k for k in sent.headers if route == "anthropic.messages"}


@pytest.mark.parametrize("model", ["gpt-4o-mini", "claude-sonnet-4-6"])
def test_openai_ingress_stream_with_usage(oa, fake_upstream, model):
    stream = oa.chat.completions.create(model=model, messages=MSG, stream=True,
                                        stream_options={"include_usage": True})
    text, usage, finish = "", None, None
    for chunk in stream:
        if chunk.usage:
            usage = chunk.usage
        for c in chunk.choices:
            text += c.delta.content or ""
            finish = c.finish_reason or finish
    assert text == "echo: hello world"
    assert finish == "stop"
    assert usage is not None and usage.completion_tokens > 0


def test_openai_stream_without_include_usage_has_no_usage_chunk(oa, fake_upstream):
    chunks = list(oa.chat.completions.create(model="gpt-4o-mini", messages=MSG, stream=True))
    assert all(c.usage is None for c in chunks)
    # Bastion still asked the upstream for usage (cost accounting needs it)
    assert fake_upstream.last("openai.chat").json["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize("model,route", [("gpt-4o-mini", "openai.chat"), ("claude-sonnet-4-6", "anthropic.messages")])
@pytest.mark.parametrize("stream", [False, True])
def test_openai_ingress_parallel_tool_calls(oa, fake_upstream, model, route, stream):
    fake_upstream.script(route, Reply(tool_calls=[ToolCall("get_weather", '{"city": "Paris"}', id="call_1"),
                                                  ToolCall("get_weather", '{"city": "Oslo"}', id="call_2")],
                                      finish_reason="tool_calls" if route == "openai.chat" else "tool_use"))
    kw = dict(model=model, messages=[{"role": "user", "content": "weather in Paris and Oslo?"}],
              tools=[WEATHER_TOOL_OA])
    if stream:
        calls: dict[int, dict] = {}
        finish = None
        for chunk in oa.chat.completions.create(stream=True, **kw):
            for c in chunk.choices:
                finish = c.finish_reason or finish
                for tc in c.delta.tool_calls or []:
                    d = calls.setdefault(tc.index, {"id": None, "name": None, "args": ""})
                    d["id"] = tc.id or d["id"]
                    if tc.function and tc.function.name:
                        d["name"] = tc.function.name
                    d["args"] += (tc.function.arguments or "") if tc.function else ""
        got = [(d["name"], json.loads(d["args"])) for _, d in sorted(calls.items())]
    else:
        r = oa.chat.completions.create(**kw)
        finish = r.choices[0].finish_reason
        got = [(tc.function.name, json.loads(tc.function.arguments)) for tc in r.choices[0].message.tool_calls]
    assert got == [("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Oslo"})]
    assert finish == "tool_calls"
    sent = fake_upstream.last(route).json
    tools = sent["tools"]
    assert (tools[0].get("name") or tools[0]["function"]["name"]) == "get_weather"


def test_openai_ingress_tool_result_roundtrip_to_anthropic(oa, fake_upstream):
    oa.chat.completions.create(model="claude-sonnet-4-6", tools=[WEATHER_TOOL_OA], messages=[
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_9", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'}}]},
        {"role": "tool", "tool_call_id": "call_9", "content": "sunny, 25C"}])
    msgs = fake_upstream.last("anthropic.messages").json["messages"]
    assert msgs[1]["content"][0] == {"type": "tool_use", "id": "call_9", "name": "get_weather",
                                     "input": {"city": "Rome"}}
    assert msgs[2]["role"] == "user"
    block = msgs[2]["content"][0]
    assert block["type"] == "tool_result" and block["tool_use_id"] == "call_9"


# ---- Anthropic ingress --------------------------------------------------------------------

@pytest.mark.parametrize("model,route", [("claude-sonnet-4-6", "anthropic.messages"), ("gpt-4o-mini", "openai.chat")])
def test_anthropic_ingress_non_stream(an, fake_upstream, model, route):
    m = an.messages.create(model=model, max_tokens=64, system="be brief", messages=MSG)
    assert m.content[0].text == "echo: hello world"
    assert m.stop_reason == "end_turn"
    assert m.usage.output_tokens > 0
    sent = fake_upstream.last(route).json
    if route == "openai.chat":
        assert sent["messages"][0] == {"role": "system", "content": "be brief"}


@pytest.mark.parametrize("model", ["claude-sonnet-4-6", "gpt-4o-mini"])
def test_anthropic_ingress_stream(an, fake_upstream, model):
    with an.messages.stream(model=model, max_tokens=64, messages=MSG) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert text == "echo: hello world"
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens > 0


@pytest.mark.parametrize("model,route", [("claude-sonnet-4-6", "anthropic.messages"), ("gpt-4o-mini", "openai.chat")])
@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_ingress_tool_use(an, fake_upstream, model, route, stream):
    fake_upstream.script(route, Reply(tool_calls=[ToolCall("get_weather", '{"city": "Paris"}', id="toolu_1")],
                                      finish_reason="tool_use" if route == "anthropic.messages" else "tool_calls"))
    kw = dict(model=model, max_tokens=64, tools=[WEATHER_TOOL_AN], messages=[{"role": "user", "content": "w?"}])
    if stream:
        with an.messages.stream(**kw) as s:
            final = s.get_final_message()
    else:
        final = an.messages.create(**kw)
    uses = [b for b in final.content if b.type == "tool_use"]
    assert [(u.name, u.input) for u in uses] == [("get_weather", {"city": "Paris"})]
    assert final.stop_reason == "tool_use"


def test_anthropic_ingress_tool_result_to_openai(an, fake_upstream):
    an.messages.create(model="gpt-4o-mini", max_tokens=64, tools=[WEATHER_TOOL_AN], messages=[
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_7", "name": "get_weather",
                                           "input": {"city": "Rome"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_7", "content": "sunny"}]}])
    msgs = fake_upstream.last("openai.chat").json["messages"]
    assert msgs[1]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert json.loads(msgs[1]["tool_calls"][0]["function"]["arguments"]) == {"city": "Rome"}
    assert msgs[2] == {"role": "tool", "tool_call_id": "toolu_7", "content": "sunny"}


def test_usage_with_cache_tokens_translates(an, fake_upstream):
    fake_upstream.script("openai.chat", Reply(text="ok", usage=Usage(100, 5, cached_tokens=60)))
    m = an.messages.create(model="gpt-4o-mini", max_tokens=10, messages=MSG)
    assert m.usage.cache_read_input_tokens == 60
    assert m.usage.input_tokens == 40


# ---- embeddings and models -----------------------------------------------------------------

def test_embeddings(oa, fake_upstream):
    r = oa.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
    assert len(r.data) == 2 and len(r.data[0].embedding) > 0
    assert fake_upstream.last("openai.embeddings").json["input"] == ["a", "b"]


def test_chat_model_is_not_an_embeddings_model(oa, fake_upstream):
    with pytest.raises(openai.NotFoundError):
        oa.embeddings.create(model="gpt-4o-mini", input="x")
    assert fake_upstream.requests == []


def test_models_lists_configured_aliases(oa):
    ids = {m.id for m in oa.models.list()}
    assert {"gpt-4o-mini", "claude-sonnet-4-6", "llama3.2", "smart", "text-embedding-3-small"} <= ids


def test_models_retrieve_answers_for_a_usable_model_and_404_otherwise(oa):
    m = oa.models.retrieve("gpt-4o-mini")
    assert (m.id, m.object, m.owned_by) == ("gpt-4o-mini", "model", "bastion")
    with pytest.raises(openai.NotFoundError, match="does not exist or you do not have access"):
        oa.models.retrieve("gpt-9-ultra")


@pytest.mark.parametrize(("method", "path", "allow"), [("GET", "/chat/completions", "POST"),
                                                       ("PUT", "/messages", "POST"),
                                                       ("POST", "/models", "GET")])
def test_a_known_path_with_the_wrong_method_is_405_with_allow(oa, method, path, allow):
    import httpx

    r = httpx.request(method, f"{str(oa.base_url).rstrip('/')}{path}", headers={"authorization": f"Bearer {oa.api_key}"})
    assert r.status_code == 405 and r.headers["allow"] == allow
    assert f"method {method} not allowed" in r.json()["error"]["message"]  # in the ingress API's envelope
