"""`bastion keys` handlers in process on a tmp SQLite store: create once, list safely, revoke, clean errors."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

import pytest
import yaml

from bastion.auth import keys
from bastion.auth.store import SqlKeyStore
from bastion.cli.keys import register
from bastion.store.db import SqliteDatabase


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "bastion.yaml"
    path.write_text(yaml.safe_dump({
        "store": {"url": f"sqlite:///{tmp_path / 'keys.db'}"},
        "providers": {"local": {"kind": "openai_compatible", "base_url": "http://127.0.0.1:9/v1"}},
        "models": [{"name": m, "targets": [{"provider": "local", "model": m}]} for m in ("llama3.2", "qwen2.5")],
        "policies": {"strict": {}},
    }))
    return path


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="bastion")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    code: int = args.func(args)
    return code


def stored(tmp_path: Path) -> SqlKeyStore:
    return SqlKeyStore(SqliteDatabase(str(tmp_path / "keys.db")))


async def _get_all(tmp_path: Path) -> list[object]:
    store = stored(tmp_path)
    try:
        return list(await store.list(include_revoked=True))
    finally:
        await store._db.close()


def records(tmp_path: Path) -> list[object]:
    return asyncio.run(_get_all(tmp_path))


def created_key(out: str) -> str:
    found = [w for w in out.split() if keys.parse(w) is not None]
    assert len(found) == 1
    return found[0]


def test_create_prints_the_key_once_with_a_warning(config: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert run("keys", "create", "--config", str(config), "--name", "billing-svc", "--team", "payments",
               "--models", "llama3.2, qwen2.5", "--expires", "2031-06-01", "--policy", "strict",
               "--rpm", "60", "--tpm", "1000", "--max-parallel", "2", "--budget-usd", "25",
               "--budget-period", "day") == 0
    out = capsys.readouterr().out
    key = created_key(out)
    assert "Store it now: it cannot be shown again." in out
    (record,) = records(tmp_path)
    assert record.id == keys.parse(key)[0]  # type: ignore[attr-defined,index]
    assert record.models == ("llama3.2", "qwen2.5") and record.budget_usd_micros == 25_000_000  # type: ignore[attr-defined]
    assert record.budget_period == "day" and record.max_parallel == 2  # type: ignore[attr-defined]
    assert record.secret_hash == keys.hash_secret(keys.parse(key)[1])  # type: ignore[attr-defined,index]


def test_list_shows_a_table_and_never_a_secret(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run("keys", "create", "--config", str(config), "--name", "a", "--rpm", "5", "--budget-usd", "1.5")
    key_a = created_key(capsys.readouterr().out)
    run("keys", "create", "--config", str(config), "--name", "b", "--team", "t")
    key_b = created_key(capsys.readouterr().out)
    assert run("keys", "list", "--config", str(config)) == 0
    table = capsys.readouterr().out
    header = table.splitlines()[0].split()
    assert header == ["ID", "NAME", "TEAM", "MODELS", "POLICY", "LIMITS", "EXPIRES", "STATUS"]
    assert "rpm=5 $1.50/month" in table and "never" in table and "active" in table
    for key in (key_a, key_b):
        key_id, secret = keys.parse(key)  # type: ignore[misc]
        assert key_id in table and secret not in table
    assert run("keys", "list", "--config", str(config), "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert [k["name"] for k in listed] == ["a", "b"]
    assert all("secret_hash" not in k and "key" not in k for k in listed)


def test_revoke_then_list_all(config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run("keys", "create", "--config", str(config), "--name", "gone")
    key_id, _ = keys.parse(created_key(capsys.readouterr().out))  # type: ignore[misc]
    assert run("keys", "revoke", "--config", str(config), key_id) == 0
    assert f"Revoked key {key_id}" in capsys.readouterr().out
    assert run("keys", "revoke", "--config", str(config), key_id) == 0
    assert "already revoked" in capsys.readouterr().out
    run("keys", "list", "--config", str(config))
    assert key_id not in capsys.readouterr().out
    run("keys", "list", "--config", str(config), "--all")
    assert "revoked" in capsys.readouterr().out
    assert records(tmp_path)[0].revoked_at is not None  # type: ignore[attr-defined]


def test_revoke_accepts_a_pasted_key_without_echoing_its_secret(
        config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run("keys", "create", "--config", str(config), "--name", "pasted")
    key = created_key(capsys.readouterr().out)
    assert run("keys", "revoke", "--config", str(config), key) == 0
    captured = capsys.readouterr()
    assert keys.parse(key)[1] not in captured.out + captured.err  # type: ignore[index]


def test_update_changes_limits(config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run("keys", "create", "--config", str(config), "--name", "u", "--rpm", "5", "--tpm", "7")
    key_id, _ = keys.parse(created_key(capsys.readouterr().out))  # type: ignore[misc]
    assert run("keys", "update", "--config", str(config), key_id, "--rpm", "9") == 0
    assert "rpm=9 tpm=7" in capsys.readouterr().out
    assert run("keys", "update", "--config", str(config), key_id) == 2
    assert "nothing to change" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "expected"), [
    (["create", "--name", "x", "--expires", "2001-01-01"], "--expires: must be in the future"),
    (["create", "--name", "x", "--expires", "soon"], "--expires: expected an ISO date"),
    (["create", "--name", "x", "--rpm", "-3"], "--rpm: Input should be greater than or equal to 0"),
    (["create", "--name", "x", "--budget-usd", "nan"], "--budget-usd: Input should be a finite number"),
    (["create", "--name", "x", "--budget-period", "day"], "--budget-period: needs budget_usd"),
    (["create", "--name", "x", "--models", "gpt-9"], "--models[0]: unknown model 'gpt-9'"),
    (["create", "--name", "x", "--policy", "lenient"], "--policy: unknown policy 'lenient'"),
    (["create", "--name", "x", "--models", ","], "--models: List should have at least 1 item"),
    (["create", "--name", "a\x1b[31mred"], "--name: must not contain control characters"),
    (["revoke", "../etc/passwd"], "is not a key id"),
])
def test_bad_input_is_one_line_and_exit_2(config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          argv: list[str], expected: str) -> None:
    assert run("keys", argv[0], "--config", str(config), *argv[1:]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1 and "Traceback" not in captured.err
    assert f"bastion keys {argv[0]}: error: " in captured.err and expected in captured.err
    assert not (tmp_path / "keys.db").exists() or records(tmp_path) == []


def test_bad_config_and_unknown_key_and_argparse_errors(tmp_path: Path, config: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert run("keys", "list", "--config", str(tmp_path / "missing.yaml")) == 2
    assert "invalid config" in capsys.readouterr().err
    (tmp_path / "bad.yaml").write_text("store: {url: 'mysql://x'}\n")
    assert run("keys", "list", "--config", str(tmp_path / "bad.yaml")) == 2
    assert "store.url: must start with sqlite:/// or postgresql://" in capsys.readouterr().err
    # a SQLite store that does not exist (a relative store.url seen from another directory) is an
    # error for everything but create, which makes it and says where
    for argv in (["list"], ["revoke", "abcdefghijkl"], ["update", "abcdefghijkl", "--rpm", "5"]):
        assert run("keys", argv[0], "--config", str(config), *argv[1:]) == 2
        err = capsys.readouterr().err
        assert f"the key store {tmp_path / 'keys.db'} does not exist" in err and "Traceback" not in err
    assert not (tmp_path / "keys.db").exists()
    assert run("keys", "create", "--config", str(config), "--name", "first") == 0
    assert f"note: created a new key store at {tmp_path / 'keys.db'}" in capsys.readouterr().err
    assert run("keys", "create", "--config", str(config), "--name", "second") == 0
    assert "note:" not in capsys.readouterr().err  # only when it made the store
    assert run("keys", "revoke", "--config", str(config), "abcdefghijkl") == 1
    assert "no key with id abcdefghijkl" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        run("keys", "create", "--config", str(config), "--name", "x", "--budget-period", "year")
    assert e.value.code == 2


def test_unreachable_store_is_a_clean_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "pg.yaml"
    cfg.write_text("store: {url: 'postgresql://bastion:hunter2-secret@127.0.0.1:1/none'}\n")
    assert run("keys", "list", "--config", str(cfg)) == 1
    err = capsys.readouterr().err
    assert "key store postgresql://bastion:***@127.0.0.1:1/none" in err
    assert "hunter2" not in err and "Traceback" not in err


def test_a_store_that_refuses_is_a_clear_error_naming_the_field(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    from tests.conftest import require_service

    require_service("PostgreSQL", 5432)
    cfg = tmp_path / "pg.yaml"
    cfg.write_text("store: {url: 'postgresql://postgres:hunter2-secret@127.0.0.1:5432/no_such_db_bastion'}\n")
    assert run("keys", "list", "--config", str(cfg)) == 1
    err = capsys.readouterr().err
    # which field, and PostgreSQL's own reason (not just an exception class name)
    assert "store.url" in err and 'database "no_such_db_bastion" does not exist' in err, err
    assert "hunter2" not in err and "Traceback" not in err


def test_a_team_the_config_does_not_declare_is_refused(config: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """A misspelt team would escape the team's limits and budgets; with no teams declared, any
    team name is a plain label."""
    assert run("keys", "create", "--config", str(config), "--name", "a", "--team", "anyname") == 0
    capsys.readouterr()
    with_teams = tmp_path / "teams.yaml"
    with_teams.write_text(config.read_text() + "teams: {payments: {rpm: 5}}\n")
    assert run("keys", "create", "--config", str(with_teams), "--name", "b", "--team", "paymnets") == 2
    err = capsys.readouterr().err
    assert "--team: unknown team 'paymnets' (the config declares payments)" in err
    assert run("keys", "create", "--config", str(with_teams), "--name", "c", "--team", "payments") == 0
