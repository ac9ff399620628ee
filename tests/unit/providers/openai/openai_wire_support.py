"""Test support for the OpenAI wire-format tests: a minimal SSE framer and event collectors."""

from __future__ import annotations

from collections.abc import Iterable

from bastion.core.types import StreamEvent
from bastion.providers.base import StreamDecoder


def sse_events(chunks: Iterable[bytes]) -> list[tuple[str | None, bytes]]:
    """Frames a byte stream (split anywhere) into (event name, joined data) pairs, like the transport."""
    buffer = b""
    out: list[tuple[str | None, bytes]] = []
    for chunk in chunks:
        buffer += chunk
        while True:
            sep = buffer.find(b"\n\n")
            if sep < 0:
                break
            block, buffer = buffer[:sep], buffer[sep + 2:]
            name: str | None = None
            data: list[bytes] = []
            for line in block.split(b"\n"):
                if line.startswith(b"data:"):
                    data.append(line[5:].removeprefix(b" "))
                elif line.startswith(b"event:"):
                    name = line[6:].strip().decode()
            if data:
                out.append((name, b"\n".join(data)))
    assert buffer == b"", f"unterminated SSE frame: {buffer!r}"
    return out


def split_every(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


def decode_all(decoder: StreamDecoder, chunks: Iterable[bytes]) -> list[StreamEvent]:
    events: list[StreamEvent] = []
    for name, data in sse_events(chunks):
        events.extend(decoder.feed(name, data))
    return events
