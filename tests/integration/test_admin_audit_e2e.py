"""Key changes through the admin API are records in the audit hash chain: who changed which key,
how, when, from where (field names, never values), and a change the audit log cannot record is
refused before it is made."""

from __future__ import annotations

import sqlite3

from tests.gateway import Gateway, base_config
from tests.integration.test_audit_e2e import export, verify


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
