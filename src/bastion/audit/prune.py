"""Deletes old audit records while keeping every chain verifiable (from a checkpoint anchor).

For each writer, the cut moves back to the newest checkpoint that covers only records older
than `before` (record time = request start): the records up to that checkpoint are deleted and
an anchor (a copy of the checkpoint, signature included) marks where the chain now starts.
Records older than `before` but after that checkpoint stay; nothing newer is ever deleted.
"""

from __future__ import annotations

from dataclasses import dataclass

from bastion.audit.chain import Checkpoint
from bastion.audit.sink import AuditSink


@dataclass(slots=True, frozen=True)
class PruneResult:
    writer_id: str
    through_seq: int | None  # None: nothing pruned (no checkpoint before the cut)
    deleted: int


async def prune_before(sink: AuditSink, before_us: int, *, dry_run: bool = False) -> list[PruneResult]:
    """Prune every chain to its newest checkpoint covering only records before `before_us` (unix µs)."""
    results: list[PruneResult] = []
    for w in await sink.writer_ids():
        cps = await sink.checkpoints(w)
        anchor_seq = max((c.seq for c in cps if c.kind == "anchor"), default=0)
        newer = await sink.first_seq_since(w, before_us)  # records from here on must stay
        eligible = [c for c in cps if c.kind == "checkpoint" and c.seq > anchor_seq
                    and (newer is None or c.seq < newer)]
        if not eligible:
            results.append(PruneResult(w, None, 0))
            continue
        cp = max(eligible, key=lambda c: c.seq)
        anchor = Checkpoint(w, cp.seq, cp.hash, cp.ts_us, cp.signature, "anchor")
        if dry_run:
            results.append(PruneResult(w, cp.seq, await sink.count(w, cp.seq)))
            continue
        results.append(PruneResult(w, cp.seq, await sink.prune_to(anchor)))
    return results
