"""Error classes end to end: bad input, upstream failures, retries, fallback, timeouts, and
client disconnects — each seen through the official SDKs."""

from __future__ import annotations

import json
import socket
import time

import anthropic
import httpx
import openai
import pytest

from tests.fakes.reply import Reply
from tests.gateway import PROVIDER_ANTHROPIC_KEY, PROVIDER_OPENAI_KEY

MSG = [{"role": "user", "content": "hello world"}]


@pytest.fixture(scope="module")
def key(gateway):
    return gateway.create_key(name="error-tests")


@pytest.fixture
def oa(gateway, key):
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=key, max_retries=0, timeout=20)


@pytest.fixture
def an(gateway, key):
    return anthropic.Anthropic(base_url=gateway.url, api_key=key, max_retries=0, timeout=20)


def post(gateway, key, path, body, **kw):
    return httpx.post(f"{gateway.url}{path}", headers={"authorization": f"Bearer {key}"}, timeout=20,
                      content=body if isinstance(body, bytes) else json.dumps(body), **kw)


# ---- bad input -----------------------------------------------------------------------------

@pytest.mark.parametrize("body,field", [
    ({"model": "gpt-4o-mini"}, "messages"),
    ({"model": "gpt-4o-mini", "messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role"),
    ({"model": "gpt-4o-mini", "messages": MSG, "temperature": "hot"}, "temperature"),
    ({"model": "gpt-4o-mini", "messages": MSG, "surprise": 1}, "surprise"),
])
def test_invalid_openai_body_names_the_field(gateway, key, fake_upstream, body, field):
    r = post(gateway, key, "/v1/chat/completions", body)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["param"] == field or field in err["message"], err
    assert fake_upstream.requests == []


@pytest.mark.parametrize("raw", [b"", b"{not json", b"[1,2]", b'{"model": "x", "messages": "\xff\xfe"}'])
def test_malformed_json_is_400(gateway, key, raw):
    r = post(gateway, key, "/v1/chat/completions", raw)
    assert r.status_code == 400
    assert "error" in r.json()


def test_invalid_anthropic_body_is_400_in_anthropic_envelope(an, fake_upstream):
    with pytest.raises(anthropic.BadRequestError) as e:
        an.messages.create(model="claude-sonnet-4-6", max_tokens=0, messages=MSG)
    assert e.value.body["type"] == "error"
    assert fake_upstream.requests == []


def test_body_too_large_is_413(gateway, key, fake_upstream):
    big = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x" * (11 * 1024 * 1024)}]}
    r = post(gateway, key, "/v1/chat/completions", big)
    assert r.status_code == 413
    assert fake_upstream.requests == []


# ---- upstream failures ---------------------------------------------------------------------

@pytest.mark.parametrize("status,exc", [
    (500, openai.InternalServerError), (502, openai.InternalServerError),
    (503, openai.InternalServerError), (400, openai.BadRequestError), (429, openai.RateLimitError),
    (401, openai.InternalServerError)])
def test_upstream_status_maps_to_sdk_error(oa, fake_upstream, status, exc):
    fake_upstream.always("openai.chat", Reply.error(status, "boom " + PROVIDER_OPENAI_KEY))
    with pytest.raises(exc) as e:
        oa.chat.completions.create(model="gpt-4o-mini", messages=MSG)
    assert PROVIDER_OPENAI_KEY not in str(e.value.body)
    assert PROVIDER_OPENAI_KEY[:20] not in str(e.value.response.text)


def test_retry_then_success(oa, fake_upstream):
    fake_upstream.script("openai.chat", Reply.error(503, "busy"))
    r = oa.chat.completions.create(model="gpt-4o-mini", messages=MSG)
    assert r.choices[0].message.content == "echo: hello world"
    assert len(fake_upstream.requests_for("openai.chat")) == 2


def test_fallback_to_next_target(oa, fake_upstream):
    fake_upstream.always("anthropic.messages", Reply.error(529, "overloaded"))
    r = oa.chat.completions.create(model="smart", messages=MSG)
    assert r.choices[0].message.content == "echo: hello world"
    assert fake_upstream.last("openai.chat").json["model"] == "gpt-4o"


def test_fallback_in_streams_before_first_byte(an, fake_upstream):
    fake_upstream.always("anthropic.messages", Reply.error(500, "down"))
    with an.messages.stream(model="smart", max_tokens=20, messages=MSG) as s:
        assert "".join(s.text_stream) == "echo: hello world"


def test_client_errors_do_not_fall_back(oa, fake_upstream):
    fake_upstream.script("anthropic.messages", Reply.error(400, "bad thing"))
    with pytest.raises(openai.BadRequestError):
        oa.chat.completions.create(model="smart", messages=MSG)
    assert fake_upstream.requests_for("openai.chat") == []


def test_connection_refused_is_503(gateway, tmp_path, key):
    from tests.gateway import Gateway, base_config

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    cfg = base_config(dead, tmp_path)
    with Gateway(cfg, tmp_path, name="dead") as gw:
        k = gw.create_key()
        with pytest.raises(openai.InternalServerError) as e:
            openai.OpenAI(base_url=f"{gw.url}/v1", api_key=k, max_retries=0).chat.completions.create(
                model="gpt-4o-mini", messages=MSG)
        assert e.value.status_code == 503


def test_slow_first_byte_times_out_with_504(gateway, tmp_path):
    from tests.fakes.upstream import FakeUpstream
    from tests.gateway import Gateway, base_config

    with FakeUpstream() as slow:
        cfg = base_config(slow.url, tmp_path)
        cfg["providers"]["openai"]["timeouts"] = {"connect": 1, "first_byte": 0.5, "idle": 0.5, "total": 2}
        cfg["providers"]["openai"]["retry"] = {"attempts": 1}
        slow.always("openai.chat", Reply(text="late", delay_before_headers=3))
        with Gateway(cfg, tmp_path, name="slow") as gw:
            k = gw.create_key()
            t0 = time.monotonic()
            with pytest.raises(openai.APIStatusError) as e:
                openai.OpenAI(base_url=f"{gw.url}/v1", api_key=k, max_retries=0).chat.completions.create(
                    model="gpt-4o-mini", messages=MSG)
            assert e.value.status_code == 504
            assert time.monotonic() - t0 < 2.5


def test_stalled_stream_ends_with_error_event(tmp_path):
    from tests.fakes.upstream import FakeUpstream
    from tests.gateway import Gateway, base_config

    with FakeUpstream() as up:
        cfg = base_config(up.url, tmp_path)
        cfg["providers"]["openai"]["timeouts"] = {"connect": 1, "first_byte": 2, "idle": 0.5, "total": 5}
        up.always("openai.chat", Reply(stream=["a ", "b ", "c"], stall_after_chunks=1))
        with Gateway(cfg, tmp_path, name="stall") as gw:
            k = gw.create_key()
            c = openai.OpenAI(base_url=f"{gw.url}/v1", api_key=k, max_retries=0)
            with pytest.raises(openai.APIError):
                for _ in c.chat.completions.create(model="gpt-4o-mini", messages=MSG, stream=True):
                    pass


def test_upstream_error_mid_stream_reaches_anthropic_client(an, fake_upstream):
    fake_upstream.always("anthropic.messages", Reply(stream=["one ", "two ", "three"], error_spec=None,
                                                     drop_after_chunks=2))
    with pytest.raises((anthropic.APIError, httpx.HTTPError)):
        with an.messages.stream(model="claude-sonnet-4-6", max_tokens=20, messages=MSG) as s:
            for _ in s.text_stream:
                pass


def test_client_disconnect_cancels_upstream_stream(gateway, key, fake_upstream):
    fake_upstream.always("openai.chat", Reply(stream=[f"w{i} " for i in range(200)], delay_between_chunks=0.05))
    with httpx.stream("POST", f"{gateway.url}/v1/chat/completions", headers={"authorization": f"Bearer {key}"},
                      json={"model": "gpt-4o-mini", "messages": MSG, "stream": True}, timeout=10) as r:
        it = r.iter_bytes()
        next(it)
        next(it)
    assert fake_upstream.wait_for_disconnects(1, timeout=5) >= 1


def test_provider_keys_never_in_responses(oa, an):
    for body in (oa.models.with_raw_response.list().text,):
        assert PROVIDER_OPENAI_KEY not in body and PROVIDER_ANTHROPIC_KEY not in body
