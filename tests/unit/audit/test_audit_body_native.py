"""The chain body written in C (_native_audit.c) or by the Python fallback: byte for byte what the code
before it wrote (frozen below), for any record, and a store written by that code verifies once extended."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bastion.audit import record as record_mod
from bastion.audit.chain import Chain, StoredRecord
from bastion.audit.record import AuditRecord, CapturedContent, build_record
from bastion.audit.sink import SqlAuditSink
from bastion.audit.verify import verify_store
from bastion.audit.writer import AuditWriter
from bastion.cli.audit import register
from bastion.core.context import Attempt, Finding, RequestContext
from bastion.core.secret import Secret
from bastion.core.types import Usage
from bastion.store.db import SqliteDatabase

W = "w-0123456789abcdef"


@pytest.fixture(autouse=True, params=["native", "python"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Every test runs on the C body and on the Python fallback (the package without its C module)."""
    if request.param == "native" and record_mod._native_body is None:
        pytest.skip("bastion._native is not built")
    if request.param == "python":
        monkeypatch.setattr(record_mod, "_native_body", None)
    yield request.param


# ---- the code before the C body, frozen (f87186c: record.py _mapping/chain_body, chain.py append) ----

def _old_round3(value: float) -> float:
    scaled = value * 1000.0
    if -1e15 < scaled < 1e15:
        return (scaled + 6755399441055744.0 - 6755399441055744.0) / 1000.0
    return round(value, 3)


def _old_to_us(ts: float) -> int:
    return round(ts * 1_000_000)


def _old_iso_time(ts_us: int) -> str:
    whole, frac = divmod(ts_us, 1_000_000)
    return datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{frac:06d}Z"


def _old_mapping(r: AuditRecord, writer_id: str, seq: int) -> dict[str, object]:
    usage: dict[str, int] | None = None
    if r.usage is not None:
        i, o, c, w, rs = r.usage
        usage = {"cache_write_tokens": w, "cached_input_tokens": c, "input_tokens": i, "output_tokens": o,
                 "reasoning_tokens": rs}
    content = r.content
    if content is not None and r.capture == "redacted":
        content = {k: record_mod.scrub_secrets(v) if isinstance(v, str) else v for k, v in content.items()}
    data: dict[str, object] = {
        "attempts": [{"latency_ms": _old_round3(lat), "model": m, "outcome": o, "provider": p, "status": s}
                     for p, m, o, s, lat in r.attempts],
        "authenticated": r.authenticated, "capture": r.capture, "client_addr": r.client_addr,
        "client_disconnected": r.client_disconnected, "content": content, "cost_micros": r.cost_micros,
        "error_code": r.error_code,
        "findings": [{"action": a, "direction": d, "scanner": s, "score": round(sc, 4), "type": t}
                     for s, t, a, sc, d in r.findings] if r.findings else [],
        "finish_reason": r.finish_reason, "ingress": r.ingress, "key_id": r.key_id,
        "latency_ms": _old_round3(r.latency_ms), "model": r.model, "operation": r.operation, "policy": r.policy,
        "request_id": r.request_id, "seq": seq, "status": r.status, "stream": r.stream, "team": r.team,
        "time": _old_iso_time(_old_to_us(r.time)),
        "ttft_ms": _old_round3(r.ttft_ms) if r.ttft_ms is not None else None,
        "upstream_ms": _old_round3(r.upstream_ms), "usage": usage, "v": 1, "writer_id": writer_id,
    }
    if r.admin is not None:
        data["admin"] = r.admin
    return data


def old_body(r: AuditRecord, writer_id: str, seq: int) -> bytes:
    data = _old_mapping(r, writer_id, seq)
    if r.content is None and r.admin is None:
        return orjson.dumps(data)
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS)


def old_append(chain: Chain, r: AuditRecord) -> StoredRecord:
    seq = chain.seq + 1
    body = old_body(r, chain.writer_id, seq)
    h = hashlib.sha256(chain.head.encode("ascii") + body).hexdigest()
    stored = StoredRecord(chain.writer_id, seq, _old_to_us(r.time), r.request_id, chain.head, h, body.decode())
    chain.seq, chain.head = seq, h
    return stored


def outcome(fn: Callable[[], Any]) -> Any:
    """The value, or the exception's type for a record that cannot be written (both codes must refuse it)."""
    try:
        return fn()
    except Exception as e:  # compared by type: both codes must refuse the same records
        return type(e)


