"""Stream chunk templates: a stream's repeated text chunk decoded by two byte comparisons and one
JSON string parse, where the general decoder parses the whole object.

Upstreams repeat one chunk shape for every text delta, with the same bytes around the text
(OpenAI: id, model, fingerprint, choice index; Anthropic: event type and block index). A
decoder learns those bytes from a chunk it decoded in full, and takes a later chunk by its
template only when the chunk is exactly head + one complete JSON string + tail: then it is the
learned chunk with another text, so the full decoder would give the same events. Anything else
(another shape, an escape in the template's bytes, trailing data) takes the full decoder.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import orjson

_plain: Callable[[bytes, bytes, bytes], str | None] | None
try:
    from bastion._native import text_plain as _plain
except ImportError:  # not built (no C compiler at install time): the Python below
    _plain = None

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_OBFUSCATION = b',"obfuscation":"'  # OpenAI's per-chunk random padding (stream_options.include_obfuscation)
MAX_LEARN = 4096  # a chunk longer than this is not learned from


def json_string(data: bytes, start: int, end: int) -> str | None:
    """data[start:end] decoded when it is exactly one JSON string; None otherwise."""
    try:
        value = orjson.loads(data[start:end])
    except orjson.JSONDecodeError:
        return None
    return value if type(value) is str else None


class TextTemplate:
    """head + JSON string + tail, where the tail may end in an `obfuscation` string member whose
    value changes from chunk to chunk (then `tail` is the part before that value)."""

    __slots__ = ("_head_len", "_tail_len", "head", "obfuscated", "tail")

    def __init__(self, head: bytes, tail: bytes, obfuscated: bool) -> None:
        self.head = head
        self.tail = tail
        self.obfuscated = obfuscated
        self._head_len = len(head)
        self._tail_len = len(tail)

    @classmethod
    def learn(cls, data: bytes, marker: bytes, text: str) -> TextTemplate | None:
        """The template of `data`, a chunk whose only event is the text `text`, whose text is the
        string after `marker` (which occurs once); None when the chunk does not fit one."""
        if len(data) > MAX_LEARN or data.count(marker) != 1:
            return None
        start = data.find(marker) + len(marker)
        # The usual spelling, the text as orjson writes it: that string ends where it does (a JSON
        # string ends at its first unescaped quote), and its text is `text`.
        try:
            spelled: bytes | None = orjson.dumps(text)
        except TypeError:  # not encodable (a lone surrogate): not the usual spelling
            spelled = None
        if spelled is not None and data.startswith(spelled, start):
            end, known = start + len(spelled), True
        else:
            m = _STRING.match(data, start)
            if m is None:
                return None
            end, known = m.end(), False
        head, tail = data[:start], data[end:]
        obfuscated = False
        cut = tail.rfind(_OBFUSCATION)
        if cut >= 0:
            obfuscated, tail = True, tail[:cut + len(_OBFUSCATION)]
        template = cls(head, tail, obfuscated)
        # head + that string + tail is the chunk, so `text` takes it back as `text` (unless the tail
        # ends in padding: then by its own rule)
        return template if (known and not obfuscated) or template.text(data) == text else None

    def text(self, data: bytes) -> str | None:
        """The text of a chunk of this template, None for a chunk that does not fit it. The usual
        chunk, a string without escapes between head and tail, is read in C (`_plain`: the same text)."""
        head, tail = self.head, self.tail
        if not self.obfuscated and _plain is not None:
            text = _plain(data, head, tail)
            if text is not None:
                return text
        if not data.startswith(head):
            return None
        if not self.obfuscated:
            if not data.endswith(tail):
                return None
            try:  # json_string, inlined: this runs once per text chunk of most streams
                value = orjson.loads(data[self._head_len:len(data) - self._tail_len])
            except orjson.JSONDecodeError:
                return None
            return value if type(value) is str else None
        cut = data.rfind(tail)
        if cut < self._head_len or not data.endswith(b'"}'):
            return None
        # the padding: one JSON string (no quote or backslash escapes it) and the object's end
        pad = json_string(data, cut + len(tail) - 1, len(data) - 1)
        if pad is None:
            return None
        return json_string(data, self._head_len, cut)
