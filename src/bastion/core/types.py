"""Canonical request, response and stream-event model shared by every stage and provider.

Both ingress APIs (OpenAI chat, Anthropic messages) are parsed into these types and every
provider adapter translates from/to them. Nothing here does I/O or imports other Bastion code.

Requests are mutable on purpose: the input policy rewrites text in place (redaction) before
the router serialises the request for the upstream. Stream events are read-only (`event`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal, TypeVar, Union, dataclass_transform

JSON = Union[dict[str, "JSON"], list["JSON"], str, int, float, bool, None]  # noqa: UP007  (a recursive alias needs Union at runtime)
JSONObject = dict[str, JSON]

Role = Literal["system", "developer", "user", "assistant", "tool"]
Ingress = Literal["openai", "anthropic"]
# Canonical finish reasons; adapters map vendor values onto these.
FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "error"]
CacheTTL = Literal["5m", "1h"]


@dataclass(slots=True, frozen=True)
class CacheHint:
    """A prompt-cache breakpoint on the block that carries it (Anthropic `cache_control` of type
    "ephemeral"): the prompt prefix up to and including that block may be cached. `ttl` None is
    the provider's default (5 minutes). Carries no text; providers that cache on their own
    (OpenAI, OpenAI-compatible) ignore it."""

    ttl: CacheTTL | None = None


@dataclass(slots=True)
class TextPart:
    text: str
    type: Literal["text"] = "text"
    cache: CacheHint | None = None


@dataclass(slots=True)
class ImagePart:
    """An image, either by URL or inline base64 data (media_type + data)."""

    url: str | None = None
    media_type: str | None = None
    data: str | None = None
    detail: str | None = None
    type: Literal["image"] = "image"
    cache: CacheHint | None = None


Part = TextPart | ImagePart


def _text(parts: list[Part]) -> str:
    """The text parts' text, joined."""
    if len(parts) == 1:  # the usual content: one part
        part = parts[0]
        return part.text if isinstance(part, TextPart) else ""
    return "".join([p.text for p in parts if isinstance(p, TextPart)])


@dataclass(slots=True)
class ThinkingPart:
    """A reasoning block (Anthropic extended thinking). Kept in its own list, beside `content`,
    so that code reading content parts never takes reasoning for answer text.

    - `text` is the reasoning shown to the client (a thinking block's `thinking`);
    - `signature` is the provider's proof that the block is unmodified, passed back with it;
      None or "" means unsigned (the output policy changed the text): the provider would refuse it;
    - `redacted` holds the opaque, encrypted `data` of a provider-redacted block (no text).
    """

    text: str = ""
    signature: str | None = None
    redacted: str | None = None
    type: Literal["thinking"] = "thinking"


@dataclass(slots=True)
class ToolCall:
    """A model's call of a tool. `arguments` is the JSON text exactly as the model produced it."""

    id: str
    name: str
    arguments: str
    cache: CacheHint | None = None  # a breakpoint on the tool_use block (Anthropic)


@dataclass(slots=True, init=False)
class Message:
    """One conversation turn.

    - role "tool" carries a tool result: `tool_call_id` names the call, `content` the result.
    - role "assistant" may carry `tool_calls` besides (or instead of) content.
    - `is_error` marks an Anthropic tool_result with is_error=true.
    - `cache` (role "tool" only) is a cache breakpoint on the tool result block itself; breakpoints
      on content blocks sit on the parts.
    """

    role: Role
    content: list[Part] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_call_id: str | None = None
    name: str | None = None
    is_error: bool = False
    cache: CacheHint | None = None
    # Reasoning blocks of an assistant turn, passed back unchanged (Anthropic: before the turn's
    # text and tool_use blocks). Only same-format providers receive them; no input scan reads them.
    thinking: list[ThinkingPart] = field(default_factory=list)

    # Written out rather than generated (as the two below): the generated __init__ calls a factory per
    # container left out (a global look-up and a call each); a literal is cheaper. Same parameters, same
    # order, same defaults (None for a container: a fresh one, as the factory gives).
    def __init__(self, role: Role, content: list[Part] | None = None, tool_calls: list[ToolCall] | None = None,
                 tool_call_id: str | None = None, name: str | None = None, is_error: bool = False,
                 cache: CacheHint | None = None, thinking: list[ThinkingPart] | None = None) -> None:
        self.role = role
        self.content = [] if content is None else content
        self.tool_calls = [] if tool_calls is None else tool_calls
        self.tool_call_id = tool_call_id
        self.name = name
        self.is_error = is_error
        self.cache = cache
        self.thinking = [] if thinking is None else thinking

    def text(self) -> str:
        return _text(self.content)


