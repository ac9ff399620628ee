"""Fakes for Bastion's tests: a real HTTP server speaking the OpenAI and Anthropic wire formats."""

from tests.fakes.echo import echo_text, embedding_for, prompt_words, word_count
from tests.fakes.recording import RecordedRequest
from tests.fakes.reply import ROUTES, ErrorSpec, Reply, ToolCall, Usage, tool
from tests.fakes.upstream import DEFAULT_MODELS, FakeUpstream

__all__ = [
    "DEFAULT_MODELS",
    "ROUTES",
    "ErrorSpec",
    "FakeUpstream",
    "RecordedRequest",
    "Reply",
    "ToolCall",
    "Usage",
    "echo_text",
    "embedding_for",
    "prompt_words",
    "tool",
    "word_count",
]