def assert_same_as_before(rec: AuditRecord, seq: int = 7, writer_id: str = W) -> None:
    old = outcome(lambda: old_append(Chain(writer_id, seq=seq - 1, head="ab" * 32), rec))
    new = outcome(lambda: Chain(writer_id, seq=seq - 1, head="ab" * 32).append(rec))
    assert new == old
    if isinstance(old, StoredRecord):
        assert type(new) is StoredRecord and type(new.ts_us) is int and type(new.body) is str
        assert rec.chain_body(writer_id, seq) == old_body(rec, writer_id, seq)


# ---- records: typical ones from contexts, then anything ----

def ctx(**kw: Any) -> RequestContext:
    c = RequestContext("req_00ab12cd000000002a", "openai", client_addr="203.0.113.9", model="gpt-4o-mini",
                       wall_time=1_764_460_800.123456, started=100.0)
    c.attempts.append(Attempt("openai", "gpt-4o-mini-2024-07-18", "ok", 200, 231.4567))
    c.usage = Usage(1200, 310, 1024, 0, 64)
    c.cost_micros, c.status, c.finish_reason, c.policy_name, c.upstream_ms = 1234, 200, "stop", "default", 230.9
    for k, v in kw.items():
        setattr(c, k, v)
    return c


def typical() -> list[AuditRecord]:
    flagged = ctx(findings=[Finding("pii", "email", 3, 20, score=0.91234567, action="flag"),
                            Finding("secrets", "openai_key", 0, 51, score=1.0, action="redact", direction="output")])
    blocked = ctx(status=400, error_code="policy_blocked", finish_reason=None, usage=None, cost_micros=0,
                  attempts=[], findings=[Finding("injection", "override", 0, 9, score=0.987654, action="block")])
    cut = ctx(stream=True, client_disconnected=True, finish_reason=None, first_token_at=100.0421, status=200)
    failed_over = ctx(attempts=[Attempt("openai", "gpt-4o", "timeout", None, 30000.0),
                                Attempt("azure", "gpt-4o", "error", 503, 12.0005),
                                Attempt("anthropic", "claude", "ok", 200, 0.0)])
    anonymous = ctx(principal=None, presented_key_id="k9zz", status=401, error_code="invalid_api_key",
                    attempts=[], usage=None, client_addr=None, model=None, policy_name=None)
    return [build_record(c) for c in (ctx(), flagged, blocked, cut, failed_over, anonymous)] + [
        build_record(ctx(), capture="hash", content=CapturedContent("p", "r")),
        build_record(ctx(), capture="redacted", content=CapturedContent("sk-proj-" + "A" * 40, None)),
        build_record(ctx(), capture="full", content=CapturedContent("é\n\x00", "r" * 5), max_content_chars=3),
    ]


def test_typical_records_are_chained_as_before() -> None:
    chain, old = Chain(W), Chain(W)
    for rec in typical() * 2:
        assert chain.append(rec) == old_append(old, rec)
    assert (chain.seq, chain.head) == (old.seq, old.head)


def test_the_fast_path_takes_the_common_records() -> None:
    """Records without content or admin mapping are the C code's (the speed-up depends on it)."""
    if record_mod._native_body is None:
        pytest.skip("compares the C code's coverage: runs under the native parameter only")
    for rec in typical()[:6]:
        done = record_mod._native_body(rec, W, 3, record_mod.RECORD_VERSION)
        assert done is not None and done[0] == old_body(rec, W, 3)
    for rec in typical()[6:]:
        assert record_mod._native_body(rec, W, 3, record_mod.RECORD_VERSION) is None


_odd_char = st.characters(blacklist_categories=())  # controls, non-BMP, lone surrogates (orjson refuses them)
_text = st.text(_odd_char, max_size=6) | st.sampled_from(["", "req_0abc", "é", "\u2028", '"\\/', "\x7f\x1f", "\b\t\n\f\r\x00", "\ud800"])
_int = st.integers(-(2**70), 2**70) | st.sampled_from([2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1])
_float = st.floats() | st.sampled_from([0.0005, 0.0015, -0.0005, 2.5e-4, 1e-4, 999999999999.9995, 1e12, 1e15, 1e16,
                                        -0.0, 5e-324, 1.7976931348623157e308])
