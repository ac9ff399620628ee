"""Unicode normalisation for matching, with an offset map back to the original text.

Scanners match on the normalised text; every span they return is mapped back to the
original so that redaction replaces the characters the client actually sent. The fold:
per-character NFKD (fullwidth, mathematical and circled letters → ASCII) with combining
marks dropped (accents folded), zero-width, bidi and other format/control characters removed, Unicode spaces →
" ", line/paragraph separators → "\\n", dash and quote variants → ASCII, and Cyrillic/Greek
letters that look like Latin ones → the Latin letter. Pure ASCII text without control
characters (the common case) is returned as is, at the cost of one C-level check.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections.abc import Callable
from types import ModuleType

import numpy as np

_native: ModuleType | None
try:
    import bastion._native as _built

    _native = _built
except ImportError:  # not built (no C compiler at install time): the Python is_plain below
    _native = None

_ASCII_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Everything outside printable ASCII (plus tab/newline/carriage return) may change.
_SPECIAL_RUN = re.compile(r"[^\t\n\r\x20-\x7e]+")
_SPECIAL_SPLIT = re.compile(f"({_SPECIAL_RUN.pattern})")

HOMOGLYPHS: dict[str, str] = {
    # Cyrillic lower case
    "\u0430": "a", "\u0432": "b", "\u0435": "e", "\u043e": "o", "\u0440": "p", "\u0441": "c", "\u0443": "y", "\u0445": "x", "\u0456": "i", "\u0458": "j",
    "\u0455": "s", "\u0501": "d", "\u051b": "q", "\u051d": "w", "\u04bb": "h", "\u04cf": "l", "\u043a": "k", "\u043c": "m", "\u043d": "h", "\u0442": "t",
    "\u0451": "e", "\u0457": "i", "\u04af": "y", "\u0261": "g",
    # Cyrillic upper case
    "\u0410": "A", "\u0412": "B", "\u0415": "E", "\u041a": "K", "\u041c": "M", "\u041d": "H", "\u041e": "O", "\u0420": "P", "\u0421": "C", "\u0422": "T",
    "\u0425": "X", "\u0406": "I", "\u0408": "J", "\u0405": "S", "\u04ae": "Y", "\u051a": "Q", "\u051c": "W", "\u0500": "D", "\u04c0": "I", "\u0401": "E",
    # Greek
    "\u03b1": "a", "\u03bf": "o", "\u03c1": "p", "\u03bd": "v", "\u03b9": "i", "\u03ba": "k", "\u03c4": "t", "\u03c5": "u", "\u03c7": "x", "\u03b5": "e",
    "\u0391": "A", "\u0392": "B", "\u0395": "E", "\u0396": "Z", "\u0397": "H", "\u0399": "I", "\u039a": "K", "\u039c": "M", "\u039d": "N", "\u039f": "O",
    "\u03a1": "P", "\u03a4": "T", "\u03a5": "Y", "\u03a7": "X",
    # Latin and Armenian look-alikes
    "\u0131": "i", "\u0251": "a", "\u0269": "i", "\u0585": "o", "\u057d": "u", "\u0581": "g", "\u026a": "i",
    # dashes, quotes, bullets used as separators
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-", "\u2212": "-", "\ufe63": "-",
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"',
}

_DROP_CATEGORIES = frozenset({"Cc", "Cf", "Mn", "Me", "Cs", "Co", "Cn"})
# Default-ignorable letters (category Lo, so not dropped by category): the Hangul fillers render as
# nothing and would split a value the way a zero-width space does
_IGNORABLE_LETTERS = frozenset("\u115f\u1160\u3164\uffa0")
_TAGS = re.compile("[\U000e0000-\U000e007f]")
_cache: dict[str, str] = {}


def _fold_simple(ch: str) -> str:
    cat = unicodedata.category(ch)
    if cat in _DROP_CATEGORIES:
        return "" if ch not in "\t\n\r" else ch
    if cat == "Zs":
        return " "
    if cat in ("Zl", "Zp"):
        return "\n"
    return HOMOGLYPHS.get(ch, ch)


def fold_char(ch: str) -> str:
    """The matching form of one character (may be empty or several characters)."""
    out = _cache.get(ch)
    if out is None:
        if "\U000e0020" <= ch <= "\U000e007e":
            # Unicode tag characters mirror ASCII and can smuggle a whole hidden instruction
            # ("ASCII smuggling"): read them as the ASCII they encode instead of dropping them.
            out = chr(ord(ch) - 0xE0000)
        elif ch in _IGNORABLE_LETTERS:
            out = ""
        elif unicodedata.category(ch) in _DROP_CATEGORIES or "\uac00" <= ch <= "\ud7a3":
            out = _fold_simple(ch)  # Hangul syllables stay whole
        else:
            # NFKD then dropping the combining marks: compatibility forms → ASCII and
            # accents folded, the same for precomposed and combining spellings.
            out = "".join(_fold_simple(c) for c in unicodedata.normalize("NFKD", ch))
        if len(_cache) < 65536:
            _cache[ch] = out
    return out


class Normalized:
    """A normalised text and the map from its offsets back to the original's.

    Segments: (norm_start, orig_start, orig_end, identity). Inside an identity segment an
    offset maps one to one; a non-identity segment (one original character that expanded)
    maps every normalised offset to the whole original character.
    """

    __slots__ = ("_ident", "_norm_starts", "_orig_ends", "_orig_starts", "original", "text")

    def __init__(self, text: str, original: str, segments: list[tuple[int, int, int, bool]] | None) -> None:
        self.text = text
        self.original = original
        if segments is None:
            self._norm_starts: list[int] | None = None
            self._orig_starts: list[int] = []
            self._orig_ends: list[int] = []
            self._ident: list[bool] = []
        else:
            self._norm_starts = [s[0] for s in segments]
            self._orig_starts = [s[1] for s in segments]
            self._orig_ends = [s[2] for s in segments]
            self._ident = [s[3] for s in segments]

    def _segments(self) -> list[tuple[int, int, int, bool]]:
        """The map's segments (one identity segment for an identity map)."""
        if self._norm_starts is None:
            return [(0, 0, len(self.original), True)] if self.original else []
        return list(zip(self._norm_starts, self._orig_starts, self._orig_ends, self._ident, strict=True))

    @property
    def is_identity(self) -> bool:
        return self._norm_starts is None

    def _orig_start(self, n: int) -> int:
        starts = self._norm_starts
        assert starts is not None
        if not starts:
            return len(self.original)
        k = bisect_right(starts, n) - 1
        if k < 0:
            return self._orig_starts[0]
        if self._ident[k]:
            return min(self._orig_starts[k] + (n - starts[k]), self._orig_ends[k])
        return self._orig_starts[k]

    def _orig_end(self, n_end: int) -> int:
        starts = self._norm_starts
        assert starts is not None
        if not starts:
            return len(self.original)
        k = bisect_right(starts, n_end - 1) - 1
        if k < 0:
            return self._orig_starts[0]
        if self._ident[k]:
            return min(self._orig_starts[k] + (n_end - 1 - starts[k]) + 1, self._orig_ends[k])
        return self._orig_ends[k]

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """The original span covering the normalised span [start, end)."""
        if self._norm_starts is None:
            return start, end
        s = self._orig_start(start)
        if end <= start:
            return s, s
        return s, max(s, self._orig_end(end))


