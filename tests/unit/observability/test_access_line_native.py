"""The access line written by C (`_native.access_line`) is byte for byte `_line`'s, or it is not written."""

from __future__ import annotations

import time

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import bastion.core.context as context
import bastion.observability.logging as obs
from bastion.core.context import Attempt, Finding, Principal, RequestContext
from bastion.core.types import Usage
from bastion.observability.scrub import CLEAN_TEXTS, scrub

native = pytest.importorskip("bastion._native")
access_line = native.access_line

_texts = st.one_of(st.none(), st.sampled_from(["gpt-4o-mini", "127.0.0.1", "req_0af3", "sk-proj-AbCdEfGhIjKlMnOpQrSt",
                                               "a,b", "%s", "%%", "\x00%s\x00", "é\u2028", ""]),
                   st.text(max_size=12))
_ms = st.one_of(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e13),
                st.sampled_from([0.0, -0.0, 1e-9, 0.0005, 0.0015, 1e12 + 0.5]))
_count = st.one_of(st.none(), st.integers(min_value=-(2**63), max_value=2**64))


def _native_bytes(ctx: RequestContext, wall: float, perf: float) -> bytes | None:
    pending = [b"before\n"]
    done = access_line(pending, obs._TEMPLATES, ctx, wall, perf, scrub, CLEAN_TEXTS)
    if done is None:
        assert pending == [b"before\n"]  # nothing appended when it hands back
        return None
    assert done is True and len(pending) == 2 and pending[0] == b"before\n"
    return pending[1]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rid=st.one_of(st.sampled_from(["req_5f0c3a9b", "req_", "req_0af3,x"]), st.text(max_size=20)),
       model=_texts, addr=_texts, presented=_texts, principal=st.booleans(), team=_texts.filter(lambda t: t != ""),
       providers=st.lists(st.sampled_from(["openai", "p,1", "é"]), max_size=3), status=st.sampled_from([0, 200, 429]),
       stream=st.booleans(), findings=st.integers(0, 2), wall=st.one_of(
           st.floats(min_value=-5.0, max_value=253402300799.0, allow_nan=False), st.sampled_from([0.0, 1_767_000_000.9999999])),
       elapsed=_ms, upstream=_ms, ttft=st.one_of(st.none(), _ms), usage=st.one_of(st.none(), st.tuples(_count, _count)),
       cost=st.one_of(_count, st.sampled_from([1.5, True])), disconnected=st.booleans())
@example(rid="req_0af3", model="gpt-4o-mini", addr="127.0.0.1", presented=None, principal=True, team="t",
         providers=["openai"], status=200, stream=False, findings=0, wall=1_767_000_000.125, elapsed=12.3456,
         upstream=10.0, ttft=None, usage=(31, 12), cost=17, disconnected=False)
def test_native_line_is_the_python_line(monkeypatch: pytest.MonkeyPatch, rid: str, model: str | None,
                                        addr: str | None, presented: str | None, principal: bool,
                                        team: str | None, providers: list[str], status: int, stream: bool,
                                        findings: int, wall: float, elapsed: float, upstream: float,
                                        ttft: float | None, usage: tuple[int | None, int | None] | None,
                                        cost: object, disconnected: bool) -> None:
    perf = 5000.0
    monkeypatch.setattr(obs.time, "time", lambda: wall)
    monkeypatch.setattr(context.time, "perf_counter", lambda: perf)
    ctx = RequestContext(rid, "openai", model=model, client_addr=addr, presented_key_id=presented, stream=stream,
                         status=status, cost_micros=cost, client_disconnected=disconnected,  # type: ignore[arg-type]
                         started=perf - elapsed / 1000.0)
    if principal:
        ctx.principal = Principal("k-1", "svc", team=team)
    ctx.attempts = [Attempt(p, "m", "ok", 200, 1.0) for p in providers]
    ctx.findings = [Finding("pii", "email", 0, 1)] * findings
    ctx.upstream_ms = upstream
    if ttft is not None:
        ctx.first_token_at = ctx.started + ttft / 1000.0
    if usage is not None:
        ctx.usage = Usage(*usage)  # type: ignore[arg-type]
    monkeypatch.setattr(obs, "_TEMPLATES", {})
    assert _native_bytes(ctx, wall, perf) is None  # no template yet
    try:
        expected = obs._line(ctx)  # (keeps the template, when it makes one)
    except (TypeError, ValueError, orjson.JSONEncodeError):  # a value orjson refuses: so does C (hands back)
        assert _native_bytes(ctx, wall, perf) is None
        return
    if expected != orjson.dumps(obs._fields(ctx), option=orjson.OPT_APPEND_NEWLINE):
        return  # (_line's own test holds it to the mapping)
    got = _native_bytes(ctx, wall, perf)
    if got is not None:
        assert got == expected
    # the whole access_log path (our handler alone) writes the same line through either
    pending: list[bytes] = []
    if access_line(pending, obs._TEMPLATES, ctx, wall, perf, scrub, CLEAN_TEXTS) is None:
        pending.append(obs._line(ctx))
    assert pending == [expected]


