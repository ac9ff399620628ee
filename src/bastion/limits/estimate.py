"""Token estimates before the call (for tokens-per-minute and the budget reservation) and the
actual count after it (reported usage, or for a stream that gave none what its start reported and
what was streamed).

Input: UTF-8 bytes / 4 over every text the model reads (system, messages, tool calls and
results, tool definitions), plus a few tokens per message and a flat count per image. Bytes
rather than characters, because non-Latin scripts spend a token on far fewer characters than
four; for ASCII the two are the same. Output: max_tokens (times n choices), or the configured
default. The estimate is computed once per request and shared by both stages via ctx.state.

The budget reserves an upper bound of the input instead (`input_bound`): every token of the
byte-level BPE tokenizers OpenAI and Anthropic use covers at least one UTF-8 byte, so a text
never costs more tokens than its bytes; plus a generous allowance for the per-message framing,
the tool-use system prompt a provider adds when tools are sent (Anthropic documents 313-346
tokens for its current models) and each image (the largest per-image count the providers
document today is below IMAGE_TOKENS_BOUND). A request then settles at or below what it
reserved, and a budget cannot be overspent by prompts that tokenize densely.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson

from bastion.core.context import CANCELLED, RequestContext
from bastion.core.makers import maker
from bastion.core.types import ChatRequest, EmbeddingsRequest, ImagePart, Message, TextPart, Usage

PER_MESSAGE_TOKENS = 4
PER_IMAGE_TOKENS = 1000
# upper bounds for the budget's reservation (see the module docstring)
PER_MESSAGE_BOUND = 8
PER_REQUEST_BOUND = 16
TOOLS_BOUND = 1000
IMAGE_TOKENS_BOUND = 5000
STATE_KEY = "tokens"


# Not frozen: a frozen dataclass sets each field through object.__setattr__, which made building one
# cost 2.5 times as much (5,800 instructions, 2,400 without); nothing changes an estimate once made.
@dataclass(slots=True)
class TokenEstimate:
    input: int
    output: int
    # input_bound of the same request, measured with `input` (0: not computed); not part of equality
    bound: int = field(default=0, compare=False)

    @property
    def total(self) -> int:
        return self.input + self.output


_measure_texts: Callable[[object, type, type], tuple[int, int, int] | None] | None
_estimate_chat: Callable[[object, type, type, int, Callable[[int, int, int], TokenEstimate]],
                         TokenEstimate | None] | None
try:
    from bastion._native import estimate_chat as _estimate_chat
    from bastion._native import measure_texts as _measure_texts
except ImportError:  # not built: _measure_general measures every request
    _measure_texts = _estimate_chat = None

_ESTIMATE = maker(TokenEstimate)  # TokenEstimate(input, output, bound), made without the class call


def _size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def _measure(request: ChatRequest) -> tuple[int, int, int]:
    """(UTF-8 bytes of every text the model reads, messages, images)."""
    if _measure_texts is not None:  # the usual request (plain ASCII text parts only) in C
        got = _measure_texts(request, TextPart, Message)
        if got is not None:
            return got
    return _measure_general(request)


def _measure_general(request: ChatRequest) -> tuple[int, int, int]:
    """`_measure` in Python: every request shape."""
    size = 0
    images = 0
    for sp in request.system:
        size += _size(sp.text)
    for m in request.messages:
        for p in m.content:
            if isinstance(p, TextPart):
                t = p.text  # _size, inlined: most texts are parts of messages
                size += len(t) if t.isascii() else len(t.encode("utf-8", "surrogatepass"))
            elif isinstance(p, ImagePart):
                images += 1
        for tc in m.tool_calls:
            size += _size(tc.name) + _size(tc.arguments)
        for th in m.thinking:  # reasoning passed back (a thinking + tool loop) is read as input too
            size += _size(th.text) + (_size(th.redacted) if th.redacted else 0)
    for tool in request.tools:
        size += _size(tool.name) + (_size(tool.description) if tool.description else 0)
        if tool.parameters:
            size += len(orjson.dumps(tool.parameters))
    return size, len(request.messages), images


def _chat_input(size: int, messages: int, images: int) -> int:
    tokens = math.ceil(size / 4) + messages * PER_MESSAGE_TOKENS + images * PER_IMAGE_TOKENS
    return tokens if tokens > 1 else 1


def _chat_bound(request: ChatRequest, size: int, messages: int, images: int) -> int:
    return (size + PER_REQUEST_BOUND + messages * PER_MESSAGE_BOUND + images * IMAGE_TOKENS_BOUND
            + (TOOLS_BOUND if request.tools else 0))


def estimate_input(request: ChatRequest | EmbeddingsRequest) -> int:
    if isinstance(request, EmbeddingsRequest):
        return max(1, math.ceil(sum(_size(t) for t in request.input) / 4))
    return _chat_input(*_measure(request))


def input_bound(request: ChatRequest | EmbeddingsRequest) -> int:
    """At least as many input tokens as the provider can bill for the request (see the module docstring)."""
    if isinstance(request, EmbeddingsRequest):
        return PER_REQUEST_BOUND + sum(_size(t) + PER_MESSAGE_BOUND for t in request.input)
    return _chat_bound(request, *_measure(request))


def estimate_request(request: ChatRequest | EmbeddingsRequest, default_max_output: int) -> TokenEstimate:
    """The estimate; of a chat request with its input bound, from the same pass over the texts."""
    if _estimate_chat is not None:  # the usual chat request (what measure_texts measures), all of it in C
        est = _estimate_chat(request, TextPart, Message, default_max_output, _ESTIMATE)
        if est is not None:
            return est
    if isinstance(request, EmbeddingsRequest):
        return TokenEstimate(estimate_input(request), 0)
    out = request.max_tokens if request.max_tokens is not None and request.max_tokens > 0 else default_max_output
    got = _measure_texts(request, TextPart, Message) if _measure_texts is not None else None  # _measure, inlined
    size, messages, images = got if got is not None else _measure_general(request)
    # _chat_input and _chat_bound, inlined (this runs on every request; -(-a // b) is math.ceil for ints)
    tokens = -(-size // 4) + messages * PER_MESSAGE_TOKENS + images * PER_IMAGE_TOKENS
    n = request.n
    return _ESTIMATE(tokens if tokens > 1 else 1, out * n if n and n > 1 else out,
                     size + PER_REQUEST_BOUND + messages * PER_MESSAGE_BOUND + images * IMAGE_TOKENS_BOUND
                     + (TOOLS_BOUND if request.tools else 0))


def estimate_for(ctx: RequestContext, request: ChatRequest | EmbeddingsRequest,
                 default_max_output: int) -> TokenEstimate:
    """The request's estimate, computed once and kept in ctx.state for the other stage."""
    est = ctx.state.get(STATE_KEY)
    if isinstance(est, TokenEstimate):
        return est
    est = estimate_request(request, default_max_output)
    ctx.state[STATE_KEY] = est
    return est


