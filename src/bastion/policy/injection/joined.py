"""Words joined by underscores in the injection detector's input ("ignore_all_previous_instructions").

A run of five or more letter words joined by single "_" is read by the strong rules with the "_" as spaces
(the same length, so offsets carry over); the classifier keeps reading the text as it is. Shorter runs are
left alone: identifiers such as `_cancel_all_tasks` would read as orders.
"""

from __future__ import annotations

import re

JOINED_WORDS = 5  # a run of at least this many letter words joined by "_" is read with spaces
_JOINED = re.compile(r"(?<![^\W_])[^\W\d_]+(?:_[^\W\d_]+){" + str(JOINED_WORDS - 1) + r",}(?![^\W_])")
# a cheap test first: three letter words between four "_" (a run of five words holds one). It opens with the
# literal "_", so the regex engine looks for that character before trying anything (a test that opened with a
# letter class cost ~3 ms per 100 kB of text holding one "_"; this one ~0.1 ms)
_HINT = re.compile(r"_[^\W\d_]+_[^\W\d_]+_[^\W\d_]+_")


_WORD_RUN = re.compile(r"\w*")


def joined_runs(text: str) -> list[tuple[int, int]]:
    """Spans of `text` that are five or more letter words joined by single underscores (searched only in the
    identifiers that hold a `_HINT` match, so the cost follows the underscores, not the text's length)."""
    if "_" not in text:
        return []
    out: list[tuple[int, int]] = []
    end = 0
    for m in _HINT.finditer(text):
        if m.start() < end:
            continue
        lo = m.start()
        while lo > 0 and (text[lo - 1].isalnum() or text[lo - 1] == "_"):
            lo -= 1
        end = _WORD_RUN.match(text, m.end()).end()  # type: ignore[union-attr]  # `*` always matches
        out += [(r.start(), r.end()) for r in _JOINED.finditer(text, lo, end)]
    return out


def spaced(text: str, runs: list[tuple[int, int]]) -> str:
    """`text` with the underscores of `runs` as spaces (same length)."""
    pieces: list[str] = []
    prev = 0
    for s, e in runs:
        pieces += (text[prev:s], text[s:e].replace("_", " "))
        prev = e
    pieces.append(text[prev:])
    return "".join(pieces)


def pieces(windows: list[tuple[int, int]], size: int = 16384, overlap: int = 1024) -> list[tuple[int, int]]:
    """`windows` with each one longer than `size` cut into pieces of `size` that overlap by `overlap` (a match
    of a strong rule is far shorter), so each piece fits the feature extractor."""
    out: list[tuple[int, int]] = []
    for a, b in windows:
        while b - a > size:
            out.append((a, a + size))
            a += size - overlap
        out.append((a, b))
    return out
