"""Chain.append's row made in one C call (_native_audit.c: audit_link) and the record AuditStage.finish builds
through the C builder itself: held to the code they stand for (the C body hashed after the head in Python,
build_record), for any record, and to the old code's rows through Chain.append."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from tests.unit.audit.test_audit_body_native import W, _plain_record, _record, old_append, outcome, typical
from tests.unit.audit.test_audit_body_native import ctx as body_ctx

from bastion.audit import chain as chain_mod
from bastion.audit import record as record_mod
from bastion.audit.chain import GENESIS, Chain, StoredRecord
from bastion.audit.record import RECORD_VERSION, AuditRecord, build_record
from bastion.audit.sink import SqlAuditSink
from bastion.audit.stage import AuditStage
from bastion.audit.writer import AuditWriter
from bastion.core import context
from bastion.core.context import RequestContext
from bastion.store.db import SqliteDatabase


@pytest.fixture(autouse=True)
def native() -> Iterator[None]:
    if record_mod._native_link is None or record_mod._native_body is None:
        pytest.skip("bastion._native is not built")
    yield


def reference(rec: AuditRecord, writer_id: str, seq: int, head: str) -> StoredRecord | None:
    """What audit_link stands for: the C body (None where it hands the record back) hashed after the head."""
    assert record_mod._native_body is not None
    done = record_mod._native_body(rec, writer_id, seq, RECORD_VERSION)
    if done is None:
        return None
    body, text, ts_us = done
    h = hashlib.sha256(head.encode("ascii") + body).hexdigest()
    return StoredRecord(writer_id, seq, ts_us, rec.request_id, head, h, text)


def link(rec: object, writer_id: str = W, seq: int = 7, head: str = GENESIS) -> Any:
    assert record_mod._native_link is not None
    return record_mod._native_link(StoredRecord, rec, writer_id, seq, RECORD_VERSION, head, hashlib.sha256)


_head = st.sampled_from([GENESIS, "ab" * 32, ""]) | st.text("0123456789abcdef", min_size=64, max_size=64)


@settings(max_examples=1000, suppress_health_check=[HealthCheck.too_slow])
@given(_plain_record | _record, st.integers(1, 2**62) | st.integers(2**62, 2**65), _head)
def test_the_row_is_the_body_hashed_after_the_head(rec: AuditRecord, seq: int, head: str) -> None:
    want = outcome(lambda: reference(rec, W, seq, head))
    got = outcome(lambda: link(rec, W, seq, head))
    assert got == want
    if isinstance(want, StoredRecord):
        assert type(got) is StoredRecord
        assert [type(v) for v in got] == [type(v) for v in want]


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_plain_record | _record, min_size=1, max_size=8))
def test_a_chain_of_records_is_the_old_codes(records: list[AuditRecord]) -> None:
    """Chain.append (C rows where audit_link writes them, the Python path for the rest) row for row as before."""
    new, old = Chain(W), Chain(W)
    for rec in records:
        assert outcome(lambda r=rec: new.append(r)) == outcome(lambda r=rec: old_append(old, r))
        assert (new.seq, new.head) == (old.seq, old.head)


def test_the_common_records_take_the_one_call() -> None:
    for rec in typical()[:6]:
        row = link(rec, W, 3, "ab" * 32)
        assert row is not None and row == old_append(Chain(W, seq=2, head="ab" * 32), rec)
    for rec in typical()[6:]:  # content kept: the Python path's
        assert link(rec) is None


def test_a_head_it_cannot_write_takes_the_python_path() -> None:
    rec = typical()[0]
    assert link(rec, head="é" * 64) is None
    assert outcome(lambda: Chain(W, head="é" * 64).append(rec)) is UnicodeEncodeError
    assert record_mod._native_link is not None
    assert record_mod._native_link(StoredRecord, rec, W, 1, 1, None, hashlib.sha256) is None  # type: ignore[arg-type]


def test_the_native_function_checks_its_arguments() -> None:
    f, rec = record_mod._native_link, typical()[0]
    assert f is not None
    for args in [(StoredRecord, rec, W, 1, 1, GENESIS), (tuple, rec, W, 1, 1, GENESIS, hashlib.sha256, 1)]:
        with pytest.raises(TypeError):
            f(*args)
    for bad in [(dict, rec, W, 1, 1, GENESIS), (StoredRecord, rec, b"w", 1, 1, GENESIS),
                (StoredRecord, rec, W, 1.0, 1, GENESIS), (StoredRecord, rec, W, 1, "1", GENESIS)]:
        with pytest.raises(TypeError):
            f(*bad, hashlib.sha256)
    with pytest.raises(AttributeError):
        f(StoredRecord, object(), W, 1, 1, GENESIS, hashlib.sha256)

    def failing(data: bytes) -> object:
        raise ValueError("no hash")

    with pytest.raises(ValueError, match="no hash"):
        f(StoredRecord, rec, W, 1, 1, GENESIS, failing)


def test_no_reference_is_lost_or_leaked() -> None:
    rec, writer_id, head = typical()[1], "w-" + "5" * 16, "cd" * 32
    seq = 2**40 + 1
    counts = [sys.getrefcount(o) for o in (rec, writer_id, head, seq, rec.request_id)]
    rows = [link(rec, writer_id, seq, head) for _ in range(50)]
    assert all(r == rows[0] for r in rows)
    del rows
    assert [sys.getrefcount(o) for o in (rec, writer_id, head, seq, rec.request_id)] == counts


# ---- AuditStage.finish: the C builder called from there, or build_record ----

def finished(ctx: RequestContext) -> AuditRecord:
    async def run() -> AuditRecord:
        db = SqliteDatabase(":memory:")
        writer = AuditWriter(SqlAuditSink(db), flush_interval=86_400.0)
        await writer.start()
        stage = AuditStage(writer)
        stage.admit(ctx)
        await stage.finish(ctx)
        (record, _), = writer._buffer
        await writer.stop()
        await db.close()
        return record

    return asyncio.run(run())


@pytest.mark.parametrize("kw", [{}, {"principal": None, "presented_key_id": "k9zz"}, {"model": "m" * 200},
                                {"status": 400, "usage": None, "attempts": []}])
def test_finish_records_what_build_record_builds(kw: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(context.time, "perf_counter", lambda: 5000.0)  # latency_ms: the same on both
    assert finished(body_ctx(**kw)) == build_record(body_ctx(**kw))
    monkeypatch.setattr(record_mod, "_native_record", None)
    assert finished(body_ctx(**kw)) == build_record(body_ctx(**kw))


# ---- the cyclic collector skips the usual record and row (untracked in C); anything else stays tracked ----

def test_plain_records_and_rows_are_left_to_reference_counting() -> None:
    import gc

    if record_mod._native_record is None:
        pytest.skip("bastion._native is not built")
    from bastion.core.context import Finding

    rec = build_record(body_ctx(findings=[Finding("pii", "email", 3, 20, score=0.9, action="flag")]))
    assert rec.findings and rec.attempts and rec.usage
    for part in (rec, rec.attempts, rec.attempts[0], rec.usage, rec.findings, rec.findings[0]):
        assert not gc.is_tracked(part)
    assert not gc.is_tracked(link(rec))


def test_a_record_holding_a_container_stays_tracked() -> None:
    import gc

    from bastion.core.context import Attempt

    odd = body_ctx(attempts=[Attempt(["a", "list"], "m", "ok", 200, 1.0)])  # type: ignore[arg-type]
    rec = build_record(odd)
    assert gc.is_tracked(rec) and gc.is_tracked(rec.attempts)
    cycle: list[object] = []
    looped = body_ctx(attempts=[Attempt(cycle, "m", "ok", 200, 1.0)])  # type: ignore[arg-type]
    rec = build_record(looped)
    cycle.append(rec)  # a cycle through the record: the collector must still see it
    assert gc.is_tracked(rec)
    assert gc.collect() >= 0 and cycle[0] is rec


# ---- audit_link's own SHA-256 (libcrypto's SHA256_* found in the process), chain.py's hash when found ----

def test_chain_hashes_with_the_c_sha256_where_libcrypto_is_loaded() -> None:
    from bastion._native import audit_sha256_hex

    maps = Path("/proc/self/maps")
    loaded = maps.exists() and any(n in maps.read_text() for n in ("/libcrypto.so.3", "/libcrypto.so.1.1"))
    if loaded:  # hashlib's libcrypto is a shared library of the process: audit_link must not fall back silently
        assert audit_sha256_hex(b"") is not None
        assert chain_mod._link_sha is None
    else:
        assert chain_mod._link_sha is (None if audit_sha256_hex(b"") is not None else hashlib.sha256)


@settings(max_examples=500)
@given(st.binary(max_size=300) | st.integers(0, 200).map(lambda n: b"\x80" * n))
def test_the_c_sha256_is_hashlibs(data: bytes) -> None:
    from bastion._native import audit_sha256_hex

    got = audit_sha256_hex(data)
    assert got is None or got == hashlib.sha256(data).hexdigest()
    with pytest.raises(TypeError):
        audit_sha256_hex(bytearray(data))  # type: ignore[arg-type]


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(_plain_record | _record, st.integers(1, 2**62), _head)
def test_the_row_hashed_in_c_is_the_row_hashed_by_hashlib(rec: AuditRecord, seq: int, head: str) -> None:
    """audit_link with None (its own SHA-256) makes the row it makes with hashlib's constructor."""
    assert record_mod._native_link is not None
    by_hashlib = outcome(lambda: link(rec, W, seq, head))
    own = outcome(lambda: record_mod._native_link(StoredRecord, rec, W, seq, RECORD_VERSION, head, None))
    if chain_mod._link_sha is None:
        assert own == by_hashlib
        if isinstance(own, StoredRecord):
            assert [type(v) for v in own] == [type(v) for v in by_hashlib]  # type: ignore[union-attr]
    else:
        assert own is None


