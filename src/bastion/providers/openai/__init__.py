"""The OpenAI chat-completions and embeddings wire format (OpenAI and OpenAI-compatible servers)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bastion.providers.openai.format import OpenAIFormat
from bastion.providers.openai.sanitizer import sanitize

OPENAI = OpenAIFormat("openai")
OPENAI_COMPATIBLE = OpenAIFormat("openai_compatible")

if TYPE_CHECKING:  # both dialects satisfy the shared protocols
    from bastion.providers.base import EmbeddingsFormat, WireFormat

    _wire: WireFormat = OPENAI
    _embeddings: EmbeddingsFormat = OPENAI_COMPATIBLE

__all__ = ["OPENAI", "OPENAI_COMPATIBLE", "OpenAIFormat", "sanitize"]
