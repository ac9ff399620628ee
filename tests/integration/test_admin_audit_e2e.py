"""Key changes through the admin API are records in the audit hash chain: who changed which key,
how, when, from where (field names, never values), and a change the audit log cannot record is
refused before it is made."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
import time

import httpx
import pytest

from tests.gateway import Gateway, base_config
from tests.integration.test_audit_e2e import MSG, export, verify


def test_create_update_revoke_are_chained_records(fake_upstream_server, tmp_path):
    cfg = base_config(fake_upstream_server.url, tmp_path)
    with Gateway(cfg, tmp_path, name="adm") as gw:
        status, created = gw.admin("POST", "/admin/keys", {"name": "billing", "rpm": 60, "budget_usd": 12.5,
                                                           "budget_period": "month"})
        assert status == 201, created
        key_id = created["id"]
        status, body = gw.admin("PATCH", f"/admin/keys/{key_id}", {"rpm": 120, "models": ["gpt-4o-mini"]})
        assert status == 200, body
        assert gw.admin("PATCH", f"/admin/keys/{key_id}", {"rpm": "many"})[0] == 400  # refused: no change
        assert gw.admin("DELETE", f"/admin/keys/{key_id}")[0] == 200
        assert gw.admin("DELETE", f"/admin/keys/{key_id}")[0] == 200  # already revoked: no change
        assert gw.admin("GET", "/admin/keys")[0] == 200  # reads are not changes
        secret = created["key"]
    records = [r for r in export(gw) if r["ingress"] == "admin"]
    assert [r["operation"] for r in records] == ["admin.keys.create", "admin.keys.update", "admin.keys.revoke"]
    assert all(r["key_id"] == key_id and r["authenticated"] and r["client_addr"] == "127.0.0.1" for r in records)
    assert records[0]["admin"] == {"action": "create", "fields": ["budget_period", "budget_usd", "name", "rpm"]}
    assert records[1]["admin"] == {"action": "update", "fields": ["models", "rpm"]}
    assert records[2]["admin"] == {"action": "revoke", "fields": []}
    assert [r["status"] for r in records] == [201, 200, 200]
    text = repr(records)
    assert "12.5" not in text and "billing" not in text and secret not in text  # names, never values
    v = verify(gw)
    assert v.returncode == 0 and "intact" in v.stdout, v.stdout + v.stderr

    # the chain covers them: editing one is reported like any other record
    db = tmp_path / "bastion.db"
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE bastion_audit SET body = replace(body, 'admin.keys.update', 'admin.keys.read') "
                     "WHERE body LIKE '%admin.keys.update%'")
    v = verify(gw)
    assert v.returncode != 0, v.stdout


def _keys_cli(gw: Gateway, *argv: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "bastion.cli.main", "keys", *argv, "--config", str(gw.config_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(gw.tmp))


def _done(p: subprocess.Popen[str]) -> str:
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    return out


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_offline_and_api_changes_while_serving_are_one_verifiable_log(fake_upstream_server, tmp_path, store,
                                                                      request):
    """`bastion keys` run beside a serving gateway (its own chain, `cli:keys`, in the same store): four
    creates at once, updates and a revoke from both sides, requests all along; every change recorded
    once, `audit verify` intact, and an edited CLI record caught."""
    sections = {} if store == "sqlite" else {"store": {"url": request.getfixturevalue("pg_schema_url")}}
    cfg = base_config(fake_upstream_server.url, tmp_path, **sections)
    with Gateway(cfg, tmp_path, name="mix") as gw:
        serving = gw.create_key(name="traffic")
        stop = threading.Event()
        statuses: list[int] = []

        def traffic() -> None:
            with httpx.Client(base_url=gw.url, timeout=10) as c:
                while not stop.is_set():
                    statuses.append(c.post("/v1/chat/completions", headers={"authorization": f"Bearer {serving}"},
                                           json={"model": "gpt-4o-mini", "messages": MSG}).status_code)

        t = threading.Thread(target=traffic)
        t.start()
        try:
            made = [json.loads(_done(p)) for p in [_keys_cli(gw, "create", "--name", f"cli-{i}", "--json")
                                                   for i in range(4)]]
            cli_key, cli_id = made[0]["key"], made[0]["id"]
            status, api = gw.admin("POST", "/admin/keys", {"name": "api"})
            assert status == 201, api
            _done(_keys_cli(gw, "update", api["id"], "--rpm", "90"))
            assert gw.admin("PATCH", f"/admin/keys/{cli_id}", {"tpm": 5000})[0] == 200
            with httpx.Client(base_url=gw.url, timeout=10) as c:  # the gateway serves a key the CLI made
                deadline = time.monotonic() + 10
                while (code := c.post("/v1/chat/completions", headers={"authorization": f"Bearer {cli_key}"},
                                      json={"model": "gpt-4o-mini", "messages": MSG}).status_code) != 200:
                    assert time.monotonic() < deadline, code
                    time.sleep(0.2)
            _done(_keys_cli(gw, "revoke", cli_id))
        finally:
            stop.set()
            t.join()
        assert statuses and set(statuses) == {200}
    records = export(gw)
    changes = [(r["ingress"], r["operation"], r["key_id"]) for r in records if r["operation"].startswith("admin.")]
    assert sorted(changes) == sorted(
        [("admin", "admin.keys.create", serving.split("_")[1])]
        + [("cli", "admin.keys.create", m["id"]) for m in made]
        + [("admin", "admin.keys.create", api["id"]), ("cli", "admin.keys.update", api["id"]),
           ("admin", "admin.keys.update", cli_id), ("cli", "admin.keys.revoke", cli_id)])
    cli_records = [r for r in records if r["ingress"] == "cli"]
    assert {r["writer_id"] for r in cli_records} == {"cli:keys"}
    assert sorted(r["seq"] for r in cli_records) == list(range(1, 7))
    assert all(r["admin"]["actor"] and r["status"] in (200, 201) for r in cli_records)
    v = verify(gw)
    assert v.returncode == 0 and "chain cli:keys: 6 records" in v.stdout and "intact" in v.stdout, v.stdout + v.stderr
    if store == "sqlite":
        with sqlite3.connect(tmp_path / "bastion.db") as conn:  # the revocation made to look like an update
            conn.execute("UPDATE bastion_audit SET body = replace(body, 'admin.keys.revoke', 'admin.keys.update') "
                         "WHERE writer_id = 'cli:keys'")
        v = verify(gw)
        assert v.returncode == 1 and "edited: writer cli:keys seq 6" in v.stdout, v.stdout


def test_the_newest_records_deleted_with_their_checkpoints_are_caught_by_the_logged_heads(fake_upstream_server,
                                                                                          tmp_path):
    """Deleting a chain's newest records together with their checkpoints leaves a shorter chain that
    verifies intact on its own; the `audit checkpoint` lines the gateway logs and `bastion keys` prints
    on stderr are copies of the heads kept outside the store, and `audit verify --checkpoint-log`
    compares them: both deletions are caught, and an untouched store passes."""
    cfg = base_config(fake_upstream_server.url, tmp_path)
    with Gateway(cfg, tmp_path, name="heads") as gw:
        key = gw.create_key(name="traffic")
        with httpx.Client(base_url=gw.url, timeout=10) as c:
            for _ in range(3):
                assert c.post("/v1/chat/completions", headers={"authorization": f"Bearer {key}"},
                              json={"model": "gpt-4o-mini", "messages": MSG}).status_code == 200
        cli_lines = []
        for i in range(2):
            p = _keys_cli(gw, "create", "--name", f"cli-{i}", "--json")
            out, err = p.communicate(timeout=60)
            assert p.returncode == 0, err
            assert json.loads(out)["key"]  # stdout stays the command's output alone
            cli_lines += [line for line in err.splitlines() if line.startswith("audit checkpoint writer_id=cli:keys ")]
        assert [line.split()[3] for line in cli_lines] == ["seq=1", "seq=2"], cli_lines
    log = tmp_path / "checkpoints.log"
    log.write_text(gw.logs() + "\n".join(cli_lines) + "\n")
    gateway_heads = [line for line in gw.logs().splitlines() if "audit checkpoint writer_id=" in line]
    assert gateway_heads, gw.logs()[-2000:]  # the final checkpoint at shutdown, at least

    v = verify(gw, "--checkpoint-log", str(log))
    assert v.returncode == 0 and "intact" in v.stdout and "compared with the store" in v.stdout, v.stdout + v.stderr

    db = tmp_path / "bastion.db"
    with sqlite3.connect(db) as conn:
        (gw_writer, gw_last), = conn.execute("SELECT writer_id, MAX(seq) FROM bastion_audit "
                                             "WHERE writer_id NOT LIKE 'cli:%' GROUP BY writer_id").fetchall()
        for writer, seq in ((gw_writer, gw_last), ("cli:keys", 2)):
            conn.execute("DELETE FROM bastion_audit WHERE writer_id = ? AND seq = ?", (writer, seq))
            conn.execute("DELETE FROM bastion_audit_checkpoints WHERE writer_id = ? AND seq >= ?", (writer, seq))
    alone = verify(gw)
    assert alone.returncode == 0 and "intact" in alone.stdout, alone.stdout  # the gap this option closes
    v = verify(gw, "--checkpoint-log", str(log))
    assert v.returncode == 1, v.stdout + v.stderr
    assert "deleted: writer cli:keys seq 2: record 2 is missing" in v.stdout, v.stdout
    assert f"deleted: writer {gw_writer} seq {gw_last}: record {gw_last} is missing" in v.stdout, v.stdout

    missing = verify(gw, "--checkpoint-log", str(tmp_path / "nope.log"))
    assert missing.returncode == 2 and "--checkpoint-log: cannot read" in missing.stderr, missing.stderr
