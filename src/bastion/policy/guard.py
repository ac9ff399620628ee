"""The output guard (core.context.ResponseGuard): output policy and restore, streamed or not."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

from bastion.core.context import RequestContext
from bastion.core.errors import InternalError
from bastion.core.types import (
    ChatResponse,
    Part,
    StreamEnd,
    StreamEvent,
    StreamStart,
    TextDelta,
    TextPart,
    ToolCall,
    ToolCallDelta,
    UsageEvent,
)
from bastion.policy.rules import Hit, ScanRun, violation
from bastion.policy.selection import PolicySet, PolicyState
from bastion.policy.window import HeldText

_Key = tuple[int, int]  # (choice index, -1 for text or the tool call's index)


class OutputGuard:
    """Applies the output rules of the request's policy to the response and restores the
    placeholders the input redaction made (for rules with `restore: true`). Built once;
    per-request state comes from ctx.state["policy"] (set by PolicyStage)."""

    def __init__(self, policies: PolicySet) -> None:
        self.policies = policies

    def _state(self, ctx: RequestContext) -> PolicyState:
        state = ctx.state.get("policy")
        if isinstance(state, PolicyState):
            return state
        return PolicyState(self.policies.choose(ctx.principal))

    def _held(self, ctx: RequestContext, state: PolicyState, run: ScanRun, where: str,
              json_string: bool) -> HeldText:
        engine, restore = state.engine, state.redactor.restore

        def record(hit: Hit, origin: int) -> None:
            ctx.findings.append(hit.finding(origin))

        def block(hit: Hit) -> None:
            ctx.findings.append(hit.finding())
            raise violation(hit, where)

        return HeldText(lambda text: engine.inspect(run, text, restore, json_string), state.redactor,
                        engine.window_chars, record=record, block=block, restoring=bool(restore),
                        step=engine.release_chars)

    def _active(self, state: PolicyState) -> bool:
        return bool(state.engine.output_rules) or bool(state.redactor.restore)

    async def check_response(self, ctx: RequestContext, response: ChatResponse) -> ChatResponse:
        state = self._state(ctx)
        if not self._active(state):
            return response
        run = ScanRun(ctx.findings)

        def whole(text: str, where: str, json_string: bool = False) -> str:
            return self._held(ctx, state, run, where, json_string).flush(text)

        choices = []
        for ch in response.choices:
            content: list[Part] = [TextPart(whole(p.text, "the response")) if isinstance(p, TextPart) else p
                                   for p in ch.content]
            calls = [ToolCall(c.id, c.name, whole(c.arguments, "tool call arguments", True)) for c in ch.tool_calls]
            refusal = whole(ch.refusal, "the response") if ch.refusal else ch.refusal
            choices.append(replace(ch, content=content, tool_calls=calls, refusal=refusal))
        return replace(response, choices=choices)

    def guard_stream(self, ctx: RequestContext, events: AsyncIterator[StreamEvent]) -> AsyncIterator[StreamEvent]:
        return self._guard(ctx, events)

    async def _guard(self, ctx: RequestContext, events: AsyncIterator[StreamEvent]) -> AsyncIterator[StreamEvent]:
        state = self._state(ctx)
        if not self._active(state):
            async for event in events:
                _known(event)
                yield event
            return
        run = ScanRun(ctx.findings, accumulate=False)
        held: dict[_Key, HeldText] = {}
        order: dict[int, list[_Key]] = {}  # per choice, buffers in order of first appearance
        current: dict[int, _Key] = {}

        def buffer(key: _Key) -> HeldText:
            h = held.get(key)
            if h is None:
                where = "the response" if key[1] < 0 else "tool call arguments"
                h = held[key] = self._held(ctx, state, run, where, key[1] >= 0)
                order.setdefault(key[0], []).append(key)
            return h

        def switch(key: _Key) -> StreamEvent | None:
            """Text and tool calls of a choice are sequential: a new one completes the last."""
            last = current.get(key[0])
            current[key[0]] = key
            if last is None or last == key:
                return None
            return _delta(last, held[last].flush())

        async for event in events:
            if isinstance(event, TextDelta):
                key = (event.index, -1)
                flushed = switch(key)
                if flushed is not None:
                    yield flushed
                out = buffer(key).feed(event.text)
                if out:
                    yield TextDelta(out, event.index)
            elif isinstance(event, ToolCallDelta):
                key = (event.index, event.call_index)
                flushed = switch(key)
                if flushed is not None:
                    yield flushed
                h = buffer(key)
                if event.id is not None or event.name is not None:
                    yield ToolCallDelta(event.call_index, event.id, event.name, "", event.index)
                out = h.feed(event.arguments)
                if out:
                    yield ToolCallDelta(event.call_index, arguments=out, index=event.index)
            elif isinstance(event, StreamEnd):
                for key in order.pop(event.index, []):
                    flushed = _delta(key, held.pop(key).flush())
                    if flushed is not None:
                        yield flushed
                current.pop(event.index, None)
                yield event
            else:
                _known(event)
                yield event
        for keys in order.values():  # a choice without StreamEnd: the source ended normally
            for key in keys:
                flushed = _delta(key, held[key].flush())
                if flushed is not None:
                    yield flushed


def _delta(key: _Key, text: str) -> StreamEvent | None:
    if not text:
        return None
    if key[1] < 0:
        return TextDelta(text, key[0])
    return ToolCallDelta(key[1], arguments=text, index=key[0])


def _known(event: object) -> None:
    if not isinstance(event, (StreamStart, UsageEvent, StreamEnd, TextDelta, ToolCallDelta)):
        raise InternalError(f"output guard: unknown stream event {type(event).__name__}")
