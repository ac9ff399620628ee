"""Virtual keys end to end: every refusal class, with proof the upstream received nothing."""

from __future__ import annotations

import time

import anthropic
import httpx
import openai
import pytest

from tests.gateway import ADMIN_KEY, PROVIDER_OPENAI_KEY

MSG = [{"role": "user", "content": "hello"}]


def oa(gateway, key):
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=key, max_retries=0)


def test_missing_key_is_401_and_nothing_goes_upstream(gateway, fake_upstream):
    r = httpx.post(f"{gateway.url}/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": MSG})
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "invalid_api_key"
    assert fake_upstream.requests == []


@pytest.mark.parametrize("bad", ["nope", "bst_aaaaaaaaaaaa_" + "x" * 43, ADMIN_KEY, PROVIDER_OPENAI_KEY])
def test_wrong_keys_are_401(gateway, fake_upstream, bad):
    with pytest.raises(openai.AuthenticationError):
        oa(gateway, bad).chat.completions.create(model="gpt-4o-mini", messages=MSG)
    assert fake_upstream.requests == []


def test_revoked_key_is_refused_within_ttl(gateway, fake_upstream):
    key = gateway.create_key(name="soon-revoked")
    client = oa(gateway, key)
    client.chat.completions.create(model="gpt-4o-mini", messages=MSG)
    key_id = key.split("_")[1]
    status, _ = gateway.admin("DELETE", f"/admin/keys/{key_id}")
    assert status in (200, 204)
    fake_upstream.clear()
    deadline = time.monotonic() + 5
    while True:
        try:
            client.chat.completions.create(model="gpt-4o-mini", messages=MSG)
        except openai.AuthenticationError:
            break
        assert time.monotonic() < deadline, "revocation not honoured within 5 s"
        time.sleep(0.2)
        fake_upstream.clear()
    assert fake_upstream.requests == []


def test_expired_key_is_401(gateway, fake_upstream):
    key = gateway.create_key(name="expiring", expires=time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                    time.gmtime(time.time() + 2)))
    time.sleep(2.2)
    with pytest.raises(openai.AuthenticationError) as e:
        oa(gateway, key).chat.completions.create(model="gpt-4o-mini", messages=MSG)
    assert "expired" in str(e.value)
    assert fake_upstream.requests == []


def test_model_not_allowed_is_403(gateway, fake_upstream):
    key = gateway.create_key(name="limited", models=["llama3.2"])
    with pytest.raises(openai.PermissionDeniedError):
        oa(gateway, key).chat.completions.create(model="gpt-4o-mini", messages=MSG)
    assert fake_upstream.requests == []
    models = [m.id for m in oa(gateway, key).models.list()]
    assert models == ["llama3.2"]


def test_unknown_model_is_404(gateway, fake_upstream):
    key = gateway.create_key()
    with pytest.raises(openai.NotFoundError):
        oa(gateway, key).chat.completions.create(model="gpt-99", messages=MSG)
    assert fake_upstream.requests == []


def test_anthropic_sdk_key_via_x_api_key(gateway, fake_upstream):
    key = gateway.create_key()
    c = anthropic.Anthropic(base_url=gateway.url, api_key=key, max_retries=0)
    msg = c.messages.create(model="claude-sonnet-4-6", max_tokens=50, messages=MSG)
    assert msg.content[0].text == "echo: hello"
    sent = fake_upstream.last("anthropic.messages")
    assert key not in str(sent.headers)
    assert sent.headers["x-api-key"].startswith("sk-ant-")
    with pytest.raises(anthropic.AuthenticationError):
        anthropic.Anthropic(base_url=gateway.url, api_key="bad", max_retries=0).messages.create(
            model="claude-sonnet-4-6", max_tokens=5, messages=MSG)


def test_only_health_routes_answer_without_a_key(gateway):
    assert httpx.get(f"{gateway.url}/healthz").status_code == 200
    assert httpx.get(f"{gateway.url}/readyz").status_code == 200
    for method, path in [("GET", "/v1/models"), ("GET", "/nothing/here"), ("POST", "/v1/embeddings"),
                         ("GET", "/admin/keys"), ("GET", "/metrics"), ("GET", "/openapi.json"),
                         ("GET", "/v1/chat/completions")]:
        r = httpx.request(method, f"{gateway.url}{path}")
        assert r.status_code in (401, 403), (method, path, r.status_code)


def test_a_probe_may_use_head_on_the_health_routes(gateway):
    for path in ("/healthz", "/readyz"):
        got, head = httpx.get(f"{gateway.url}{path}"), httpx.head(f"{gateway.url}{path}")
        assert head.status_code == 200 and head.content == b""
        assert head.headers["content-type"] == got.headers["content-type"]
        assert head.headers["content-length"] == str(len(got.content))
    for path in ("/v1/models", "/metrics", "/admin/keys"):  # HEAD elsewhere needs what GET needs
        assert httpx.head(f"{gateway.url}{path}").status_code in (401, 403), path


def test_admin_routes_refuse_virtual_keys(gateway):
    key = gateway.create_key()
    r = httpx.get(f"{gateway.url}/admin/keys", headers={"authorization": f"Bearer {key}"})
    assert r.status_code in (401, 403)


def test_admin_list_never_shows_secrets(gateway):
    key = gateway.create_key(name="listed")
    secret = key.split("_", 2)[2]
    status, body = gateway.admin("GET", "/admin/keys")
    assert status == 200
    assert secret not in str(body)
    assert any(k["name"] == "listed" for k in body["data"])
