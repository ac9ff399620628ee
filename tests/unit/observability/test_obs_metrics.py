"""Metrics: what observe_request records, the exposition format, bounded labels, the token."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families  # an independent parser of our output

from bastion.config.loader import parse_config
from bastion.core.context import Attempt, Finding, RequestContext
from bastion.core.secret import Secret
from bastion.core.types import Usage
from bastion.observability.exposition import MAX_SERIES, Counter, Histogram
from bastion.observability.metrics import CONTENT_TYPE, Metrics


def ctx(**kw: object) -> RequestContext:
    c = RequestContext(request_id="r", ingress="openai", model="gpt-4o", status=200)
    for k, v in kw.items():
        setattr(c, k, v)
    return c


def samples(m: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for fam in text_string_to_metric_families(m.render().decode()):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_a_served_request() -> None:
    m = Metrics(models=["gpt-4o"])
    c = ctx(usage=Usage(100, 40), cost_micros=2_500_000, upstream_ms=0.0,
            attempts=[Attempt("openai", "gpt-4o", "ok", 200, 10.0)],
            findings=[Finding("pii", "email", 0, 3, action="redact")])
    c.first_token_at = c.started
    c.stream = True
    m.observe_request(c)
    s = samples(m)
    assert s[("bastion_requests_total", (("model", "gpt-4o"), ("provider", "openai"),
                                         ("route", "/v1/chat/completions"), ("status", "200")))] == 1
    assert s[("bastion_tokens_total", (("model", "gpt-4o"), ("provider", "openai"), ("type", "input")))] == 100
    assert s[("bastion_tokens_total", (("model", "gpt-4o"), ("provider", "openai"), ("type", "output")))] == 40
    assert s[("bastion_cost_usd_total", (("model", "gpt-4o"), ("provider", "openai")))] == 2.5
    assert s[("bastion_policy_findings_total", (("action", "redact"), ("direction", "input"),
                                               ("scanner", "pii")))] == 1
    assert s[("bastion_upstream_attempts_total", (("outcome", "ok"), ("provider", "openai")))] == 1
    assert s[("bastion_request_duration_seconds_count", (("model", "gpt-4o"), ("route", "/v1/chat/completions")))] == 1
    assert s[("bastion_time_to_first_token_seconds_count", (("model", "gpt-4o"), ("provider", "openai")))] == 1
    assert s[("bastion_gateway_overhead_seconds_count", (("route", "/v1/chat/completions"),))] == 1
    assert s[("bastion_upstream_duration_seconds_count", (("provider", "openai"),))] == 1


def test_refusals_retries_and_fallbacks() -> None:
    m = Metrics(models=["smart"])
    for code in ("rate_limit_exceeded", "budget_exceeded", "budget_exceeded", "invalid_api_key", "upstream_error"):
        m.observe_request(ctx(model="smart", status=429, error_code=code))
    m.observe_request(ctx(model="smart", attempts=[
        Attempt("anthropic", "claude", "error", 529), Attempt("anthropic", "claude", "error", 529),
        Attempt("openai", "gpt-4o", "ok", 200)]))
    s = samples(m)
    assert s[("bastion_refusals_total", (("reason", "rate_limit"),))] == 1
    assert s[("bastion_refusals_total", (("reason", "budget"),))] == 2
    assert s[("bastion_refusals_total", (("reason", "auth"),))] == 1
    assert not any(k[0] == "bastion_refusals_total" and ("reason", "other") in k[1] for k in s)
    assert s[("bastion_upstream_retries_total", (("provider", "anthropic"),))] == 1
    assert s[("bastion_upstream_fallbacks_total", (("model", "smart"),))] == 1


def test_client_text_cannot_reach_metrics() -> None:
    m = Metrics(models=["gpt-4o"])
    secret = "sk-proj-AbCdEfGhIjKlMnOpQrStUvWx0123"
    m.observe_request(ctx(model=secret, status=404, error_code="model_not_found"))
    m.observe_request(ctx(model='evil"}\nbastion_fake 1', status=404))
    text = m.render().decode()
    assert secret not in text and "bastion_fake" not in text
    assert 'model="other"' in text


def test_series_are_capped() -> None:
    c = Counter("x_total", "x", ("k",))
    for i in range(MAX_SERIES + 50):
        c.inc((str(i),))
    assert len(c.values) == MAX_SERIES + 1 and c.get(("other",)) == 50


def test_histogram_buckets_are_cumulative() -> None:
    h = Histogram("h_seconds", "h", (), buckets=(0.1, 1.0))
    for v in (0.05, 0.1, 0.5, 5.0):
        h.observe((), v)
    lines = h.render()
    assert 'h_seconds_bucket{le="0.1"} 2' in lines
    assert 'h_seconds_bucket{le="1"} 3' in lines
    assert 'h_seconds_bucket{le="+Inf"} 4' in lines
    assert "h_seconds_count 4" in lines and "h_seconds_sum 5.65" in lines


def test_label_values_are_escaped() -> None:
    c = Counter("x_total", "x", ("k",))
    c.inc(('a"b\\c\nd',))
    assert 'x_total{k="a\\"b\\\\c\\nd"} 1' in c.render()


def test_audit_gauges_read_the_writer() -> None:
    @dataclass
    class Stats:
        depth: int = 7
        write_failures: int = 3
        records_written: int = 100
        records_dropped: int = 0

    m = Metrics()
    m.bind_audit(Stats())
    s = samples(m)
    assert s[("bastion_audit_buffer_depth", ())] == 7
    assert s[("bastion_audit_write_failures_total", ())] == 3
    assert s[("bastion_audit_records_written_total", ())] == 100


def test_exposition_parses_and_declares_every_family() -> None:
    m = Metrics(models=["gpt-4o"])
    m.observe_request(ctx())
    names = {f.name for f in text_string_to_metric_families(m.render().decode())}
    assert {"bastion_requests", "bastion_request_duration_seconds", "bastion_audit_buffer_depth"} <= names
    assert CONTENT_TYPE.startswith("text/plain; version=0.0.4")


def test_metrics_token() -> None:
    assert Metrics().authorized(None)
    m = Metrics(token=Secret("metrics-token-0123456789"))
    assert m.authorized("Bearer metrics-token-0123456789")
    assert not m.authorized("Bearer wrong")
    assert not m.authorized("metrics-token-0123456789")
    assert not m.authorized(None)


def test_from_config() -> None:
    cfg = parse_config({"providers": {"local": {"kind": "openai_compatible", "base_url": "http://127.0.0.1:1"}},
                        "models": [{"name": "llama", "targets": [{"provider": "local", "model": "l"}]}],
                        "observability": {"metrics_token": "t" * 20}})
    m = Metrics.from_config(cfg)
    assert m.models == {"llama"} and m.authorized("Bearer " + "t" * 20)


def test_time_to_first_token_counts_streams_only() -> None:
    m = Metrics(models=["gpt-4o"])
    whole = ctx(attempts=[Attempt("openai", "gpt-4o", "ok", 200, 10.0)])
    whole.first_token_at = whole.started + 5.0  # a non-streamed answer: all of it arrived after 5 s
    m.observe_request(whole)
    key = ("bastion_time_to_first_token_seconds_count", (("model", "gpt-4o"), ("provider", "openai")))
    assert samples(m).get(key, 0) == 0  # it would put full generation times into the TTFT histogram
    streamed = ctx(attempts=[Attempt("openai", "gpt-4o", "ok", 200, 10.0)], stream=True)
    streamed.first_token_at = streamed.started + 0.2
    m.observe_request(streamed)
    assert samples(m)[key] == 1


def _reference(requests: list[RequestContext]) -> Metrics:
    """What observe_request records, through the families' own calls (no per-shape look-ups)."""
    m = Metrics(models=["gpt-4o"])
    for c in requests:
        route = "/v1/chat/completions" if c.ingress == "openai" else "/v1/messages"
        model = c.model if c.model in m.models else "none" if c.model is None else "other"
        provider = c.attempts[-1].provider if c.attempts else "none"
        m.requests.inc((route, model, provider, str(c.status)))
        total = c.elapsed_ms / 1000.0
        m.request_duration.observe((route, model), total)
        if c.attempts:
            m.upstream_duration.observe((provider,), c.upstream_ms / 1000.0)
            for a in c.attempts:
                m.attempts.inc((a.provider, a.outcome))
        m.overhead.observe((route,), max(total - c.upstream_ms / 1000.0, 0.0) if c.attempts else total)
        if c.usage is not None:
            m.tokens.inc((model, provider, "input"), c.usage.input_tokens)
            m.tokens.inc((model, provider, "output"), c.usage.output_tokens)
        if c.cost_micros:
            m.cost.inc((model, provider), c.cost_micros / 1_000_000)
    return m


