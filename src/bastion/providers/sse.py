"""Incremental Server-Sent Events parser (bytes in, (event, data) pairs out)."""

from __future__ import annotations

MAX_EVENT_BYTES = 8 * 1024 * 1024


class SSEError(Exception):
    """The upstream's SSE framing is broken (an event larger than the limit)."""


class SSEParser:
    """Feed raw chunks; get complete events. Handles \\n and \\r\\n line ends, comments,
    multi-line data, and events split anywhere across chunks."""

    __slots__ = ("_buf", "_data", "_event")

    def __init__(self) -> None:
        self._buf = b""
        self._event: str | None = None
        self._data: list[bytes] = []

    def feed(self, chunk: bytes) -> list[tuple[str | None, bytes]]:
        buf = self._buf + chunk if self._buf else chunk
        out: list[tuple[str | None, bytes]] = []
        start = 0
        n = len(buf)
        while start < n:
            nl = buf.find(b"\n", start)
            if nl < 0:
                break
            line = buf[start:nl]
            start = nl + 1
            if line.endswith(b"\r"):
                line = line[:-1]
            if not line:
                if self._data:
                    out.append((self._event, b"\n".join(self._data)))
                self._event = None
                self._data = []
                continue
            if line[0] == 58:  # ":" comment / keep-alive
                continue
            colon = line.find(b":")
            if colon < 0:
                field, value = line, b""
            else:
                field, value = line[:colon], line[colon + 1:]
                if value[:1] == b" ":
                    value = value[1:]
            if field == b"data":
                self._data.append(value)
            elif field == b"event":
                self._event = value.decode("utf-8", "replace")
            # id / retry are irrelevant for a proxy and ignored
        self._buf = buf[start:]
        if len(self._buf) > MAX_EVENT_BYTES or sum(len(d) for d in self._data) > MAX_EVENT_BYTES:
            raise SSEError("upstream sent an SSE event larger than 8 MiB")
        return out

    def flush(self) -> list[tuple[str | None, bytes]]:
        """Events left when the stream ended without a final blank line."""
        out = self.feed(b"\n\n") if (self._buf or self._data) else []
        return out
