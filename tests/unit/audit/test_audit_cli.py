"""`bastion audit verify|tail|export|prune` against a real SQLite store."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from pathlib import Path

import orjson
import pytest

from bastion.audit.record import build_record
from bastion.audit.sink import SqlAuditSink
from bastion.audit.writer import AuditWriter
from bastion.cli.audit import register
from bastion.core.secret import Secret
from bastion.store.db import SqliteDatabase

KEY = "cli-checkpoint-key-" + "c" * 32


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="bastion")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    code: int = args.func(args)
    return code


@pytest.fixture
def store(tmp_path: Path, make_ctx) -> tuple[Path, Path]:  # type: ignore[no-untyped-def]
    """A store with 20 records (times 2026-01-01T00:00:00 + i s) and checkpoints every 5."""
    db_path, cfg = tmp_path / "a.db", tmp_path / "bastion.yaml"
    cfg.write_text(f"store: {{url: 'sqlite:///{db_path}'}}\naudit: {{checkpoint_key: '{KEY}'}}\n")

    async def fill() -> None:
        db = SqliteDatabase(str(db_path))
        w = AuditWriter(SqlAuditSink(db), flush_interval=0.01, batch_size=5, checkpoint_every=5,
                        checkpoint_key=Secret(KEY))
        await w.start()
        for i in range(20):
            w.submit(build_record(make_ctx(i)))  # batches of 5: a checkpoint after each
        await w.stop()
        await db.close()

    asyncio.run(fill())
    return db_path, cfg


def test_verify_intact(store: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert run("audit", "verify", "--config", str(store[1])) == 0
    out = capsys.readouterr()
    assert "intact: 20 records in 1 chain(s)" in out.out and out.err == ""


def test_verify_reports_tampering(store: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    import sqlite3

    with sqlite3.connect(store[0]) as conn:
        conn.execute("DELETE FROM bastion_audit WHERE seq = 7")
    assert run("audit", "verify", "--config", str(store[1])) == 1
    out = capsys.readouterr().out
    assert "deleted:" in out and "seq 7" in out and "TAMPERED" in out


def test_tail(store: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert run("audit", "tail", "-n", "3", "--config", str(store[1])) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [orjson.loads(x)["request_id"] for x in lines] == ["req-000017", "req-000018", "req-000019"]


def test_export_range(store: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code = run("audit", "export", "--since", "2026-01-01T00:00:05Z", "--until", "2026-01-01T00:00:08Z",
               "--format", "jsonl", "--config", str(store[1]))
    out = capsys.readouterr()
    assert code == 0
    assert [orjson.loads(x)["request_id"] for x in out.out.splitlines()] == ["req-000005", "req-000006",
                                                                              "req-000007"]
    assert "exported 3 record(s)" in out.err


def test_prune_keeps_the_store_verifiable(store: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert run("audit", "prune", "--before", "2026-01-01T00:00:30Z", "--dry-run", "--config", str(store[1])) == 0
    assert "would delete 20 record(s)" in capsys.readouterr().out
    assert run("audit", "prune", "--before", "2026-01-01T00:00:12.5Z", "--config", str(store[1])) == 0
    assert "deleted 10 record(s) in total" in capsys.readouterr().out  # seq 1..13 older: cut at checkpoint 10
    assert run("audit", "verify", "--config", str(store[1])) == 0
    assert "pruned through seq 10" in capsys.readouterr().out


def test_bad_date_is_a_clear_error(store: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert run("audit", "export", "--since", "last tuesday", "--config", str(store[1])) == 2
    err = capsys.readouterr().err
    assert "--since: not an ISO date" in err and "Traceback" not in err


def test_export_with_until_not_after_since_is_a_usage_error(store: tuple[Path, Path],
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert run("audit", "export", "--since", "2026-01-01T00:00:08Z", "--until", "2026-01-01T00:00:05Z",
               "--config", str(store[1])) == 2  # was: "exported 0 record(s)", exit 0
    err = capsys.readouterr().err
    assert "--until: must be after --since" in err and "Traceback" not in err


def test_bad_config_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("audit: {checkpoint_key: short, colour: red}\n")
    assert run("audit", "verify", "--config", str(cfg)) == 2
    err = capsys.readouterr().err
    assert "audit.checkpoint_key" in err and "audit.colour: unknown key" in err and "short" not in err


def test_unreachable_store_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "pg.yaml"
    cfg.write_text("store: {url: 'postgresql://postgres:hunter2@127.0.0.1:1/none'}\n")
    assert run("audit", "verify", "--config", str(cfg)) == 2  # not a verdict: 1 means tampered
    err = capsys.readouterr().err
    assert err.startswith("error: store unreachable") and "Traceback" not in err and "hunter2" not in err
    assert "postgresql://postgres:***@127.0.0.1:1/none" in err


@pytest.mark.parametrize("command", [["verify"], ["tail", "-n", "1"], ["export", "--since", "2026-01-01"]])
def test_a_missing_sqlite_store_is_an_error_not_an_empty_intact_store(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]) -> None:
    missing = tmp_path / "nowhere" / "bastion.db"
    cfg = tmp_path / "gw.yaml"
    cfg.write_text(f"store: {{url: 'sqlite:///{missing}'}}\n")
    assert run("audit", *command, "--config", str(cfg)) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and str(missing) in err and "intact" not in err
    assert not missing.parent.exists()  # nothing was created


def test_prune_refuses_a_future_cut(store: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert run("audit", "prune", "--before", "2999-01-01", "--config", str(store[1])) == 2
    assert "must not be in the future" in capsys.readouterr().err


async def test_tail_follow_prints_new_records(sqlite_sink: SqlAuditSink, make_ctx,  # type: ignore[no-untyped-def]
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from bastion.cli import audit as cli_audit

    monkeypatch.setattr(cli_audit, "_POLL_SECONDS", 0.01)
    first = AuditWriter(sqlite_sink, flush_interval=0.01)
    await first.start()
    first.submit(build_record(make_ctx(0)))
    await first.stop()
    out = io.StringIO()
    args = argparse.Namespace(n=5, follow=True)
    task = asyncio.create_task(cli_audit._tail(args, None, sqlite_sink, out))  # type: ignore[arg-type]
    second = AuditWriter(sqlite_sink, flush_interval=0.01)  # a replica that starts after tail
    await second.start()
    for i in range(1, 4):
        second.submit(build_record(make_ctx(i)))
    await second.stop()

    async def printed(n: int) -> None:
        while len(out.getvalue().splitlines()) < n:  # noqa: ASYNC110 - polls a buffer
            await asyncio.sleep(0.01)

    await asyncio.wait_for(printed(4), 5)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    ids = [orjson.loads(x)["request_id"] for x in out.getvalue().splitlines()]
    assert ids == ["req-000000", "req-000001", "req-000002", "req-000003"]


def test_ops_commands_need_no_provider_secret(store: tuple[Path, Path], capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """An audit host verifies the chain without the OpenAI key; `serve` still insists on it."""
    cfg = store[1]
    cfg.write_text(cfg.read_text() + "providers:\n  oai: {kind: openai, base_url: 'https://api.openai.com/v1', "
                   "api_key: '${env:BASTION_TEST_UNSET_KEY}'}\n")
    monkeypatch.delenv("BASTION_TEST_UNSET_KEY", raising=False)
    assert run("audit", "verify", "--config", str(cfg)) == 0
    assert "intact" in capsys.readouterr().out
    from bastion.cli.main import main

    assert main(["usage", "--config", str(cfg)]) == 0
    assert main(["keys", "list", "--config", str(cfg)]) == 0
    assert main(["config", "check", str(cfg)]) != 0  # what the gateway would load: the secret is required
    assert "environment variable BASTION_TEST_UNSET_KEY is not set" in capsys.readouterr().err
