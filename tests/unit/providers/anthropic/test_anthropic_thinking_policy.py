"""The output policy sees reasoning: thinking text is scanned, blocked and redacted like answer text,
streamed or not, and a block whose text was changed loses its signature (policy/guard.py)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from bastion.config.policy import PolicyConfig
from bastion.core.context import RequestContext
from bastion.core.errors import PolicyViolation
from bastion.core.types import (
    ChatRequest,
    ChatResponse,
    Choice,
    Message,
    StreamEnd,
    StreamEvent,
    StreamStart,
    TextDelta,
    TextPart,
    ThinkingDelta,
    ThinkingPart,
    Usage,
    UsageEvent,
)
from bastion.policy.registry import default_registry
from bastion.policy.stage import PolicyStage
from bastion.providers.anthropic import ANTHROPIC

GH = "ghp_x9wRamaJNcgZ9cqvIqvvfM7UTIfK71X2XKoB"
SIG = "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"
DATA = "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpPkNRj2YfWXGmKDxH4mPnZ5sQ7vB9URj2pLmN3kF7BzPw=="
REDACT_OUT = {"output": [{"scanner": "secrets", "action": "redact"}, {"scanner": "pii", "action": "redact"}]}
BLOCK_OUT = {"output": [{"scanner": "secrets", "action": "block"}]}
THOUGHT = f"The user pasted a token earlier, {GH}, which I should not repeat; then answer politely."
REDACTED_THOUGHT = "The user pasted a token earlier, [GITHUB_TOKEN_1], which I should not repeat; then answer politely."


def stage(**raw: Any) -> PolicyStage:
    return PolicyStage({"default": PolicyConfig.model_validate(raw)}, registry=default_registry())


def ctx() -> RequestContext:
    return RequestContext(request_id="r", ingress="anthropic")


def reply(thinking: list[ThinkingPart], text: str = "Fine.") -> ChatResponse:
    return ChatResponse("m1", "claude", [Choice(0, [TextPart(text)], finish_reason="stop", thinking=thinking)])


def split(text: str, cuts: Sequence[int]) -> list[str]:
    points = sorted({min(max(c, 0), len(text)) for c in cuts} | {0, len(text)})
    return [text[a:b] for a, b in itertools.pairwise(points) if b > a]


def stream(thought_chunks: Sequence[str], signature: str = SIG) -> list[StreamEvent]:
    return [StreamStart("m1", "claude"), *(ThinkingDelta(0, c) for c in thought_chunks),
            ThinkingDelta(0, signature=signature), ThinkingDelta(1, redacted=DATA),
            TextDelta("Fine."), StreamEnd("stop"), UsageEvent(Usage(input_tokens=3, output_tokens=40))]


async def events_of(events: list[StreamEvent]) -> AsyncIterator[StreamEvent]:
    for e in events:
        yield e


async def bursts_of(events: list[StreamEvent], size: int) -> AsyncIterator[list[StreamEvent]]:
    for i in range(0, len(events), size):
        yield events[i:i + size]


async def guarded(s: PolicyStage, events: list[StreamEvent], burst: int = 0,
                  c: RequestContext | None = None) -> list[StreamEvent]:
    c = c or ctx()
    if burst:
        return [e async for b in s.guard.guard_bursts(c, bursts_of(events, burst)) for e in b]
    return [e async for e in s.guard.guard_stream(c, events_of(events))]


def thought_of(events: Sequence[StreamEvent], block: int = 0) -> str:
    return "".join(e.text for e in events if isinstance(e, ThinkingDelta) and e.block == block)


def signatures(events: Sequence[StreamEvent]) -> list[str | None]:
    return [e.signature for e in events if isinstance(e, ThinkingDelta) and e.signature is not None]


# ---- whole replies ------------------------------------------------------------------------------

async def test_secret_in_thinking_is_redacted_and_the_block_loses_its_signature() -> None:
    c = ctx()
    out = await stage(**REDACT_OUT).guard.check_response(c, reply([ThinkingPart(THOUGHT, SIG),
                                                                   ThinkingPart(redacted=DATA)]))
    thinking = out.choices[0].thinking
    assert thinking[0].text == REDACTED_THOUGHT and not thinking[0].signature
    assert thinking[1] == ThinkingPart(redacted=DATA)
    assert [(f.type, f.action, f.direction) for f in c.findings] == [("github_token", "redact", "output")]
    shown = ANTHROPIC.encode_response(out, "claude")["content"][0]
    assert shown == {"type": "thinking", "thinking": REDACTED_THOUGHT, "signature": ""}
    assert GH not in str(shown)


async def test_secret_in_thinking_is_blocked() -> None:
    with pytest.raises(PolicyViolation) as e:
        await stage(**BLOCK_OUT).guard.check_response(ctx(), reply([ThinkingPart(THOUGHT, SIG)]))
    assert "github_token" in e.value.message and GH not in e.value.message and "reasoning" in e.value.message


async def test_clean_thinking_keeps_its_signature_while_the_text_is_redacted() -> None:
    out = await stage(**REDACT_OUT).guard.check_response(
        ctx(), reply([ThinkingPart("nothing to see", SIG)], text=f"token {GH}"))
    assert out.choices[0].thinking == [ThinkingPart("nothing to see", SIG)]
    assert out.choices[0].text() == "token [GITHUB_TOKEN_1]"


async def test_placeholders_are_not_restored_in_thinking() -> None:
    s, c = stage(input=[{"scanner": "pii", "action": "redact", "restore": True}], **REDACT_OUT), ctx()
    req = ChatRequest(model="m", messages=[Message("user", [TextPart("mail jane@example.org")])], ingress="anthropic")
    await s.check(c, req)
    out = await s.guard.check_response(c, reply([ThinkingPart("I will mail [EMAIL_1].", SIG)], text="Mailed [EMAIL_1]."))
    assert out.choices[0].text() == "Mailed jane@example.org."
    assert out.choices[0].thinking == [ThinkingPart("I will mail [EMAIL_1].", SIG)]  # unchanged: still signed


# ---- streams ------------------------------------------------------------------------------------

@pytest.mark.parametrize("burst", [0, 1, 3, 100])
async def test_streamed_secret_in_thinking_never_reaches_the_client_at_any_split(burst: int) -> None:
    s = stage(**REDACT_OUT)
    for i in range(1, len(THOUGHT), 3 if burst else 1):
        out = await guarded(s, stream(split(THOUGHT, [i, i + 7])), burst)
        assert thought_of(out) == REDACTED_THOUGHT, i
        assert signatures(out) == [""], i  # changed text: unsigned
        assert GH not in repr(out)
        kinds = [type(e).__name__ for e in out]
        assert kinds.index("TextDelta") > max(k for k, e in enumerate(out) if isinstance(e, ThinkingDelta))
        assert ThinkingDelta(1, redacted=DATA) in out


@pytest.mark.parametrize("burst", [0, 1, 4])
async def test_streamed_secret_in_thinking_is_blocked_before_any_of_it_leaves(burst: int) -> None:
    s = stage(**BLOCK_OUT)
    for i in range(1, len(THOUGHT), 5):
        released: list[StreamEvent] = []
        with pytest.raises(PolicyViolation):
            if burst:
                async for b in s.guard.guard_bursts(ctx(), bursts_of(stream(split(THOUGHT, [i])), burst)):
                    released += b
            else:
                async for e in s.guard.guard_stream(ctx(), events_of(stream(split(THOUGHT, [i])))):
                    released.append(e)
        assert "ghp_" not in thought_of(released), i
        assert not signatures(released) and not any(isinstance(e, TextDelta) for e in released)


@pytest.mark.parametrize("burst", [0, 2])
async def test_clean_streamed_thinking_keeps_its_signature_and_order(burst: int) -> None:
    s = stage(**REDACT_OUT)
    text = "Plain reasoning with nothing sensitive in it at all, long enough to cross the hold-back window twice."
    out = await guarded(s, stream(split(text, range(0, len(text), 9))), burst)
    assert thought_of(out) == text
    assert signatures(out) == [SIG]
    sig_at = next(k for k, e in enumerate(out) if isinstance(e, ThinkingDelta) and e.signature)
    last_text = max(k for k, e in enumerate(out) if isinstance(e, ThinkingDelta) and e.text)
    assert last_text < sig_at < next(k for k, e in enumerate(out) if isinstance(e, TextDelta))


async def test_stream_end_flushes_unsigned_thinking_scanned() -> None:
    # a reply cut during its reasoning (max_tokens): no signature ever comes, the text is still scanned
    s = stage(**REDACT_OUT)
    out = await guarded(s, [StreamStart("m", "c"), *(ThinkingDelta(0, p) for p in split(THOUGHT, [20, 40])),
                            StreamEnd("length")])
    assert thought_of(out) == REDACTED_THOUGHT and not signatures(out)


async def test_nothing_to_check_passes_reasoning_through() -> None:
    s = stage(input=[{"scanner": "secrets", "action": "block"}])
    events = stream([THOUGHT])
    assert await guarded(s, events) == events
    bursts = bursts_of(events, 2)
    assert s.guard.guard_bursts(ctx(), bursts) is bursts


async def test_thinking_findings_are_recorded_as_output_findings() -> None:
    c = ctx()
    await guarded(stage(**REDACT_OUT), stream(split(THOUGHT, [10, 50])), c=c)
    assert [(f.type, f.action, f.direction) for f in c.findings] == [("github_token", "redact", "output")]