# The characters _ASCII_CONTROL matches, each looked for by one memchr: ~3x faster than the
# regex's pass over a text of a few kB; past _MEMCHR_MAX characters the regex is (one pass, not 29).
_CONTROLS = tuple(chr(c) for c in (*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F))
_MEMCHR_MAX = 16384
# Up to this length one C-level pass of `str.isprintable` (false for every ASCII control character,
# tab and line breaks included) costs less than the 29 searches: ~25 instructions a character
# against ~350 a search, counted by valgrind. A text it rejects may still be plain (a line break).
_PRINTABLE_MAX = 384


def _is_plain(text: str) -> bool:
    """Printable ASCII (tabs and line breaks allowed): normalising it changes nothing."""
    if not text.isascii():
        return False
    if len(text) <= _PRINTABLE_MAX and text.isprintable():
        return True
    if len(text) > _MEMCHR_MAX:
        return _ASCII_CONTROL.search(text) is None
    for c in _CONTROLS:
        if c in text:
            return False
    return True


# The same in one C pass when the accelerator is built (~1 instruction a character against ~12 here)
is_plain: Callable[[str], bool] = _is_plain if _native is None else _native.plain


# A JSON escape: a surrogate pair, one \\uXXXX, or a backslash and the character it escapes (read left to
# right, so the "\\u0041" of an escaped backslash stays text).
_JSON_ESCAPE = re.compile(r"\\(?:u([dD][89abAB][0-9a-fA-F]{2})\\u([dD][c-fC-F][0-9a-fA-F]{2})|u([0-9a-fA-F]{4})|(.))",
                          re.DOTALL)


