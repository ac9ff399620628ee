"""The default, deterministic behaviour: echo replies, word-count usage, hash-based embeddings."""

from __future__ import annotations

import hashlib
import math
import re
import struct
from typing import Any

from tests.fakes.reply import ToolCall


def word_count(text: str) -> int:
    """The fake's token count: whitespace-separated words."""
    return len(text.split())


def _texts(content: Any) -> list[str]:
    """Text of a message `content`: a string, or the `text` of each text part/block."""
    if isinstance(content, str):
        return [content]
    if isinstance(content, list):
        return [
            part["text"]
            for part in content
            if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)
        ]
    return []


def prompt_words(body: Any) -> int:
    """Prompt tokens: words of every text in `messages` (and Anthropic's `system`)."""
    if not isinstance(body, dict):
        return 0
    words = sum(word_count(t) for t in _texts(body.get("system")))
    for message in body.get("messages") or []:
        if isinstance(message, dict):
            words += sum(word_count(t) for t in _texts(message.get("content")))
    return words


def last_user_text(body: Any) -> str:
    """The last text a user sent: last text part of the last user message that has one.

    Works for both wire formats (OpenAI string/parts content, Anthropic text blocks; user
    messages holding only tool results are skipped).
    """
    if not isinstance(body, dict):
        return ""
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            texts = _texts(message.get("content"))
            if texts:
                return texts[-1] if isinstance(message.get("content"), list) else texts[0]
    return ""


def echo_text(body: Any) -> str:
    """The default reply text."""
    return f"echo: {last_user_text(body)}"


def completion_words(text: str, tools: tuple[ToolCall, ...]) -> int:
    """Completion tokens: words of the reply text, plus name + argument words per tool call."""
    return word_count(text) + sum(1 + word_count(tc.arguments) for tc in tools)


def split_text(text: str) -> list[str]:
    """Stream pieces of `text`, cut after each run of spaces; they join back to `text`."""
    return re.findall(r"\s*\S+\s*|\s+", text) or [text]


def embedding_for(item: Any, dimensions: int) -> list[float]:
    """A deterministic unit vector for one embeddings input (string or token list)."""
    seed = repr(item).encode()
    values: list[float] = []
    counter = 0
    while len(values) < dimensions:
        digest = hashlib.sha256(seed + counter.to_bytes(4, "big")).digest()
        values.extend((b - 127.5) / 127.5 for b in digest)
        counter += 1
    values = values[:dimensions]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    # Round-trip through float32 so float and base64 encodings give identical numbers.
    return [struct.unpack("<f", struct.pack("<f", v / norm))[0] for v in values]


def embedding_inputs(body: Any) -> list[Any]:
    """The inputs of an embeddings request: a string, a token list, or a list of either."""
    raw = body.get("input") if isinstance(body, dict) else None
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list) and raw and all(isinstance(x, int) for x in raw):
        return [raw]
    if isinstance(raw, list):
        return list(raw)
    return []


def embedding_tokens(inputs: list[Any]) -> int:
    """Prompt tokens of an embeddings request: words of strings, length of token lists."""
    return sum(word_count(x) if isinstance(x, str) else len(x) if isinstance(x, list) else 0 for x in inputs)