@dataclass(slots=True)
class ToolDef:
    name: str
    description: str | None = None
    parameters: JSONObject = field(default_factory=dict)  # JSON Schema
    cache: CacheHint | None = None
    strict: bool | None = None  # OpenAI: the provider enforces `parameters` on the call's arguments (None: not sent)


@dataclass(slots=True)
class ToolChoice:
    """mode: "auto" | "none" | "required" (any tool) | "tool" (the one named)."""

    mode: Literal["auto", "none", "required", "tool"]
    name: str | None = None
    disable_parallel: bool = False


@dataclass(slots=True, init=False)
class ChatRequest:
    """A chat request in canonical form.

    `system` holds system prompts lifted out of the message list (Anthropic's `system`, and
    OpenAI's leading system/developer messages stay as messages; adapters decide).
    `extra` carries vetted provider-specific parameters (e.g. OpenAI's `logit_bias`); it never
    holds text a model reads. The strings among them that reach the provider (`metadata`,
    `prompt_cache_key`, `safety_identifier`, `inference_geo`) are scanned by policy/slots.py; an
    encoder may translate a named key to its equivalent in another format (Anthropic's `effort` →
    `reasoning_effort`, `safety_identifier` → `metadata.user_id`), else only a same-format
    provider receives them.
    """

    model: str
    messages: list[Message]
    system: list[TextPart] = field(default_factory=list)
    tools: list[ToolDef] = field(default_factory=list)
    tool_choice: ToolChoice | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    stop: list[str] = field(default_factory=list)
    stream: bool = False
    include_usage: bool = False
    seed: int | None = None
    user: str | None = None
    n: int | None = None
    response_format: JSONObject | None = None
    extra: JSONObject = field(default_factory=dict)
    ingress: Ingress = "openai"

    def __init__(self, model: str, messages: list[Message], system: list[TextPart] | None = None,
                 tools: list[ToolDef] | None = None, tool_choice: ToolChoice | None = None,
                 max_tokens: int | None = None, temperature: float | None = None, top_p: float | None = None,
                 top_k: int | None = None, stop: list[str] | None = None, stream: bool = False,
                 include_usage: bool = False, seed: int | None = None, user: str | None = None,
                 n: int | None = None, response_format: JSONObject | None = None, extra: JSONObject | None = None,
                 ingress: Ingress = "openai") -> None:
        self.model = model
        self.messages = messages
        self.system = [] if system is None else system
        self.tools = [] if tools is None else tools
        self.tool_choice = tool_choice
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.top_p = top_p
        self.top_k = top_k
        self.stop = [] if stop is None else stop
        self.stream = stream
        self.include_usage = include_usage
        self.seed = seed
        self.user = user
        self.n = n
        self.response_format = response_format
        self.extra = {} if extra is None else extra
        self.ingress = ingress


@dataclass(slots=True)
class EmbeddingsRequest:
    model: str
    input: list[str]
    dimensions: int | None = None
    encoding_format: str | None = None
    user: str | None = None


