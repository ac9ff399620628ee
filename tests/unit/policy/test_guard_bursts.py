"""The output guard over bursts (the events of one upstream read): same result, one scan per read."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bastion.core.errors import PolicyViolation
from bastion.core.types import (
    ChatResponse,
    Choice,
    StreamEnd,
    StreamEvent,
    StreamStart,
    TextDelta,
    TextPart,
    ToolCallDelta,
)
from bastion.policy.registry import ScannerRegistry
from bastion.policy.stage import PolicyStage
from tests.unit.policy.test_guard import CARD, GH, REDACT_OUT, ctx, stage


async def source(bursts: Sequence[list[StreamEvent]]) -> AsyncIterator[list[StreamEvent]]:
    for b in bursts:
        yield list(b)


async def run(s: PolicyStage, bursts: Sequence[list[StreamEvent]]) -> list[StreamEvent]:
    return [e async for b in s.guard.guard_bursts(ctx(), source(bursts)) for e in b]


def grouped(events: list[StreamEvent], sizes: Sequence[int]) -> list[list[StreamEvent]]:
    out, i = [], 0
    for n in itertools.cycle(sizes or [1]):
        if i >= len(events):
            return out
        out.append(events[i:i + max(n, 1)])
        i += max(n, 1)
    return out


def text_of(events: Sequence[StreamEvent], index: int = 0) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta) and e.index == index)


async def test_nothing_to_check_passes_the_bursts_unchanged(registry: ScannerRegistry) -> None:
    s = stage(registry, input=[{"scanner": "secrets", "action": "block"}])
    bursts = source([[TextDelta("x")]])
    assert s.guard.guard_bursts(ctx(), bursts) is bursts


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
async def test_any_bursts_give_the_whole_response_result(registry: ScannerRegistry, data: st.DataObject) -> None:
    s = stage(registry, **REDACT_OUT)
    pieces = [GH + " ", f" {CARD} ", "x@y.io", " ", "word ", "\n", "sk-", "ghp_", "4111", " 1111", "DE89 3704"]
    text = "".join(data.draw(st.lists(st.sampled_from(pieces), max_size=12)))
    cuts = sorted(set(data.draw(st.lists(st.integers(1, max(len(text) - 1, 1)), max_size=12))))
    chunks = [text[a:b] for a, b in itertools.pairwise([0, *cuts, len(text)]) if b > a]
    events: list[StreamEvent] = [StreamStart("i", "m"), *(TextDelta(c) for c in chunks), StreamEnd("stop")]
    sizes = data.draw(st.lists(st.integers(1, 6), min_size=1, max_size=5))
    whole = await s.guard.check_response(ctx(), ChatResponse("id", "m", [Choice(0, [TextPart(text)], [], "stop")]))
    out = await run(s, grouped(events, sizes))
    assert text_of(out) == whole.choices[0].text()
    assert isinstance(out[0], StreamStart) and isinstance(out[-1], StreamEnd)


async def test_one_scan_per_burst(registry: ScannerRegistry, monkeypatch: pytest.MonkeyPatch) -> None:
    s = stage(registry, **REDACT_OUT)
    engine = s.policies.engines["default"]
    scans = 0
    inspect = engine.inspect

    def counting(*args: Any, **kw: Any) -> Any:
        nonlocal scans
        scans += 1
        return inspect(*args, **kw)

    monkeypatch.setattr(engine, "inspect", counting)
    words = ["Bench", " says", " hello", " from", " the", " fake", " upstream;", " this", " reply", " is", " long",
             " enough", " to", " leave", " the", " window", " card", f" {CARD}", "."]
    out = await run(s, [[StreamStart("i", "m"), *(TextDelta(w) for w in words), StreamEnd("stop")]])
    assert text_of(out) == "".join(words).replace(CARD, "[CREDIT_CARD_1]")
    assert scans == 2  # the read's text at once, then the end


async def test_tool_calls_and_choices_in_bursts(registry: ScannerRegistry) -> None:
    s = stage(registry, **REDACT_OUT)
    args = f'{{"token": "{GH}", "card": "{CARD}"}}'
    events: list[StreamEvent] = [TextDelta("Calling."), TextDelta("zero ", 1),
                                 ToolCallDelta(0, id="call_1", name="store", arguments="")]
    events += [ToolCallDelta(0, arguments=args[i:i + 3]) for i in range(0, len(args), 3)]
    events += [TextDelta(f"one {GH} done", 1), ToolCallDelta(1, id="call_2", name="other", arguments='{"x": 1}'),
               StreamEnd("tool_calls"), StreamEnd("stop", 1)]
    for sizes in ([1], [2], [3, 1], [50]):
        out = await run(s, grouped(events, sizes))
        arg0 = "".join(e.arguments for e in out if isinstance(e, ToolCallDelta) and e.call_index == 0)
        assert arg0 == '{"token": "[GITHUB_TOKEN_1]", "card": "[CREDIT_CARD_1]"}', sizes
        assert [(e.call_index, e.id, e.name) for e in out if isinstance(e, ToolCallDelta) and e.id] == [
            (0, "call_1", "store"), (1, "call_2", "other")]
        assert text_of(out) == "Calling." and text_of(out, 1) == "zero one [GITHUB_TOKEN_1] done"


async def test_block_in_a_burst_raises_before_the_secret(registry: ScannerRegistry) -> None:
    s = stage(registry, output=[{"scanner": "secrets", "action": "block"}])
    text = "a" * 100 + " " + GH + " " + "b" * 100
    events: list[StreamEvent] = [TextDelta(text[i:i + 7]) for i in range(0, len(text), 7)]
    seen = ""
    with pytest.raises(PolicyViolation):
        async for burst in s.guard.guard_bursts(ctx(), source(grouped([*events, StreamEnd("stop")], [4]))):
            seen += text_of(burst)
    assert seen and GH[:6] not in seen and "b" not in seen



@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
async def test_the_last_text_buffer_kept_across_pushes_gives_what_looking_it_up_gives(
        registry: ScannerRegistry, data: st.DataObject) -> None:
    """`_Streamed.push` keeps the held text of the last text delta's choice for the next one: any
    interleaving of texts of two choices, tool calls, reasoning and ends gives the same events and
    the same findings as looking the buffer up for every delta (the kept one forgotten before each push)."""
    from bastion.core.types import ThinkingDelta
    from bastion.policy.guard import _Streamed

    s = stage(registry, **REDACT_OUT)
    pieces = [GH + " ", f" {CARD} ", "x@y.io", " ", "word ", "\n", "4111", " 1111"]
    event = st.one_of(
        st.builds(TextDelta, st.sampled_from(pieces), st.sampled_from([0, 0, 1])),
        st.builds(lambda p, c, first, i: ToolCallDelta(c, id="c" if first else None, name="f" if first else None,
                                                       arguments=p, index=i),
                  st.sampled_from(pieces), st.integers(0, 1), st.booleans(), st.sampled_from([0, 1])),
        st.builds(lambda p, i: ThinkingDelta(0, p, index=i), st.sampled_from(pieces), st.sampled_from([0, 1])),
        st.builds(lambda i: StreamEnd("stop", i), st.sampled_from([0, 1])))
    events = data.draw(st.lists(event, max_size=25))

    def pushed(forget: bool) -> tuple[list[StreamEvent], list[Any], str | None]:
        c = ctx()
        streamed = _Streamed(s.guard, c, s.guard._state(c))
        out: list[StreamEvent] = []
        try:
            for e in events:
                if forget:
                    streamed.text = None
                streamed.push(e, out)
            streamed.finish(out)
        except PolicyViolation as v:
            return out, c.findings, v.message
        return out, c.findings, None

    assert pushed(False) == pushed(True)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
async def test_frames_through_the_burst_filter_are_those_of_the_guarded_bursts(
        registry: ScannerRegistry, data: st.DataObject) -> None:
    """A stream read as frames with the guard's `BurstFilter` in the framing generator
    (pipeline/runner.py `ObservedStream`) gives the client the frames, the observed facts, the
    findings and the end that the guard's bursts, observed and then encoded, give: redactions,
    blocks (what was released before the block, then the error frame) and bursts released empty."""
    from types import SimpleNamespace

    from bastion.http.api import _Ending, _frames
    from bastion.pipeline.runner import ObservedStream, Pipeline
    from bastion.providers.anthropic.stream_encode import AnthropicStreamEncoder
    from bastion.providers.openai.stream import ChunkEncoder

    action = data.draw(st.sampled_from(["redact", "block"]))
    s = stage(registry, output=[{"scanner": "secrets", "action": action}, {"scanner": "pii", "action": "redact"}])
    pieces = [GH + " ", f" {CARD} ", "x@y.io", " ", "word ", "\n", "ghp_", "4111", " 1111", "a" * 70]
    text = "".join(data.draw(st.lists(st.sampled_from(pieces), max_size=10)))
    cuts = sorted(set(data.draw(st.lists(st.integers(1, max(len(text) - 1, 1)), max_size=10))))
    # (a fixed `created`: with 0 the OpenAI encoder writes the clock's second, which may tick between the two runs)
    events: list[StreamEvent] = [StreamStart("i", "m", 1_700_000_000)]
    events += [TextDelta(text[a:b]) for a, b in itertools.pairwise([0, *cuts, len(text)]) if b > a]
    if data.draw(st.booleans()):
        events += [ToolCallDelta(0, id="c", name="f", arguments='{"k": "'), ToolCallDelta(0, arguments=GH + '"}')]
    if data.draw(st.booleans()):
        events.append(StreamEnd("stop"))
    bursts = grouped(events, data.draw(st.lists(st.integers(1, 6), min_size=1, max_size=5)))
    client = data.draw(st.sampled_from(["openai", "anthropic"]))

    outcomes = []
    for fused in (True, False):
        c = ctx()
        enc = ChunkEncoder("alias", True) if client == "openai" else AnthropicStreamEncoder("alias")
        if fused:
            burst_filter = s.guard.burst_filter(c)
            assert burst_filter is not None
            frames = ObservedStream(None, c, source(bursts), burst_filter).frames(  # type: ignore[arg-type]
                enc, _Ending(c, enc))
        else:
            observed = Pipeline._observe(SimpleNamespace(capture=None), c,  # type: ignore[arg-type]
                                         s.guard.guard_bursts(c, source(bursts)))
            frames = _frames(c, observed, enc)
        out = [f async for f in frames]
        outcomes.append((out, c.findings, c.streamed_chars, c.finish_reason, c.error_code))
    assert outcomes[0] == outcomes[1]


def _coalesced_reference(burst: list[StreamEvent]) -> list[StreamEvent]:
    """guard._coalesced as it was before it tracked the last event in a local (frozen reference)."""
    if len(burst) < 2:
        return burst
    out: list[StreamEvent] = []
    for e in burst:
        last = out[-1] if out else None
        if isinstance(e, TextDelta) and isinstance(last, TextDelta) and last.index == e.index:
            out[-1] = TextDelta(last.text + e.text, e.index)
        elif (isinstance(e, ToolCallDelta) and isinstance(last, ToolCallDelta) and e.id is None
              and e.name is None and last.index == e.index and last.call_index == e.call_index):
            out[-1] = ToolCallDelta(e.call_index, last.id, last.name, last.arguments + e.arguments, e.index)
        else:
            out.append(e)
    return out


_EVENTS = st.one_of(
    st.builds(TextDelta, st.sampled_from(["", "a", "b c", "4111"]), st.integers(0, 1)),
    st.builds(ToolCallDelta, st.integers(0, 1), st.sampled_from([None, "call_1"]), st.sampled_from([None, "f"]),
              st.sampled_from(["", "{", "\"x\""]), st.integers(0, 1)),
    st.builds(StreamEnd, st.just("stop"), st.integers(0, 1)),
    st.just(StreamStart(id="r", model="m", created=1)),
)


@settings(max_examples=300, deadline=None)
@given(burst=st.lists(_EVENTS, max_size=8))
def test_coalesced_matches_the_reference(burst: list[StreamEvent]) -> None:
    from bastion.policy.guard import _coalesced

    assert _coalesced(list(burst)) == _coalesced_reference(list(burst))


async def test_start_and_usage_pass_between_text_deltas(registry: ScannerRegistry) -> None:
    """StreamStart and UsageEvent leave as they are, in place, and end a run of text deltas (the
    text after them is held in the same window: nothing of a secret split around them leaks)."""
    from bastion.core.types import Usage, UsageEvent

    s = stage(registry, **REDACT_OUT)
    start, usage = StreamStart(id="r", model="m", created=1), UsageEvent(Usage(1, 2))
    got = await run(s, [[start, TextDelta("key " + GH[:10])], [usage], [TextDelta(GH[10:] + " end")],
                        [StreamEnd("stop")]])
    assert got[0] is start and usage in got
    assert GH not in text_of(got) and GH[:10] not in text_of(got) and text_of(got).endswith(" end")
