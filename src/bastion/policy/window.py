"""The hold-back window: streamed text is released only once no finding can still span it.

One `HeldText` per stream of text (a choice's text, or one tool call's arguments). Text is
released up to `window` characters before the end of what has arrived, and never in the
middle of a finding (or a placeholder to restore); a finding that touches the end of what
has arrived is pending — it may still grow — and holds everything from its start. Every scan
sees the last `window` released characters as left context. So a finding of up to `window`
characters is treated exactly as in the whole text, however the text was chunked; a longer
one (a PEM key) is held as soon as a prefix of it is recognisable.

Early release. When every rule's scanner is token-bounded (`rules.TOKEN_BOUNDED`), text is
released sooner: up to the start of the *pending suffix*, the part of the arrived text that
could still be part of a finding that more text would create or change. That suffix is the
last token (characters other than whitespace and `"`; it may still grow) plus the run of
tokens before it that could be groups of one number (no ASCII lower-case letter, joined by
spaces or tabs, as in `4111 1111 1111 1111`, `DE89 3704 ...`, `(415) 555-2671` or a PEM
header); a line break, a `"` or a lower-case letter ends such a run (a letter in the last
token too: the value can't cross it and what lies between is known). The `window` bound still
applies: nothing stays held for more than `window` characters unless a finding holds it. The
first text leaves at the first token end; after that the text is rescanned once per `step`
new characters (at a token end), as without early release. A finding of a block rule that
touches the end holds everything from its start too (it may still be raised).

JSON text (tool-call arguments) is scanned with its escapes read as the characters they spell
(normalize.normalize): "\\u0041" is one character of a finding but six of the stream. Once such an
escape (\\uXXXX or \\/; not \\n or \\", which are read as they are) arrives in such a stream, its
window grows to `ESCAPE_WIDTH` times `window`, so a finding of up to `window` characters, however it
is escaped (a surrogate pair spells one character in twelve), is still held whole.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from bastion.policy import redaction
from bastion.policy.engine import Inspection
from bastion.policy.normalize import spells_escapes
from bastion.policy.redaction import PLACEHOLDER_MAX, Redactor
from bastion.policy.rules import Hit

_native_start: Callable[[str, int], int] | None
try:
    from bastion._native import pending_start as _native_start
except ImportError:  # (the Python variant: the patterns below)
    _native_start = None

_PARTIAL_PLACEHOLDER = re.compile(r"\[[A-Z0-9_]*")

# Whitespace that normalisation turns into a space or drops: it can join groups of a number.
_JOIN = r"[^\S\n\r\u2028\u2029]"
# The pending suffix is where `(?:G+(?:J+G+)*J+G*|[^\s"]*)\Z` first matches (G a group's character,
# [^a-z\s"]; J a joiner, _JOIN): a run of groups and the last token, which continues the run unless it
# has a lower-case letter; or else the last token alone. Searched so, each position is tried in turn
# (2.9 µs for 87 characters); `pending_start` finds the same start from three anchored matches.
_LAST_TOKEN = re.compile(r'[^\s"]*')  # on the reversed text: the last token
_GROUPS_AND_JOINERS = re.compile('[^a-z"\\n\\r\\u2028\\u2029]*')  # on the reversed text: a suffix of G or J only
_JOINERS = re.compile(_JOIN + "*")
_GROUP = re.compile(r'[^a-z\s"]*')
_DELIMITER = re.compile(r'[\s"]')
ESCAPE_WIDTH = 12  # the most characters of JSON text that spell one character ("\\ud835\\udc00")


def pending_start(text: str, pos: int = 0) -> int:
    """The start of the pending suffix of `text` (see the module docstring), at least `pos`.

    The last token matches from its start on (and from no earlier position). The run of groups
    matches at a position i exactly when text[i] is a group's character, every character from i on
    is a group's or a joiner, and a joiner comes after i: so first at the first group's character
    of the longest such suffix, when a joiner follows it. The earlier of the two is the start."""
    n = len(text)
    if pos >= n:
        return n
    if _native_start is not None:
        start = _native_start(text, pos)  # (an ASCII text, in one C call; -1 for another)
        if start >= 0:
            return start
    return _pending_start(text, pos, n)


def _pending_start(text: str, pos: int, n: int) -> int:
    """`pending_start` by the patterns (any text; n = len(text) > pos)."""
    rev = text[:pos - 1:-1] if pos else text[::-1]  # text[pos:] reversed, in one slice
    # (each pattern is a `*`: it always matches)
    start = n - _LAST_TOKEN.match(rev).end()  # type: ignore[union-attr]
    run = n - _GROUPS_AND_JOINERS.match(rev).end()  # type: ignore[union-attr]
    if run < start:
        first = _JOINERS.match(text, run).end()  # type: ignore[union-attr]
        if first < start and _GROUP.match(text, first).end() < n:  # type: ignore[union-attr]
            return first
    return start


class HeldText:
    __slots__ = ("_block", "_buf", "_early", "_escapes", "_fresh", "_inspect", "_quiet", "_record", "_redactor",
                 "_restoring", "_tail", "base", "step", "window")

    def __init__(self, inspect: Callable[[str], Inspection], redactor: Redactor, window: int,
                 record: Callable[[Hit, int], None], block: Callable[[Hit], None], restoring: bool,
                 step: int = 1, early: bool = False, json_string: bool = False,
                 quiet: Callable[[str], bool] | None = None) -> None:
        # (positional or by keyword: the output guard passes them in this order, which costs less)
        self._inspect = inspect
        # True when `inspect` would find nothing and edit nothing (PolicyEngine.quiet_test): the
        # text is then released by position alone
        self._quiet = quiet
        self._redactor = redactor
        self.window = window
        self.step = step  # without early release: scan only once this much text beyond the window has arrived
        self._early = early  # every rule is token-bounded: release up to the pending suffix
        self._record = record  # (hit, offset of the scanned text in the whole stream)
        self._block = block  # raises
        self._restoring = restoring
        self._buf = ""  # arrived, not released (provider text)
        self._tail = ""  # the last released provider text, as left context
        self.base = 0  # provider characters released so far
        self._fresh = 0  # characters arrived since the last scan
        self._escapes = json_string  # JSON text that may still bring an escape (the window then grows)

    @property
    def held(self) -> int:
        return len(self._buf)

    def feed(self, text: str) -> str:
        """Add arrived text; return the text that may be released now (redacted/restored)."""
        if self._escapes and spells_escapes(self._buf[-1:] + text):
            self._escapes = False  # (an escape split across two deltas is seen too)
            self.window *= ESCAPE_WIDTH
        self._buf += text
        self._fresh += len(text)
        if len(self._buf) < self.window + self.step:
            # Early release: the first text leaves as soon as a token ends (text without a
            # delimiter only extends the last token, which stays held anyway); after that the
            # text is rescanned once per `step` new characters, at the next token end.
            # (" " in text: a delimiter without the pattern's search)
            if (not self._early or (self.base and self._fresh < self.step)
                    or (" " not in text and _DELIMITER.search(text) is None)):
                return ""
        return self._release(False)

    def flush(self, text: str = "") -> str:
        """The stream of text ended (with `text`): release everything, every finding final."""
        self._buf += text
        if not self._buf:
            return ""
        return self._release(True)

    def _release(self, final: bool) -> str:
        self._fresh = 0
        combined = self._tail + self._buf
        off, n = len(self._tail), len(combined)
        quiet = self._quiet
        if quiet is not None and quiet(combined):
            # what the general path below does with no hit and no edit (and, restoring, no "[")
            if final:
                cut = n
            elif self._early:
                cut = pending_start(combined, max(off, n - self.window))
            else:
                cut = n - self.window
            if cut <= off:
                return ""
            self._tail = combined[max(0, cut - self.window):cut]
            self._buf = combined[cut:]
            self.base += cut - off
            return combined[off:cut]
        found = self._inspect(combined)
        cut = n
        for h in found.hits:
            if h.rule.action == "block" and h.end > off:
                if final or h.end < n:
                    self._block(h)
                cut = min(cut, h.start)  # pending: may still be raised, hold all of it
        if not final:
            cut = min(cut, n - self.window if not self._early else pending_start(combined, max(off, n - self.window)))
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
                # not final: an edit touching the end, or (early) the pending suffix, may still grow
                if e.end > cut or (not final and (e.end >= n or (self._early and e.end == cut))):
                    new = max(off, e.start)
                    if new < cut:
                        cut, moved = new, True
        if cut <= off:
            return ""
        origin = self.base - off  # position of combined[0] in the whole stream
        for h in found.hits:
            if h.rule.action != "block" and off < h.end <= cut:
                self._record(h, origin)
        edits = found.edits
        out = (redaction.apply(combined[off:cut], [e for e in edits if e.end > off and e.start < cut], self._redactor,
                               offset=off) if edits else combined[off:cut])  # (apply gives the text back with no edit)
        self._tail = combined[max(0, cut - self.window):cut]
        self._buf = combined[cut:]
        self.base += cut - off
        return out