@dataclass(slots=True)
class Usage:
    """Token counts. `input_tokens` includes cached and cache-write tokens (OpenAI's convention);
    Anthropic adapters add cache_read/cache_creation into it when translating."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    cache_write_1h_tokens: int = 0  # of cache_write_tokens, those written for 1 hour (Anthropic bills them higher)

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(slots=True, init=False)
class Choice:
    index: int
    content: list[Part] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: FinishReason | None = None
    refusal: str | None = None
    thinking: list[ThinkingPart] = field(default_factory=list)  # reasoning blocks, before the content

    def __init__(self, index: int, content: list[Part] | None = None, tool_calls: list[ToolCall] | None = None,
                 finish_reason: FinishReason | None = None, refusal: str | None = None,
                 thinking: list[ThinkingPart] | None = None) -> None:
        self.index = index
        self.content = [] if content is None else content
        self.tool_calls = [] if tool_calls is None else tool_calls
        self.finish_reason = finish_reason
        self.refusal = refusal
        self.thinking = [] if thinking is None else thinking

    def text(self) -> str:
        return _text(self.content)


@dataclass(slots=True)
class ChatResponse:
    id: str
    model: str
    choices: list[Choice]
    usage: Usage | None = None
    created: int = 0
    # For Anthropic: the stop sequence that ended the reply, if any.
    stop_sequence: str | None = None


@dataclass(slots=True)
class Embedding:
    index: int
    vector: list[float] | str  # str when encoding_format == "base64"


@dataclass(slots=True)
class EmbeddingsResponse:
    model: str
    data: list[Embedding]
    usage: Usage | None = None


# ---- canonical stream events -------------------------------------------------------------
# A provider adapter turns its vendor SSE into exactly these; everything after the router
# sees only these. `index` is the choice index (always 0 for Anthropic).

_Event = TypeVar("_Event")


@dataclass_transform(frozen_default=True)
def event(cls: type[_Event]) -> type[_Event]:
    """A stream event class: frozen for the type checker (mypy refuses an assignment to a field),
    a plain slotted dataclass at run time. Every upstream chunk makes one or more events, and a
    frozen dataclass's `__init__` (one `object.__setattr__` call per field) costs ~0.5 µs more per
    event than a plain one's; events are compared (`==`), never hashed."""
    return dataclass(slots=True)(cls)


@event
class StreamStart:
    """The start of a stream. `usage`: what the provider counted at the start, when it says (Anthropic's
    message_start: the input tokens, before any text); the final count is the UsageEvent, and a
    stream cut before one is counted by this (limits/estimate.py `actual_usage`)."""

    id: str
    model: str
    created: int = 0
    usage: Usage | None = None
    kind: ClassVar[Literal["start"]] = "start"


@event
class TextDelta:
    text: str
    index: int = 0
    kind: ClassVar[Literal["text"]] = "text"


@event
class ToolCallDelta:
    """A fragment of a tool call. The first fragment of a call carries id and name;
    later ones carry only `arguments` text. `call_index` orders calls within a choice."""

    call_index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""
    index: int = 0
    kind: ClassVar[Literal["tool_call"]] = "tool_call"


@event
class ThinkingDelta:
    """A fragment of reasoning block `block` (numbered per choice from 0, in order of appearance;
    blocks are sequential). A fragment carries reasoning `text`, or the block's `signature` (its
    last fragment; "" means unsigned), or the whole of a provider-redacted block (`redacted`)."""

    block: int
    text: str = ""
    signature: str | None = None
    redacted: str | None = None
    index: int = 0
    kind: ClassVar[Literal["thinking"]] = "thinking"


@event
class UsageEvent:
    usage: Usage
    kind: ClassVar[Literal["usage"]] = "usage"


@event
class StreamEnd:
    """The end of one choice, with its finish reason."""

    finish_reason: FinishReason
    index: int = 0
    stop_sequence: str | None = None
    kind: ClassVar[Literal["end"]] = "end"


StreamEvent = StreamStart | TextDelta | ToolCallDelta | UsageEvent | StreamEnd | ThinkingDelta
