"""Audit records of key changes made offline: `bastion keys create|update|revoke`, acting on the store
directly rather than through the admin API (audit/admin.py).

The records have the admin API's shape (`operation: admin.keys.<action>`, `key_id`, `team`, `admin:
{"action", "fields"}`: field names, never values) with `ingress: "cli"` and, in `admin`, who made the
change (`actor`: the effective OS user, from the user database rather than the environment) and on
which machine (`host`). Each is written, durable, *before* the change is made; a change whose record
cannot be written is not made. A change that then fails or finds nothing to change (the key was
revoked meanwhile) is followed by a second record of the same request id with `status` 409 or 500.

The chain. A gateway's writer keeps its chain's seq and head in memory and appends from one task
(audit/writer.py): another process appending to that chain would fork it, so the CLI never does. Its
records go to a chain of their own (`cli_writer`) in the same store and table: `bastion audit verify`
checks it with the others, a checkpoint (signed with `audit.checkpoint_key`) is written over each
record in the same transaction, and `audit prune` treats it like any chain. No gateway can write it:
`audit.writer_id` does not allow the ':' in its name. There is one such chain per checkpoint key (and
one unsigned): verify reports an unsigned checkpoint in a signed chain as tampering, so a CLI run
without the key, or a key added later, must not mix the two in one chain. Two `bastion keys` runs at
once may both read the same head; (writer_id, seq) is the table's primary key, so only one can take
the next seq, and the other reads the new head and chains after it. The chain cannot fork, on SQLite
or PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import hashlib
import hmac
import os
import random
import secrets
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

from bastion.audit.admin import key_change_record
from bastion.audit.chain import Chain, StoredRecord
from bastion.audit.record import AuditRecord, to_us
from bastion.audit.sink import SqlAuditSink
from bastion.core.errors import ServiceUnavailable
from bastion.core.secret import Secret

CLI_CHAIN = "cli:keys"
_ATTEMPTS = 20  # other runs taking the next seq first, in a row, before this one gives up


def cli_writer(key: Secret | None) -> str:
    """The CLI's chain for records checkpointed under `key`: `cli:keys` unsigned, `cli:keys:<8 hex>`
    signed (an HMAC of a fixed text under the key: it names the key without revealing it)."""
    if key is None:
        return CLI_CHAIN
    mark = hmac.new(key.reveal().encode(), b"bastion-audit-cli-chain-v1", hashlib.sha256).hexdigest()[:8]
    return f"{CLI_CHAIN}:{mark}"


class AuditRefused(Exception):
    """The record of a change could not be written: the change must not be made."""


def os_user() -> str:
    """The effective user's name in the user database (a shell's USER or LOGNAME are the caller's to set)."""
    try:
        import pwd
    except ImportError:  # not POSIX
        try:
            return getpass.getuser()
        except Exception:
            return "unknown"
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:  # a uid without a name (containers)
        return f"uid:{os.geteuid()}"


@dataclass(slots=True)
class OfflineChange:
    """Set `done` once the change is made; a change left undone has a second record saying so."""

    done: bool = False


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class OfflineAudit:
    """Writes key-change records of one CLI run to the CLI's chain in `sink` (`cli_writer`). `enabled` False
    (`audit.enabled: false`): nothing is written, as the gateway writes nothing."""

    def __init__(self, sink: SqlAuditSink, *, enabled: bool = True, checkpoint_key: Secret | None = None,
                 actor: str | None = None, host: str | None = None, clock: Callable[[], float] = time.time,
                 report: Callable[[str], None] | None = None) -> None:
        self._sink = sink
        self._report = report if report is not None else _stderr
        self.enabled = enabled
        self._key = checkpoint_key
        self.writer_id = cli_writer(checkpoint_key)
        self._actor = actor if actor is not None else os_user()
        self._host = host if host is not None else socket.gethostname()
        self._clock = clock
        self._migrated = False

    @contextlib.asynccontextmanager
    async def change(self, action: str, key_id: str, team: str | None,
                     fields: Sequence[str]) -> AsyncIterator[OfflineChange]:
        """Write the record of the change (raises AuditRefused when it cannot be written: make no
        change), let the caller make it, and record a change left undone."""
        change = OfflineChange()
        if not self.enabled:
            yield change
            return
        request_id = "cli-" + secrets.token_hex(8)
        try:
            await self.append(self._record(action, request_id, key_id, team, fields))
        except ServiceUnavailable as e:
            raise AuditRefused(e.message) from None
        failed = False
        try:
            yield change
        except BaseException:
            failed = True
            raise
        finally:
            if not change.done:
                undone = self._record(action, request_id, key_id, team, fields, status=500 if failed else 409,
                                      error_code="change_failed" if failed else "not_changed")
                with contextlib.suppress(Exception):  # the change's own error is the one to report
                    await self.append(undone)

    def _record(self, action: str, request_id: str, key_id: str, team: str | None, fields: Sequence[str],
                status: int | None = None, error_code: str | None = None) -> AuditRecord:
        return key_change_record(action, ingress="cli", wall=self._clock(), request_id=request_id, key_id=key_id,
                                 team=team, client=None, fields=fields, status=status, error_code=error_code,
                                 extra={"actor": self._actor, "host": self._host})

    async def append(self, record: AuditRecord) -> StoredRecord:
        """Chain `record` after the CLI chain's head and store it with a checkpoint over it, durable on
        return. Raises ServiceUnavailable when the store cannot take it."""
        sink, writer = self._sink, self.writer_id
        if not self._migrated:
            await sink.migrate()
            self._migrated = True
        for _ in range(_ATTEMPTS):
            head = await sink.head(writer)
            chain = Chain(writer, seq=head[0], head=head[1]) if head is not None else Chain(writer)
            stored = chain.append(record)
            cp = chain.checkpoint(self._key, to_us(self._clock()))
            try:
                await sink.append_checkpointed([stored], cp)
            except ServiceUnavailable:
                there = await sink.record_at(writer, stored.seq)
                if there is None:
                    raise  # the seq is still free: the store failed, no other run took it
                if there.hash != stored.hash:
                    # another run took this seq first: chain after it (a pause of random length, so runs
                    # that collided do not collide again in step)
                    await asyncio.sleep(random.uniform(0.0, 0.02))
                    continue
                # it was written; only the answer was lost
            # the line the gateway logs for each checkpoint: a copy of the chain's head outside the store
            # (`bastion audit verify --checkpoint-log` compares them: deleting the newest record with its
            # checkpoint is then caught)
            self._report(f"audit checkpoint writer_id={cp.writer_id} seq={cp.seq} hash={cp.hash} "
                         f"signed={cp.signature is not None}")
            return stored
        raise ServiceUnavailable(f"the audit chain {writer} kept moving: {_ATTEMPTS} other changes were "
                                 "recorded meanwhile; try again")
