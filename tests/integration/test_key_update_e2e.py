"""Changing an issued key's settings in place, end to end through the real gateway (uvicorn): a model
taken from a key is refused on its next request, on the replica that served the update at once and on
another replica (PostgreSQL) within the poll; the secret stays the same; a revoked key stays revoked."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import openai
import pytest

from tests.fakes.upstream import FakeUpstream
from tests.gateway import Gateway, base_config

MSG = [{"role": "user", "content": "hello"}]


def oa(gw: Gateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gw.url}/v1", api_key=key, max_retries=0, timeout=15)


def key_id_of(key: str) -> str:
    return key.split("_")[1]


def eventually(check: Callable[[], bool], what: str, within: float = 5.0) -> None:
    """Poll `check` until it holds; the bound is the propagation the README promises (TTL is 1 s here)."""
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, f"{what} not honoured within {within} s"
        time.sleep(0.1)


def refused(client: openai.OpenAI, model: str) -> bool:
    try:
        client.chat.completions.create(model=model, messages=MSG)  # type: ignore[arg-type]
    except openai.PermissionDeniedError:
        return True
    return False


def test_a_model_removed_from_a_key_is_refused_on_its_next_request(gateway: Gateway,
                                                                   fake_upstream: FakeUpstream) -> None:
    key = gateway.create_key(name="app", models=["gpt-4o-mini", "llama3.2"])
    client = oa(gateway, key)
    client.chat.completions.create(model="gpt-4o-mini", messages=MSG)  # type: ignore[arg-type]
    status, body = gateway.admin("PATCH", f"/admin/keys/{key_id_of(key)}",
                                 {"models": ["llama3.2"], "name": "app-v2"})
    assert status == 200 and body["models"] == ["llama3.2"] and body["name"] == "app-v2"
    assert "key" not in body and key not in str(body)
    fake_upstream.clear()
    with pytest.raises(openai.PermissionDeniedError):  # this replica: at once, no waiting for a poll
        client.chat.completions.create(model="gpt-4o-mini", messages=MSG)  # type: ignore[arg-type]
    assert fake_upstream.requests == []
    client.chat.completions.create(model="llama3.2", messages=MSG)  # type: ignore[arg-type]  # same secret
    assert [m.id for m in client.models.list()] == ["llama3.2"]


def test_an_update_does_not_revive_a_revoked_key(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    key = gateway.create_key(name="gone")
    status, _ = gateway.admin("DELETE", f"/admin/keys/{key_id_of(key)}")
    assert status == 200
    status, body = gateway.admin("PATCH", f"/admin/keys/{key_id_of(key)}", {"expires": "2030-01-01"})
    assert status == 409 and body["error"]["code"] == "key_revoked"
    with pytest.raises(openai.AuthenticationError):
        oa(gateway, key).chat.completions.create(model="gpt-4o-mini", messages=MSG)  # type: ignore[arg-type]
    assert fake_upstream.requests == []


def test_invalid_updates_are_400_naming_the_field(gateway: Gateway) -> None:
    key = gateway.create_key(name="v")
    for body, field in (({"models": ["gpt-9"]}, "models"), ({"expires": "2001-01-01"}, "expires"),
                        ({"policy": "nope"}, "policy"), ({"name": None}, "name")):
        status, answer = gateway.admin("PATCH", f"/admin/keys/{key_id_of(key)}", body)
        assert status == 400 and answer["error"]["param"] == field, (body, answer)
    status, answer = gateway.admin("GET", f"/admin/keys/{key_id_of(key)}")
    assert (answer["name"], answer["models"], answer["expires_at"]) == ("v", None, None)


def test_settings_changed_on_one_replica_reach_another_within_the_poll(
        pg_schema_url: str, fake_upstream: FakeUpstream, tmp_path: Path) -> None:
    cfg = base_config(fake_upstream.url, tmp_path, store={"url": pg_schema_url})
    with Gateway(cfg, tmp_path, name="a") as a, Gateway(cfg, tmp_path, name="b") as b:
        key = a.create_key(name="shared", models=["gpt-4o-mini", "llama3.2"])
        on_b = oa(b, key)
        on_b.chat.completions.create(model="gpt-4o-mini", messages=MSG)  # cached on b
        status, _ = a.admin("PATCH", f"/admin/keys/{key_id_of(key)}", {"models": ["llama3.2"]})
        assert status == 200
        eventually(lambda: refused(on_b, "gpt-4o-mini"), "a model removed on replica a, on replica b")
        on_b.chat.completions.create(model="llama3.2", messages=MSG)  # type: ignore[arg-type]

        # the CLI writes to the store directly: every running replica takes it from its poll
        done = subprocess.run(
            [sys.executable, "-m", "bastion.cli.main", "keys", "update", "--config", str(a.config_path),
             key_id_of(key), "--clear", "models", "--name", "shared-v2"],
            capture_output=True, text=True, timeout=60, cwd=str(tmp_path))
        assert done.returncode == 0, done.stderr
        assert "Updated key" in done.stdout and key not in done.stdout + done.stderr
        on_a = oa(a, key)
        eventually(lambda: not refused(on_a, "gpt-4o-mini") and not refused(on_b, "gpt-4o-mini"),
                   "models cleared by the CLI")
        status, body = b.admin("GET", f"/admin/keys/{key_id_of(key)}")
        assert (body["name"], body["models"]) == ("shared-v2", None)
