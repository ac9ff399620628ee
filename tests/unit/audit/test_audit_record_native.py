"""build_record in C (_native_audit.c: audit_record): the record the Python code makes from the same context,
field for field and type for type, for any context, or the Python path (None from C) where it does not apply."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from tests.unit.audit.test_audit_body_native import ctx as body_ctx

from bastion.audit import record as record_mod
from bastion.audit.record import AuditRecord, CapturedContent, build_record
from bastion.core import context
from bastion.core.context import Attempt, Finding, Principal, RequestContext
from bastion.core.types import Usage
from bastion.observability import scrub

NOW = 5000.0


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    if record_mod._native_record is None:
        pytest.skip("bastion._native is not built")
    monkeypatch.setattr(context.time, "perf_counter", lambda: NOW)  # latency_ms: the same on both paths
    yield


def python_record(ctx: RequestContext, **kw: Any) -> AuditRecord:
    native, record_mod._native_record = record_mod._native_record, None
    try:
        return build_record(ctx, **kw)
    finally:
        record_mod._native_record = native


def outcome(fn: Any) -> Any:
    try:
        return ("ok", fn())
    except Exception as e:  # the same exception on both paths is what is compared
        return ("raised", type(e), str(e))


def assert_same_record(ctx: RequestContext) -> None:
    clean_before = set(scrub._CLEAN)
    got = outcome(lambda: build_record(ctx))
    scrub._CLEAN.clear()
    scrub._CLEAN.update(clean_before)  # the scrubber's memory as it was: both paths see the same
    want = outcome(lambda: python_record(ctx))
    assert got[0] == want[0], (got, want)
    if got[0] != "ok":
        assert got[1:] == want[1:]
        return
    a, b = got[1], want[1]
    assert type(a) is AuditRecord
    for f in dataclasses.fields(AuditRecord):
        x, y = getattr(a, f.name), getattr(b, f.name)
        assert type(x) is type(y) and (x == y or (x != x and y != y)), (f.name, x, y)  # NaN: itself unequal
        if isinstance(x, tuple):  # nested tuples and their items' types
            assert repr(x) == repr(y) and [type(i) for i in x] == [type(i) for i in y], f.name
            for i, j in zip(x, y, strict=True):
                if isinstance(i, tuple):
                    assert [type(e) for e in i] == [type(e) for e in j], f.name


def ctx(**kw: Any) -> RequestContext:
    """test_audit_body_native's typical context, with a principal unless given."""
    return body_ctx(**{"principal": Principal("k-0001", "alice", "team-a"), **kw})


def test_typical_contexts_give_the_same_record() -> None:
    for c in (ctx(), ctx(findings=[Finding("pii", "email", 3, 20, score=0.91234567, action="flag")]),
              ctx(status=400, error_code="policy_blocked", usage=None, attempts=[]),
              ctx(stream=True, client_disconnected=True, first_token_at=100.0421),
              ctx(principal=None, status=401), ctx(principal=None, presented_key_id="k9zz"),
              ctx(client_addr=None, model=None, policy_name=None),
              ctx(attempts=[Attempt("openai", "gpt-4o", "timeout", None, 30000.0), Attempt("azure", "x", "ok")])):
        assert_same_record(c)


def test_the_common_context_is_built_in_c() -> None:
    record = record_mod._native_record
    assert record is not None
    c = ctx(findings=[Finding("pii", "email", 3, 20)])
    built = record(AuditRecord, c, NOW, scrub.scrub_secrets, scrub.CLEAN_TEXTS)
    assert built == python_record(c)
    assert built.attempts[0] == ("openai", "gpt-4o-mini-2024-07-18", "ok", 200, 231.4567)
    assert built.latency_ms == (NOW - 100.0) * 1000.0 and built.findings == (("pii", "email", "flag", 1.0, "input"),)


def test_secret_shaped_client_texts_are_scrubbed_in_c() -> None:
    key = "sk-proj-" + "A" * 40
    c = ctx(request_id=f"id {key}", client_addr=f"{key}", model=f"m {key}")
    built = build_record(c)
    assert key not in repr(built) and "[REDACTED]" in built.request_id and "[REDACTED]" in built.model
    assert_same_record(c)


