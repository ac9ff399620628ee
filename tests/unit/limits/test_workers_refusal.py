"""`bastion serve --workers N` refuses per-process counters and a shared audit chain before it starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from bastion.cli.main import main


def _config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "bastion.yaml"
    path.write_text(f"server: {{admin_key: adm_test_0123456789abcdef0123456789}}\n"
                    f"store: {{url: 'sqlite:///{tmp_path / 'b.db'}'}}\n{extra}")
    return path


def test_memory_counters_are_refused_with_several_workers_even_without_configured_limits(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # no default limits and no teams: keys can still get rpm and budgets through the admin API,
    # which per-process counters would multiply by the worker count
    code = main(["serve", "--config", str(_config(tmp_path)), "--workers", "2", "--quiet"])
    assert code == 2
    err = capsys.readouterr().err
    assert "limits.backend: memory" in err and "use limits.backend: redis" in err


def test_a_fixed_audit_writer_id_is_refused_with_several_workers(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _config(tmp_path, "limits: {backend: redis}\naudit: {writer_id: gw-1}\n")
    code = main(["serve", "--config", str(cfg), "--workers", "2", "--quiet"])
    assert code == 2
    err = capsys.readouterr().err
    assert "audit.writer_id" in err and "memory" not in err


def test_config_check_names_a_redis_url_it_cannot_use(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _config(tmp_path, "limits: {backend: redis, redis_url: 'unix:///run/redis.sock'}\n")
    code = main(["config", "check", str(cfg)])
    out = capsys.readouterr()
    assert code != 0
    assert "limits.redis_url" in out.out + out.err
