"""The trie regex of the detector's substring gate finds a substring exactly when one occurs."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.policy.injection.regions import trie_pattern
from bastion.policy.injection.rules import RULES

SUBS = sorted({s for r in RULES for s in r.substrings if s.isascii()})
ALPHABET = "".join(sorted({ch for s in SUBS for ch in s} | {" ", "x"}))


def test_the_trie_of_the_rule_substrings_matches_each_of_them() -> None:
    trie = re.compile(trie_pattern(SUBS))
    for s in SUBS:
        m = trie.search(f"..{s}..")
        assert m is not None and m.start() == 2


@given(st.text(alphabet=ALPHABET, max_size=60), st.lists(st.text(alphabet="abs<|/[]", min_size=1, max_size=5),
                                                       min_size=1, max_size=6))
@settings(max_examples=300, deadline=None)
def test_trie_search_equals_any_substring(text: str, words: list[str]) -> None:
    for pool in (SUBS, words):
        trie = re.compile(trie_pattern(pool))
        assert (trie.search(text) is not None) == any(w in text for w in pool)
