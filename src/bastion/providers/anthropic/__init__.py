"""Anthropic Messages API: request/response/stream/error translation to and from canonical types."""

from bastion.providers.anthropic.format import ANTHROPIC, AnthropicFormat

__all__ = ["ANTHROPIC", "AnthropicFormat"]
