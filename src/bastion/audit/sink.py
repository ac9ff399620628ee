"""Where audit records go: the AuditSink protocol and its SQL implementation (SQLite and PostgreSQL).

Two tables: `bastion_audit` (one row per record, primary key (writer_id, seq)) and
`bastion_audit_checkpoints` (signed checkpoints and prune anchors). Portable SQL only, so the
one implementation runs on both `store.db` backends. Several writers (replicas) append to one
store concurrently; each owns its chain's key space, so they never contend for a row.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from typing import Protocol

from bastion.audit.chain import Checkpoint, CheckpointKind, StoredRecord
from bastion.store.db import Database, Row

_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,40}$")
_REC_COLS = "writer_id, seq, ts_us, request_id, prev_hash, hash, body"
_CP_COLS = "writer_id, seq, hash, ts_us, signature, kind"
_ROWS = 64  # rows per INSERT statement on SQLite (append)
_flat = itertools.chain.from_iterable


class AuditSink(Protocol):
    """Durable storage of chained records and checkpoints. Errors are ServiceUnavailable."""

    async def migrate(self) -> None: ...

    async def append(self, records: Sequence[StoredRecord]) -> None:
        """Insert records atomically (all or none)."""
        ...

    async def add_checkpoints(self, checkpoints: Sequence[Checkpoint]) -> None: ...

    async def head(self, writer_id: str) -> tuple[int, str] | None:
        """(seq, hash) of the writer's newest record or anchor, None for an unknown writer."""
        ...

    async def record_at(self, writer_id: str, seq: int) -> StoredRecord | None: ...

    async def has_checkpoint(self, writer_id: str, seq: int) -> bool: ...

    async def writer_ids(self) -> list[str]: ...

    async def records(self, writer_id: str, after_seq: int, limit: int) -> list[StoredRecord]:
        """The writer's records with seq > after_seq, by seq."""
        ...

    async def checkpoints(self, writer_id: str) -> list[Checkpoint]:
        """The writer's checkpoints and anchors, by seq."""
        ...

    async def latest(self, n: int) -> list[StoredRecord]:
        """The newest n records by time, oldest first."""
        ...

    async def between(self, since_us: int, until_us: int | None, after: tuple[int, str, int] | None,
                      limit: int) -> list[StoredRecord]:
        """Records with since_us <= ts_us < until_us ordered by (ts_us, writer_id, seq), resuming
        strictly after the `after` position (keyset pagination)."""
        ...

    async def count(self, writer_id: str | None = None, through_seq: int | None = None) -> int:
        """Number of records (of one writer, up to a seq)."""
        ...

    async def first_seq_since(self, writer_id: str, ts_us: int) -> int | None:
        """The lowest seq of the writer's records with ts_us >= the given time, None if none."""
        ...

    async def prune_to(self, anchor: Checkpoint) -> int:
        """Atomically: store `anchor`, delete the writer's records up to anchor.seq and the
        checkpoints/anchors before it. Returns the number of records deleted."""
        ...


def _record(row: Row) -> StoredRecord:
    return StoredRecord(str(row[0]), int(row[1]), int(row[2]), str(row[3]), str(row[4]), str(row[5]), str(row[6]))


def _checkpoint(row: Row) -> Checkpoint:
    kind: CheckpointKind = "anchor" if row[5] == "anchor" else "checkpoint"
    sig = str(row[4]) if row[4] is not None else None
    return Checkpoint(str(row[0]), int(row[1]), str(row[2]), int(row[3]), sig, kind)


