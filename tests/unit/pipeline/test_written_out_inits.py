"""The written-out __init__s of RequestContext and of the canonical request and response types are the
ones the dataclass would generate: every field, in order, with its default (None standing for a fresh container)."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from bastion.core.context import RequestContext
from bastion.core.types import ChatRequest, Choice, Message, TextPart


@pytest.mark.parametrize("cls", [RequestContext, Message, ChatRequest, Choice])
def test_init_takes_every_field_in_order_with_its_default(cls: type) -> None:
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    fields = dataclasses.fields(cls)
    assert [p.name for p in params] == [f.name for f in fields]
    for p, f in zip(params, fields, strict=True):
        if f.default is not dataclasses.MISSING:
            assert p.default == f.default, f.name
        elif f.default_factory is not dataclasses.MISSING:
            assert p.default is None, f.name  # None: a fresh one from the factory
        else:
            assert p.default is inspect.Parameter.empty, f.name


def test_defaults_are_fresh_containers_and_given_ones_are_kept() -> None:
    a, b = Message("user"), Message("user")
    for name in ("content", "tool_calls", "thinking"):
        assert getattr(a, name) == [] and getattr(a, name) is not getattr(b, name)
    r1, r2 = ChatRequest("m", [a]), ChatRequest("m", [b])
    for name in ("system", "tools", "stop", "extra"):
        assert getattr(r1, name) == type(getattr(r1, name))() and getattr(r1, name) is not getattr(r2, name)
    assert (r1.stream, r1.ingress, r1.max_tokens) == (False, "openai", None)
    c1, c2 = Choice(0), Choice(0)
    for name in ("content", "tool_calls", "thinking"):
        assert getattr(c1, name) == [] and getattr(c1, name) is not getattr(c2, name)
    parts = [TextPart("hi")]
    m = Message("assistant", parts, name="n", is_error=True)
    assert m.content is parts and (m.name, m.is_error, m.tool_call_id) == ("n", True, None)
    req = ChatRequest("m", [m], stop=["x"], extra={"k": 1}, stream=True, ingress="anthropic")
    assert (req.stop, req.extra, req.stream, req.ingress) == (["x"], {"k": 1}, True, "anthropic")
    assert req == dataclasses.replace(req) and repr(req).startswith("ChatRequest(model='m'")
    assert Choice(1, parts, finish_reason="stop") == Choice(index=1, content=[TextPart("hi")], finish_reason="stop")
