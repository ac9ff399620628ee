"""The `limits` rule: prompt size, message count and max_tokens, checked on the whole request."""

from __future__ import annotations

from dataclasses import dataclass

from bastion.core.types import ChatRequest, EmbeddingsRequest
from bastion.policy.registry import ScannerOptionError


@dataclass(frozen=True, slots=True)
class Breach:
    type: str  # the option that was exceeded, e.g. "max_prompt_chars"
    reason: str  # says the sizes, never the content


def _limit(field: str, value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ScannerOptionError(field, "must be a positive integer")
    return value


class RequestLimits:
    name = "limits"

    def __init__(self, max_prompt_chars: object = None, max_messages: object = None,
                 max_tokens: object = None) -> None:
        self.max_prompt_chars = _limit("max_prompt_chars", max_prompt_chars)
        self.max_messages = _limit("max_messages", max_messages)
        self.max_tokens = _limit("max_tokens", max_tokens)
        if self.max_prompt_chars is None and self.max_messages is None and self.max_tokens is None:
            raise ScannerOptionError("max_prompt_chars", "set at least one of max_prompt_chars, "
                                                         "max_messages, max_tokens")

    def check(self, request: ChatRequest | EmbeddingsRequest | None, prompt_chars: int) -> list[Breach]:
        """Breaches of the limits; `prompt_chars` counts every text the model reads."""
        out: list[Breach] = []
        if self.max_prompt_chars is not None and prompt_chars > self.max_prompt_chars:
            out.append(Breach("max_prompt_chars", f"the prompt has {prompt_chars} characters, more than "
                                                  f"max_prompt_chars {self.max_prompt_chars}"))
        if isinstance(request, ChatRequest):
            if self.max_messages is not None and len(request.messages) > self.max_messages:
                out.append(Breach("max_messages", f"the request has {len(request.messages)} messages, more "
                                                  f"than max_messages {self.max_messages}"))
            if (self.max_tokens is not None and request.max_tokens is not None
                    and request.max_tokens > self.max_tokens):
                out.append(Breach("max_tokens", f"max_tokens {request.max_tokens} is more than the policy's "
                                                f"max_tokens {self.max_tokens}"))
        return out
