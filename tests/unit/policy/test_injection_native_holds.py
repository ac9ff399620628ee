"""The C region test's string search (`occurs` in src/bastion/_native_possible.c: a string sought by its rarest
byte with memchr, then compared) answers exactly `sub in text[a:b]`, on random one-byte-per-character texts and
strings built to hold the string at every place (its first and last positions included), near misses and
repeats of its rare byte."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

_native = pytest.importorskip("bastion._native")

# the prose letters (common, ranked), rarer letters, digits, punctuation and Latin-1 (still one byte a character)
ALPHABET = " etaoinsxqzj019_.-<|'\"\n\u00e9\u00ff"
SUBS = st.text(st.sampled_from(ALPHABET), min_size=1, max_size=12)
TEXTS = st.text(st.sampled_from(ALPHABET), max_size=300)


def _occurs(sub: str, text: str, a: int, b: int) -> bool:
    """`native.possible` of one rule of one clause holding the one string `sub`: whether it occurs in text[a:b]."""
    tables = _native.possible_tables([(0,)], [(0,)], (sub,), 1 << 20)
    return bool(_native.possible(tables, 0, b"\x01", text, a, b))


@settings(max_examples=1500, deadline=None)
@given(SUBS, TEXTS, st.data())
def test_occurs_is_python_in(sub: str, text: str, data: st.DataObject) -> None:
    where = data.draw(st.integers(0, len(text)))
    planted = text[:where] + sub + text[where:] if data.draw(st.booleans()) else text
    near = sub[:-1] + ("q" if sub[-1] != "q" else "z")  # (the string but its last byte)
    planted = planted.replace(near, near) if len(sub) < 2 else planted + near
    n = len(planted)
    a = data.draw(st.integers(0, n))
    b = data.draw(st.integers(a, n))
    assert _occurs(sub, planted, a, b) == (sub in planted[a:b])
    assert _occurs(sub, planted, 0, n) == (sub in planted)


def test_occurs_at_the_edges_of_a_region() -> None:
    text = "zq the quiz xq"
    for sub in ("zq", "xq", "quiz", "z", "q", text):
        for a in range(len(text) + 1):
            for b in range(a, len(text) + 1):
                assert _occurs(sub, text, a, b) == (sub in text[a:b]), (sub, a, b)