class SqlAuditSink:
    """AuditSink over bastion.store.db.Database. `table` names the record table; the checkpoint
    table is `<table>_checkpoints` (tests use private names)."""

    def __init__(self, db: Database, table: str = "bastion_audit") -> None:
        if not _NAME.match(table):
            raise ValueError(f"audit table name {table!r} must match {_NAME.pattern}")
        self.db = db
        self.table = table
        self.cp_table = f"{table}_checkpoints"
        t, c = self.table, self.cp_table
        self._sql_append = f"INSERT INTO {t} ({_REC_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
        self._sql_add_cp = f"INSERT INTO {c} ({_CP_COLS}) VALUES (?, ?, ?, ?, ?, ?)"
        self._sql_many: dict[int, str] = {}

    @property
    def ddl(self) -> list[str]:
        t, c = self.table, self.cp_table
        return [
            f"CREATE TABLE IF NOT EXISTS {t} (writer_id VARCHAR(64) NOT NULL, seq BIGINT NOT NULL, "
            "ts_us BIGINT NOT NULL, request_id VARCHAR(128) NOT NULL, prev_hash VARCHAR(64) NOT NULL, "
            "hash VARCHAR(64) NOT NULL, body TEXT NOT NULL, PRIMARY KEY (writer_id, seq))",
            f"CREATE INDEX IF NOT EXISTS {t}_ts ON {t} (ts_us)",
            f"CREATE TABLE IF NOT EXISTS {c} (writer_id VARCHAR(64) NOT NULL, seq BIGINT NOT NULL, "
            "hash VARCHAR(64) NOT NULL, ts_us BIGINT NOT NULL, signature VARCHAR(128), "
            "kind VARCHAR(16) NOT NULL, PRIMARY KEY (writer_id, kind, seq))",
        ]

    async def migrate(self) -> None:
        await self.db.migrate(self.ddl)

    async def append(self, records: Sequence[StoredRecord]) -> None:
        if not records:  # a StoredRecord is a row in the column order of _REC_COLS
            return
        if self.db.dialect == "sqlite" and len(records) > 1:
            # SQLite: INSERTs of up to 64 rows each, in one transaction (all or none, as executemany's):
            # executemany steps, resets and drops the GIL once a row, ~29k instructions a row against
            # ~22k (callgrind, 500-row batches). 64 rows bind 448 values (SQLite allows 999 and more).
            # The rows' values flattened by itertools (a tuple, bound as it is), not a comprehension: ~0.5k
            # instructions a row less.
            n = len(records)
            await self.db.transaction([
                (self._sql_rows(min(_ROWS, n - i)), tuple(_flat(records[i:i + _ROWS])))
                for i in range(0, n, _ROWS)])
            return
        # as plain tuples: sqlite3 reads a tuple subclass's items through `__getitem__`, ~750
        # instructions each (~5k a row); tuple() is ~0.3k
        await self.db.executemany(self._sql_append, [tuple(r) for r in records])

    def _sql_rows(self, n: int) -> str:
        """The INSERT of n rows (made once per n)."""
        sql = self._sql_many.get(n)
        if sql is None:
            sql = self._sql_many[n] = self._sql_append + ", (?, ?, ?, ?, ?, ?, ?)" * (n - 1)
        return sql

    async def append_checkpointed(self, records: Sequence[StoredRecord], checkpoint: Checkpoint) -> None:
        """Insert records and a checkpoint over the last of them in one transaction (all or none): a
        writer that appends once and stops, as `bastion keys` does (audit/offline.py)."""
        await self.db.transaction(
            [(self._sql_append, r) for r in records]
            + [(self._sql_add_cp, (checkpoint.writer_id, checkpoint.seq, checkpoint.hash, checkpoint.ts_us,
                                   checkpoint.signature, checkpoint.kind))])

    async def add_checkpoints(self, checkpoints: Sequence[Checkpoint]) -> None:
        if checkpoints:
            await self.db.executemany(self._sql_add_cp, [
                (c.writer_id, c.seq, c.hash, c.ts_us, c.signature, c.kind) for c in checkpoints])

    async def head(self, writer_id: str) -> tuple[int, str] | None:
        rec = await self.db.fetchone(
            f"SELECT seq, hash FROM {self.table} WHERE writer_id = ? ORDER BY seq DESC LIMIT 1", (writer_id,))
        anc = await self.db.fetchone(
            f"SELECT seq, hash FROM {self.cp_table} WHERE writer_id = ? AND kind = 'anchor' "
            "ORDER BY seq DESC LIMIT 1", (writer_id,))
        best = max((r for r in (rec, anc) if r is not None), key=lambda r: int(r[0]), default=None)
        return (int(best[0]), str(best[1])) if best is not None else None

    async def record_at(self, writer_id: str, seq: int) -> StoredRecord | None:
        row = await self.db.fetchone(
            f"SELECT {_REC_COLS} FROM {self.table} WHERE writer_id = ? AND seq = ?", (writer_id, seq))
        return _record(row) if row is not None else None

    async def has_checkpoint(self, writer_id: str, seq: int) -> bool:
        row = await self.db.fetchone(
            f"SELECT 1 FROM {self.cp_table} WHERE writer_id = ? AND kind = 'checkpoint' AND seq = ?",
            (writer_id, seq))
        return row is not None

    async def writer_ids(self) -> list[str]:
        rows = await self.db.fetchall(
            f"SELECT writer_id FROM {self.table} UNION SELECT writer_id FROM {self.cp_table} ORDER BY 1")
        return [str(r[0]) for r in rows]

    async def records(self, writer_id: str, after_seq: int, limit: int) -> list[StoredRecord]:
        rows = await self.db.fetchall(
            f"SELECT {_REC_COLS} FROM {self.table} WHERE writer_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            (writer_id, after_seq, limit))
        return [_record(r) for r in rows]

    async def checkpoints(self, writer_id: str) -> list[Checkpoint]:
        rows = await self.db.fetchall(
            f"SELECT {_CP_COLS} FROM {self.cp_table} WHERE writer_id = ? ORDER BY seq, kind", (writer_id,))
        return [_checkpoint(r) for r in rows]

    async def latest(self, n: int) -> list[StoredRecord]:
        rows = await self.db.fetchall(
            f"SELECT {_REC_COLS} FROM {self.table} ORDER BY ts_us DESC, writer_id DESC, seq DESC LIMIT ?", (n,))
        return [_record(r) for r in reversed(rows)]

    async def between(self, since_us: int, until_us: int | None, after: tuple[int, str, int] | None,
                      limit: int) -> list[StoredRecord]:
        where, params = ["ts_us >= ?"], [since_us]
        if until_us is not None:
            where.append("ts_us < ?")
            params.append(until_us)
        args: list[object] = list(params)
        if after is not None:
            ts, w, s = after
            where.append("(ts_us > ? OR (ts_us = ? AND writer_id > ?) OR (ts_us = ? AND writer_id = ? AND seq > ?))")
            args += [ts, ts, w, ts, w, s]
        rows = await self.db.fetchall(
            f"SELECT {_REC_COLS} FROM {self.table} WHERE {' AND '.join(where)} "
            "ORDER BY ts_us, writer_id, seq LIMIT ?", (*args, limit))
        return [_record(r) for r in rows]

    async def count(self, writer_id: str | None = None, through_seq: int | None = None) -> int:
        sql, params = f"SELECT COUNT(*) FROM {self.table}", []
        if writer_id is not None:
            sql += " WHERE writer_id = ? AND seq <= ?"
            params = [writer_id, through_seq if through_seq is not None else 2**62]
        row = await self.db.fetchone(sql, params)
        return int(row[0]) if row is not None else 0

    async def first_seq_since(self, writer_id: str, ts_us: int) -> int | None:
        row = await self.db.fetchone(
            f"SELECT MIN(seq) FROM {self.table} WHERE writer_id = ? AND ts_us >= ?", (writer_id, ts_us))
        return int(row[0]) if row is not None and row[0] is not None else None

    async def prune_to(self, anchor: Checkpoint) -> int:
        w, s = anchor.writer_id, anchor.seq
        deleted = await self.count(w, s)
        await self.db.transaction([
            (f"DELETE FROM {self.cp_table} WHERE writer_id = ? AND kind = 'anchor' AND seq = ?", (w, s)),
            (self._sql_add_cp, (w, s, anchor.hash, anchor.ts_us, anchor.signature, "anchor")),
            (f"DELETE FROM {self.table} WHERE writer_id = ? AND seq <= ?", (w, s)),
            (f"DELETE FROM {self.cp_table} WHERE writer_id = ? AND seq < ?", (w, s)),
        ])
        return deleted
