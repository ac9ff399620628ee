"""providers/streaming.py: a stream whose answer starts with extended thinking is opened at the first
reasoning event, so the client gets the reasoning as it comes instead of an idle connection until the
answer text (the held-back part of a stream is only what precedes the first content)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import orjson
import pytest

from bastion.core.errors import BastionError
from bastion.core.types import ThinkingDelta, Usage
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


START = ev("message_start", {"type": "message_start", "message": {
    "id": "msg_1", "type": "message", "role": "assistant", "model": "claude", "content": [],
    "stop_reason": None, "usage": {"input_tokens": 1234, "output_tokens": 1}}})


async def test_cancelled_before_the_first_content_it_reports_what_the_start_counted() -> None:
    """The client left during a long prefill: the provider has counted the input (message_start)."""
    heard: list[Usage] = []
    task = asyncio.ensure_future(first_content("anthropic", stream_decoder(), Stream([START]),  # type: ignore[arg-type]
                                               heard.append))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert heard == [Usage(1234, 1)]


async def test_failed_before_the_first_content_it_reports_nothing() -> None:
    """A failed attempt is retried or falls back; it is not billed on its start's count."""
    heard: list[Usage] = []
    broken = Stream([START, ev("error", {"type": "error", "error": {"type": "overloaded_error", "message": "x"}})])
    with pytest.raises(BastionError):
        await first_content("anthropic", stream_decoder(), broken, heard.append)  # type: ignore[arg-type]
    assert heard == []
