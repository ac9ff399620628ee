"""The C `anchored_by_rule` (the anchored spans of a long text's words, in any order) against its Python reference,
`Regions.anchored_long`: the same spans, keyed in the same order (by rule index), on generated words in text order
or not, with repeats, and through `Regions.anchored_spans` for texts of more than 4096 words; and its errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.policy.injection import features
from bastion.policy.injection.regions import _AFTER, _BEFORE, Regions, WordIndex
from bastion.policy.injection.rules import RULES
from tests.unit.policy.native_required import native_or_skip

_native = native_or_skip(features._native)
REGIONS_NATIVE, REGIONS_PY = Regions(RULES, _native), Regions(RULES)
ANCHOR_HASHES = sorted(REGIONS_PY._rules_of_anchor)
assert REGIONS_NATIVE._native is not None
TABLES = REGIONS_NATIVE._native[1]


def _index(words: list[tuple[int, int]]) -> WordIndex:
    return WordIndex(np.array([h for h, _ in words], dtype=np.uint64), np.array([p for _, p in words], dtype=np.int64))


@settings(max_examples=300, deadline=None)
@given(words=st.lists(st.tuples(st.one_of(st.sampled_from(ANCHOR_HASHES), st.integers(0, 2**64 - 1)),
                                st.integers(0, 3000)), max_size=400),
       ok=st.lists(st.booleans(), min_size=len(RULES), max_size=len(RULES)),
       lo=st.integers(0, 200), span=st.integers(0, 3200), ordered=st.booleans())
def test_anchored_by_rule_equals_anchored_long(words: list[tuple[int, int]], ok: list[bool], lo: int, span: int,
                                               ordered: bool) -> None:
    if ordered:
        words = sorted(words, key=lambda w: w[1])
    index, flags = _index(words), bytes(ok)
    got = _native.anchored_by_rule(TABLES, index.hashes, index.starts, flags, lo, lo + span, _BEFORE, _AFTER)
    want = REGIONS_PY.anchored_long(index, flags, lo, lo + span)
    assert got == want
    assert list(got) == list(want)  # the same order: the first hit of a family wins


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_words=st.integers(4097, 9000))
def test_anchored_spans_of_many_words_equal_python(seed: int, n_words: int) -> None:
    """More than 4096 words (two overlapping chunks of a long text: the second chunk's words start again)."""
    rng = np.random.default_rng(seed)
    pool = np.array([*ANCHOR_HASHES[:40], 1, 2, 3, 4, 5, 6, 7, 8], dtype=np.uint64)
    hashes = pool[rng.integers(0, len(pool), n_words)]
    half = n_words // 2
    starts = np.concatenate((np.sort(rng.integers(0, 60_000, half)), np.sort(rng.integers(50_000, 90_000,
                                                                                          n_words - half))))
    index = WordIndex(hashes, starts.astype(np.int64))
    flags = bytes(rng.integers(0, 2, len(RULES)).astype(np.uint8))
    got = REGIONS_NATIVE.anchored_spans(index, flags, 0, 90_000)
    want = REGIONS_PY.anchored_spans(index, flags, 0, 90_000)
    assert got == want and list(got) == list(want)


def test_anchored_by_rule_refuses_bad_inputs() -> None:
    h = np.array([1, 2], dtype=np.uint64)
    tables = _native.anchor_tables(h, np.array([0, 1, 2], dtype=np.int64), np.array([1, 0], dtype=np.int64), 2)
    words, starts = np.array([2, 1, 2], dtype=np.uint64), np.array([9, 5, 1], dtype=np.int64)
    # any order, keyed by rule: rule 0 (anchor 2) at 1 and 9, rule 1 (anchor 1) at 5; [0, 5) and [6, 13) apart
    assert list(_native.anchored_by_rule(tables, words, starts, b"\x01\x01", 0, 100, 3, 4).items()) == [
        (0, [(0, 5), (6, 13)]), (1, [(2, 9)])]
    assert _native.anchored_by_rule(tables, words, starts, b"\x00\x01", 0, 100, 3, 4) == {1: [(2, 9)]}
    assert _native.anchored_by_rule(tables, words[:0], starts[:0], b"\x01\x01", 0, 100, 3, 4) == {}
    with pytest.raises(ValueError, match="mismatched"):
        _native.anchored_by_rule(tables, words, starts, b"\x01", 0, 100, 3, 4)
    with pytest.raises(ValueError, match="mismatched"):
        _native.anchored_by_rule(tables, words[:2], starts, b"\x01\x01", 0, 100, 3, 4)
    with pytest.raises(ValueError, match="word_starts"):
        _native.anchored_by_rule(tables, words, np.array([1, -(2**62), 9], dtype=np.int64), b"\x01\x01", 0, 100, 3,
                                 4)
    with pytest.raises(ValueError, match=r"0\.\.2\*\*40"):
        _native.anchored_by_rule(tables, words, starts, b"\x01\x01", 0, 100, 3, 2**41)
    with pytest.raises(TypeError, match="8 arguments"):
        _native.anchored_by_rule(tables, words, starts, b"\x01\x01", 0, 100, 3)
    with pytest.raises(ValueError):
        _native.anchored_by_rule(object(), words, starts, b"\x01\x01", 0, 100, 3, 4)
