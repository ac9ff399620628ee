"""The assistant turn a reply describes, vendor-neutral: text pieces, tool calls and usage."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.fakes.echo import completion_words, echo_text, prompt_words, split_text
from tests.fakes.reply import Reply, ToolCall, Usage

Piece = str | ToolCall


@dataclass(frozen=True)
class Content:
    """`pieces` in stream order: a `str` is one text chunk, a `ToolCall` one call (its
    argument pieces are chunks). `text` and `tools` are the same turn, joined."""

    pieces: tuple[Piece, ...]
    text: str
    tools: tuple[ToolCall, ...]
    usage: Usage
    model: str


def build_content(reply: Reply, body: Any) -> Content:
    """The assistant turn for `reply` answering request `body` (the default echo if unset)."""
    if reply.stream is not None:
        pieces: tuple[Piece, ...] = tuple(reply.stream)
    else:
        text = reply.text
        if text is None and not reply.tools:
            text = echo_text(body)
        text_pieces = split_text(text) if text else []
        pieces = (*text_pieces, *reply.tools)
    text = "".join(p for p in pieces if isinstance(p, str))
    tools = tuple(p for p in pieces if isinstance(p, ToolCall))
    usage = reply.usage or Usage(input_tokens=prompt_words(body), output_tokens=completion_words(text, tools))
    requested = body.get("model") if isinstance(body, dict) else None
    model = reply.model or (requested if isinstance(requested, str) else "fake-model")
    return Content(pieces=pieces, text=text, tools=tools, usage=usage, model=model)