def test_kinds_of_request_update_the_series_the_families_would(monkeypatch) -> None:
    """observe_request keeps each kind of request's labels and histogram series (a `_Shape`): the
    exposition is the one the families' own calls give; a series is made only when observed."""
    import bastion.core.context as context
    import bastion.observability.metrics as metrics

    metrics_clock = context.time

    monkeypatch.setattr(metrics, "_SHAPES_MAX", 3)  # emptied when full: the series stay as they were
    monkeypatch.setattr(metrics_clock, "perf_counter", lambda: 1000.0)  # elapsed_ms: the same in both runs
    requests = []
    for i in range(12):
        c = ctx(model=["gpt-4o", None, f"alias-{i}"][i % 3], ingress=["openai", "anthropic"][i % 2],
                status=[200, 429, 200, 502][i % 4], usage=Usage(i, 2 * i) if i % 2 else None, cost_micros=i,
                attempts=[Attempt("openai", "gpt-4o", "ok", 200)] if i % 4 == 0 else [], upstream_ms=0.25)
        c.started = 1000.0 - 0.0021 * i
        requests.append(c)
    m = Metrics(models=["gpt-4o"])
    for c in requests:
        m.observe_request(c)
    assert len(m._shapes) <= 3
    got, want = samples(m), samples(_reference(requests))
    assert got.keys() == want.keys()
    assert got == want
    assert not any(k[0].startswith("bastion_upstream_duration") and ("provider", "none") in k[1] for k in got)