# ---- Chain.link_run (audit_link_run): the writer's records chained in one call ----

@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_plain_record | _record, max_size=20), st.integers(-2, 22), st.integers(-2, 25),
       st.sampled_from([0, 5, 2**62, 2**63 - 3, 2**64]))
@example(records=typical() * 8, start=0, stop=20, seq=5)
@example(records=typical() * 8, start=3, stop=19, seq=0)
def test_a_run_is_the_appends_up_to_the_first_record_it_does_not_chain(
        records: list[AuditRecord], start: int, stop: int, seq: int) -> None:
    items = [(r, None) for r in records]
    run, ref = Chain(W, seq=seq, head="ab" * 32), Chain(W, seq=seq, head="ab" * 32)
    rows = run.link_run(items, start, stop)  # type: ignore[arg-type]
    want: list[StoredRecord] = []
    for rec in records[max(start, 0):max(stop, 0)]:
        got = outcome(lambda r=rec: link(r, W, ref.seq + 1, ref.head) if chain_mod._link_sha is not None else
                      record_mod._native_link(StoredRecord, r, W, ref.seq + 1, RECORD_VERSION, ref.head, None))
        if not isinstance(got, StoredRecord):
            break
        want.append(got)
        ref.seq, ref.head = got.seq, got.hash
    if seq >= 2**63 - 64:  # a chain that near the 64-bit limit: the Python path numbers it (nothing, or fewer)
        want = want[:len(rows)]
    assert rows == want
    assert all(type(r) is StoredRecord and [type(v) for v in r] == [type(v) for v in w] for r, w in zip(rows, want, strict=True))
    tail = rows[-1] if rows else None
    assert (run.seq, run.head) == ((tail.seq, tail.hash) if tail is not None else (seq, "ab" * 32))


