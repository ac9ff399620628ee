"""`bastion keys create|update|revoke` record each change in the audit log of the store they act on
(SQLite or PostgreSQL), before making it, in a chain `bastion audit verify` checks; a change the log
cannot record is refused and nothing changes; bad input is refused before anything is written."""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import yaml

from bastion.audit.offline import cli_writer, os_user
from bastion.audit.sink import SqlAuditSink
from bastion.auth.store import SqlKeyStore
from bastion.cli import audit as audit_cli
from bastion.cli import keys as keys_cli
from bastion.core.secret import Secret
from bastion.store.db import open_database

CHECKPOINT_KEY = "cli-checkpoint-key-" + "x" * 32
CLI_WRITER = cli_writer(Secret(CHECKPOINT_KEY))  # the CLI's chain for this key


def write_config(tmp_path: Path, url: str, **audit: Any) -> Path:
    path = tmp_path / "bastion.yaml"
    path.write_text(yaml.safe_dump({
        "store": {"url": url},
        "audit": {"checkpoint_key": CHECKPOINT_KEY, **audit},
        "providers": {"local": {"kind": "openai_compatible", "base_url": "http://127.0.0.1:9/v1"}},
        "models": [{"name": "llama3.2", "targets": [{"provider": "local", "model": "llama3.2"}]}],
    }))
    return path


@pytest.fixture
def sqlite_config(tmp_path: Path) -> Path:
    return write_config(tmp_path, f"sqlite:///{tmp_path / 'bastion.db'}")


def cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="bastion")
    sub = parser.add_subparsers(dest="command", required=True)
    keys_cli.register(sub)
    audit_cli.register(sub)
    args = parser.parse_args(list(argv))
    code: int = args.func(args)
    return code


def url_of(config: Path) -> str:
    return str(yaml.safe_load(config.read_text())["store"]["url"])


async def _stored(url: str) -> tuple[list[dict[str, Any]], list[Any]]:
    db = open_database(url)
    try:
        sink = SqlAuditSink(db)
        await sink.migrate()
        records = []
        for writer in await sink.writer_ids():
            records += [json.loads(r.body) for r in await sink.records(writer, 0, 1000)]
        store = SqlKeyStore(db)
        await store.migrate()
        return records, await store.list(include_revoked=True)
    finally:
        await db.close()


def stored(config: Path) -> tuple[list[dict[str, Any]], list[Any]]:
    """(audit records, key records) in the config's store."""
    return asyncio.run(_stored(url_of(config)))


def create(config: Path, capsys: pytest.CaptureFixture[str], *flags: str) -> str:
    assert cli("keys", "create", "--config", str(config), "--name", "svc", "--json", *flags) == 0
    key_id: str = json.loads(capsys.readouterr().out)["id"]
    return key_id


def change_then_verify(config: Path, capsys: pytest.CaptureFixture[str]) -> str:
    key_id = create(config, capsys, "--rpm", "60", "--team", "payments")
    assert cli("keys", "update", "--config", str(config), key_id, "--rpm", "120", "--models", "llama3.2") == 0
    assert cli("keys", "revoke", "--config", str(config), key_id) == 0
    assert cli("keys", "revoke", "--config", str(config), key_id) == 0  # already revoked: no change, no record
    capsys.readouterr()
    records, _ = stored(config)
    assert [(r["writer_id"], r["seq"], r["operation"], r["status"]) for r in records] == [
        (CLI_WRITER, 1, "admin.keys.create", 201), (CLI_WRITER, 2, "admin.keys.update", 200),
        (CLI_WRITER, 3, "admin.keys.revoke", 200)]
    assert all(r["ingress"] == "cli" and r["key_id"] == key_id and r["team"] == "payments" for r in records)
    assert [r["admin"]["fields"] for r in records] == [["name", "rpm", "team"], ["models", "rpm"], []]
    assert {r["admin"]["actor"] for r in records} == {os_user()}
    # names, never values (identifiers and times left out: a timestamp's microseconds or a hex id may hold "120")
    ids = {"time", "request_id", "key_id", "writer_id", "hash", "prev_hash", "latency_ms", "upstream_ms"}
    values = json.dumps([{k: v for k, v in r.items() if k not in ids} for r in records])
    assert "120" not in values and "llama3.2" not in values, values
    assert cli("audit", "verify", "--config", str(config)) == 0
    out = capsys.readouterr()
    assert f"chain {CLI_WRITER}: 3 records" in out.out and "intact" in out.out and "warning" not in out.err
    return key_id


def test_changes_are_chained_records_verify_passes_and_catches_an_edit(
        sqlite_config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    change_then_verify(sqlite_config, capsys)
    with sqlite3.connect(tmp_path / "bastion.db") as conn:  # someone hides the revocation's actor
        conn.execute("UPDATE bastion_audit SET body = replace(body, ?, 'somebody') WHERE seq = 3",
                     (json.dumps(os_user()).strip('"'),))
    assert cli("audit", "verify", "--config", str(sqlite_config)) == 1
    assert f"edited: writer {CLI_WRITER} seq 3" in capsys.readouterr().out


def test_on_postgresql_too(tmp_path: Path, pg_schema_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, pg_schema_url)
    change_then_verify(config, capsys)


def test_a_change_the_audit_log_cannot_record_is_not_made(sqlite_config: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    key_id = create(sqlite_config, capsys, "--rpm", "60")
    with sqlite3.connect(tmp_path / "bastion.db") as conn:
        conn.execute("CREATE TRIGGER refuse BEFORE INSERT ON bastion_audit BEGIN SELECT RAISE(ABORT, 'no'); END")
    for argv in (("create", "--name", "other"), ("update", key_id, "--rpm", "1"), ("revoke", key_id)):
        assert cli("keys", argv[0], "--config", str(sqlite_config), *argv[1:]) == 1
        out = capsys.readouterr()
        assert "audit log cannot take the record of this change" in out.err and "nothing was changed" in out.err
        assert "Traceback" not in out.err and "bst_" not in out.out
    records, keys = stored(sqlite_config)
    assert len(records) == 1 and [(k.id, k.rpm, k.revoked_at) for k in keys] == [(key_id, 60, None)]


@pytest.mark.parametrize("argv", [
    ("update", "{id}", "--rpm", "-5"),
    ("update", "{id}", "--clear", "colour"),
    ("update", "{id}", "--models", "no-such-model"),
    ("update", "{id}"),
    ("update", "aaaaaaaaaaaa", "--rpm", "5"),
    ("revoke", "aaaaaaaaaaaa"),
    ("revoke", "not an id"),
    ("create", "--name", "x", "--budget-period", "week"),
])
def test_bad_input_is_refused_before_anything_is_written(sqlite_config: Path, capsys: pytest.CaptureFixture[str],
                                                          argv: tuple[str, ...]) -> None:
    key_id = create(sqlite_config, capsys)
    code = cli("keys", argv[0], "--config", str(sqlite_config), *(a.format(id=key_id) for a in argv[1:]))
    err = capsys.readouterr().err
    assert code in (1, 2) and err.startswith(f"bastion keys {argv[0]}: error: ") and "Traceback" not in err
    records, _ = stored(sqlite_config)
    assert [r["operation"] for r in records] == ["admin.keys.create"]


def test_with_the_audit_log_off_changes_are_made_unrecorded(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'bastion.db'}", enabled=False)
    key_id = create(config, capsys)
    assert cli("keys", "revoke", "--config", str(config), key_id) == 0
    records, keys = stored(config)
    assert records == [] and keys[0].revoked_at is not None
