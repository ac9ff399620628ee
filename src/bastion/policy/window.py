"""The hold-back window: streamed text is released only once no finding can still span it.

One `HeldText` per stream of text (a choice's text, or one tool call's arguments). Text is
released up to `window` characters before the end of what has arrived, and never in the
middle of a finding (or a placeholder to restore); a finding that touches the end of what
has arrived is pending — it may still grow — and holds everything from its start. Every scan
sees the last `window` released characters as left context. So a finding of up to `window`
characters is treated exactly as in the whole text, however the text was chunked; a longer
one (a PEM key) is held as soon as a prefix of it is recognisable.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from bastion.policy import redaction
from bastion.policy.engine import Inspection
from bastion.policy.redaction import PLACEHOLDER_MAX, Redactor
from bastion.policy.rules import Hit

_PARTIAL_PLACEHOLDER = re.compile(r"\[[A-Z0-9_]*")


class HeldText:
    __slots__ = ("_block", "_buf", "_inspect", "_record", "_redactor", "_restoring", "_tail", "base", "step",
                 "window")

    def __init__(self, inspect: Callable[[str], Inspection], redactor: Redactor, window: int, *,
                 record: Callable[[Hit, int], None], block: Callable[[Hit], None], restoring: bool,
                 step: int = 1) -> None:
        self._inspect = inspect
        self._redactor = redactor
        self.window = window
        self.step = step  # scan only once this much text beyond the window has arrived
        self._record = record  # (hit, offset of the scanned text in the whole stream)
        self._block = block  # raises
        self._restoring = restoring
        self._buf = ""  # arrived, not released (provider text)
        self._tail = ""  # the last released provider text, as left context
        self.base = 0  # provider characters released so far

    @property
    def held(self) -> int:
        return len(self._buf)

    def feed(self, text: str) -> str:
        """Add arrived text; return the text that may be released now (redacted/restored)."""
        self._buf += text
        if len(self._buf) < self.window + self.step:
            return ""
        return self._release(final=False)

    def flush(self, text: str = "") -> str:
        """The stream of text ended (with `text`): release everything, every finding final."""
        self._buf += text
        if not self._buf:
            return ""
        return self._release(final=True)

    def _release(self, final: bool) -> str:
        combined = self._tail + self._buf
        off, n = len(self._tail), len(combined)
        found = self._inspect(combined)
        for h in found.hits:
            if h.rule.action == "block" and h.end > off and (final or h.end < n):
                self._block(h)
        cut = n if final else n - self.window
        if self._restoring and not final:
            j = combined.rfind("[", max(off, cut - PLACEHOLDER_MAX), cut)
            if j != -1 and _PARTIAL_PLACEHOLDER.fullmatch(combined, j, n):
                cut = j  # a placeholder may be arriving: keep it whole
        moved = True
        while moved:
            moved = False
            for e in found.edits:
                if e.end <= off or e.start >= cut:
                    continue
                if e.end > cut or (not final and e.end >= n):
                    new = max(off, e.start)
                    if new < cut:
                        cut, moved = new, True
        if cut <= off:
            return ""
        origin = self.base - off  # position of combined[0] in the whole stream
        for h in found.hits:
            if h.rule.action != "block" and off < h.end <= cut:
                self._record(h, origin)
        out = redaction.apply(combined[off:cut], [e for e in found.edits if e.end > off and e.start < cut],
                              self._redactor, offset=off)
        self._tail = combined[max(0, cut - self.window):cut]
        self._buf = combined[cut:]
        self.base += cut - off
        return out