_scalar = st.none() | st.booleans() | _int | _float | _text
_ms = _float | st.floats(0, 1e7) | st.integers(-5, 5)
_time = (st.floats(0, 253402300799.999) | st.floats(-1e12, 1e13) | _float
         | st.sampled_from([0.0, 1e-7, 0.0000005, 1.5e-6, 2.5e-6, 253402300799.9999995, 253402300800.0, -1e-7]))
_record = st.builds(
    AuditRecord, _time, _scalar, _scalar, _scalar, _scalar, _scalar, _scalar, _scalar, _scalar,
    st.lists(st.tuples(_scalar, _scalar, _scalar, _scalar, _ms), max_size=3).map(tuple)
    | st.lists(st.tuples(_scalar, _scalar), max_size=2).map(tuple) | st.just(()),
    _scalar, _scalar, _ms, st.none() | _ms, _ms,
    st.none() | st.tuples(*[_int | st.integers(0, 10**9)] * 5) | st.tuples(_int), _scalar, _scalar, _scalar, _scalar,
    _scalar,
    st.lists(st.tuples(_scalar, _scalar, _scalar, _float | st.floats(0, 1) | _int, _scalar), max_size=3).map(tuple)
    | st.none() | st.just(()),
    st.sampled_from(["none", "hash", "redacted", "full"]) | _text,
    st.none() | st.dictionaries(_text, _scalar, max_size=3),
    st.none() | st.dictionaries(_text, _scalar, max_size=3))


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
@given(_record, st.integers(1, 2**62) | st.integers(2**62, 2**65))
@example(rec=typical()[0], seq=2**64)
def test_any_record_is_written_or_refused_as_before(rec: AuditRecord, seq: int) -> None:
    assert_same_as_before(rec, seq)


_plain_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=8) | st.sampled_from(
    ["req_0abc", "\b\t\n\f\r\x00\x01\x1f\x7f", '"\\/', "é\u2028\U0001f600"])
_plain = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | _plain_text
_plain_ms = st.floats(-1e11, 1e11) | st.sampled_from([0.0, -0.0, 0.0005, 0.0015, 2.5e-4, 1e-9, 999999999999.9994])
_plain_record = st.builds(
    AuditRecord, st.floats(0, 253402300799.999) | st.sampled_from([0.0, 1.5e-6, 2.5e-6, 1_764_460_800.0000005]),
    _plain, _plain, _plain, _plain, _plain, _plain, _plain, _plain,
    st.lists(st.tuples(_plain, _plain, _plain, _plain, _plain_ms), max_size=3).map(tuple),
    _plain, _plain, _plain_ms, st.none() | _plain_ms, _plain_ms, st.none() | st.tuples(*[_plain] * 5),
    _plain, _plain, _plain, _plain, _plain,
    st.lists(st.tuples(_plain, _plain, _plain, st.floats(0, 1) | st.floats(-1e6, 1e6), _plain), max_size=3).map(tuple),
    _plain)


@settings(max_examples=1500)
@given(_plain_record, st.integers(1, 2**62))
def test_plain_records_are_written_in_c_as_before(rec: AuditRecord, seq: int) -> None:
    """Records of the types the C code writes itself (every field, odd text included), as before."""
    if record_mod._native_body is not None:
        done = record_mod._native_body(rec, W, seq, record_mod.RECORD_VERSION)
        assert done is not None and done[0] == old_body(rec, W, seq)
    assert_same_as_before(rec, seq)


@given(st.floats(-1e13, 1e13) | _float)
def test_latencies_are_rounded_and_written_as_before(ms: float) -> None:
    rec = typical()[0]
    assert_same_as_before(dataclasses.replace(rec, latency_ms=ms, ttft_ms=ms, upstream_ms=ms,
                                              attempts=(("p", "m", "ok", 200, ms),)))


@given(st.integers(0, 253402300799999999))
def test_every_microsecond_of_the_calendar_is_written_as_before(ts_us: int) -> None:
    assert_same_as_before(dataclasses.replace(typical()[0], time=ts_us / 1e6))


