"""Verifies an audit store: every chain link, every checkpoint, and the prune anchors.

For each writer it walks the records by seq and reports the first problem, classified as
edited (a record's content, hash or indexed column changed, or records replaced), deleted
(a gap, or records missing at the end below a checkpoint), inserted (a record that is not part
of the chain) or reordered (a record stored at another position than its hashed seq), plus
checkpoint problems (bad signature, or a checkpoint the chain no longer matches).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

import orjson

from bastion.audit.chain import GENESIS, Checkpoint, StoredRecord, checkpoint_valid, link_hash
from bastion.audit.record import parse_iso
from bastion.audit.sink import AuditSink
from bastion.core.secret import Secret

ProblemKind = Literal["edited", "deleted", "inserted", "reordered", "checkpoint"]
_PAGE = 2000
_LOOKAHEAD = 10000


@dataclass(slots=True, frozen=True)
class Problem:
    writer_id: str
    seq: int | None
    kind: ProblemKind
    reason: str

    def __str__(self) -> str:
        at = f" seq {self.seq}" if self.seq is not None else ""
        return f"{self.kind}: writer {self.writer_id}{at}: {self.reason}"


@dataclass(slots=True)
class ChainReport:
    writer_id: str
    records: int = 0
    first_seq: int | None = None
    last_seq: int = 0
    anchor_seq: int | None = None
    checkpoints: int = 0
    signed_checkpoints: int = 0
    problems: list[Problem] = field(default_factory=list)


@dataclass(slots=True)
class VerifyReport:
    chains: list[ChainReport]
    warnings: list[str]

    @property
    def problems(self) -> list[Problem]:
        return [p for c in self.chains for p in c.problems]

    @property
    def intact(self) -> bool:
        return not self.problems

    @property
    def record_count(self) -> int:
        return sum(c.records for c in self.chains)

    def summary(self) -> str:
        if self.intact:
            return f"intact: {self.record_count} records in {len(self.chains)} chain(s)"
        return f"TAMPERED: {len(self.problems)} problem(s) in {len(self.chains)} chain(s)"


class _Rec:
    """A stored record with its hashed body parsed (None when it does not parse)."""

    __slots__ = ("body", "row")

    def __init__(self, row: StoredRecord) -> None:
        self.row = row
        try:
            body = orjson.loads(row.body)
            self.body: dict[str, object] | None = body if isinstance(body, dict) else None
        except orjson.JSONDecodeError:
            self.body = None

    @property
    def body_seq(self) -> object:
        return self.body.get("seq") if self.body is not None else None


async def verify_store(sink: AuditSink, key: Secret | None = None) -> VerifyReport:
    """Verify every chain in the store. `key` checks checkpoint signatures."""
    chains = [await _verify_chain(sink, w, key) for w in await sink.writer_ids()]
    warnings: list[str] = []
    total_cps = sum(c.checkpoints for c in chains)
    signed = sum(c.signed_checkpoints for c in chains)
    for c in chains:
        if c.records and not c.checkpoints:
            warnings.append(f"chain {c.writer_id}: {c.records} record(s) and no checkpoint: nothing signed covers "
                            "them (a writer that has just started, or checkpoints deleted: compare with the "
                            "`audit checkpoint` log lines)")
    if signed < total_cps:
        why = ("no audit.checkpoint_key when written" if key is None else
               "written without a checkpoint_key, or forged: the key given cannot tell")
        warnings.append(f"{total_cps - signed} checkpoint(s) are unsigned ({why}): someone with write access to "
                        "the store could rewrite the records they cover consistently")
    if signed and key is None:
        warnings.append("checkpoints are signed but no checkpoint_key was given: signatures not checked")
    return VerifyReport(chains, warnings)


# what the writer logs for each checkpoint it stores (audit/writer.py, audit/offline.py)
LOGGED_CHECKPOINT = re.compile(r"audit checkpoint writer_id=(\S+) seq=(\d+) hash=([0-9a-f]{64})")


def logged_checkpoints(lines: Iterable[str]) -> list[tuple[str, int, str]]:
    """(writer_id, seq, hash) of every `audit checkpoint` line in `lines` (log lines of any format:
    plain or JSON, the message is matched wherever it is)."""
    found = []
    for line in lines:
        for m in LOGGED_CHECKPOINT.finditer(line):
            found.append((m.group(1).rstrip('",'), int(m.group(2)), m.group(3)))
    return found


async def check_logged(sink: AuditSink, report: VerifyReport, logged: Iterable[tuple[str, int, str]]) -> int:
    """Compare checkpoints copied out of the store (the `audit checkpoint` log lines) with it: a chain
    whose newest records were deleted together with their checkpoints verifies intact on its own, but
    not against a copy of its head kept elsewhere. Adds a problem to the chain's report for each logged
    checkpoint whose record is missing or different; returns how many logged checkpoints were checked
    (those of pruned records are skipped)."""
    chains = {c.writer_id: c for c in report.chains}
    checked = 0
    for writer_id, seq, digest in sorted(set(logged)):
        chain = chains.get(writer_id)
        if chain is None:
            chain = chains[writer_id] = ChainReport(writer_id)
            report.chains.append(chain)
        if chain.anchor_seq is not None and seq <= chain.anchor_seq:
            continue  # pruned (`bastion audit prune`): the anchor vouches for what was before it
        checked += 1
        row = await sink.record_at(writer_id, seq)
        if row is None:
            chain.problems.append(Problem(writer_id, seq, "deleted",
                                          f"record {seq} is missing but its checkpoint was logged (hash "
                                          f"{digest[:16]}…): records at the chain's end were deleted"))
        elif row.hash != digest:
            chain.problems.append(Problem(writer_id, seq, "edited",
                                          f"record {seq} does not match its logged checkpoint (hash {digest[:16]}…)"))
    return checked


async def _verify_chain(sink: AuditSink, writer_id: str, key: Secret | None) -> ChainReport:
    rep = ChainReport(writer_id)
    cps = await sink.checkpoints(writer_id)
    anchors = [c for c in cps if c.kind == "anchor"]
    checkpoints = [c for c in cps if c.kind == "checkpoint"]
    rep.checkpoints = len(checkpoints)
    rep.signed_checkpoints = sum(1 for c in checkpoints if c.signature is not None)
    anchor = anchors[-1] if anchors else None
    expected_seq, expected_prev = (anchor.seq + 1, anchor.hash) if anchor else (1, GENESIS)
    if anchor is not None:
        rep.anchor_seq = anchor.seq
        if not any(c.seq == anchor.seq and c.hash == anchor.hash for c in checkpoints):
            rep.problems.append(Problem(writer_id, anchor.seq, "deleted",
                                        "prune anchor is not backed by a checkpoint: records before it were "
                                        "deleted outside `bastion audit prune`"))
    cp_seqs = {c.seq for c in checkpoints}
    hashes: dict[int, str] = {}  # seq -> hash of verified records (recent window + checkpointed seqs)
    if anchor is not None:
        hashes[anchor.seq] = anchor.hash
    after = expected_seq - 1
    problem: Problem | None = None
    while problem is None:
        page = await sink.records(writer_id, after, _PAGE)
        if not page:
            break
        for row in page:
            problem = await _check(sink, writer_id, _Rec(row), expected_seq, expected_prev, hashes)
            if problem is not None:
                break
            rep.records += 1
            rep.first_seq = rep.first_seq if rep.first_seq is not None else row.seq
            hashes[row.seq] = row.hash
            if row.seq - 64 not in cp_seqs:
                hashes.pop(row.seq - 64, None)
            expected_seq, expected_prev = row.seq + 1, row.hash
        after = page[-1].seq
    rep.last_seq = expected_seq - 1
    if problem is not None:
        rep.problems.append(problem)
    rep.problems.extend(_check_checkpoints(writer_id, checkpoints, anchor, hashes, rep, key, problem is None))
    return rep


async def _check(sink: AuditSink, w: str, rec: _Rec, exp_seq: int, exp_prev: str,
                 hashes: dict[int, str]) -> Problem | None:
    r, body = rec.row, rec.body
    if body is None or link_hash(r.prev_hash, r.body.encode()) != r.hash:
        return Problem(w, r.seq, "edited", "record content does not match its hash")
    b_seq, b_writer = body.get("seq"), body.get("writer_id")
    if b_writer != w:
        return Problem(w, r.seq, "inserted", f"record belongs to another chain ({b_writer!s:.64})")
    if not isinstance(b_seq, int):
        return Problem(w, r.seq, "edited", "record has no sequence number")
    time_text = body.get("time")
    try:
        ts_ok = isinstance(time_text, str) and parse_iso(time_text) == r.ts_us
    except ValueError:
        ts_ok = False
    if not ts_ok or body.get("request_id") != r.request_id:
        return Problem(w, r.seq, "edited", "indexed column (time or request_id) differs from the hashed record")
    if b_seq == r.seq:
        if r.seq > exp_seq:
            span = f"{exp_seq}" if r.seq - 1 == exp_seq else f"{exp_seq}..{r.seq - 1}"
            return Problem(w, exp_seq, "deleted", f"record(s) {span} missing")
        if r.prev_hash == exp_prev:
            return None
        earlier = [s for s, h in hashes.items() if h == r.prev_hash]
        if earlier:
            return Problem(w, earlier[0] + 1, "edited",
                           f"records {earlier[0] + 1}..{r.seq - 1} were replaced (record {r.seq} links to {earlier[0]})")
        return Problem(w, r.seq - 1, "edited", f"record {r.seq - 1} was replaced (record {r.seq} does not link to it)")
    if b_seq < r.seq:
        original = await sink.record_at(w, b_seq) if b_seq > 0 else None
        if original is not None and original.hash == r.hash:
            return Problem(w, r.seq, "inserted", f"position {r.seq} holds a copy of record {b_seq}")
        if hashes.get(b_seq - 1, GENESIS if b_seq == 1 else None) == r.prev_hash:
            return Problem(w, b_seq, "inserted",
                           f"position(s) {b_seq}..{r.seq - 1} hold records that are not part of the chain")
        return Problem(w, r.seq, "reordered", f"record {b_seq} is stored at position {r.seq}")
    for later in await sink.records(w, r.seq, _LOOKAHEAD):
        if _Rec(later).body_seq == exp_seq:
            return Problem(w, r.seq, "reordered", f"record {b_seq} is stored at position {r.seq}, "
                                                  f"record {exp_seq} at position {later.seq}")
    return Problem(w, exp_seq, "deleted",
                   f"record(s) {exp_seq}..{b_seq - 1} missing (later records were renumbered)")


def _check_checkpoints(w: str, checkpoints: list[Checkpoint], anchor: Checkpoint | None,
                       hashes: dict[int, str], rep: ChainReport, key: Secret | None,
                       chain_ok: bool) -> list[Problem]:
    out: list[Problem] = []
    for cp in checkpoints:
        if key is not None and cp.signature is not None and not checkpoint_valid(key, cp):
            out.append(Problem(w, cp.seq, "checkpoint",
                               "checkpoint signature does not verify (forged, or signed with another key)"))
        elif key is not None and cp.signature is None and rep.signed_checkpoints:
            out.append(Problem(w, cp.seq, "checkpoint", "unsigned checkpoint in a signed chain"))
    if key is not None and anchor is not None and anchor.signature is not None and not checkpoint_valid(key, anchor):
        out.append(Problem(w, anchor.seq, "checkpoint", "prune anchor signature does not verify"))
    if not chain_ok:
        return out
    floor = anchor.seq if anchor is not None else 0
    prev_ok = floor
    for cp in checkpoints:
        if cp.seq < floor:
            continue
        if cp.seq > rep.last_seq:
            out.append(Problem(w, rep.last_seq + 1, "deleted",
                               f"checkpoint at seq {cp.seq} but the chain ends at {rep.last_seq}: "
                               "records deleted from the end"))
            break
        if hashes.get(cp.seq) != cp.hash:
            out.append(Problem(w, cp.seq, "edited", f"the chain no longer matches the checkpoint at seq {cp.seq}: "
                                                    f"records {prev_ok + 1}..{cp.seq} were rewritten"))
            break
        prev_ok = cp.seq
    return out
