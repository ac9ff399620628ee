"""http/relay.py: frames ready together leave in one write; a frame is never held back while its
source waits; cancellation and failures reach the source as they would through `await`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, MutableMapping
from typing import Any

import pytest

from bastion.http.relay import relay


class Client:
    """An ASGI `send` that records body messages (and can be made to fail or block)."""

    def __init__(self) -> None:
        self.bodies: list[tuple[bytes, bool]] = []
        self.fail: BaseException | None = None
        self.gate: asyncio.Event | None = None

    async def send(self, msg: MutableMapping[str, Any]) -> None:
        if self.gate is not None:
            await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        self.bodies.append((msg["body"], msg.get("more_body", False)))


async def test_frames_produced_without_waiting_leave_in_one_write() -> None:
    async def frames() -> AsyncIterator[bytes]:
        for i in range(5):
            yield b"f%d;" % i

    c = Client()
    await relay(frames(), c.send)
    assert c.bodies == [(b"f0;f1;f2;f3;f4;", False)]  # with the end of the body


async def test_a_frame_is_written_before_the_source_waits_and_bursts_stay_together() -> None:
    reads: asyncio.Queue[list[bytes] | None] = asyncio.Queue()
    c = Client()

    async def frames() -> AsyncIterator[bytes]:
        while (burst := await reads.get()) is not None:
            for f in burst:
                yield f

    task = asyncio.create_task(relay(frames(), c.send))
    await reads.put([b"a", b"b"])
    for _ in range(5):
        await asyncio.sleep(0)
    assert c.bodies == [(b"ab", True)]  # written while the source waits for its next read
    await reads.put([b"c"])
    await reads.put([b"d", b"e"])  # two reads already there: one burst
    for _ in range(5):
        await asyncio.sleep(0)
    assert c.bodies == [(b"ab", True), (b"cde", True)]
    await reads.put(None)
    await task
    assert c.bodies[-1] == (b"", False)


async def test_empty_frames_are_not_written() -> None:
    async def frames() -> AsyncIterator[bytes]:
        yield b""
        yield b"x"
        yield b""

    c = Client()
    await relay(frames(), c.send)
    assert c.bodies == [(b"x", False)]


async def test_cancellation_while_the_source_waits_reaches_the_source() -> None:
    c = Client()
    closed = asyncio.Event()
    waiting = asyncio.Event()

    async def frames() -> AsyncIterator[bytes]:
        try:
            yield b"first"
            waiting.set()
            await asyncio.Event().wait()  # an upstream that never answers
            yield b"never"
        except asyncio.CancelledError:
            closed.set()
            raise

    task = asyncio.create_task(relay(frames(), c.send))
    await waiting.wait()
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert closed.is_set() and c.bodies == [(b"first", True)]


async def test_cancellation_while_writing_reaches_the_waiting_source() -> None:
    c = Client()
    c.gate = asyncio.Event()  # the client does not take the write (flow control)
    unwound = asyncio.Event()

    async def frames() -> AsyncIterator[bytes]:
        try:
            yield b"first"
            await asyncio.Event().wait()
            yield b"never"
        finally:
            unwound.set()

    gen = frames()
    task = asyncio.create_task(relay(gen, c.send))
    for _ in range(5):
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert unwound.is_set() and c.bodies == []
    await gen.aclose()  # the source is finished, not left running


async def test_a_failing_write_fails_the_relay_and_unwinds_the_source() -> None:
    c = Client()
    c.fail = OSError("client gone")
    unwound = asyncio.Event()

    async def frames() -> AsyncIterator[bytes]:
        try:
            yield b"first"
            await asyncio.sleep(0.001)
            yield b"second"
        finally:
            unwound.set()

    gen = frames()
    with pytest.raises(OSError, match="client gone"):
        await relay(gen, c.send)
    assert unwound.is_set()
    await gen.aclose()


async def test_a_source_error_after_frames_propagates_after_they_are_sent() -> None:
    c = Client()

    async def frames() -> AsyncIterator[bytes]:
        yield b"a"
        await asyncio.sleep(0)
        raise RuntimeError("source broke")

    with pytest.raises(RuntimeError, match="source broke"):
        await relay(frames(), c.send)
    assert c.bodies == [(b"a", True)]


async def test_before_end_runs_once_the_source_is_exhausted_and_before_the_last_write() -> None:
    c = Client()
    seen: list[list[tuple[bytes, bool]]] = []

    async def frames() -> AsyncIterator[bytes]:
        yield b"a"
        await asyncio.sleep(0)
        yield b"b"

    async def before_end() -> None:
        seen.append(list(c.bodies))
        await asyncio.sleep(0)

    await relay(frames(), c.send, before_end)
    assert seen == [[(b"a", True)]]  # the last burst is held for the end
    assert c.bodies == [(b"a", True), (b"b", False)]