def actual_usage(ctx: RequestContext, est: TokenEstimate, *, upstream_reached: bool) -> Usage:
    """What the request really used: the provider's usage when reported. A stream that ended
    without it (cut by the client, broken upstream) is counted by what its start reported
    (Anthropic's message_start: input and cache tokens), else the input estimate, plus as output
    the larger of the count the start reported and streamed characters / 4 (a client that cut a
    stream still pays for what was streamed). A call the client left while it was in flight (no
    answer yet) is counted by the input estimate: the provider may already have read, and will bill,
    the input. Nothing when no upstream call got through or was in flight and nothing streamed."""
    if ctx.usage is not None:
        return ctx.usage
    streamed = math.ceil(max(0, ctx.streamed_chars) / 4)
    start = ctx.start_usage
    if start is not None:
        return dataclasses.replace(start, output_tokens=max(start.output_tokens, streamed))
    if ctx.streamed_chars <= 0 and not upstream_reached:
        return Usage()
    return Usage(input_tokens=est.input, output_tokens=streamed)


def upstream_reached(ctx: RequestContext) -> bool:
    """Whether an upstream attempt got a response, or was in flight when the client left (so the
    provider bills, or may bill, the input)."""
    for a in ctx.attempts:
        if a.outcome == "ok" or a.outcome == CANCELLED:
            return True
    return ctx.first_token_at is not None