def test_a_run_checks_its_arguments_and_leaves_no_error_set() -> None:
    f, rec = chain_mod._native_link_run, typical()[0]
    assert f is not None
    for bad in [(StoredRecord, (rec,), 0, 1, W, 0, 1, GENESIS, None), (StoredRecord, [(rec, None)], 0.0, 1, W, 0, 1,
                GENESIS, None), (dict, [(rec, None)], 0, 1, W, 0, 1, GENESIS, None), (StoredRecord, [], 0, 1, W, 0, 1)]:
        with pytest.raises(TypeError):
            f(*bad)
    poisoned = [(rec, None), (object(), None), (rec, None)]  # the second raises AttributeError in audit_link
    assert len(f(StoredRecord, poisoned, 0, 3, W, 0, 1, GENESIS, None)) == 1
    assert f(StoredRecord, [(rec, None), "no tuple", (rec, None)], 0, 3, W, 0, 1, GENESIS, None)[0].seq == 1
    assert f(StoredRecord, [(rec, None)] * 3, 0, 3, W, 0, 1, GENESIS, None)[-1].seq == 3


@pytest.mark.parametrize("bad", [{0}, {15}, {16}, {31, 32}, {1, 2, 3, 17, 40}, set(range(0, 50, 7)), set(range(50))])
async def test_the_writer_drops_only_the_records_it_cannot_chain(tmp_path: Any, bad: set[int]) -> None:
    """Records the C run does not chain, at any position of a run of 16: the Python path for each (a content
    mapping, written there), its error for one that cannot be serialised; the chain has no gap."""
    from bastion.audit.verify import verify_store

    db = SqliteDatabase(str(tmp_path / "audit.db"))
    sink = SqlAuditSink(db)
    w = AuditWriter(sink, flush_interval=3600, batch_size=500)
    await w.start()
    base = typical()[0]
    for i in range(50):
        record = dataclasses.replace(base, request_id=f"req-{i:04d}")
        if i in bad:
            record = dataclasses.replace(record, cost_micros=2**64) if i % 2 else \
                dataclasses.replace(record, capture="full", content={"prompt": "p", "response": None})
        w.submit(record, reserved=w.check())
    await w.stop()
    ids = [r.request_id for r in await sink.records(w.writer_id, 0, 100)]
    assert ids == [f"req-{i:04d}" for i in range(50) if not (i in bad and i % 2)]
    report = await verify_store(sink)
    assert report.intact, [str(p) for p in report.problems]
    assert w.records_dropped == len([i for i in bad if i % 2])
    await db.close()


def test_a_run_raises_what_is_no_exception_and_leaves_the_chain_as_it_was() -> None:
    class Interrupting:
        def __bool__(self) -> bool:
            raise KeyboardInterrupt

    class Failing:
        def __bool__(self) -> bool:
            raise ValueError("no")

    rec = typical()[0]
    chain = Chain(W)
    with pytest.raises(KeyboardInterrupt):
        chain.link_run([(rec, None), (dataclasses.replace(rec, findings=Interrupting()), None)], 0, 2)
    assert (chain.seq, chain.head) == (0, GENESIS)
    rows = chain.link_run([(rec, None), (dataclasses.replace(rec, findings=Failing()), None)], 0, 2)
    assert len(rows) == 1 and (chain.seq, chain.head) == (1, rows[0].hash)
