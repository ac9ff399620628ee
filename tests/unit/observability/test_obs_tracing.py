"""Tracing: GenAI attributes, no content in spans, no-op when off, span structure with a fake tracer."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from bastion.core.context import Attempt, Principal, RequestContext
from bastion.core.types import Usage
from bastion.observability.tracing import RequestTracer, request_attributes, response_attributes


def ctx() -> RequestContext:
    c = RequestContext(request_id="req-1", ingress="openai", model="gpt-4o", status=200, stream=True)
    c.principal = Principal("k1", "svc", team="t")
    c.attempts.append(Attempt("openai", "gpt-4o-2024", "ok", 200))
    c.usage = Usage(11, 7)
    c.finish_reason = "stop"
    return c


def test_genai_attributes() -> None:
    c = ctx()
    assert request_attributes(c) == {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o",
                                     "bastion.request_id": "req-1", "bastion.ingress": "openai"}
    r = response_attributes(c)
    assert r["gen_ai.usage.input_tokens"] == 11 and r["gen_ai.usage.output_tokens"] == 7
    assert r["gen_ai.provider.name"] == "openai" and r["gen_ai.response.model"] == "gpt-4o-2024"
    assert r["gen_ai.response.finish_reasons"] == ["stop"] and r["bastion.key_id"] == "k1"


def test_client_model_text_is_scrubbed() -> None:
    c = ctx()
    c.model = "sk-proj-AbCdEfGhIjKlMnOpQrStUvWx0123"
    assert "AbCdEfGh" not in str(request_attributes(c))


def test_disabled_tracer_is_a_no_op() -> None:
    t = RequestTracer(enabled=False)
    c = ctx()
    t.start(c)
    with t.stage(c, "policy"), t.attempt(c, "openai", "gpt-4o") as headers:
        assert headers == {}
    t.finish(c)
    assert not t.enabled and c.state == {}


def test_api_without_sdk_is_harmless() -> None:
    pytest.importorskip("opentelemetry")
    t = RequestTracer(enabled=True)
    c = ctx()
    t.start(c)
    with t.stage(c, "policy"), t.attempt(c, "openai", "gpt-4o") as headers:
        assert isinstance(headers, dict)
    t.finish(c)
    assert "trace" not in c.state


class FakeSpan:
    def __init__(self, name: str, kind: Any, attributes: dict[str, Any] | None) -> None:
        self.name, self.kind, self.attributes = name, kind, dict(attributes or {})
        self.ended, self.status = False, None

    def set_attributes(self, attrs: dict[str, Any]) -> None:
        self.attributes.update(attrs)

    def set_status(self, status: Any) -> None:
        self.status = status

    def update_name(self, name: str) -> None:
        self.name = name

    def end(self) -> None:
        self.ended = True

    def get_span_context(self) -> Any:
        from opentelemetry.trace import INVALID_SPAN_CONTEXT

        return INVALID_SPAN_CONTEXT

    def is_recording(self) -> bool:
        return False


class FakeTracer:
    def __init__(self) -> None:
        self.spans: list[FakeSpan] = []

    def start_span(self, name: str, kind: Any = None, attributes: Any = None, **_: Any) -> FakeSpan:
        self.spans.append(FakeSpan(name, kind, attributes))
        return self.spans[-1]

    @contextlib.contextmanager
    def start_as_current_span(self, name: str, kind: Any = None, attributes: Any = None,
                              **_: Any) -> Iterator[FakeSpan]:
        span = self.start_span(name, kind, attributes)
        yield span
        span.end()


def test_span_structure() -> None:
    pytest.importorskip("opentelemetry")
    t = RequestTracer(enabled=True)
    fake = FakeTracer()
    t._tracer = fake
    c = ctx()
    c.status, c.error_code = 502, "upstream_error"
    t.start(c)
    with t.stage(c, "policy"):
        pass
    with t.attempt(c, "openai", "gpt-4o-2024"):
        pass
    t.finish(c)
    server, stage, client = fake.spans
    assert server.name == "chat gpt-4o" and str(server.kind).endswith("SERVER") and server.ended
    assert stage.name == "bastion.policy" and str(stage.kind).endswith("INTERNAL") and stage.ended
    assert client.name == "chat gpt-4o-2024" and str(client.kind).endswith("CLIENT")
    assert client.attributes["gen_ai.provider.name"] == "openai"
    assert server.attributes["error.type"] == "upstream_error" and server.status is not None