def test_native_line_takes_the_usual_request() -> None:
    """The gateway's usual request is written by C (not handed back), and its bytes are `_line`'s."""
    ctx = RequestContext("req_5f0c3a9b2d7e", "openai", "chat", "127.0.0.1", started=100.0)
    ctx.principal = Principal("k-bench0001", "bench", "bench-team")
    ctx.model, ctx.status, ctx.finish_reason, ctx.upstream_ms, ctx.cost_micros = "gpt-4o-mini", 200, "stop", 12.5, 17
    ctx.attempts.append(Attempt("openai", "gpt-4o-mini", "ok", 200, 12.3456))
    ctx.usage = Usage(input_tokens=31, output_tokens=12)
    wall, perf = time.time(), 100.0123456
    saved = obs._TEMPLATES.copy()
    try:
        obs._TEMPLATES.clear()
        orig_time, orig_perf = time.time, time.perf_counter
        time.time, time.perf_counter = (lambda: wall), (lambda: perf)
        try:
            expected = obs._line(ctx)
        finally:
            time.time, time.perf_counter = orig_time, orig_perf
        assert _native_bytes(ctx, wall, perf) == expected
        assert b'"latency_ms":12.346' in expected
    finally:
        obs._TEMPLATES.clear()
        obs._TEMPLATES.update(saved)


def test_native_line_hands_back_what_it_does_not_write() -> None:
    """Another class of context, an int subclass where `_line` would write it differently, a broken
    template: nothing appended, None."""
    ctx = RequestContext("req_1", "openai", status=200, started=1.0)
    templates = {}
    obs_key_line = obs._line  # (a template for this context)
    saved = obs._TEMPLATES.copy()
    try:
        obs._TEMPLATES.clear()
        obs_key_line(ctx)
        templates = dict(obs._TEMPLATES)
    finally:
        obs._TEMPLATES.clear()
        obs._TEMPLATES.update(saved)
    pending = []
    assert access_line(pending, templates, ctx, 1.0, 2.0, scrub, CLEAN_TEXTS) is True
    for bad in (lambda c: setattr(c, "cost_micros", True), lambda c: setattr(c, "upstream_ms", 1),
                lambda c: setattr(c, "started", 1)):
        other = RequestContext("req_1", "openai", status=200, started=1.0)
        bad(other)
        pending = []
        assert access_line(pending, templates, other, 1.0, 2.0, scrub, CLEAN_TEXTS) is None and not pending
    (key, template), = templates.items()
    for broken in (template.replace(b"%s", b"%d", 1), template + b"%", template + b"%s"):
        pending = []
        assert access_line(pending, {key: broken}, ctx, 1.0, 2.0, scrub, CLEAN_TEXTS) is None and not pending
    pending = []
    assert access_line(pending, templates, object(), 1.0, 2.0, scrub, CLEAN_TEXTS) is None and not pending
