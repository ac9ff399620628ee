"""Leetspeak in the injection detector's input: which words undoing it changes, and where to look again.

Digits and symbols inside words that also hold letters ("1gn0r3", "pr3v10us") are read as the letters
they stand for; the detector searches the strong rules again only around the words that change.
"""

from __future__ import annotations

import re
from types import ModuleType

_native: ModuleType | None
try:
    import bastion._native as _built

    _native = _built
except ImportError:  # not built (no C compiler at install time): the regex path
    _native = None

CHUNK = 1 << 16  # the detector's chunk (features are extracted per chunk)
LEET_REACH = 720  # searched this far around each changed word (anchor regions reach 160 + 360)

# leetspeak: digits and symbols inside words that also hold letters ("1gn0r3", "pr3v10us")
_LEET_TOKEN = re.compile(r"(?<![\w@$])(?=[\w@$]*[^\W\d_])[\w@$]*[0-9@$][\w@$]*")
_LEET = str.maketrans("0134578@$", "oieastbas")
# a mapped character, then (past digits and "_" that are not mapped) a letter: the closest such pair of a run
# [\w@$]+ that undoing leetspeak changes (searched in the reversed text too, for a letter then a mapped one)
_LEET_PAIR = re.compile(r"[0134578@$](?:[^\W\D0134578]|_)*+[^\W\d_]")
_LEET_RUN = re.compile(r"[\w@$]*")
_LEET_MAPPED = re.compile(r"[0134578@$]")
# ASCII: "m" for a mapped character, "l" for a letter, "o" for the rest, and the unmapped digits and "_" (which
# `_LEET_PAIR` steps over) deleted: a text has a (mapped, letter) pair in either order exactly when the
# classes hold "ml" or "lm"
_LEET_SKIP = b"269_"
_LEET_CLASS = bytes(ord("m") if chr(c) in "0134578@$" else ord("l") if chr(c).isascii() and chr(c).isalpha()
                    else ord("o") for c in range(256))


def _leet_runs(text: str) -> list[tuple[int, int]]:
    """The spans `_LEET_TOKEN.sub` changes, in order: the runs of [\\w@$] holding a letter and one of
    [0134578@$]. In C when the accelerator is built (one pass, `bastion._native.leet_runs`), else
    `_leet_runs_re` (tests compare the two)."""
    if _native is not None:
        runs: list[tuple[int, int]] = _native.leet_runs(text)
        return runs
    return _leet_runs_re(text)


def _leet_runs_re(text: str) -> list[tuple[int, int]]:
    """`_leet_runs` with the regex module: two scans (the text and its reversal) for their closest (mapped,
    letter) pairs, then each such run is measured once: the work grows with the leetspeak, not with the
    numbers, in the text.
    """
    n = len(text)
    if text.isascii():  # most prose: the pairs sought below, found in one pass over classified bytes
        classes = text.encode("ascii").translate(_LEET_CLASS, _LEET_SKIP)
        if b"ml" not in classes and b"lm" not in classes:
            return []
    elif _LEET_MAPPED.search(text) is None:
        return []
    found = [m.start() for m in _LEET_PAIR.finditer(text)]
    rev = text[::-1]
    back = [n - 1 - m.start() for m in _LEET_PAIR.finditer(rev)]
    if not found and not back:
        return []
    runs: list[tuple[int, int]] = []
    end = -1
    for i in sorted(found + back):  # each i is a mapped character inside a changed run
        if i < end:
            continue
        j = n - 1 - i  # rev[j] is text[i]: the run read backwards from i
        start = i + 1 - (_LEET_RUN.match(rev, j).end() - j)  # type: ignore[union-attr]  # `*` always matches
        end = _LEET_RUN.match(text, i).end()  # type: ignore[union-attr]
        runs.append((start, end))
    return runs


def _leet_batches(runs: list[tuple[int, int]], n: int) -> list[list[tuple[int, int, tuple[int, int]]]]:
    """The changed runs with 2 characters either side, as (start, end, run), in batches that fit a chunk once
    joined by one separator each (a run longer than a chunk is cut: its words past that are not seen)."""
    out: list[list[tuple[int, int, tuple[int, int]]]] = [[]]
    size = 0
    for s, e in runs:
        a, b = max(0, s - 2), min(n, e + 2, s + CHUNK - 8)
        if size + b - a + 1 > CHUNK and out[-1]:
            out.append([])
            size = 0
        out[-1].append((a, b, (s, e)))
        size += b - a + 1
    return out


def _leet_windows(runs: list[tuple[int, int]], n: int) -> list[tuple[int, int]]:
    """Spans within `LEET_REACH` of the changed runs, merged (each shorter than a chunk)."""
    out: list[tuple[int, int]] = []
    for s, e in runs:
        a, b = max(0, s - LEET_REACH), min(n, e + LEET_REACH)
        if out and a <= out[-1][1] and b - out[-1][0] <= CHUNK - 256:
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out
