"""Anthropic stop reasons and usage counts ⇄ canonical finish reasons and Usage."""

from __future__ import annotations

from bastion.core.errors import UpstreamError
from bastion.core.types import JSON, FinishReason, JSONObject, Usage

MAX_TOKEN_COUNT = 10**9  # more than any request holds (as providers/openai/response.py's)

_FINISH: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


STOP_REASONS = tuple(_FINISH)  # the stop reasons this table knows


def finish_reason(stop_reason: JSON) -> FinishReason | None:
    """Canonical finish reason of an upstream `stop_reason` (null stays None). A stop reason
    newer than this table reads as "stop": it is metadata, not text, and the API adds values
    over time; a non-string is malformed."""
    if stop_reason is None:
        return None
    if not isinstance(stop_reason, str):
        raise UpstreamError("anthropic upstream sent a stop_reason that is not a string")
    return _FINISH.get(stop_reason, "stop")


def stop_reason(finish: FinishReason | None, stop_sequence: str | None) -> str | None:
    """Anthropic `stop_reason` for a canonical finish reason. "error" has no Anthropic
    equivalent and is sent as null rather than disguised as a natural end."""
    if finish is None or finish == "stop":
        return "stop_sequence" if stop_sequence else "end_turn"
    if finish == "length":
        return "max_tokens"
    if finish == "tool_calls":
        return "tool_use"
    if finish == "content_filter":
        return "refusal"
    return None


def _count(usage: JSONObject, key: str) -> int | None:
    value = usage.get(key)
    return None if value is None else _counted(value, key)


def _counted(value: JSON, key: str) -> int:
    """A count that is there (usage.`key`), or the error of a broken one."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value > MAX_TOKEN_COUNT:
        # beyond MAX_TOKEN_COUNT: a broken upstream, whose count would overflow cost, store and audit
        raise UpstreamError(f"anthropic upstream sent an invalid usage.{key}")
    return value


class UsageCounter:
    """Accumulates Anthropic usage: message_start's counts, overwritten by the cumulative counts
    of later message_delta events when those are present."""

    __slots__ = ("cache_1h", "cache_creation", "cache_read", "input", "output")

    def __init__(self) -> None:
        self.input = 0
        self.output = 0
        self.cache_read = 0
        self.cache_creation = 0
        self.cache_1h = 0  # of cache_creation: 1-hour writes (usage.cache_creation.ephemeral_1h_input_tokens)

    def update(self, usage: JSON) -> None:
        if usage is None:
            return
        if not isinstance(usage, dict):
            raise UpstreamError("anthropic upstream sent a usage that is not an object")
        # `_count` of each key in turn, written out: a count that is a plain int in range is taken as
        # it is (what `_counted` returns for it), any other value that is there goes through `_counted`
        get = usage.get
        value = get("input_tokens")
        if value is not None:
            self.input = (value if type(value) is int and 0 <= value <= MAX_TOKEN_COUNT
                          else _counted(value, "input_tokens"))
        value = get("output_tokens")
        if value is not None:
            self.output = (value if type(value) is int and 0 <= value <= MAX_TOKEN_COUNT
                           else _counted(value, "output_tokens"))
        value = get("cache_read_input_tokens")
        if value is not None:
            self.cache_read = (value if type(value) is int and 0 <= value <= MAX_TOKEN_COUNT
                               else _counted(value, "cache_read_input_tokens"))
        value = get("cache_creation_input_tokens")
        if value is not None:
            self.cache_creation = (value if type(value) is int and 0 <= value <= MAX_TOKEN_COUNT
                                   else _counted(value, "cache_creation_input_tokens"))
        split = get("cache_creation")
        if isinstance(split, dict):
            hour = _count(split, "ephemeral_1h_input_tokens")
            if hour is not None:
                self.cache_1h = hour

    def take(self, counts: tuple[int | None, int | None, int | None, int | None, int | None]) -> None:
        """`update` of a usage read in C (stream_decode.py): its plausible counts (input, output, cache
        read, cache creation, 1-hour writes), None for each one absent or null."""
        i, o, read, creation, hour = counts
        if i is not None:
            self.input = i
        if o is not None:
            self.output = o
        if read is not None:
            self.cache_read = read
        if creation is not None:
            self.cache_creation = creation
        if hour is not None:
            self.cache_1h = hour

    def canonical(self) -> Usage:
        """Input includes cache reads and writes (the canonical, OpenAI-style convention)."""
        # (input, output, cached_input, cache_write, reasoning, cache_write_1h) by position: keywords make
        # a class call build and unpack a dict of them
        return Usage(self.input + self.cache_read + self.cache_creation, self.output, self.cache_read,
                     self.cache_creation, 0, min(self.cache_1h, self.cache_creation))


def usage_from_wire(usage: JSON) -> Usage:
    counter = UsageCounter()
    counter.update(usage)
    return counter.canonical()


def usage_to_wire(usage: Usage | None) -> JSONObject:
    """Anthropic usage: `input_tokens` excludes cache reads and writes (floor 0)."""
    u = usage or Usage()
    wire: JSONObject = {
        "input_tokens": max(0, u.input_tokens - u.cached_input_tokens - u.cache_write_tokens),
        "output_tokens": u.output_tokens,
        "cache_read_input_tokens": u.cached_input_tokens,
        "cache_creation_input_tokens": u.cache_write_tokens,
    }
    if u.cache_write_1h_tokens:
        wire["cache_creation"] = {"ephemeral_5m_input_tokens": max(0, u.cache_write_tokens - u.cache_write_1h_tokens),
                                  "ephemeral_1h_input_tokens": u.cache_write_1h_tokens}
    return wire
