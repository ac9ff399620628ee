"""OpenTelemetry traces (the `otel` extra): a server span per request with GenAI attributes,
child spans per stage and upstream attempt, W3C traceparent sent upstream, no prompt text."""

from __future__ import annotations

import openai
import pytest

from tests.gateway import base_config
from tests.integration.inprocess import InProcessGateway

sdk = pytest.importorskip("opentelemetry.sdk.trace", reason="the otel extra is not installed")


@pytest.fixture(scope="module")
def exporter():
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exp = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exp))
    trace.set_tracer_provider(provider)
    return exp


def test_spans_and_traceparent(exporter, fake_upstream_server, fake_upstream, tmp_path):
    cfg = base_config(fake_upstream_server.url, tmp_path, observability={"tracing": True},
                      policies={"default": {"input": [{"scanner": "secrets", "action": "block"}]}})
    with InProcessGateway(cfg) as g:
        key = g.create_key()
        c = openai.OpenAI(base_url=f"{g.url}/v1", api_key=key, max_retries=0)
        c.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "secret plans here"}])
    spans = exporter.get_finished_spans()
    server = [s for s in spans if s.kind.name == "SERVER" and s.attributes.get("gen_ai.operation.name") == "chat"]
    assert server, [s.name for s in spans]
    root = server[-1]
    assert root.attributes["gen_ai.request.model"] == "gpt-4o-mini"
    assert root.attributes["gen_ai.usage.output_tokens"] > 0
    children = [s for s in spans if s.parent is not None and s.parent.span_id == root.context.span_id]
    names = {s.name for s in children}
    assert {"bastion.ratelimit", "bastion.cost", "bastion.policy"} <= names
    client = [s for s in children if s.kind.name == "CLIENT"]
    assert client and client[0].attributes["gen_ai.provider.name"] == "openai"
    tp = fake_upstream.last("openai.chat").headers["traceparent"]
    assert tp.split("-")[1] == format(root.context.trace_id, "032x")
    assert tp.split("-")[2] == format(client[0].context.span_id, "016x")
    assert all("secret plans" not in str(s.attributes) for s in spans)
