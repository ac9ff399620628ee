"""A rendered answer before delivery: status, headers and the byte frames to write in order."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

SSE_CONTENT_TYPE = "text/event-stream; charset=utf-8"
JSON_CONTENT_TYPE = "application/json"


@dataclass(frozen=True)
class Frame:
    """Bytes written in one `write`. `counted` frames are the *chunks* faults count;
    `closing` frames come after the content (finish chunk, usage, [DONE], message_stop)."""

    data: bytes
    counted: bool = False
    closing: bool = False


@dataclass
class Plan:
    """What the server writes: a non-streamed body is a single counted frame."""

    status: int
    headers: dict[str, str]
    frames: list[Frame]
    streamed: bool
    error_frame: bytes | None = None
    notes: list[str] = field(default_factory=list)

    def cut_index(self, chunks: int) -> int:
        """Index in `frames` right after `chunks` counted frames were written.

        0 -> before the first counted frame (leading framing already written); past the
        last counted frame -> right after it, before the closing frames.
        """
        counted = [i for i, f in enumerate(self.frames) if f.counted]
        if chunks <= 0 or not counted:
            if counted:
                return counted[0]
            closing = [i for i, f in enumerate(self.frames) if f.closing]
            return closing[0] if closing else len(self.frames)
        return counted[min(chunks, len(counted)) - 1] + 1


def dumps(value: Any) -> bytes:
    """Compact JSON, as the vendors send it."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def sse(data: Any, event: str | None = None) -> bytes:
    """One SSE event; `data` is JSON-encoded unless it is already bytes/str."""
    payload = data if isinstance(data, bytes) else data.encode() if isinstance(data, str) else dumps(data)
    head = f"event: {event}\n".encode() if event else b""
    return head + b"data: " + payload + b"\n\n"


def json_plan(status: int, body: Any, headers: dict[str, str] | None = None) -> Plan:
    """A plain JSON answer."""
    all_headers = {"content-type": JSON_CONTENT_TYPE, **(headers or {})}
    return Plan(status=status, headers=all_headers, frames=[Frame(dumps(body), counted=True)], streamed=False)


def raw_plan(status: int, raw: bytes | list[bytes], streamed: bool, headers: dict[str, str]) -> Plan:
    """Exact bytes; a list is written one item per chunk (and counted as chunks)."""
    items = [raw] if isinstance(raw, bytes) else list(raw)
    content_type = SSE_CONTENT_TYPE if streamed else JSON_CONTENT_TYPE
    all_headers = {"content-type": content_type, **headers}
    return Plan(
        status=status,
        headers=all_headers,
        frames=[Frame(item, counted=True) for item in items],
        streamed=streamed or len(items) > 1,
    )
