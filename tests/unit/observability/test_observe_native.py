"""Metrics.observe_request's C path (`_native.observe_request`) records what the Python code records, to the
bit, or records nothing and hands back."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bastion.observability.metrics as metrics_mod
from bastion.core.context import Attempt, Finding, RequestContext
from bastion.core.types import Usage
from bastion.observability.metrics import Metrics

native = pytest.importorskip("bastion._native")

_floats = st.one_of(st.floats(allow_nan=False, min_value=-1e3, max_value=1e7),
                    st.sampled_from([0.0, 0.0049999, 0.005, 0.1, 0.25, 1e-4, 120.0, 5.0, 10.0, 250.0, 1000.0]))
# (in ms: divided by 1000, 5.0 ... 1000.0 fall on bucket bounds exactly, which bisect_left counts below)
_ints = st.integers(0, 5000) | st.integers(0, 5000) | st.integers(0, 5000) | st.sampled_from([2**53, 2**53 + 1, 2**70, -3])


@st.composite
def _context(draw: st.DrawFn) -> RequestContext:
    """Mostly the usual kind of request (the C path's, once its series exist), its numbers varied; else anything."""
    usual = draw(st.integers(0, 9)) < 7
    ctx = RequestContext("req_1", draw(st.sampled_from(["openai", "anthropic"])),
                         draw(st.sampled_from(["chat", "embeddings", "models"])),
                         model=draw(st.sampled_from(["gpt-4o", "claude", "other-model", None])),
                         status=draw(st.sampled_from([200, 200, 429, 502, 0])), started=100.0)
    if usual:
        ctx.ingress, ctx.operation, ctx.model, ctx.status = "openai", "chat", "gpt-4o"[:6], 200
    ctx.started = 100.0 - draw(_floats) / 1000.0
    n = 1 if usual else draw(st.sampled_from([0, 1, 1, 1, 2]))
    ctx.attempts = [Attempt(draw(st.sampled_from(["openai", "anthropic"])), draw(st.sampled_from(["m1", "m2"])),
                            draw(st.sampled_from(["ok", "error"])), 200, 1.0) for _ in range(n)]
    ctx.upstream_ms = 3 if draw(st.integers(0, 9)) == 0 else draw(_floats)  # (an int: the Python code's)
    if draw(st.booleans()):
        ctx.first_token_at = ctx.started + draw(_floats) / 1000.0
    ctx.stream = draw(st.booleans())
    if draw(st.booleans()):
        ctx.usage = Usage(draw(_ints), draw(_ints))
    ctx.cost_micros = draw(st.one_of(st.just(0), _ints))
    if usual:
        ctx.attempts[0].provider, ctx.attempts[0].outcome = "openai", "ok"
        return ctx
    if draw(st.integers(0, 9)) == 0:
        ctx.findings = [Finding("pii", "email", 0, 1, action="redact")]
    ctx.error_code = draw(st.sampled_from([None, None, None, "rate_limit_exceeded", "upstream_error"]))
    ctx.client_disconnected = draw(st.integers(0, 9)) == 0
    return ctx


def _state(m: Metrics) -> list[object]:
    """Every family's values with each float by its bits (0.0 and -0.0, equal sums of other digits differ)."""
    def bits(v: object) -> object:
        return struct.pack("<d", v) if isinstance(v, float) else [bits(x) for x in v] if isinstance(v, list) else v
    return [sorted((k, bits(v)) for k, v in f.values.items()) for f in m.families if hasattr(f, "values")]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ctxs=st.lists(_context(), min_size=1, max_size=30))
def test_c_path_records_what_the_python_code_records(monkeypatch: pytest.MonkeyPatch,
                                                     ctxs: list[RequestContext]) -> None:
    monkeypatch.setattr(metrics_mod.time, "perf_counter", lambda: 100.0)
    calls = {"c": 0, "taken": 0}
    real = native.observe_request

    def counted(*args: object) -> object:
        calls["c"] += 1
        before = _state(c_metrics)
        done = real(*args)
        if done is None:
            assert _state(c_metrics) == before  # nothing applied when it hands back
        else:
            calls["taken"] += 1
        return done

    py_metrics, c_metrics = Metrics(models=["gpt-4o", "claude"]), Metrics(models=["gpt-4o", "claude"])
    for ctx in ctxs:
        monkeypatch.setattr(metrics_mod, "_native_observe", None)
        py_metrics.observe_request(ctx)
        monkeypatch.setattr(metrics_mod, "_native_observe", counted)
        c_metrics.observe_request(ctx)
        assert _state(c_metrics) == _state(py_metrics)
    assert c_metrics.render() == py_metrics.render()
    assert calls["c"] == len(ctxs)


def test_c_path_takes_the_usual_request() -> None:
    """After the first request of a kind (which makes its series), the same kind is recorded by C."""
    m = Metrics(models=["gpt-4o"])

    def served(model: str = "gpt-4o") -> RequestContext:
        ctx = RequestContext("req_1", "openai", model=model, status=200)
        ctx.attempts = [Attempt("openai", "gpt-4o", "ok", 200, 1.0)]
        ctx.usage, ctx.cost_micros, ctx.upstream_ms = Usage(10, 5), 17, 1.5
        return ctx

    m.observe_request(served())
    assert native.observe_request(m._shapes, m._fast, served("gpt-4o"[:3] + "-4o"), 1e9) is True  # (an equal str)
    m._shapes.clear()  # (emptied when full: the kept shape updates the same series)
    assert native.observe_request(m._shapes, m._fast, served(), 1e9) is True
    assert m.requests.get(("/v1/chat/completions", "gpt-4o", "openai", "200")) == 3.0
    assert m.tokens.get(("gpt-4o", "openai", "input")) == 30.0
    assert m.request_duration.count(("/v1/chat/completions", "gpt-4o")) == 3
