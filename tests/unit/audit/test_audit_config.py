"""The audit/observability config sections: defaults, secrets wrapped, clear errors."""

from __future__ import annotations

import pytest

from bastion.config.loader import ConfigError, parse_config
from bastion.core.secret import Secret


def test_defaults_fail_closed() -> None:
    cfg = parse_config({})
    a = cfg.audit
    assert a.enabled and a.mode == "async" and a.on_error == "block"
    assert a.checkpoint_key is None and a.writer_id is None and a.checkpoint_every == 1000
    assert cfg.observability.metrics_token is None and not cfg.observability.tracing


def test_keys_are_secrets_and_never_printed() -> None:
    key, token = "K" * 40, "T" * 20
    cfg = parse_config({"audit": {"checkpoint_key": "${env:AUDIT_KEY}"}, "observability": {"metrics_token": token}},
                       env={"AUDIT_KEY": key})
    assert isinstance(cfg.audit.checkpoint_key, Secret) and cfg.audit.checkpoint_key.reveal() == key
    assert isinstance(cfg.observability.metrics_token, Secret)
    assert key not in repr(cfg) and token not in repr(cfg)


@pytest.mark.parametrize(("raw", "path"), [
    ({"audit": {"checkpoint_key": "too-short"}}, "audit.checkpoint_key"),
    ({"observability": {"metrics_token": "short"}}, "observability.metrics_token"),
    ({"audit": {"writer_id": "bad id; drop"}}, "audit.writer_id"),
    ({"audit": {"buffer_size": 0}}, "audit.buffer_size"),
    ({"audit": {"mode": "later"}}, "audit.mode"),
])
def test_errors_name_the_field_and_not_the_value(raw: dict[str, object], path: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse_config(raw)
    assert any(line.startswith(path) for line in e.value.errors)
    assert "too-short" not in str(e.value)
