"""Which streams take the direct path (pipeline/runner.py `DirectStream`: client frames straight from
each upstream read): only those that no output guard reads and whose content no capture keeps. A
stream under an output policy (the default one included) never does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from tests.unit.pipeline.test_stream_bursts import BURSTS, BurstGuard, EventGuard, FakeRouted

from bastion.config.policy import PolicyConfig
from bastion.core.context import Principal, RequestContext
from bastion.core.types import ChatRequest, ChatResponse, Message, StreamEvent, TextPart
from bastion.pipeline.runner import Burst, DirectStream, Pipeline
from bastion.policy.stage import PolicyStage


class PassingGuard(BurstGuard):
    """A burst guard with nothing to check for the request: it hands the bursts back unchanged."""

    def guard_bursts(self, ctx: RequestContext, bursts: AsyncIterator[Burst]) -> AsyncIterator[Burst]:
        return bursts


class Routed(FakeRouted):
    def __init__(self, bursts: list[Burst]) -> None:
        super().__init__(bursts)
        self._gen: AsyncIterator[Burst] | None = None

    def bursts(self) -> AsyncIterator[Burst]:  # one generator, as RoutedStream's
        if self._gen is None:
            self._gen = self._gen_once()
        return self._gen

    async def _gen_once(self) -> AsyncIterator[Burst]:
        for b in self._bursts:
            yield b


class Router:
    def route(self, model: str, kind: str) -> None:  # every model is known
        return None

    async def chat_stream(self, ctx: RequestContext, req: ChatRequest) -> Routed:
        return Routed(BURSTS)


class Capture:
    def __init__(self, wants: bool) -> None:
        self._wants = wants

    def wants(self, ctx: RequestContext) -> bool:
        return self._wants

    def attach(self, ctx: RequestContext, request: ChatRequest, response_text: str | None) -> None:
        pass


def pipeline(guard: Any, capture: Capture | None = None) -> Pipeline:
    p = Pipeline(auth=None, stages=[], router=Router(), guard=guard, observers=[], capture=capture)  # type: ignore[arg-type]
    return p


async def stream_of(p: Pipeline) -> tuple[RequestContext, ChatResponse | AsyncIterator[Burst]]:
    ctx = RequestContext(request_id="r", ingress="openai", principal=Principal("k", "key"))  # may use every model
    req = ChatRequest(model="m", messages=[Message("user", [TextPart("hi")])], stream=True)
    return ctx, await p.chat(ctx, req)


@pytest.mark.parametrize("guard,capture,direct", [
    (None, None, True),
    (PassingGuard(), None, True),
    (PassingGuard(), Capture(False), True),
    (PassingGuard(), Capture(True), False),  # the audit keeps the text: it needs the events
    (BurstGuard(), None, False),  # a guard that reads the bursts
    (EventGuard(), None, False),  # a guard that reads event by event
    (PolicyStage({"default": PolicyConfig()}).guard, None, True),  # `policies: {default: {}}`
    (PolicyStage({}).guard, None, False),  # the built-in default policy scans the output
    (PolicyStage({"default": PolicyConfig.model_validate(
        {"output": [{"scanner": "secrets", "action": "block"}]})}).guard, None, False),
])
async def test_only_a_stream_nobody_reads_is_direct(guard: Any, capture: Capture | None, direct: bool) -> None:
    ctx, result = await stream_of(pipeline(guard, capture))
    assert isinstance(result, DirectStream) is direct
    assert not isinstance(result, ChatResponse)
    flat: list[StreamEvent] = [ev async for b in result for ev in b]  # either way, observed
    if direct:  # iterated, a direct stream gives the routed events as they are
        assert flat == [ev for b in BURSTS for ev in b]
    assert ctx.usage is not None and ctx.finish_reason == "stop" and ctx.streamed_chars == len("Hello world")


@pytest.mark.parametrize("models,refused", [(None, False), (frozenset({"m"}), False), (frozenset({"other"}), True)])
async def test_chat_checks_the_model_as_check_model(models: frozenset[str] | None, refused: bool) -> None:
    """Pipeline.chat's inlined model check refuses what check_model refuses, with its error."""
    from bastion.core.errors import PermissionDenied

    p = pipeline(None)
    ctx = RequestContext(request_id="r", ingress="openai", principal=Principal("k", "key", models=models))
    req = ChatRequest(model="m", messages=[Message("user", [TextPart("hi")])], stream=True)
    try:
        p.check_model(RequestContext(request_id="r2", ingress="openai", principal=ctx.principal), "m", "chat")
        expected = None
    except PermissionDenied as e:
        expected = (e.status, e.message, e.param)
    try:
        await p.chat(ctx, req)
        got = None
    except PermissionDenied as e:
        got = (e.status, e.message, e.param)
    assert got == expected and (got is not None) == refused
    assert ctx.model == "m"