def test_unusual_record_objects_take_the_python_path() -> None:
    """A subclass overriding a field, a record with an unset field, a list where a tuple is expected."""

    class Renamed(AuditRecord):
        __slots__ = ()
        model = property(lambda self: "overridden")  # type: ignore[assignment]

    base = typical()[1]
    renamed = Renamed.__new__(Renamed)
    for f in dataclasses.fields(AuditRecord):
        if f.name != "model":
            object.__setattr__(renamed, f.name, getattr(base, f.name))
    assert b'"model":"overridden"' in renamed.chain_body(W, 1)
    assert_same_as_before(renamed)
    assert_same_as_before(base)  # the plain class again after the subclass (per-type slot offsets)
    assert_same_as_before(dataclasses.replace(base, attempts=list(base.attempts), findings=list(base.findings)))
    unset = AuditRecord.__new__(AuditRecord)
    assert outcome(lambda: Chain(W).append(unset)) is AttributeError


def test_the_native_function_checks_its_arguments() -> None:
    if record_mod._native_body is None:
        pytest.skip("calls the C function: runs under the native parameter only")
    rec = typical()[0]
    with pytest.raises(TypeError):
        record_mod._native_body(rec, W, 1)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        record_mod._native_body(rec, b"w", 1, 1)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        record_mod._native_body(rec, W, 1.0, 1)  # type: ignore[arg-type]
    with pytest.raises(AttributeError):
        record_mod._native_body(object(), W, 1, 1)


def test_a_large_record_grows_the_buffer() -> None:
    rec = dataclasses.replace(typical()[1], request_id="\x01" * 5000, model="é" * 3000,
                              attempts=tuple(("p" * 300, "m", "ok", 200, 1.5) for _ in range(40)))
    assert_same_as_before(rec)


# ---- a store written by the code before, extended by this one, verifies ----

KEY = "extend-checkpoint-key-" + "e" * 32


def test_a_log_of_the_old_code_extended_by_the_new_verifies(tmp_path: Path) -> None:
    import argparse
    import contextlib
    import io

    db_path, cfg = tmp_path / "a.db", tmp_path / "bastion.yaml"
    cfg.write_text(f"store: {{url: 'sqlite:///{db_path}'}}\naudit: {{checkpoint_key: '{KEY}'}}\n")
    records = typical()

    async def write() -> tuple[int, str]:
        db = SqliteDatabase(str(db_path))
        sink = SqlAuditSink(db)
        await sink.migrate()
        old = Chain("replica-1")
        await sink.append([old_append(old, r) for r in records])  # the old code's rows
        await sink.add_checkpoints([old.checkpoint(Secret(KEY), 1_000)])
        w = AuditWriter(sink, writer_id="replica-1", flush_interval=0.01, batch_size=4, checkpoint_every=4,
                        checkpoint_key=Secret(KEY))
        await w.start()  # resumes the old chain
        for r in records:
            w.submit(r)
        await w.stop()
        assert (await verify_store(sink, Secret(KEY))).intact
        head = await sink.head("replica-1")
        await db.close()
        assert head is not None
        return head

    seq, head = asyncio.run(write())
    replay = Chain("replica-1")
    for r in records * 2:
        old_append(replay, r)
    assert (seq, head) == (replay.seq, replay.head)  # the new rows are the ones the old code would have written
    parser = argparse.ArgumentParser(prog="bastion")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["audit", "verify", "--config", str(cfg)])
    out = io.StringIO()  # not capsys: the ASan check runs pytest with capture off
    with contextlib.redirect_stdout(out):
        assert args.func(args) == 0
    assert f"intact: {2 * len(records)} records in 1 chain(s)" in out.getvalue()


_long_text = st.text(st.sampled_from(['a', 'Z', ' ', '"', '\\', '\x00', '\x1f', '\x20', '\x7f', '\x80', 'é', '\u2028',
                                      '\U0001f600', '!', '#', '[', ']', '~']), max_size=40) | st.text(max_size=40)


@settings(max_examples=1500)
@given(_long_text, _long_text, st.integers(0, 30))
def test_long_texts_are_escaped_as_before(a: str, b: str, pad: int) -> None:
    """Texts of several eight-byte words (put_str copies those with no byte to escape a word at a time),
    an escape at any position of a word."""
    text = "x" * pad + a
    rec = dataclasses.replace(typical()[0], request_id=text, model=b + "y" * pad, client_addr=a + b)
    if record_mod._native_body is not None and "\ud800" > max(text + b, default=""):
        done = record_mod._native_body(rec, W, 3, record_mod.RECORD_VERSION)
        assert done is None or done[0] == old_body(rec, W, 3)
    assert_same_as_before(rec, 3)
