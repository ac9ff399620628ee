"""Records of key changes made offline (audit/offline.py): written to their own chain before the
change, with a checkpoint each; a change whose record cannot be written is not made; runs at once
never fork the chain (both store backends)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import orjson
import pytest
from pydantic import ValidationError
from tests.unit.audit.conftest import TAMPER_KEY

from bastion.audit.chain import Checkpoint, StoredRecord
from bastion.audit.offline import CLI_CHAIN, AuditRefused, OfflineAudit, cli_writer, os_user
from bastion.audit.prune import prune_before
from bastion.audit.record import to_us
from bastion.audit.sink import SqlAuditSink
from bastion.audit.verify import verify_store
from bastion.config.audit import AuditConfig
from bastion.core.errors import ServiceUnavailable


def audit(sink: SqlAuditSink, **kw: object) -> OfflineAudit:
    return OfflineAudit(sink, checkpoint_key=TAMPER_KEY, actor="alice", host="ops-1", **kw)  # type: ignore[arg-type]


async def bodies(sink: SqlAuditSink) -> list[dict[str, object]]:
    return [orjson.loads(r.body) for r in await sink.records(cli_writer(TAMPER_KEY), 0, 1000)]


async def test_each_change_is_a_signed_record_of_the_admin_shape(sink: SqlAuditSink) -> None:
    a = audit(sink)
    async with a.change("create", "k" * 12, "payments", ("name", "rpm")) as change:
        change.done = True
    async with a.change("revoke", "k" * 12, "payments", ()) as change:
        change.done = True
    first, second = await bodies(sink)
    assert first["ingress"] == "cli" and first["operation"] == "admin.keys.create" and first["status"] == 201
    assert first["key_id"] == "k" * 12 and first["team"] == "payments" and first["authenticated"] is True
    assert first["admin"] == {"action": "create", "fields": ["name", "rpm"], "actor": "alice", "host": "ops-1"}
    assert second["operation"] == "admin.keys.revoke" and second["status"] == 200 and second["seq"] == 2
    report = await verify_store(sink, TAMPER_KEY)
    assert report.intact and not report.warnings, report
    (chain,) = report.chains
    assert chain.writer_id == cli_writer(TAMPER_KEY) and chain.records == 2 and chain.signed_checkpoints == 2


async def test_a_change_left_undone_or_failed_has_a_second_record(sink: SqlAuditSink) -> None:
    a = audit(sink)
    async with a.change("update", "k" * 12, None, ("rpm",)):
        pass  # e.g. the key was revoked meanwhile
    with pytest.raises(RuntimeError):
        async with a.change("update", "k" * 12, None, ("rpm",)):
            raise RuntimeError("the key store failed")
    made, undone, tried, failed = await bodies(sink)
    assert (made["status"], undone["status"], undone["error_code"]) == (200, 409, "not_changed")
    assert made["request_id"] == undone["request_id"] != tried["request_id"] == failed["request_id"]
    assert (failed["status"], failed["error_code"]) == (500, "change_failed")
    assert (await verify_store(sink, TAMPER_KEY)).intact


class BrokenSink(SqlAuditSink):
    """A store that takes no record (full disk, no permission, a lock held too long)."""

    async def append_checkpointed(self, records: Sequence[StoredRecord], checkpoint: Checkpoint) -> None:
        raise ServiceUnavailable("store error: OperationalError")


async def test_a_record_that_cannot_be_written_refuses_the_change(sink: SqlAuditSink) -> None:
    made = []
    with pytest.raises(AuditRefused, match="OperationalError"):
        async with audit(BrokenSink(sink.db, sink.table)).change("revoke", "k" * 12, None, ()):
            made.append(True)
    assert made == [] and await bodies(sink) == []


class LostAnswer(SqlAuditSink):
    """Commits, then loses the answer (a connection that broke after COMMIT)."""

    async def append_checkpointed(self, records: Sequence[StoredRecord], checkpoint: Checkpoint) -> None:
        await super().append_checkpointed(records, checkpoint)
        raise ServiceUnavailable("store error: ConnectionResetError")


async def test_a_record_written_whose_answer_was_lost_is_written_once(sink: SqlAuditSink) -> None:
    async with audit(LostAnswer(sink.db, sink.table)).change("revoke", "k" * 12, None, ()) as change:
        change.done = True
    assert [b["seq"] for b in await bodies(sink)] == [1]


async def test_runs_at_once_never_fork_the_chain(sink: SqlAuditSink) -> None:
    """Each run reads the head and inserts the next seq; the primary key lets one of those that read
    the same head in: the others chain after it."""

    async def run(n: int) -> None:
        a = audit(sink)
        for i in range(4):
            async with a.change("update", f"{n:02d}{i:010d}", None, ("rpm",)) as change:
                change.done = True

    await asyncio.gather(*(run(n) for n in range(5)))
    assert [b["seq"] for b in await bodies(sink)] == list(range(1, 21))
    assert len({b["key_id"] for b in await bodies(sink)}) == 20
    assert (await verify_store(sink, TAMPER_KEY)).intact


async def test_disabled_audit_writes_nothing(sink: SqlAuditSink) -> None:
    async with audit(sink, enabled=False).change("create", "k" * 12, None, ("name",)) as change:
        change.done = True
    assert await bodies(sink) == []


def test_no_gateway_can_be_configured_to_write_a_cli_chain() -> None:
    for writer in (CLI_CHAIN, cli_writer(TAMPER_KEY)):
        with pytest.raises(ValidationError):
            AuditConfig(writer_id=writer)


async def test_one_chain_per_checkpoint_key_so_verify_never_sees_a_mix(sink: SqlAuditSink) -> None:
    """A run without the key (or before one was configured) writes unsigned checkpoints: in a signed
    chain verify would call that tampering, so they go to a chain of their own."""
    for key in (None, TAMPER_KEY, None):
        async with OfflineAudit(sink, checkpoint_key=key).change("revoke", "k" * 12, None, ()) as change:
            change.done = True
    assert cli_writer(None) == CLI_CHAIN and cli_writer(TAMPER_KEY).startswith(CLI_CHAIN + ":")
    assert TAMPER_KEY.reveal() not in cli_writer(TAMPER_KEY)
    report = await verify_store(sink, TAMPER_KEY)
    assert report.intact, report.problems
    assert sorted((c.writer_id, c.records) for c in report.chains) == [(CLI_CHAIN, 2), (cli_writer(TAMPER_KEY), 1)]


def test_the_actor_is_the_user_database_name_not_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    real = os_user()
    monkeypatch.setenv("USER", "someone-else")
    monkeypatch.setenv("LOGNAME", "someone-else")
    assert os_user() == real != "someone-else"


async def test_pruned_away_the_chain_goes_on_from_its_anchor(sink: SqlAuditSink) -> None:
    """Each CLI record has its checkpoint, so prune can take them all; the next change chains after
    the anchor, and the chain still verifies."""
    clock = [1_800_000_000.0]
    a = audit(sink, clock=lambda: clock[0])
    for _ in range(3):
        async with a.change("revoke", "k" * 12, None, ()) as change:
            change.done = True
        clock[0] += 10
    (result,) = await prune_before(sink, to_us(clock[0]))
    assert (result.writer_id, result.through_seq, result.deleted) == (cli_writer(TAMPER_KEY), 3, 3)
    async with a.change("revoke", "k" * 12, None, ()) as change:
        change.done = True
    assert [b["seq"] for b in await bodies(sink)] == [4]
    report = await verify_store(sink, TAMPER_KEY)
    assert report.intact and report.chains[0].anchor_seq == 3, report.problems
