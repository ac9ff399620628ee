"""providers/streaming.py: a stream whose answer starts with extended thinking is opened at the first
reasoning event, so the client gets the reasoning as it comes instead of an idle connection until the
answer text (the held-back part of a stream is only what precedes the first content)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import orjson

from bastion.core.types import ThinkingDelta
from bastion.providers.anthropic.stream_decode import stream_decoder
from bastion.providers.streaming import first_content

Burst = list[tuple[str | None, bytes]]


def ev(name: str, obj: object) -> tuple[str, bytes]:
    return name, orjson.dumps(obj)


class Stream:
    """An upstream stream that sends one read, then waits (a model still thinking)."""

    def __init__(self, first: Burst) -> None:
        self.first = first
        self.more = asyncio.Event()

    async def bursts(self) -> AsyncGenerator[Burst, None]:
        yield self.first
        await self.more.wait()


async def test_the_stream_opens_at_the_first_reasoning_event() -> None:
    stream = Stream([
        ev("message_start", {"type": "message_start", "message": {
            "id": "msg_1", "type": "message", "role": "assistant", "model": "claude", "content": [],
            "stop_reason": None, "usage": {"input_tokens": 10, "output_tokens": 1}}}),
        ev("content_block_start", {"type": "content_block_start", "index": 0,
                                   "content_block": {"type": "thinking", "thinking": ""}}),
        ev("content_block_delta", {"type": "content_block_delta", "index": 0,
                                   "delta": {"type": "thinking_delta", "thinking": "Let me think"}}),
    ])
    opened = await asyncio.wait_for(first_content("anthropic", stream_decoder(), stream), 5)  # type: ignore[arg-type]
    thinking = [e for e in opened.first if isinstance(e, ThinkingDelta)]
    assert [e.text for e in thinking] == ["Let me think"]
    await opened.rest.aclose()