def test_other_shapes_take_the_python_path() -> None:
    record = record_mod._native_record
    assert record is not None

    class Ctx(RequestContext):
        __slots__ = ()

    odd = [ctx(principal=None, presented_key_id="k1"), ctx(request_id="r" * 129), ctx(model="m" * 200),
           ctx(attempts=(Attempt("a", "b", "ok"),)), ctx(findings=()), ctx(started=100), ctx(first_token_at=101),
           ctx(usage=(1, 2, 3, 4, 5)), ctx(principal=object()), Ctx("req_1", "openai")]
    for c in odd:
        assert record(AuditRecord, c, NOW, scrub.scrub_secrets, scrub.CLEAN_TEXTS) is None or type(c) is Ctx
        assert_same_record(c)
    unset = RequestContext.__new__(RequestContext)  # no slot set: the Python path raises its AttributeError
    assert record(AuditRecord, unset, NOW, scrub.scrub_secrets, scrub.CLEAN_TEXTS) is None
    assert_same_record(unset)
    with pytest.raises(TypeError):
        record(AuditRecord, ctx(), 1, scrub.scrub_secrets, scrub.CLEAN_TEXTS)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        record(AuditRecord, ctx(), NOW, scrub.scrub_secrets, [])  # type: ignore[arg-type]


def test_content_takes_the_python_path() -> None:
    c = ctx()
    rec = build_record(c, capture="full", content=CapturedContent("p", "r"))
    assert rec.capture == "full" and rec.content == {"prompt": "p", "response": "r"}


def test_a_scrubber_error_propagates() -> None:
    def broken(text: str) -> str:
        raise RuntimeError("scrub bug")

    record = record_mod._native_record
    assert record is not None
    with pytest.raises(RuntimeError, match="scrub bug"):
        record(AuditRecord, ctx(model="never-seen-before-model"), NOW, broken, set())


_odd_char = st.characters(blacklist_categories=())
_text = st.text(_odd_char, max_size=8) | st.sampled_from(
    ["", "req_", "req_0abc", "req_0ABC", "req_" + "a" * 64, "req_" + "a" * 65, "req_0abc\n", "é", "\ud800",
     "sk-" + "x" * 20, "password=hunter22", "x" * 128, "x" * 129, "bst_abc_" + "s" * 10])
_value = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | _text
_float = st.floats() | st.floats(0, 1e6)
_attempt = st.builds(Attempt, _text, _text, _text, st.none() | st.integers(100, 599), _float)
_finding = st.builds(Finding, _text, _text, st.integers(0, 9), st.integers(0, 9), _float, _text, _text)
_usage = st.builds(Usage, *[st.integers(0, 10**12)] * 5)
_principal = st.builds(Principal, _text, _text, st.none() | _text)


@st.composite
def contexts(draw: st.DrawFn) -> RequestContext:
    c = RequestContext(draw(st.none() | _text) or "req_1", draw(_text), draw(_text), draw(st.none() | _text),
                       started=draw(_float), wall_time=draw(_float))
    c.principal = draw(st.none() | _principal)
    c.presented_key_id = draw(st.none() | _text)
    c.model = draw(st.none() | _text)
    c.stream, c.client_disconnected = draw(st.booleans()), draw(st.booleans())
    c.policy_name = draw(st.none() | _text)
    c.attempts = draw(st.lists(_attempt, max_size=3))
    c.findings = draw(st.lists(_finding, max_size=3))
    c.usage = draw(st.none() | _usage)
    c.cost_micros, c.status = draw(_value), draw(_value)
    c.error_code, c.finish_reason = draw(st.none() | _text), draw(st.none() | _text)
    c.first_token_at = draw(st.none() | _float | st.integers(0, 5))
    c.upstream_ms = draw(_value)
    return c


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
@given(contexts())
@example(ctx(request_id="req_" + "f" * 68))
@example(ctx(first_token_at=2e9 + 0.25, started=1e9))
def test_any_context_gives_the_same_record(c: RequestContext) -> None:
    assert_same_record(c)
