"""Typed placeholders ([EMAIL_1]) for redacted spans, and the map that restores them.

One `Redactor` lives for one request: the same value gets the same placeholder in every
text of the request, and with `restore` the placeholder → original map is kept so that
placeholders coming back in the response can be given back to the client.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

PLACEHOLDER = re.compile(r"\[[A-Z][A-Z0-9_]{0,63}_\d{1,6}\]")
PLACEHOLDER_MAX = 80  # longest placeholder text; restore must see one whole


class Redactor:
    """Allocates placeholders for one request and remembers those to restore."""

    __slots__ = ("_by_value", "_counts", "restore")

    def __init__(self) -> None:
        self._by_value: dict[tuple[str, str], str] = {}
        self._counts: dict[str, int] = {}
        self.restore: dict[str, str] = {}

    def placeholder(self, type_: str, key: str, original: str | None = None) -> str:
        """The placeholder of value `key` (its normalised text) of `type_`; with `original`
        the placeholder is restorable to it."""
        label = re.sub(r"[^A-Z0-9_]", "_", type_.upper()) or "REDACTED"
        found = self._by_value.get((label, key))
        if found is None:
            n = self._counts.get(label, 0) + 1
            self._counts[label] = n
            found = f"[{label}_{n}]"
            self._by_value[(label, key)] = found
        if original is not None and found not in self.restore:
            self.restore[found] = original
        return found


@dataclass(slots=True)
class Edit:
    """A replacement of [start, end) in one text: a redaction (placeholder allocated when the
    edit is applied) or a restore of a placeholder (the original value)."""

    start: int
    end: int
    type: str
    key: str = ""  # the normalised value, for "same value → same placeholder"
    original: str | None = None  # redaction: the value to restore later, if the rule restores
    restored: str | None = None  # restore edit: the text that replaces the placeholder

    def replacement(self, redactor: Redactor) -> str:
        if self.restored is not None:
            return self.restored
        return redactor.placeholder(self.type, self.key, self.original)


def merge(edits: list[Edit]) -> list[Edit]:
    """Sorted, non-overlapping edits: overlapping redactions become one (the longest one's
    type, nothing to restore); a restore overlapping a redaction yields to it."""
    redactions = sorted((e for e in edits if e.restored is None), key=lambda e: (e.start, -e.end))
    out: list[Edit] = []
    for e in redactions:
        if out and e.start < out[-1].end:
            last = out[-1]
            longest = last if last.end - last.start >= e.end - e.start else e
            if e.end > last.end or longest is e:
                out[-1] = Edit(last.start, max(last.end, e.end), longest.type, f"{last.key}\x00{e.key}")
            continue
        out.append(e)
    restores = [e for e in edits if e.restored is not None]
    if restores:
        for r in restores:
            if all(r.end <= e.start or r.start >= e.end for e in out if e.restored is None):
                out.append(r)
        out.sort(key=lambda e: e.start)
    return out


def apply(text: str, edits: list[Edit], redactor: Redactor, offset: int = 0) -> str:
    """`text` with the sorted, non-overlapping `edits` (positions minus `offset`) applied."""
    if not edits:
        return text
    pieces: list[str] = []
    pos = 0
    for e in edits:
        s, t = max(e.start - offset, 0), min(e.end - offset, len(text))
        if t <= s or s < pos:
            continue
        pieces.append(text[pos:s])
        pieces.append(e.replacement(redactor))
        pos = t
    pieces.append(text[pos:])
    return "".join(pieces)


def restore_edits(text: str, restore: dict[str, str], json_string: bool) -> list[Edit]:
    """Edits that put the originals back for placeholders of `restore` found in `text`.
    In JSON text (tool-call arguments) the value is JSON-escaped."""
    if not restore or "[" not in text:
        return []
    out: list[Edit] = []
    for m in PLACEHOLDER.finditer(text):
        value = restore.get(m.group())
        if value is not None:
            if json_string:
                if _escaped(text, m.start()):
                    # "\[EMAIL_1]": the backslash would escape the value's first character (a quote
                    # would then end the string, and the rest of the value become JSON structure)
                    continue
                value = json.dumps(value, ensure_ascii=False)[1:-1]
            out.append(Edit(m.start(), m.end(), "restore", restored=value))
    return out


def _escaped(text: str, pos: int) -> bool:
    """The character at `pos` follows an odd number of backslashes (JSON: it is escaped)."""
    n = 0
    while pos - n > 0 and text[pos - n - 1] == "\\":
        n += 1
    return n % 2 == 1
