"""What `bastion serve` prints at start-up never shows a store password."""

from __future__ import annotations

from pathlib import Path

import pytest

from bastion.cli.serve import _summary
from bastion.core.secret import redacted_url


def test_the_start_up_summary_masks_the_store_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PG_PASSWORD", "hunter2secret")
    cfg = tmp_path / "pg.yaml"
    cfg.write_text("store: {url: 'postgresql://bastion:${PG_PASSWORD}@db.internal:5432/bastion'}\n")
    text = _summary(str(cfg), "127.0.0.1", 8080)
    assert "hunter2secret" not in text
    assert "postgresql://bastion:***@db.internal:5432/bastion" in text


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql://u:p%40ss@h:5432/d", "postgresql://u:***@h:5432/d"),
    ("redis://:pw@[::1]:6379/0", "redis://:***@[::1]:6379/0"),
    ("postgresql://u@h/d", "postgresql://u@h/d"),
    ("sqlite:///bastion.db", "sqlite:///bastion.db"),
    ("postgresql://u:pw@h:99999999/d", "postgresql://u:***@h/d"),  # a bad port hides nothing
])
def test_urls_are_shown_without_their_password(url: str, shown: str) -> None:
    assert redacted_url(url) == shown


@pytest.mark.parametrize(("flag", "why"), [(["--port", "99999"], "99999 is not a TCP port"),
                                           (["--port", "-1"], "-1 is not a TCP port"),
                                           (["--port", "http"], "not a port number"),
                                           (["--workers", "0"], "at least 1 worker")])
def test_serve_refuses_a_port_or_worker_count_it_cannot_use(flag: list[str], why: str,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    from bastion.cli.main import main

    with pytest.raises(SystemExit) as e:
        main(["serve", *flag])
    assert e.value.code == 2
    assert why in capsys.readouterr().err


def test_config_check_refuses_a_shared_audit_chain_across_workers(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from bastion.cli.main import main

    cfg = tmp_path / "gw.yaml"
    cfg.write_text("server: {workers: 2}\naudit: {writer_id: w1}\n"
                   "limits: {backend: redis, redis_url: 'redis://127.0.0.1:6379/0'}\n")
    assert main(["config", "check", str(cfg)]) != 0
    assert "audit.writer_id" in capsys.readouterr().err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    import bastion
    from bastion.cli.main import main

    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"bastion {bastion.__version__}"


def test_a_reader_that_leaves_early_gets_no_traceback(monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """`bastion keys list | head -1`: the pipe breaks; exit 141 quietly, not with a traceback."""
    import os

    from bastion.cli import keys as keys_cli
    from bastion.cli.main import main

    def cut(args: object) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(keys_cli, "cmd_list", cut)
    monkeypatch.setattr(keys_cli, "cmd_create", cut)
    monkeypatch.setattr(os, "dup2", lambda fd, to: None)  # keep pytest's own stdout
    assert main(["keys", "list"]) == 141
    assert capsys.readouterr().err == ""
    assert main(["keys", "create", "--name", "x"]) == 141
    assert "the key was created but its secret may not have been read" in capsys.readouterr().err


def test_key_budgets_are_listed_without_rounding_small_ones_to_zero() -> None:
    from bastion.cli.keys import _usd

    assert [_usd(m) for m in (20, 500_000, 5_000_000, 1_234_567, 10**12)] == [
        "0.00002", "0.50", "5.00", "1.234567", "1,000,000.00"]