def spells_escapes(text: str) -> bool:
    """JSON text that may hold an escape `json_escapes` reads (\\uXXXX or \\/): only those change its normalised form."""
    return "\\u" in text or "\\/" in text


def json_escapes(text: str) -> list[tuple[int, int, str]]:
    """The escapes of JSON text that spell a character another way, as (start, end, character): each
    \\uXXXX (a surrogate pair as one character) and \\/. The others (\\\\, \\", \\n, ...) stay as they are."""
    out: list[tuple[int, int, str]] = []
    for m in _JSON_ESCAPE.finditer(text):
        high, low, one, other = m.groups()
        if high is not None:
            ch = chr(0x10000 + ((int(high, 16) - 0xD800) << 10) + (int(low, 16) - 0xDC00))
        elif one is not None:
            ch = chr(int(one, 16))  # a lone surrogate is a character the fold drops
        elif other == "/":
            ch = "/"
        else:
            continue
        out.append((m.start(), m.end(), ch))
    return out


def normalize(text: str, json_string: bool = False, *, drop_tags: bool = False) -> Normalized:
    """Normalise `text` for matching; see the module docstring for the fold. `json_string`: the text is
    JSON (tool-call arguments), whose \\uXXXX and \\/ escapes are read as the characters they spell, as
    the client's JSON parser will (so "\\u0041KIA..." is matched as "AKIA..."); a finding there maps
    back to the whole escapes. `drop_tags`: Unicode tag characters are dropped instead of read as the
    ASCII they mirror (the second view of a text that has some: `tag_view`)."""
    fold = _fold_dropping_tags if drop_tags else fold_char
    if json_string and spells_escapes(text):
        escapes = json_escapes(text)
        if escapes:
            return _normalize_mapped(text, escapes, fold)
    if is_plain(text):
        return Normalized(text, text, None)
    # Common case: every special character folds to exactly one character (accents, dashes,
    # quotes, Cyrillic look-alikes, CJK): offsets do not move, no map is needed, one translate folds the text.
    folds = _special_folds(text, fold)
    if all(len(f) == 1 for f in folds.values()):
        return Normalized(_Replacer(folds)(text), text, None)
    return _normalize_mapped(text, None, fold, folds)


# Up to this many distinct characters to replace, one `str.replace` each (a C pass of ~1-2 instructions a character)
# costs less than `str.translate` (a dictionary lookup and a write per character, ~200 instructions)
_REPLACE_MAX = 64


class _Replacer:
    """Replaces the characters that fold to one other character: by `str.replace`, one C pass each, when they are few
    and no replacement is itself replaced; otherwise by one `str.translate` (a dictionary lookup per character)."""

    __slots__ = ("pairs", "table")

    def __init__(self, folds: dict[str, str]) -> None:
        changed = {ch: f for ch, f in folds.items() if len(f) == 1 and f != ch}
        few = len(changed) <= _REPLACE_MAX and not changed.keys() & set(changed.values())
        self.pairs = list(changed.items()) if few else None
        self.table = None if few else {ord(ch): f for ch, f in changed.items()}

    def __call__(self, text: str) -> str:
        if self.pairs is not None:
            for ch, f in self.pairs:
                text = text.replace(ch, f)
            return text
        return text.translate(self.table)  # type: ignore[arg-type]


# From this length the distinct characters come from numpy (one encode and a sort in C, ~40 instructions a
# character) instead of `set(text)` (a new string object and a hash for every non-Latin-1 character, ~450)
_UNIQUE_FROM = 512


