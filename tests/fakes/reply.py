"""What the fake upstream answers: the scriptable `Reply` and its parts, vendor-neutral."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

ROUTES = ("openai.chat", "openai.embeddings", "openai.models", "anthropic.messages")
"""Route names accepted by `FakeUpstream.script` / `.always`."""


@dataclass(frozen=True)
class ToolCall:
    """One tool call the assistant makes.

    `arguments` is the complete JSON string (it may be invalid JSON on purpose, for streams).
    `pieces` says how the arguments are split across stream chunks; by default they are cut
    into up to three pieces. Give `pieces` alone and `arguments` is their concatenation.
    """

    name: str
    arguments: str = "{}"
    id: str | None = None
    pieces: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.pieces is not None:
            object.__setattr__(self, "pieces", tuple(self.pieces))
            if self.arguments == "{}":
                object.__setattr__(self, "arguments", "".join(self.pieces))
            elif "".join(self.pieces) != self.arguments:
                raise ValueError(f"ToolCall {self.name!r}: pieces do not join to arguments")

    def argument_pieces(self) -> tuple[str, ...]:
        """The arguments as streamed: `pieces`, or the arguments cut into up to 3 parts."""
        if self.pieces is not None:
            return self.pieces
        args = self.arguments
        if len(args) < 3:
            return (args,)
        step = -(-len(args) // 3)
        return tuple(args[i : i + step] for i in range(0, len(args), step))


def tool(name: str, *pieces: str, id: str | None = None) -> ToolCall:
    """Shorthand: `tool("get_weather", '{"city":', ' "Paris"}')` streams the arguments in those pieces."""
    return ToolCall(name=name, id=id, pieces=pieces if pieces else ("{}",))


@dataclass(frozen=True)
class Usage:
    """Token usage, put verbatim into each vendor's fields (no arithmetic between them).

    OpenAI: prompt_tokens=input_tokens, completion_tokens=output_tokens,
    prompt_tokens_details.cached_tokens=cached_tokens, completion_tokens_details.reasoning_tokens.
    Anthropic: input_tokens, output_tokens, cache_read_input_tokens=cached_tokens,
    cache_creation_input_tokens=cache_creation_tokens.
    """

    input_tokens: int
    output_tokens: int
    cached_tokens: int = 0
    cache_creation_tokens: int = 0
    reasoning_tokens: int = 0


@dataclass(frozen=True)
class ErrorSpec:
    """A vendor error; rendered as that vendor's real envelope for the route that answers.

    `type` overrides the vendor error type (default derived from the status, e.g. 429 ->
    OpenAI `requests`/code `rate_limit_exceeded`, Anthropic `rate_limit_error`; 529 ->
    `overloaded_error`). `code` is OpenAI's `error.code`.
    """

    status: int
    message: str | None = None
    type: str | None = None
    code: str | None = None


@dataclass
class Reply:
    """One scripted answer; every field is optional and the defaults give a normal success.

    Body, by priority: `raw` (exact bytes; a list = one chunk per item) > `json` (exact JSON
    body, always `application/json`) > `error_spec` (vendor error envelope, or a mid-stream error
    event when `error_after_chunks` is set) > generated: `text` / `tool_calls` / `stream` /
    `embeddings` rendered in the route's wire format. When nothing is given, the default
    echo reply ("echo: <last user text>") is generated.

    Streaming follows the request's `"stream": true`. A *chunk* is one content delta (a text
    piece or a tool-argument piece), one `raw` item, or the whole non-streamed body. The
    faults `stall_after_chunks`, `drop_after_chunks` and `error_after_chunks` act right after
    that many chunks were written (0 = after the headers and the leading framing events such
    as `message_start` or OpenAI's role chunk); when the count is >= the number of chunks,
    they act after the last chunk, before the closing events.
    """

    status: int = 200
    json: Any = None
    text: str | None = None
    tool_calls: Sequence[ToolCall | tuple[str, str]] = ()
    stream: Sequence[str | ToolCall] | None = None
    raw: bytes | Sequence[bytes] | None = None
    embeddings: Sequence[Sequence[float]] | None = None
    error_spec: ErrorSpec | None = None
    error_after_chunks: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    delay_before_headers: float = 0.0
    delay_between_chunks: float = 0.0
    stall_after_chunks: int | None = None
    stall_max: float = 30.0
    drop_after_chunks: int | None = None
    drop_before_headers: bool = False
    end_without_done: bool = False
    usage: Usage | None = None
    finish_reason: str | None = None
    model: str | None = None
    ping: bool = True

    def __post_init__(self) -> None:
        self.tool_calls = tuple(tc if isinstance(tc, ToolCall) else ToolCall(*tc) for tc in self.tool_calls)
        if isinstance(self.raw, bytearray | memoryview):
            self.raw = bytes(self.raw)
        faults = [
            name
            for name in ("stall_after_chunks", "drop_after_chunks", "error_after_chunks")
            if getattr(self, name) is not None
        ]
        if len(faults) > 1:
            raise ValueError(f"Reply: choose one of {faults}")
        if self.error_after_chunks is not None and self.error_spec is None:
            raise ValueError(
                "Reply: error_after_chunks needs error_spec (use Reply.error(..., after_chunks=N))"
            )
        if any(getattr(self, name) < 0 for name in faults):
            raise ValueError(f"Reply: {faults[0]} must be >= 0")

    @property
    def tools(self) -> tuple[ToolCall, ...]:
        """`tool_calls` normalised to `ToolCall` objects."""
        return tuple(tc for tc in self.tool_calls if isinstance(tc, ToolCall))

    @classmethod
    def error(
        cls,
        status: int,
        message: str | None = None,
        *,
        retry_after: float | None = None,
        type: str | None = None,
        code: str | None = None,
        after_chunks: int | None = None,
        headers: Mapping[str, str] | None = None,
        **fields: Any,
    ) -> Reply:
        """A vendor error envelope with `status`.

        `retry_after` sets the Retry-After header (seconds). With `after_chunks`, the stream
        starts normally (HTTP 200) and the error arrives as an SSE error event after that
        many chunks (OpenAI: `data: {"error": ...}`; Anthropic: `event: error`), then the
        connection closes without [DONE] / message_stop.
        """
        all_headers = dict(headers or {})
        if retry_after is not None:
            all_headers["retry-after"] = f"{retry_after:g}"
        spec = ErrorSpec(status=status, message=message, type=type, code=code)
        return cls(
            status=200 if after_chunks is not None else status,
            error_spec=spec,
            error_after_chunks=after_chunks,
            headers=all_headers,
            **fields,
        )
