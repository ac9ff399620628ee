"""Budgets hold against what the provider may generate: the reserved output is the output allowed."""

from __future__ import annotations

import anthropic
import openai
import pytest

from tests.fakes.reply import Reply, Usage
from tests.gateway import Gateway, base_config

MSG = [{"role": "user", "content": "hi"}]


@pytest.fixture
def budget_gw(fake_upstream_server, tmp_path):
    cfg = base_config(fake_upstream_server.url, tmp_path, limits={"default_max_output_tokens": 50})
    cfg["models"].append({"name": "budget-gpt", "targets": [{"provider": "openai", "model": "gpt-budget"}]})
    cfg["models"].append({"name": "budget-claude", "targets": [{"provider": "anthropic", "model": "claude-budget"}]})
    # 1 output token costs $0.01: the default reservation (50 tokens) is $0.50 of a $1.00 budget
    cfg["pricing"]["gpt-budget"] = {"input_per_mtok": 0, "output_per_mtok": 10000}
    cfg["pricing"]["claude-budget"] = {"input_per_mtok": 0, "output_per_mtok": 10000}
    with Gateway(cfg, tmp_path) as gw:
        yield gw


@pytest.mark.parametrize(("model", "route", "field"), [("budget-gpt", "openai.chat", "max_completion_tokens"),
                                                       ("budget-claude", "anthropic.messages", "max_tokens")])
def test_a_request_without_max_tokens_is_capped_at_what_its_budget_reserved(
        budget_gw: Gateway, fake_upstream, model: str, route: str, field: str) -> None:
    fake_upstream.always(route, Reply(text="ok", usage=Usage(input_tokens=1, output_tokens=50)))
    key = budget_gw.create_key(name="budgeted", budget_usd=1.0, budget_period="day")
    client = openai.OpenAI(base_url=f"{budget_gw.url}/v1", api_key=key, max_retries=0)
    client.chat.completions.create(model=model, messages=MSG)
    # Uncapped, the provider could generate up to the model's own maximum (OpenAI) or the
    # adapter's 4096 (Anthropic) while only 50 tokens were reserved: a $1 budget spent 10x over.
    assert fake_upstream.last(route).json[field] == 50


def test_a_client_max_tokens_is_kept_and_keys_without_budget_are_not_capped(budget_gw: Gateway,
                                                                            fake_upstream) -> None:
    fake_upstream.always("openai.chat", Reply(text="ok", usage=Usage(input_tokens=1, output_tokens=5)))
    budgeted = budget_gw.create_key(name="budgeted", budget_usd=1.0, budget_period="day")
    free = budget_gw.create_key(name="free")
    openai.OpenAI(base_url=f"{budget_gw.url}/v1", api_key=budgeted, max_retries=0).chat.completions.create(
        model="budget-gpt", messages=MSG, max_tokens=20)
    assert fake_upstream.last("openai.chat").json["max_completion_tokens"] == 20
    openai.OpenAI(base_url=f"{budget_gw.url}/v1", api_key=free, max_retries=0).chat.completions.create(
        model="budget-gpt", messages=MSG)
    assert "max_completion_tokens" not in fake_upstream.last("openai.chat").json


def test_anthropic_ingress_keeps_its_max_tokens(budget_gw: Gateway, fake_upstream) -> None:
    fake_upstream.always("anthropic.messages", Reply(text="ok", usage=Usage(input_tokens=1, output_tokens=5)))
    key = budget_gw.create_key(name="budgeted", budget_usd=1.0, budget_period="day")
    client = anthropic.Anthropic(base_url=budget_gw.url, api_key=key, max_retries=0)
    client.messages.create(model="budget-claude", max_tokens=30, messages=MSG)  # type: ignore[arg-type]
    assert fake_upstream.last("anthropic.messages").json["max_tokens"] == 30


def test_a_densely_tokenized_prompt_cannot_overspend_its_budget(fake_upstream_server, fake_upstream, tmp_path) -> None:
    """The input side of the reservation is one token per byte: a prompt the provider bills at that rate
    (hex, digits, base64, some scripts) settles within what it reserved. At bytes / 4 it reserved $0.14 of the
    $0.40 it cost, so a third request was admitted at $0.80 spent and the key spent $1.20 of its $1.00."""
    cfg = base_config(fake_upstream_server.url, tmp_path)
    cfg["models"].append({"name": "dense-gpt", "targets": [{"provider": "openai", "model": "gpt-dense"}]})
    cfg["pricing"]["gpt-dense"] = {"input_per_mtok": 10000, "output_per_mtok": 0}  # 1 input token: $0.01
    prompt = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b"  # 40 bytes, billed as 40 tokens ($0.40)
    fake_upstream.always("openai.chat", Reply(text="ok", usage=Usage(input_tokens=40, output_tokens=1)))
    with Gateway(cfg, tmp_path) as gw:
        key = gw.create_key(name="dense", budget_usd=1.0, budget_period="day")
        client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key=key, max_retries=0)
        client.chat.completions.create(model="dense-gpt", messages=[{"role": "user", "content": prompt}], max_tokens=1)
        with pytest.raises(openai.RateLimitError) as e:  # $0.40 spent + up to $0.64 (40 bytes + framing) > $1.00
            client.chat.completions.create(model="dense-gpt", messages=[{"role": "user", "content": prompt}],
                                           max_tokens=1)
        body = e.value.body
        assert isinstance(body, dict) and body.get("code") == "budget_exceeded", body
        assert "spent $0.400000" in body["message"] and "may cost up to $0.640000" in body["message"], body
        assert len(fake_upstream.requests_for("openai.chat")) == 1
