"""Token estimates before the call (for tokens-per-minute and the budget reservation) and the
actual count after it (reported usage, or what was streamed when a stream gave none).

Input: UTF-8 bytes / 4 over every text the model reads (system, messages, tool calls and
results, tool definitions), plus a few tokens per message and a flat count per image. Bytes
rather than characters, because non-Latin scripts spend a token on far fewer characters than
four; for ASCII the two are the same. Output: max_tokens (times n choices), or the configured
default. The estimate is computed once per request and shared by both stages via ctx.state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import orjson

from bastion.core.context import RequestContext
from bastion.core.types import ChatRequest, EmbeddingsRequest, ImagePart, TextPart, Usage

PER_MESSAGE_TOKENS = 4
PER_IMAGE_TOKENS = 1000
STATE_KEY = "tokens"


@dataclass(slots=True, frozen=True)
class TokenEstimate:
    input: int
    output: int

    @property
    def total(self) -> int:
        return self.input + self.output


def _size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def estimate_input(request: ChatRequest | EmbeddingsRequest) -> int:
    if isinstance(request, EmbeddingsRequest):
        return max(1, math.ceil(sum(_size(t) for t in request.input) / 4))
    size = 0
    extra = 0
    for sp in request.system:
        size += _size(sp.text)
    for m in request.messages:
        extra += PER_MESSAGE_TOKENS
        for p in m.content:
            if isinstance(p, TextPart):
                size += _size(p.text)
            elif isinstance(p, ImagePart):
                extra += PER_IMAGE_TOKENS
        for tc in m.tool_calls:
            size += _size(tc.name) + _size(tc.arguments)
        for th in m.thinking:  # reasoning passed back (a thinking + tool loop) is read as input too
            size += _size(th.text) + (_size(th.redacted) if th.redacted else 0)
    for tool in request.tools:
        size += _size(tool.name) + (_size(tool.description) if tool.description else 0)
        if tool.parameters:
            size += len(orjson.dumps(tool.parameters))
    return max(1, math.ceil(size / 4) + extra)


def estimate_request(request: ChatRequest | EmbeddingsRequest, default_max_output: int) -> TokenEstimate:
    if isinstance(request, EmbeddingsRequest):
        return TokenEstimate(estimate_input(request), 0)
    out = request.max_tokens if request.max_tokens is not None and request.max_tokens > 0 else default_max_output
    return TokenEstimate(estimate_input(request), out * max(1, request.n or 1))


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
    """What the request really used: the provider's usage when reported; otherwise the input
    estimate plus streamed characters / 4 as output (a client that cut a stream still pays
    for what was streamed). Nothing when no upstream call got through and nothing streamed."""
    if ctx.usage is not None:
        return ctx.usage
    if ctx.streamed_chars <= 0 and not upstream_reached:
        return Usage()
    return Usage(input_tokens=est.input, output_tokens=math.ceil(max(0, ctx.streamed_chars) / 4))


def upstream_reached(ctx: RequestContext) -> bool:
    """Whether an upstream attempt got a response (so the provider bills the input)."""
    for a in ctx.attempts:
        if a.outcome == "ok":
            return True
    return ctx.first_token_at is not None
