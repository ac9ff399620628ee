"""The output guard (core.context.ResponseGuard): output policy and restore, streamed or not.

Reasoning (ThinkingPart, ThinkingDelta) reaches the client too, so the output rules scan it like
text: a block rule blocks; a redact rule redacts it, and the block's signature is then dropped
(shown as "": the provider would refuse the changed block if it came back). Placeholders of the
input redaction are not restored in reasoning: it goes back to the provider unscanned, signed.
Provider-redacted blocks are opaque, encrypted data and pass as they are. A tool call's name
is model output too: it is scanned (and restored) whole, streamed or not.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import replace

from bastion.core.context import RequestContext
from bastion.core.errors import InternalError, PolicyViolation
from bastion.core.types import (
    ChatResponse,
    Part,
    StreamEnd,
    StreamEvent,
    StreamStart,
    TextDelta,
    TextPart,
    ThinkingDelta,
    ThinkingPart,
    ToolCall,
    ToolCallDelta,
    UsageEvent,
)
from bastion.policy.engine import Inspection
from bastion.policy.rules import Hit, ScanRun, violation
from bastion.policy.selection import PolicySet, PolicyState
from bastion.policy.window import HeldText

_PASSING = frozenset((StreamStart, UsageEvent))  # events that pass the guard as they are
_Key = tuple[int, int]  # (choice index, -1 for text, the tool call's index, or -2 - the reasoning block's number)
_THOUGHT = "the reasoning"
_NAME = "a tool call's name"


class OutputGuard:
    """Applies the output rules of the request's policy to the response and restores the
    placeholders the input redaction made (for rules with `restore: true`). Built once;
    per-request state comes from ctx.state["policy"] (set by PolicyStage)."""

    # guard_bursts joins a read's adjacent text deltas of one choice (`_coalesced`) before anything
    # reads them: the stream may decode them joined (pipeline/runner.py `guarded`)
    joins_text = True

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
                        step=engine.release_chars, early=engine.early_release, json_string=json_string,
                        quiet=engine.quiet_tests[bool(restore)][json_string])

    def _held_thought(self, ctx: RequestContext, state: PolicyState, run: ScanRun,
                      edited: Callable[[], None]) -> HeldText:
        """A hold-back window over reasoning text: no restore; `edited` hears of every scan that
        found something to redact (the block's signature no longer holds)."""
        engine = state.engine

        def inspect(text: str) -> Inspection:
            found = engine.inspect(run, text, {})
            if found.edits:
                edited()
            return found

        def record(hit: Hit, origin: int) -> None:
            ctx.findings.append(hit.finding(origin))

        def block(hit: Hit) -> None:
            ctx.findings.append(hit.finding())
            raise violation(hit, _THOUGHT)

        return HeldText(inspect, state.redactor, engine.window_chars, record=record, block=block, restoring=False,
                        step=engine.release_chars, early=engine.early_release, quiet=engine.quiet_tests[False][False])

    def _thought(self, ctx: RequestContext, state: PolicyState, run: ScanRun, part: ThinkingPart) -> ThinkingPart:
        if part.redacted is not None:
            return part
        text = self._held_thought(ctx, state, run, _noop).flush(part.text)
        return part if text == part.text else ThinkingPart(text, signature=None)

    def _active(self, state: PolicyState) -> bool:
        return bool(state.engine.output_rules) or bool(state.redactor.restore)

    async def check_response(self, ctx: RequestContext, response: ChatResponse) -> ChatResponse:
        state = ctx.state.get("policy")  # _state and _active, inlined (one response per request)
        if not isinstance(state, PolicyState):
            state = PolicyState(self.policies.choose(ctx.principal))
        if not state.engine.output_rules and not state.redactor.restore:
            return response
        if _quiet(state, response):
            return response  # nothing any rule could find or restore: the general path would copy it as it is
        run = ScanRun(ctx.findings)

        def whole(text: str, where: str, json_string: bool = False) -> str:
            return self._held(ctx, state, run, where, json_string).flush(text)

        choices = []
        for ch in response.choices:
            thinking = [self._thought(ctx, state, run, p) for p in ch.thinking] if ch.thinking else ch.thinking
            content: list[Part] = [TextPart(whole(p.text, "the response")) if isinstance(p, TextPart) else p
                                   for p in ch.content]
            calls = [ToolCall(c.id, whole(c.name, _NAME), whole(c.arguments, "tool call arguments", True))
                     for c in ch.tool_calls]
            refusal = whole(ch.refusal, "the response") if ch.refusal else ch.refusal
            choices.append(replace(ch, content=content, tool_calls=calls, refusal=refusal, thinking=thinking))
        return replace(response, choices=choices)

    def guard_stream(self, ctx: RequestContext, events: AsyncIterator[StreamEvent]) -> AsyncIterator[StreamEvent]:
        return self._guard(ctx, events)

    def guard_bursts(self, ctx: RequestContext,
                     bursts: AsyncIterator[list[StreamEvent]]) -> AsyncIterator[list[StreamEvent]]:
        """The same over the events of one upstream read at a time (pipeline.runner.BurstGuard):
        a read's text deltas of one choice (or argument deltas of one call) are held and scanned
        together, once. With nothing to check for the request, `bursts` pass unchanged."""
        streamed = self.burst_filter(ctx)
        return bursts if streamed is None else streamed.guarded(bursts)

    def burst_filter(self, ctx: RequestContext) -> _Streamed | None:
        """`guard_bursts` as a per-stream object that takes one burst at a time by a plain call
        (pipeline.runner.BurstFilter: the client's frames are then made in the generator that reads
        the bursts, without one of the guard's around it); None with nothing to check for the request."""
        state = ctx.state.get("policy")  # _state and _active, inlined (one per stream)
        if not isinstance(state, PolicyState):
            state = PolicyState(self.policies.choose(ctx.principal))
        if not state.engine.output_rules and not state.redactor.restore:
            return None
        return _Streamed(self, ctx, state)

    async def _guard(self, ctx: RequestContext, events: AsyncIterator[StreamEvent]) -> AsyncIterator[StreamEvent]:
        state = self._state(ctx)
        if not self._active(state):
            async for event in events:
                _known(event)
                yield event
            return
        streamed = _Streamed(self, ctx, state)
        out: list[StreamEvent] = []
        try:
            async for event in events:
                streamed.push(event, out)
                for e in out:
                    yield e
                out.clear()
            streamed.finish(out)
        except PolicyViolation:
            for e in out:  # what was safe to release before the block
                yield e
            raise
        for e in out:
            yield e


class _Streamed:
    """One guarded stream: a held text per choice's text, per tool call's arguments and per
    reasoning block."""

    __slots__ = ("_run", "ctx", "current", "edited", "engine", "guard", "held", "order", "restore", "state", "text",
                 "text_index")

    def __init__(self, guard: OutputGuard, ctx: RequestContext, state: PolicyState) -> None:
        self.guard, self.ctx, self.state = guard, ctx, state
        self.engine, self.restore = state.engine, state.redactor.restore
        # The held text of choice `text_index`'s text while text deltas of that choice follow each
        # other: what `_switch` and `_buffer` would find for the next (any other event forgets it)
        self.text: HeldText | None = None
        self.text_index = -1
        self._run: ScanRun | None = None  # made by the first inspection that scans (`run`)
        self.held: dict[_Key, HeldText] = {}
        self.order: dict[int, list[_Key]] = {}  # per choice, buffers in order of first appearance
        self.current: dict[int, _Key] = {}
        self.edited: set[_Key] = set()  # reasoning blocks whose text a redact rule changed

    @property
    def run(self) -> ScanRun:
        run = self._run
        if run is None:
            run = self._run = ScanRun(self.ctx.findings, accumulate=False)
        return run

    def burst(self, burst: list[StreamEvent], out: list[StreamEvent]) -> None:
        """Take the events of one upstream read (a read's adjacent text deltas of one choice, or
        argument deltas of one call, held and scanned together, once); append to `out` what may
        leave now. Raises PolicyViolation on a block, `out` then holding what was safe to release."""
        if len(burst) < 2:
            if burst:
                event = burst[0]
                if type(event) is TextDelta:
                    h = self.text
                    if h is not None and self.text_index == event.index:  # `_text`, inlined: a paced stream's read
                        text = h.feed(event.text)
                        if text:
                            out.append(TextDelta(text, event.index))
                    else:
                        self._text(event.index, event.text, out)
                else:
                    self.push(event, out)
            return
        # `push` of each event of `_coalesced(burst)`, with the text deltas joined here, as long as the
        # events are of the exact classes the loop knows; the rest of the burst (from a tool call's
        # delta, reasoning or a subclass on) takes the general way
        texts: list[str] = []
        index = 0
        for i, event in enumerate(burst):
            kind = type(event)
            if kind is TextDelta:
                if texts and index != event.index:  # type: ignore[union-attr]
                    self._text(index, "".join(texts), out)
                    texts = []
                index = event.index  # type: ignore[union-attr]
                texts.append(event.text)  # type: ignore[union-attr]
                continue
            if texts:
                if kind is StreamEnd and event.index == index and index not in self.order:  # type: ignore[union-attr]
                    # the choice's whole text arrived in this read, and nothing of it is held
                    self._whole(index, texts, burst[i - 1], out)  # type: ignore[arg-type]
                else:
                    self._text(index, "".join(texts), out)
                texts = []
            if kind in _PASSING:
                self.text = None
                out.append(event)
            elif kind is StreamEnd:
                self.text = None
                self._end(event, out)  # type: ignore[arg-type]
            else:
                for e in _coalesced(burst[i:]):
                    self.push(e, out)
                return
        if texts:
            self._text(index, "".join(texts), out)

    async def guarded(self, bursts: AsyncIterator[list[StreamEvent]]) -> AsyncIterator[list[StreamEvent]]:
        """The guarded bursts (OutputGuard.guard_bursts): what each read releases, as one burst."""
        out: list[StreamEvent] = []
        try:
            async for burst in bursts:
                self.burst(burst, out)
                if out:
                    yield out
                    out = []
            self.finish(out)
        except PolicyViolation:
            if out:
                yield out
            raise
        if out:
            yield out

    def _inspect_text(self, text: str) -> Inspection:
        return self.engine.inspect(self.run, text, self.restore)

    def _inspect_json(self, text: str) -> Inspection:
        return self.engine.inspect(self.run, text, self.restore, True)

    def _record(self, hit: Hit, origin: int) -> None:
        self.ctx.findings.append(hit.finding(origin))

    def _block_text(self, hit: Hit) -> None:
        self.ctx.findings.append(hit.finding())
        raise violation(hit, "the response")

    def _block_json(self, hit: Hit) -> None:
        self.ctx.findings.append(hit.finding())
        raise violation(hit, "tool call arguments")

    def _buffer(self, key: _Key) -> HeldText:
        """OutputGuard._held for the key's text (without closures made per text)."""
        h = self.held.get(key)
        if h is None:
            engine, restoring = self.engine, bool(self.restore)
            if key[1] < 0:
                h = HeldText(self._inspect_text, self.state.redactor, engine.window_chars, self._record,
                             self._block_text, restoring, engine.release_chars, engine.early_release, False,
                             engine.quiet_tests[restoring][0])
            else:
                h = HeldText(self._inspect_json, self.state.redactor, engine.window_chars, self._record,
                             self._block_json, restoring, engine.release_chars, engine.early_release, True,
                             engine.quiet_tests[restoring][1])
            self.held[key] = h
            self.order.setdefault(key[0], []).append(key)
        return h

    def _switch(self, key: _Key, out: list[StreamEvent]) -> None:
        """Text and tool calls of a choice are sequential: a new one completes the last."""
        last = self.current.get(key[0])
        self.current[key[0]] = key
        if last is not None and last != key:
            _add(out, last, self.held[last].flush())

    def _text(self, index: int, text: str, out: list[StreamEvent]) -> None:
        """`push` of TextDelta(text, index)."""
        h = self.text
        if h is None or self.text_index != index:
            key = (index, -1)
            self._switch(key, out)
            h = self.text = self._buffer(key)
            self.text_index = index
        text = h.feed(text)
        if text:
            out.append(TextDelta(text, index))

    def _whole(self, index: int, texts: list[str], last: TextDelta, out: list[StreamEvent]) -> None:
        """`_text` of the joined `texts` of choice `index` (the last of them `last`'s) that a StreamEnd of
        the choice follows, with no text of the choice held before: the whole text is there. When the
        policy's quiet test says no rule finds or edits anything in it (HeldText._release's test), it
        leaves as it is, as a new held text's `flush` releases it (and as a response's text leaves
        `check_response`), in one event; else `_text` holds and scans it as any other."""
        quiet = self.engine.quiet_tests[bool(self.restore)][0]
        text = last.text if len(texts) == 1 else "".join(texts)
        if quiet is None or not quiet(text):
            self._text(index, text, out)
            return
        self.text = None
        if text:
            out.append(last if len(texts) == 1 else TextDelta(text, index))

    def _end(self, event: StreamEnd, out: list[StreamEvent]) -> None:
        """`push` of a StreamEnd: the choice's texts are complete."""
        for key in self.order.pop(event.index, []):
            _add(out, key, self.held.pop(key).flush())
        self.current.pop(event.index, None)
        out.append(event)

    def push(self, event: StreamEvent, out: list[StreamEvent]) -> None:
        """Take one event; append to `out` what may leave now. Raises PolicyViolation on a block."""
        if isinstance(event, TextDelta):
            self._text(event.index, event.text, out)
            return
        self.text = None
        if type(event) in _PASSING:  # (the exact classes: nothing to hold or scan; a subclass takes the checks below)
            out.append(event)
            return
        if isinstance(event, ToolCallDelta):
            key = (event.index, event.call_index)
            self._switch(key, out)
            h = self._buffer(key)
            if event.id is not None or event.name is not None:
                # a call's name arrives whole, in its first fragment: scanned (and restored) as one text
                name = (self.guard._held(self.ctx, self.state, self.run, _NAME, False).flush(event.name)
                        if event.name else event.name)
                out.append(ToolCallDelta(event.call_index, event.id, name, "", event.index))
            _add(out, key, h.feed(event.arguments))
        elif isinstance(event, StreamEnd):
            self._end(event, out)
        elif isinstance(event, ThinkingDelta):
            self._thinking(event, out)
        else:
            _known(event)
            out.append(event)

    def _thinking(self, event: ThinkingDelta, out: list[StreamEvent]) -> None:
        """Reasoning text is held and scanned like text; its signature leaves once the block's
        text has (empty when a redact rule changed that text); a provider-redacted block has no text."""
        if event.redacted is not None:
            last = self.current.pop(event.index, None)
            if last is not None:
                _add(out, last, self.held[last].flush())
            out.append(event)
            return
        key = (event.index, -2 - event.block)
        self._switch(key, out)
        h = self.held.get(key)
        if h is None:
            h = self.held[key] = self.guard._held_thought(self.ctx, self.state, self.run,
                                                          lambda: self.edited.add(key))
            self.order.setdefault(key[0], []).append(key)
        if event.text:
            _add(out, key, h.feed(event.text))
        if event.signature is not None:
            _add(out, key, h.flush())
            signature = "" if key in self.edited else event.signature
            out.append(ThinkingDelta(event.block, signature=signature, index=event.index))

    def finish(self, out: list[StreamEvent]) -> None:
        """The source ended normally: flush the choices that had no StreamEnd."""
        for keys in self.order.values():
            for key in keys:
                _add(out, key, self.held[key].flush())


def _quiet(state: PolicyState, response: ChatResponse) -> bool:
    """Every text of the response is one the policy has nothing to do with: its quiet tests
    (PolicyEngine.quiet_test, one C call per text with the accelerator) say so. They say True only
    where PolicyEngine.quiet does; a False is an inspection that finds nothing, as the general path's."""
    tests = state.engine.quiet_tests[bool(state.redactor.restore)]
    quiet = tests[0]
    if quiet is None:  # (a rule without a literal pre-check: every text is scanned)
        return False
    for ch in response.choices:
        for p in ch.content:
            if isinstance(p, TextPart) and not quiet(p.text):
                return False
        if ch.thinking:
            unrestored = state.engine.quiet_tests[False][0]  # (thinking restores nothing)
            for t in ch.thinking:
                if t.text and (unrestored is None or not unrestored(t.text)):
                    return False
        if ch.tool_calls:
            json_quiet = tests[1]
            for c in ch.tool_calls:
                if json_quiet is None or not json_quiet(c.arguments) or not quiet(c.name):
                    return False
        if ch.refusal and not quiet(ch.refusal):
            return False
    return True


def _coalesced(burst: list[StreamEvent]) -> list[StreamEvent]:
    """Adjacent text deltas of one choice, and adjacent argument deltas of one tool call, as one
    event each (held and scanned once per upstream read instead of once per delta)."""
    if len(burst) < 2:
        return burst
    out: list[StreamEvent] = []
    last: StreamEvent | None = None  # out[-1]
    for e in burst:
        if isinstance(e, TextDelta):
            if isinstance(last, TextDelta) and last.index == e.index:
                last = out[-1] = TextDelta(last.text + e.text, e.index)
                continue
        elif (isinstance(e, ToolCallDelta) and isinstance(last, ToolCallDelta) and e.id is None
              and e.name is None and last.index == e.index and last.call_index == e.call_index):
            last = out[-1] = ToolCallDelta(e.call_index, last.id, last.name, last.arguments + e.arguments, e.index)
            continue
        out.append(e)
        last = e
    return out


def _add(out: list[StreamEvent], key: _Key, text: str) -> None:
    event = _delta(key, text)
    if event is not None:
        out.append(event)


def _delta(key: _Key, text: str) -> StreamEvent | None:
    if not text:
        return None
    if key[1] == -1:
        return TextDelta(text, key[0])
    if key[1] >= 0:
        return ToolCallDelta(key[1], arguments=text, index=key[0])
    return ThinkingDelta(-2 - key[1], text, index=key[0])


def _known(event: object) -> None:
    if not isinstance(event, (StreamStart, UsageEvent, StreamEnd, TextDelta, ToolCallDelta, ThinkingDelta)):
        raise InternalError(f"output guard: unknown stream event {type(event).__name__}")


def _noop() -> None:
    return None
