"""Minimal request/response types of Bastion's raw-ASGI HTTP layer (no framework on the hot path)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import orjson

from bastion.core.errors import InvalidRequest
from bastion.core.types import JSONObject


@dataclass(slots=True)
class HttpRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names; a repeated header keeps its last value
    body: bytes
    client: str | None
    request_id: str

    def json(self) -> JSONObject:
        """The body as a JSON object; InvalidRequest (400) when it is not one."""
        if not self.body:
            raise InvalidRequest("request body is empty; expected a JSON object")
        try:
            obj = orjson.loads(self.body)
        except orjson.JSONDecodeError as e:
            if "UTF-8" in e.msg:  # orjson reports where the string starts, not the bad byte
                try:
                    self.body.decode("utf-8")
                except UnicodeDecodeError as u:
                    raise InvalidRequest(f"request body is not valid UTF-8: byte 0x{self.body[u.start]:02x} at "
                                         f"position {u.start}") from None
            raise InvalidRequest(f"request body is not valid JSON: {e.msg} at position {e.pos}") from None
        if not isinstance(obj, dict):
            raise InvalidRequest("request body must be a JSON object")
        return obj


# A response's after-work: done when the call returns None (a plain call did it), else what it returns is awaited
After = Callable[[], Awaitable[None] | None]


@dataclass(slots=True)
class HttpResponse:
    """`after`, if set, runs once the response has been handed to the connection (or the client
    has gone): work the client need not wait for (the access log line, metrics); what it returns, if
    not None, is awaited."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    after: After | None = None

    @classmethod
    def json(cls, obj: object, status: int = 200, headers: dict[str, str] | None = None,
             after: After | None = None) -> HttpResponse:
        # (status, body, content_type, headers, after) by position: keywords make a class call build
        # and unpack a dict of them
        return cls(status, orjson.dumps(obj), "application/json", headers or {}, after)


@dataclass(slots=True)
class StreamingResponse:
    """An SSE response; `chunks` yields already-framed bytes. `on_close` runs when the
    stream ends for any reason (finished, failed, client gone)."""

    chunks: AsyncIterator[bytes]
    status: int = 200
    content_type: str = "text/event-stream"
    headers: dict[str, str] = field(default_factory=dict)
    on_close: Callable[[bool], Awaitable[None]] | None = None  # arg: the client went away
    after: After | None = None  # as HttpResponse.after: once the stream has ended and on_close ran


Handler = Callable[[HttpRequest], Awaitable[HttpResponse | StreamingResponse]]
