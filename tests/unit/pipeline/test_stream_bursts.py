"""The pipeline's stream path in bursts (pipeline/runner.py): an output guard that works per burst
gets the router's bursts; one that works per event sees every event, in order; observers see every
event either way."""

from __future__ import annotations

from collections.abc import AsyncIterator

from bastion.core.context import RequestContext
from bastion.core.types import ChatResponse, StreamEnd, StreamEvent, StreamStart, TextDelta, Usage, UsageEvent
from bastion.pipeline.runner import Burst, Pipeline, guarded, note

BURSTS: list[Burst] = [
    [StreamStart("id", "m"), TextDelta("Hel")],
    [TextDelta("lo"), TextDelta(" world"), StreamEnd("stop"), UsageEvent(Usage(3, 2))],
]


class FakeRouted:
    def __init__(self, bursts: list[Burst]) -> None:
        self._bursts = bursts

    async def _gen(self) -> AsyncIterator[Burst]:
        for b in self._bursts:
            yield b

    def bursts(self) -> AsyncIterator[Burst]:
        return self._gen()

    async def _events(self) -> AsyncIterator[StreamEvent]:
        for b in self._bursts:
            for ev in b:
                yield ev

    def __aiter__(self) -> AsyncIterator[StreamEvent]:
        return self._events()


class EventGuard:
    """A per-event guard that upper-cases text (a stand-in for redaction)."""

    def __init__(self) -> None:
        self.seen: list[StreamEvent] = []

    async def check_response(self, ctx: RequestContext, response: ChatResponse) -> ChatResponse:
        return response

    async def _run(self, events: AsyncIterator[StreamEvent]) -> AsyncIterator[StreamEvent]:
        async for ev in events:
            self.seen.append(ev)
            yield TextDelta(ev.text.upper(), ev.index) if isinstance(ev, TextDelta) else ev

    def guard_stream(self, ctx: RequestContext, events: AsyncIterator[StreamEvent]) -> AsyncIterator[StreamEvent]:
        return self._run(events)


class BurstGuard(EventGuard):
    def __init__(self) -> None:
        super().__init__()
        self.bursts: list[Burst] = []

    async def _by_burst(self, bursts: AsyncIterator[Burst]) -> AsyncIterator[Burst]:
        async for b in bursts:
            self.bursts.append(b)
            yield b

    def guard_bursts(self, ctx: RequestContext, bursts: AsyncIterator[Burst]) -> AsyncIterator[Burst]:
        return self._by_burst(bursts)


def ctx() -> RequestContext:
    return RequestContext(request_id="r", ingress="openai")


async def collect(bursts: AsyncIterator[Burst]) -> list[Burst]:
    return [b async for b in bursts]


async def test_a_per_event_guard_sees_every_event_in_order_and_its_output_is_kept() -> None:
    g = EventGuard()
    out = await collect(guarded(g, ctx(), FakeRouted(BURSTS)))  # type: ignore[arg-type]
    assert g.seen == [ev for b in BURSTS for ev in b]
    flat = [ev for b in out for ev in b]
    assert [ev.text for ev in flat if isinstance(ev, TextDelta)] == ["HEL", "LO", " WORLD"]
    assert len(flat) == 6


async def test_a_burst_guard_gets_the_bursts_as_they_came() -> None:
    g = BurstGuard()
    out = await collect(guarded(g, ctx(), FakeRouted(BURSTS)))  # type: ignore[arg-type]
    assert g.bursts == BURSTS and out == BURSTS and g.seen == []


async def test_observers_see_every_event_of_every_burst() -> None:
    p = Pipeline.__new__(Pipeline)
    p.capture = None
    c = ctx()

    async def src() -> AsyncIterator[Burst]:
        for b in BURSTS:
            yield b

    out = await collect(p._observe(c, src()))
    assert out == BURSTS
    assert c.streamed_chars == len("Hello world") and c.first_token_at is not None
    assert c.usage == Usage(3, 2) and c.finish_reason == "stop"


def test_note_keeps_the_count_a_stream_start_reported() -> None:
    """Both stream paths observe by `note`: the start's count is kept for a stream cut before its usage."""
    ctx = RequestContext(request_id="r", ingress="anthropic")
    note(ctx, [StreamStart("id", "m")], 0)
    assert ctx.start_usage is None and ctx.usage is None
    note(ctx, [StreamStart("id", "m", usage=Usage(1234, 1)), TextDelta("Hi")], 3)
    assert ctx.start_usage == Usage(1234, 1) and ctx.usage is None and ctx.streamed_chars == 5


async def test_an_observed_stream_read_as_frames_is_observing_then_encoding() -> None:
    """`ObservedStream.frames` (observing and encoding in one generator) gives the frames, the observed
    facts and the end that `Pipeline._observe` read by http/api.py `_frames` gives, also when the
    bursts fail mid-stream (the error frame) or the encoder refuses an event."""
    from types import SimpleNamespace

    from bastion.core.errors import UpstreamError
    from bastion.core.types import ToolCallDelta
    from bastion.http.api import _Ending, _frames
    from bastion.pipeline.runner import ObservedStream
    from bastion.providers.anthropic.stream_encode import AnthropicStreamEncoder
    from bastion.providers.openai.stream import ChunkEncoder

    async def source(bursts: list[Burst], fail: Exception | None) -> AsyncIterator[Burst]:
        for b in bursts:
            yield list(b)
        if fail is not None:
            raise fail

    interleaved: list[Burst] = [[StreamStart("id", "m"), ToolCallDelta(0, "c0", "f", "{"), ToolCallDelta(1, "c1", "g", "{")],
                                [ToolCallDelta(0, arguments="}")]]
    cases = [(BURSTS, None), (BURSTS[:1], UpstreamError("gone")), (BURSTS[:1], ValueError("bug")), (interleaved, None)]
    for bursts, fail in cases:
        for make in (lambda: ChunkEncoder("alias", True), lambda: AnthropicStreamEncoder("alias")):
            outcomes = []
            for fused in (True, False):
                ctx = RequestContext(request_id="r", ingress="openai")
                enc = make()
                if fused:
                    frames = ObservedStream(None, ctx, source(bursts, fail)).frames(  # type: ignore[arg-type]
                        enc, _Ending(ctx, enc))
                else:
                    observed = Pipeline._observe(SimpleNamespace(capture=None), ctx,  # type: ignore[arg-type]
                                                 source(bursts, fail))
                    frames = _frames(ctx, observed, enc)
                out = [f async for f in frames]
                outcomes.append((out, ctx.streamed_chars, ctx.usage, ctx.finish_reason, ctx.error_code,
                                 "stream_closed_at" in ctx.state, ctx.first_token_at is not None))
            assert outcomes[0] == outcomes[1], (bursts, fail)
