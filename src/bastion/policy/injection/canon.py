"""The canonical form the injection detector reads: folded, lower-cased, de-obfuscated, with offsets.

Built on the policy's Unicode fold (bastion.policy.normalize.fold_char), so the detector sees the
same form whether or not the engine normalised the text first (the fold is idempotent). On top of
it: Unicode tag characters ("ASCII smuggling") are decoded to the ASCII they hide, letters are
lower-cased, every whitespace run becomes one space (or one newline if it held a line break), a run of
one layout character (`-----`, `=====`, `═════`, also spaced or over several lines) is cut to its first
three (padding cannot dilute a text or fingerprint a source) and letters spelled out one by one
("i g n o r e") are joined. With `vertical` (a model file with the `features.VERT` bit; twenty-sixth round), a run of
`SHORT_RUN` or more short lines (one or two words of letters each: "ignore\nall\nprevious\ninstructions") is read as
one line, its inner newlines as spaces. Vectorised with numpy: one table lookup
per character for the Basic Multilingual Plane, a Python loop only for the rare characters beyond
it or that expand to several characters.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from types import ModuleType
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from bastion.policy.injection.encodings import B85_MAP, HEX_MAP, Gates
from bastion.policy.injection.features import DT_U32, RUN_CHARS, TUPLE_NEW
from bastion.policy.injection.layout import RUN_KEEP, RUN_REPEAT, layout_runs
from bastion.policy.normalize import fold_char

_native: ModuleType | None
try:
    import bastion._native as _built

    _native = _built
except ImportError:  # not built (no C compiler at install time): the numpy path below
    _native = None

IntArray = npt.NDArray[np.int64]
U32 = npt.NDArray[np.uint32]

_DROP = np.uint32(0xFFFFFFFF)
_MULTI = np.uint32(0xFFFFFFFE)
_SPACE = np.uint32(32)
_NL = np.uint32(10)
_NEWLINES = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
# "i g n o r e", "i.g.n.o.r.e", "i-g-n-o-r-e": three or more single letters joined by one separator.
_SPACED = re.compile(r"(?<![^\W\d_])(?:[^\W\d_][ .\-_*+|/\\]){2,}[^\W\d_](?![^\W\d_])")
_SPACED_HINT = re.compile(r"[ .*_|/\\+-][^\W\d_][ .*_|/\\+-][^\W\d_][ .*_|/\\+-]")  # cheap pre-check
_HINT_SEPARATORS = " .*_|/\\+-"  # the separators of _SPACED_HINT
# Twenty-sixth round (`vertical`): SHORT_RUN or more lines in a row of one or two words of letters (an apostrophe
# inside a word, one of . ! ? after it) are one line. Nothing else on a line: code (`else:`, `x = 1`, `}`), bullets
# (`- milk`), numbers and markup end a run, and so does a comma (twenty-seventh round: names listed one a line in
# code, `Foo,\nBar,\nBaz,`, were read as one line). Searched in "\n" + text (the literal "\n" first lets the
# search skip ahead).
SHORT_RUN = 4
_SHORT_WORD = r"[^\W\d_]++(?:'[^\W\d_]++)*+[.!?]?"  # possessive: what follows a word is never a letter
_SHORT_LINE = rf"{_SHORT_WORD}(?: {_SHORT_WORD})?"
_SHORT_LINES = re.compile(rf"\n((?:{_SHORT_LINE}\n){{{SHORT_RUN - 1},}}{_SHORT_LINE})(?=\n|\Z)")


def short_lines_digest() -> str:
    """What the `vertical` form depends on (dev_eval.py's cache key: change the pattern, featurise again)."""
    return hashlib.sha256(_SHORT_LINES.pattern.encode()).hexdigest()[:8]


def _fold_lower(ch: str) -> str:
    folded = fold_char(ch)
    out = []
    for c in folded:
        low = c.lower()
        out.append(low if len(low) == 1 else c)
    return "".join(out)


class _Table:
    """BMP code point → canonical code point (or DROP / MULTI with the expansion kept aside)."""

    def __init__(self) -> None:
        table = np.empty(0x10000, dtype=np.uint32)
        self.multi: dict[int, str] = {}
        for cp in range(0x10000):
            if 0xD800 <= cp < 0xE000:
                table[cp] = _DROP
                continue
            ch = chr(cp)
            f = _fold_lower(ch)
            if ch in _NEWLINES:
                table[cp] = _NL
            elif f.isspace() or (ch.isspace() and f == ""):
                table[cp] = _SPACE if f != "\n" else _NL
            elif f == "":
                table[cp] = _DROP
            elif len(f) == 1:
                table[cp] = ord(f)
            else:
                table[cp] = _MULTI
                self.multi[cp] = f
        self.table = table
        # canonical code points that form layout runs (every code point: plain indexing beats a clipped take)
        self.layout = np.zeros(0x110000, dtype=bool)
        self.layout[[ord(ch) for ch in RUN_CHARS]] = True
        # for the ASCII fast path: "p" for a layout character, "o" for any other (whitespace deleted)
        self.run_class = bytes(ord("p") if chr(c) in RUN_CHARS else ord("o") for c in range(256))
        # ASCII fast path: str.translate to the canonical character ("" when dropped); whitespace maps to
        # " " or "\n" like the table. None when some ASCII character expands (then the fast path is off).
        ascii_map: dict[int, str] = {}
        for cp in range(128):
            v = int(table[cp])
            ascii_map[cp] = "" if v == _DROP else chr(v)
        self.ascii: dict[int, str] | None = None if any(int(table[cp]) == _MULTI for cp in range(128)) else ascii_map
        # the same map as a bytes.translate table (when every kept ASCII character stays ASCII), and the
        # class of each canonical ASCII character for _SPACED_HINT ("s" separator, "l" letter, "o" other)
        self.ascii_bytes: tuple[bytes, bytes] | None = None
        self.ascii_native: tuple[bytes, bytes] | None = None
        if self.ascii is not None and all(len(ch) <= 1 and ch.isascii() for ch in self.ascii.values()):
            keep = bytearray(range(256))
            for cp, ch in self.ascii.items():
                keep[cp] = ord(ch) if ch else cp
            self.ascii_bytes = (bytes(keep), bytes(cp for cp, ch in self.ascii.items() if not ch))
            drop = bytes(1 if cp < 128 and not self.ascii[cp] else 0 for cp in range(256))
            self.ascii_native = (self.ascii_bytes[0], drop)  # `_native.ascii_canon`'s map and dropped characters
        self.hint_class = bytes(ord("s") if chr(c) in _HINT_SEPARATORS else ord("l") if chr(c).isalpha() and c < 128
                                else ord("o") for c in range(256))


_TABLE: _Table | None = None


def _table() -> _Table:
    global _TABLE
    if _TABLE is None:
        _TABLE = _Table()
    return _TABLE


def native_for(native: bool | None) -> ModuleType | None:
    """The C accelerator `canonicalize(..., native)` uses (None: the numpy path)."""
    return _native if native is None or native else None


def warm() -> None:
    """Build the lookup table now (the scanner calls this at construction)."""
    _table()


def _astral(cp: int) -> str:
    if 0xE0020 <= cp <= 0xE007E:  # Unicode tag characters hide ASCII: decode, do not drop
        return chr(cp - 0xE0000).lower()
    ch = chr(cp)
    if unicodedata.category(ch) in ("Cf", "Cn", "Co"):
        return ""
    return _fold_lower(ch)


class Canonical(NamedTuple):
    """`text` in canonical form, `codes` its code points; `origin[i]` is the original index of text[i].
    Immutable (a NamedTuple: one per scan and per decoded run, and a frozen dataclass's `__init__` costs
    several times more)."""

    text: str
    codes: U32
    origin: IntArray
    source_length: int
    plain: bool = False  # `origin` is the identity and `source_length` is len(text) (the ASCII fast paths)
    # what the C fast path learnt in the same pass: the encodings' gates of the text it was given
    # (`encodings.encoded_runs`) and whether `text` may hold leetspeak runs (False: `leet._leet_runs` finds none)
    gates: Gates | None = None
    leet: bool = True
    # whether "rot" occurs in `text`, when the C fast path saw it (None: not known, `"rot" in text` tells)
    rot: bool | None = None

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The original span covering canonical [start, end)."""
        if self.plain:  # the arithmetic below without reading `origin` (numpy indexing costs ~1 µs a read)
            n = len(self.text)
            if not n or end <= start:
                return 0, 0
            s = start if start < n else n - 1
            return s, max(s, end if end < n else n)
        if not len(self.origin) or end <= start:
            return 0, 0
        s = int(self.origin[min(start, len(self.origin) - 1)])
        e = int(self.origin[min(end, len(self.origin)) - 1]) + 1
        return s, max(s, min(e, self.source_length))


def _to_str(cps: U32) -> str:
    return cps.astype("<u4").tobytes().decode("utf-32-le")


def _map(raw: U32, tab: _Table) -> tuple[U32, dict[int, str]]:
    """Per-character canonical code point, DROP or MULTI; expansions of MULTI entries by position."""
    astral = raw >= 0x10000
    multi: dict[int, str] = {}
    if astral.any():
        mapped = np.empty(len(raw), dtype=np.uint32)
        bmp = ~astral
        mapped[bmp] = tab.table[raw[bmp]]
        for i in np.flatnonzero(astral).tolist():
            s = _astral(int(raw[i]))
            if not s:
                mapped[i] = _DROP
            elif len(s) == 1:
                mapped[i] = ord(s)
            else:
                mapped[i] = _MULTI
                multi[i] = s
    else:
        mapped = tab.table[raw]
    for i in np.flatnonzero(mapped == _MULTI).tolist():
        if i not in multi:
            multi[i] = tab.multi[int(raw[i])]
    return mapped, multi


def _expand(mapped: U32, origin: IntArray, multi: dict[int, str]) -> tuple[U32, IntArray]:
    cps: list[U32] = []
    ori: list[IntArray] = []
    prev = 0
    for i in sorted(multi):
        cps.append(mapped[prev:i])
        ori.append(origin[prev:i])
        exp = multi[i]
        cps.append(np.array([ord(c) if not c.isspace() else 32 for c in exp], dtype=np.uint32))
        ori.append(np.full(len(exp), origin[i], dtype=np.int64))
        prev = i + 1
    cps.append(mapped[prev:])
    ori.append(origin[prev:])
    return np.concatenate(cps), np.concatenate(ori)


_WS_PAIR = re.compile(r"[ \n]{2}")


def _ascii_fast(text: str, tab: _Table) -> Canonical | None:
    """The canonical form of an ASCII text that has nothing to drop or collapse (else None).

    Exactly what the general path gives: every character maps to one character, no whitespace run
    is longer than one, so the offsets are the identity.
    """
    if tab.ascii is None:
        return None
    if tab.ascii_bytes is None:
        out = text.translate(tab.ascii)
        if len(out) != len(text) or _WS_PAIR.search(out) is not None:
            return None
        if _SPACED_HINT.search(out) is not None and _SPACED.search(out) is not None:
            return None
        codes = np.frombuffer(out.encode("ascii"), dtype=np.uint8).astype(np.uint32)
        return Canonical(out, codes, np.arange(len(out), dtype=np.int64), len(text), plain=True)
    # bytes: the same map, pair and hint tests without the regex engine's per-position cost
    raw = text.encode("ascii").translate(*tab.ascii_bytes)
    # (`bytes.find`, not `in`: `in` first tries its operand as an int and formats a TypeError, ~1 µs per test)
    if len(raw) != len(text) or raw.find(b"  ") >= 0:
        return None
    if raw.find(b"\n") >= 0 and (raw.find(b"\n\n") >= 0 or raw.find(b" \n") >= 0 or raw.find(b"\n ") >= 0):
        return None
    out = raw.decode("ascii")
    if raw.translate(tab.hint_class).find(b"slsls") >= 0 and _SPACED.search(out) is not None:
        return None
    if raw.translate(tab.run_class, b" \n").find(b"pppp") >= 0 and RUN_REPEAT.search(raw) is not None:
        return None
    codes = np.frombuffer(raw, dtype=np.uint8).astype(np.uint32)
    return Canonical(out, codes, _identity(len(out)), len(text), plain=True)


def _ascii_native(text: str, tab: _Table, native: ModuleType, tables: tuple[bytes, bytes]) -> Canonical | None:
    """`_ascii_fast` with the map and its gates in one pass in C (`bastion._native.ascii_canon`, given as
    `native`, with `tab.ascii_native` as `tables`; the same result: tests compare). The same pass gives the
    encodings' gates of `text`, whether the canonical text has leetspeak runs and whether "rot" occurs in it
    (`Canonical.gates`, `.leet`, `.rot`)."""
    got = ascii_parts(text, tab, native, tables)
    if got is None:
        return None
    return ascii_canonical(text, *got)


def ascii_canonical(text: str, out: str, codes: bytes, gates: Gates, leet: int, rot: int) -> Canonical:
    """The `Canonical` of `text` from `ascii_parts(text, ...)`."""
    n = len(out)  # (`_identity` inlined: this runs on every ASCII text)
    return TUPLE_NEW(Canonical, (out, np.frombuffer(codes, DT_U32), _IDENTITY[:n] if n <= _IDENTITY_LEN
                                 else _identity(n), len(text), True, gates, leet == 1, rot == 1))


def ascii_parts(text: str, tab: _Table, native: ModuleType,
                tables: tuple[bytes, bytes]) -> tuple[str, bytes, Gates, int, int] | None:
    """`_ascii_native`'s canonical text, its code points (uint32 each, in bytes), gates, leet and rot flags (0 or 1),
    without building the `Canonical` (`Detector`'s fused ASCII path reads them as they are); None where
    `_ascii_native` declines."""
    got = native.ascii_canon(text, *ascii_args(tab, tables))
    if got is None:
        return None
    out, codes, spaced_hint, run_hint, gates, leet, rot = got
    if (spaced_hint or run_hint) and ascii_declines(out, spaced_hint, run_hint):
        return None
    return out, codes, gates, leet, rot


def ascii_args(tab: _Table, tables: tuple[bytes, bytes]) -> tuple[object, ...]:
    """`ascii_canon(text, *these)`'s arguments after the text (`Detector` keeps them: one tuple per detector)."""
    return (*tables, tab.hint_class, tab.run_class, HEX_MAP, B85_MAP)


def ascii_declines(out: str, spaced_hint: int, run_hint: int) -> bool:
    """Whether `ascii_parts` declines the canonical text `out` whose C pass gave these hints (only asked when
    one is set: the regexes confirm them)."""
    return bool((spaced_hint and _SPACED.search(out) is not None)
                or (run_hint and RUN_REPEAT.search(out.encode("ascii")) is not None))


def _identity(n: int) -> IntArray:
    """0 .. n - 1 (a read-only view of one shared array when short: nothing writes to an offset map)."""
    return _IDENTITY[:n] if n <= len(_IDENTITY) else np.arange(n, dtype=np.int64)


_IDENTITY_LEN = 1 << 14
_IDENTITY = np.arange(_IDENTITY_LEN, dtype=np.int64)
_IDENTITY.flags.writeable = False


def _hinted(out: str, tab: _Table) -> bool:
    """`_SPACED_HINT.search(out)`; for ASCII text by classifying bytes (the regex costs per position)."""
    if out.isascii():
        return out.encode("ascii").translate(tab.hint_class).find(b"slsls") >= 0  # (not `in`: see _ascii_fast)
    return _SPACED_HINT.search(out) is not None


def _collapse_whitespace(mapped: U32, origin: IntArray) -> tuple[U32, IntArray]:
    """Every run of whitespace becomes its first character: a newline if the run held one, else a space."""
    is_ws = (mapped == _SPACE) | (mapped == _NL)
    if not is_ws.any() or not (is_ws[1:] & is_ws[:-1]).any():  # no run longer than one (each is " " or "\n")
        return mapped, origin
    prev = np.empty_like(is_ws)
    prev[0] = False
    prev[1:] = is_ws[:-1]
    start = is_ws & ~prev
    run = np.cumsum(start) - 1
    has_nl = np.bincount(run[is_ws], weights=(mapped[is_ws] == _NL), minlength=int(start.sum())) > 0
    starts = np.flatnonzero(start)
    mapped = mapped.copy()
    mapped[starts] = np.where(has_nl, _NL, _SPACE).astype(np.uint32)
    keep = ~is_ws | start
    return mapped[keep], origin[keep]


def canonicalize(text: str, native: bool | None = None, vertical: bool = False) -> Canonical:
    """The canonical form of `text` (see the module docstring) with its offset map. `native`: map,
    collapse and cut in C (`bastion._native.canon`; default: when it is built; the same result).
    `vertical`: runs of short lines read as one line (`short_lines`)."""
    tab = _TABLE if _TABLE is not None else _table()
    c: Canonical | None = None
    if text.isascii():  # an ASCII fast path (most texts); the general path when it declines
        c = (_ascii_native(text, tab, _native, tab.ascii_native) if _native is not None and (native is None or native)
             and tab.ascii_native is not None else _ascii_fast(text, tab))
    if c is None:
        c = _general(text, native, tab)
    return short_lines(c) if vertical and "\n" in c.text else c  # (`in` of one character: a `memchr`)


def declined(text: str, native: bool | None = None, vertical: bool = False) -> Canonical:
    """`canonicalize(text, native, vertical)` of a text whose ASCII fast path (`_ascii_native`) declines: the
    `Detector`'s fused path saw it decline, and the pass is not made again."""
    c = _general(text, native, _TABLE if _TABLE is not None else _table())
    return short_lines(c) if vertical and "\n" in c.text else c


def short_lines(c: Canonical) -> Canonical:
    """`c` with the newlines inside each run of `SHORT_RUN` or more short lines read as spaces (one character for
    one: the offsets stay), then letters spelled out one a line ("i\ng\nn\no\nr\ne") joined like spaced ones."""
    runs = short_runs(c.text)
    if not runs:
        return c
    codes = c.codes.copy()
    for a, b in runs:
        inner = codes[a:b]
        inner[inner == _NL] = _SPACE
    out = _to_str(codes)
    if _hinted(out, _table()) and _SPACED.search(out) is not None:
        codes, origin = _unspace(out, codes, c.origin)
        return Canonical(_to_str(codes), codes, origin, c.source_length)
    return Canonical(out, codes, c.origin, c.source_length)


def short_runs(text: str) -> list[tuple[int, int]]:
    """The spans of `text` that `short_lines` reads as one line each (none: it returns its argument)."""
    if text.count("\n") < SHORT_RUN - 1:
        return []
    return [(m.start(1) - 1, m.end(1) - 1) for m in _SHORT_LINES.finditer("\n" + text)]


def _unspace(out: str, mapped: U32, origin: IntArray) -> tuple[U32, IntArray]:
    """Letters spelled out one by one ("i g n o r e") joined: the separators dropped."""
    drop = np.zeros(len(mapped), dtype=bool)
    for m in _SPACED.finditer(out):
        drop[m.start() + 1:m.end():2] = True
    return mapped[~drop], origin[~drop]


def _general(text: str, native: bool | None, tab: _Table) -> Canonical:
    """`canonicalize` without its ASCII fast paths (nor `short_lines`)."""
    in_c = _native is not None and (native is None or native)
    if _native is not None and in_c:
        out, cps, ori = _native.canon(text, tab.table, tab.multi, tab.layout, _astral, RUN_KEEP)
        mapped, origin = np.frombuffer(cps, dtype=np.uint32), np.frombuffer(ori, dtype=np.int64)
    else:
        if native:
            raise RuntimeError("the C accelerator bastion._native is not built")
        mapped, origin = _mapped(text, tab)
        out = _to_str(mapped)
    if _hinted(out, tab) and _SPACED.search(out) is not None:
        mapped, origin = _unspace(out, mapped, origin)
        out = _to_str(mapped)
    return Canonical(out, mapped, origin, len(text))


def _mapped(text: str, tab: _Table) -> tuple[U32, IntArray]:
    """Mapped, expanded, dropped, whitespace collapsed, layout runs cut (numpy; `_native.canon` in C)."""
    raw = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    origin: IntArray = np.arange(len(raw), dtype=np.int64)
    mapped, multi = _map(raw, tab)
    if multi:
        mapped, origin = _expand(mapped, origin, multi)
    keep = mapped != _DROP
    if not keep.all():  # drop ignored characters first so that "a<zwsp> <zwsp>b" collapses like "a b"
        mapped, origin = mapped[keep], origin[keep]
    mapped, origin = _collapse_whitespace(mapped, origin)
    cut = layout_runs(mapped, tab.layout)
    if cut is not None:  # the whitespace around the cut characters becomes one run
        mapped, origin = _collapse_whitespace(mapped[~cut], origin[~cut])
    return mapped, origin
