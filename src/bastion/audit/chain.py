"""The hash chain of one audit writer, and the signed checkpoints over it.

Each writer (one per process start, or a configured name) numbers its records 1..n; record n
stores prev_hash = hash of record n-1 (64 zeros for the first) and
hash = SHA-256(prev_hash as ASCII hex || canonical record bytes). The canonical record contains
writer_id and seq, so a record cannot be moved to another position or chain unnoticed.
A checkpoint signs (writer_id, seq, hash, time) with HMAC-SHA256 under a configured key: without
the key nobody can rewrite records up to a checkpoint consistently.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, NamedTuple

from bastion.audit import record as _record
from bastion.audit.record import RECORD_VERSION, AuditRecord
from bastion.core.secret import Secret

GENESIS = "0" * 64
_sha256 = hashlib.sha256
_native_link_run: Callable[..., list[StoredRecord]] | None
try:
    from bastion._native import audit_link_run as _native_link_run
    from bastion._native import audit_sha256_hex
except ImportError:  # not built
    audit_sha256_hex = _native_link_run = None  # type: ignore[assignment]
# audit_link's hash: its own call of libcrypto's SHA-256 (None) when it found the library hashlib loaded, ~3.3k
# instructions a record less than a hashlib object (callgrind); else hashlib's constructor
_link_sha = None if audit_sha256_hex is not None and audit_sha256_hex(b"") is not None else _sha256
_new_tuple = tuple.__new__
CheckpointKind = Literal["checkpoint", "anchor"]


class StoredRecord(NamedTuple):
    """A chained record as stored, its fields in the store's column order (the sinks bind it as
    a row as it is). `ts_us` and `request_id` repeat body fields for indexing; verify checks that
    they agree with the hashed body. A named tuple: the writer makes one per record, and a frozen
    dataclass's `__init__` (one `object.__setattr__` per field) cost ~11k instructions of it."""

    writer_id: str
    seq: int
    ts_us: int
    request_id: str
    prev_hash: str
    hash: str
    body: str


@dataclass(slots=True, frozen=True)
class Checkpoint:
    """A signed statement "writer W's record `seq` has hash H" (kind "checkpoint"), or the
    anchor left by prune: the chain now starts after `seq`, whose hash was H (kind "anchor")."""

    writer_id: str
    seq: int
    hash: str
    ts_us: int
    signature: str | None  # hex HMAC-SHA256; None when no key is configured
    kind: CheckpointKind = "checkpoint"


def new_writer_id() -> str:
    return "w-" + secrets.token_hex(8)


def link_hash(prev_hash: str, body: bytes) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + body).hexdigest()


def _checkpoint_message(writer_id: str, seq: int, hash_: str, ts_us: int) -> bytes:
    return f"bastion-audit-checkpoint-v1\n{writer_id}\n{seq}\n{hash_}\n{ts_us}".encode()


def sign_checkpoint(key: Secret, writer_id: str, seq: int, hash_: str, ts_us: int) -> str:
    return hmac.new(key.reveal().encode(), _checkpoint_message(writer_id, seq, hash_, ts_us),
                    hashlib.sha256).hexdigest()


def checkpoint_valid(key: Secret, cp: Checkpoint) -> bool:
    if cp.signature is None:
        return False
    expected = sign_checkpoint(key, cp.writer_id, cp.seq, cp.hash, cp.ts_us)
    return hmac.compare_digest(expected, cp.signature)


def content_key(key: Secret | None) -> bytes | None:
    """A separate key for `hash` capture, derived from the checkpoint key (never the key itself)."""
    if key is None:
        return None
    return hmac.new(key.reveal().encode(), b"bastion-audit-content-v1", hashlib.sha256).digest()


class Chain:
    """Assigns seq and hashes to records in order. Not thread-safe: one writer task owns it."""

    def __init__(self, writer_id: str, *, seq: int = 0, head: str = GENESIS) -> None:
        self.writer_id = writer_id
        self.seq = seq
        self.head = head

    def append(self, record: AuditRecord) -> StoredRecord:
        seq = self.seq + 1
        writer_id, head = self.writer_id, self.head
        # The body, its link hash and the stored row in one C call (audit_link: ~2k instructions of Python a
        # record less), for every record audit_body writes; None for the others, which take the code below.
        # Both are the C body's: tests take the Python path by setting _record._native_body to None.
        if _record._native_body is not None and (link := _record._native_link) is not None:
            linked = link(StoredRecord, record, writer_id, seq, RECORD_VERSION, head, _link_sha)
            if linked is not None:  # a StoredRecord (audit_link makes the type it is given), [5] its hash
                self.seq, self.head = seq, linked[5]  # type: ignore[assignment]
                return linked  # type: ignore[return-value]
        # record.chained(writer_id, seq) and link_hash(head, body) (C body when written, else Python)
        native = _record._native_body
        done = native(record, writer_id, seq, RECORD_VERSION) if native is not None else None
        body, text, ts_us = done if done is not None else record.chained_python(writer_id, seq)
        h = _sha256(head.encode("ascii") + body).hexdigest()
        stored = _new_tuple(StoredRecord, (writer_id, seq, ts_us, record.request_id, head, h, text))
        self.seq, self.head = seq, h
        return stored

    def link_run(self, items: list[tuple[AuditRecord, object]], start: int, stop: int) -> list[StoredRecord]:
        """`append` of items[k][0] for k from start to stop in one C call (audit_link_run: the writer's loop of
        Python frames, ~1.5k instructions a record): the rows of a prefix, up to the first record the C code
        does not chain (the caller appends that one), [] without the C code. The chain advances by the rows."""
        run = _native_link_run
        if run is None or _record._native_body is None or _record._native_link is None:
            return []
        rows = run(StoredRecord, items, start, stop, self.writer_id, self.seq, RECORD_VERSION, self.head, _link_sha)
        if rows:
            self.seq, self.head = rows[-1].seq, rows[-1].hash
        return rows

    def checkpoint(self, key: Secret | None, ts_us: int) -> Checkpoint:
        sig = sign_checkpoint(key, self.writer_id, self.seq, self.head, ts_us) if key is not None else None
        return Checkpoint(self.writer_id, self.seq, self.head, ts_us, sig)