def _special_folds(text: str, fold: Callable[[str], str]) -> dict[str, str]:
    """The fold of every distinct character of `text` that may change (not printable ASCII, tab or line break)."""
    if len(text) < _UNIQUE_FROM:
        return {ch: fold(ch) for ch in set(text) if not ("\x20" <= ch <= "\x7e" or ch in "\t\n\r")}
    codes = np.unique(np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32))
    codes = codes[(codes > 0x7E) | ((codes < 0x20) & (codes != 9) & (codes != 10) & (codes != 13))]
    return {ch: fold(ch) for ch in map(chr, codes.tolist())}


def has_tags(text: str) -> bool:
    """True when `text` holds Unicode tag characters. They are read as ASCII (smuggled text), so tags
    interleaved with a visible value ("A<tag>K<tag>I<tag>A...") would hide it: such a text is scanned
    a second time with the tags dropped (`normalize(..., drop_tags=True)`)."""
    return not text.isascii() and _TAGS.search(text) is not None


def _fold_dropping_tags(ch: str) -> str:
    return "" if "\U000e0000" <= ch <= "\U000e007f" else fold_char(ch)


def _normalize_mapped(text: str, escapes: list[tuple[int, int, str]] | None = None,
                      fold: Callable[[str], str] = fold_char, folds: dict[str, str] | None = None) -> Normalized:
    """The normalised text with its offset map (characters dropped or expanded; with `escapes`, each
    (start, end, character) read as that character, folded).

    Segments: every maximal run of characters that fold to exactly one character (plain ASCII, accents, CJK,
    look-alikes) is one identity segment, folded by one `str.translate`; a character that folds to several is a
    segment of its own; a dropped one ends a run. Only the irregular characters are visited in Python, so a
    text of CJK with one zero-width space costs one translate, not a loop over every character."""
    if escapes:
        return _with_escapes(text, escapes, fold)
    if folds is None:
        folds = _special_folds(text, fold)
    one = _Replacer(folds)
    irregular = [ch for ch, f in folds.items() if len(f) != 1]
    pieces: list[str] = []
    segs: list[tuple[int, int, int, bool]] = []
    npos = 0
    pos = 0
    if irregular:
        at: list[int] = []  # where they are: one C-level find per occurrence (a regex class scan costs ~100x more)
        for ch in irregular:
            i = text.find(ch)
            while i >= 0:
                at.append(i)
                i = text.find(ch, i + 1)
        at.sort()
        for i in at:
            if i > pos:
                segs.append((npos, pos, i, True))
                pieces.append(one(text[pos:i]))
                npos += i - pos
            rep = folds[text[i]]
            if rep:
                segs.append((npos, i, i + 1, False))
                pieces.append(rep)
                npos += len(rep)
            pos = i + 1
    if pos < len(text):
        segs.append((npos, pos, len(text), True))
        pieces.append(one(text[pos:]))
    return Normalized("".join(pieces), text, segs)


def _with_escapes(text: str, escapes: list[tuple[int, int, str]], fold: Callable[[str], str]) -> Normalized:
    """`_normalize_mapped` of the text between the escapes, each escape a segment of its own."""
    pieces: list[str] = []
    segs: list[tuple[int, int, int, bool]] = []
    npos = 0
    pos = 0
    for start, end, ch in [*escapes, (len(text), len(text), "")]:
        if start > pos:  # the text before the escape, with its offsets moved to where it sits
            part = _normalize_mapped(text[pos:start], None, fold) if not is_plain(text[pos:start]) else None
            if part is None:
                segs.append((npos, pos, start, True))
                pieces.append(text[pos:start])
                npos += start - pos
            else:
                for ns, os_, oe, ident in part._segments():
                    segs.append((npos + ns, pos + os_, pos + oe, ident))
                pieces.append(part.text)
                npos += len(part.text)
        rep = fold(ch) if ch else ""
        if rep:
            segs.append((npos, start, end, False))
            pieces.append(rep)
            npos += len(rep)
        pos = end
    return Normalized("".join(pieces), text, segs)


def fold(text: str) -> str:
    """The normalised form of `text` alone (for config values such as keywords)."""
    return normalize(text).text
