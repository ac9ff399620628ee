"""Where each injection rule is worth searching in a canonical text: around its anchor words' occurrences,
or the whole text (rules without anchors, rules whose substrings occur)."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from itertools import compress
from operator import itemgetter
from types import ModuleType
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from bastion.policy.injection.features import DT_I64, DT_U64, TUPLE_NEW, Features, Scored, word_hash
from bastion.policy.injection.rules import Rule

_BEFORE, _AFTER = 160, 360  # a rule is searched this far around each occurrence of one of its anchors
_PICKED = 1024  # rule flags whose substring selection `Regions.possible_ascii` keeps (then it starts again)


def trie_pattern(strings: list[str]) -> str:
    """A regex matching exactly where one of `strings` (non-empty) starts, as a trie of alternations: the
    regex engine tries each alternative in turn, so a flat `a|b|c...` of many strings costs twice as much."""
    root: dict[str, dict] = {}  # type: ignore[type-arg]
    for w in strings:
        node = root
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict) -> str:  # type: ignore[type-arg]
        alts = [re.escape(ch) + build(sub) for ch, sub in sorted(node.items()) if ch]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 and "" not in node else "(?:" + "|".join(alts) + ")"
        return body + ("?" if "" in node else "")

    return build(root)


class WordIndex(NamedTuple):
    """The words of a canonical text: raw hashes and start offsets (from the feature extractor). Immutable (a
    NamedTuple: a few per scan, and a frozen dataclass's `__init__` costs several times more)."""

    hashes: npt.NDArray[np.uint64]
    starts: npt.NDArray[np.int64]

    @classmethod
    def of(cls, feats: Sequence[Features | Scored], offsets: list[int]) -> WordIndex:
        if len(feats) == 1:
            return cls(feats[0].words, feats[0].word_starts)
        return cls(np.concatenate([f.words for f in feats]),
                   np.concatenate([f.word_starts + o for f, o in zip(feats, offsets, strict=True)]))

    def has(self, h: int) -> bool:
        return bool((self.hashes == np.uint64(h)).any())

    def has_any(self, hs: tuple[int, ...]) -> bool:
        if len(self.hashes) <= 64:  # a few words: Python compares faster than numpy starts
            return not set(hs).isdisjoint(self.hashes.tolist())
        return any(self.has(h) for h in hs)


class Regions:
    """The anchor and substring tables of a rule list, and the regions of a text each rule is searched in."""

    def __init__(self, rules: Sequence[Rule], native: ModuleType | None = None) -> None:
        """`native`: the C accelerator (`bastion._native`) for `anchored_spans` (the same regions)."""
        self._anchors = [frozenset(word_hash(w) for w in r.anchors) for r in rules]
        rules_of_anchor: dict[int, list[int]] = defaultdict(list)
        for i, anchors in enumerate(self._anchors):
            for h in anchors:
                rules_of_anchor[h].append(i)
        self._rules_of_anchor = {h: tuple(ks) for h, ks in rules_of_anchor.items()}
        self._anchor_arrays = [np.array(sorted(a), dtype=np.uint64) for a in self._anchors]
        self._anchor_table = np.array(sorted(self._rules_of_anchor) or [0], dtype=np.uint64)
        # the same with the largest hash appended: `searchsorted` then never points past the end (a word
        # equal to it is looked up in `_rules_of_anchor` like any other)
        self._anchor_table_end = np.append(self._anchor_table, np.uint64(2**64 - 1))
        self._anchored = [i for i, a in enumerate(self._anchors) if a]
        self._always = [i for i, r in enumerate(rules) if not self._anchors[i] and not r.substrings]
        self._subs_of_rule = [(i, r.substrings) for i, r in enumerate(rules) if r.substrings]
        self._ascii_subs_of_rule = [(i, tuple(s for s in subs if s.isascii())) for i, subs in self._subs_of_rule
                                    if any(s.isascii() for s in subs)]
        # per rule of `_ascii_subs_of_rule`, its flag in an `ok` (a tuple whatever their number), its strings' count
        at = [i for i, _ in self._ascii_subs_of_rule]
        self._ascii_flags: Callable[[bytes | bytearray], tuple[int, ...]] = (
            itemgetter(*at) if len(at) > 1 else lambda ok: tuple(ok[i] for i in at))
        self._ascii_counts = [len(s) for _, s in self._ascii_subs_of_rule]
        # `_choose` of each flags tuple seen (the selection is a function of the flags alone)
        self._ascii_chosen: dict[tuple[int, ...], tuple[list[tuple[int, tuple[str, ...]]], bool]] = {}
        # `possible_ascii`'s selection by the rule flags themselves (the C prefilter's bytes): the substrings of
        # `_ascii_chosen`'s rules as (first character, string), and whether they are many (only set when no rule is
        # always searched: `possible_ascii` declines otherwise)
        self._ascii_picked: dict[bytes, tuple[list[tuple[str, str]], bool]] = {}
        ascii_subs = sorted({s for r in rules for s in r.substrings if s.isascii()})
        self._ascii_substrings = re.compile(trie_pattern(ascii_subs)) if ascii_subs else None
        self._native: tuple[ModuleType, object] | None = None
        if native is not None:
            order = sorted(self._rules_of_anchor)
            first = np.cumsum([0] + [len(self._rules_of_anchor[h]) for h in order], dtype=np.int64)
            flat = np.array([k for h in order for k in self._rules_of_anchor[h]], dtype=np.int64)
            self._native = (native, native.anchor_tables(np.array(order, dtype=np.uint64), first, flat, len(rules)))

    def find(self, text: str, words: WordIndex, ok: bytes | bytearray, lo: int = 0,
             hi: int | None = None) -> dict[int, list[tuple[int, int]]]:
        """Per rule i with ok[i] worth searching, the text regions to search: around its anchors' occurrences
        (within text[lo:hi] when given: `words` then holds the words of that span only).

        The order is the detector's rule order (always-searched rules, substring rules, then anchored rules
        by first anchor occurrence, or by index for long texts): the first hit of a family wins.
        """
        n = len(text) if hi is None else hi
        return self._merged(self.whole(text, ok, lo, n), self.anchored_spans(words, ok, lo, n), ok)

    def find_raw(self, text: str, hashes: bytes, starts: bytes,
                 ok: bytes | bytearray) -> dict[int, list[tuple[int, int]]]:
        """`find(text, WordIndex(hashes, starts), ok)` for a text of one chunk whose words `Hasher.extract_scored`'s
        C pass left as bytes (uint64 hashes, int64 starts): they go to the C accelerator as they are, and become
        arrays only where `anchored_spans` would not call it."""
        n = len(text)
        tables = self._native
        found = None
        if tables is not None and len(hashes) <= 8 * 4096:
            found = tables[0].anchored_spans(tables[1], hashes, starts, ok, 0, n, _BEFORE, _AFTER)
        if found is None:
            found = self.anchored_spans(TUPLE_NEW(WordIndex, (np.frombuffer(hashes, DT_U64),
                                                              np.frombuffer(starts, DT_I64))), ok, 0, n)
        return self._merged(self.whole(text, ok, 0, n), found, ok)

    def find_ascii(self, text: str, hashes: bytes, starts: bytes,
                   ok: bytes | bytearray) -> dict[int, list[tuple[int, int]]]:
        """`find_raw` of an ASCII text (`Detector`'s fused path), with `whole`'s ASCII branch and `_merged` inlined
        where the C anchored spans apply and the flags' selection is known: the same regions in the same order."""
        tables = self._native
        chosen = self._ascii_chosen.get(self._ascii_flags(ok))
        if tables is None or chosen is None or self._always or len(hashes) > 8 * 4096:
            return self.find_raw(text, hashes, starts, ok)  # (which fills `_ascii_chosen` for these flags)
        n = len(text)
        found: dict[int, list[tuple[int, int]]] | None = tables[0].anchored_spans(tables[1], hashes, starts, ok, 0, n,
                                                                                 _BEFORE, _AFTER)
        if found is None:
            return self.find_raw(text, hashes, starts, ok)
        subs, many = chosen
        if not subs or (many and (self._ascii_substrings is None or self._ascii_substrings.search(text) is None)):
            return found
        out: dict[int, list[tuple[int, int]]] = {}
        for i, strings in subs:
            for sub in strings:
                if sub[:1] in text and sub in text:
                    out[i] = [(0, n)]
                    break
        return self._merged(out, found, ok)

    def possible_ascii(self, text: str, hashes: bytes, starts: bytes, ok: bytes | bytearray, possible_tables: object,
                       maybe: bytes, few: bool, test_from: int) -> dict[int, list[tuple[int, int]]] | None:
        """`native.possible_regions(possible_tables, find_ascii(text, hashes, starts, ok), maybe, text, few, test_from)`
        in one C call (`possible_anchored`: no span objects) where `find_ascii` would return its C anchored spans as
        they are (no rule searched whole); None elsewhere (the caller makes those two calls)."""
        tables = self._native
        if tables is None or len(hashes) > 8 * 4096:
            return None
        # the selection of these flags (one look-up of the C prefilter's bytes: `_ascii_flags`' tuple and its look-up
        # cost several times more), as its substrings' (first character, string) pairs
        picked = self._ascii_picked.get(ok) if ok.__class__ is bytes else None
        if picked is None:
            chosen = self._ascii_chosen.get(self._ascii_flags(ok))
            if chosen is None or self._always:
                return None
            picked = ([(sub[:1], sub) for _, strings in chosen[0] for sub in strings], chosen[1])
            if ok.__class__ is bytes:
                if len(self._ascii_picked) >= _PICKED:  # (bounded: flags a text can make are many)
                    self._ascii_picked.clear()
                self._ascii_picked[ok] = picked
        subs, many = picked
        if subs and not (many and (self._ascii_substrings is None or self._ascii_substrings.search(text) is None)):
            for first, sub in subs:  # (`find_ascii`'s test: a rule searched whole goes the two calls' way)
                if first in text and sub in text:
                    return None
        return tables[0].possible_anchored(tables[1], possible_tables, hashes, starts, ok,  # type: ignore[no-any-return]
                                           maybe, text, few, test_from, _BEFORE, _AFTER)

    @staticmethod
    def _merged(out: dict[int, list[tuple[int, int]]], anchored: dict[int, list[tuple[int, int]]],
                ok: bytes | bytearray) -> dict[int, list[tuple[int, int]]]:
        """The whole-text regions `out` then the anchored rules not searched whole (in `out`, returned)."""
        if not out:  # (most texts: every rule of `anchored` has its `ok` flag, whichever path found them)
            return anchored
        for k, spans in anchored.items():
            if ok[k] and k not in out:
                out[k] = spans
        return out

    def whole(self, text: str, ok: bytes | bytearray, lo: int, n: int) -> dict[int, list[tuple[int, int]]]:
        """The rules searched in all of text[lo:n]: those without anchors, and those with one of their
        substrings in it (scripts without spaces, special tokens)."""
        span = text if lo == 0 and n == len(text) else text[lo:n]
        out: dict[int, list[tuple[int, int]]] = {}
        for i in self._always:  # (a loop, not a comprehension: this list is usually empty)
            if ok[i]:
                out[i] = [(lo, n)]
        if span.isascii():  # an ASCII text can hold only ASCII substrings
            flags = self._ascii_flags(ok)  # (a C-level lookup: a Python loop costs several times more)
            chosen = self._ascii_chosen.get(flags)
            if chosen is None:
                chosen = self._ascii_chosen[flags] = self._choose(flags)
            subs, many = chosen
            # many strings: one trie scan for all of them first (`in` per string costs more then)
            if many and (self._ascii_substrings is None or self._ascii_substrings.search(span) is None):
                return out
        else:
            subs = [(i, s) for i, s in self._subs_of_rule if ok[i]]
        for i, strings in subs:
            for sub in strings:
                # its first character first: one `memchr`, where a longer string is sought position by position
                if sub[:1] in span and sub in span:
                    out[i] = [(lo, n)]
                    break
        return out

    def _choose(self, flags: tuple[int, ...]) -> tuple[list[tuple[int, tuple[str, ...]]], bool]:
        """`whole`'s ASCII substring rules of `_ascii_flags(ok)` = `flags` (those flagged), and whether they hold more
        than 8 strings. (`_ascii_chosen` keeps it per flags: at most 2**(substring rules) of them.)"""
        return list(compress(self._ascii_subs_of_rule, flags)), sum(compress(self._ascii_counts, flags)) > 8

    def anchored_spans(self, words: WordIndex, ok: bytes | bytearray, lo: int,
                       n: int) -> dict[int, list[tuple[int, int]]]:
        """Per anchored rule i with ok[i] and an anchor among `words`, the spans around its anchors' occurrences
        (merged, within [lo, n)), by first anchor occurrence (by rule index for texts of many words)."""
        hashes, starts = words.hashes, words.starts
        tables = self._native if (hashes.dtype is DT_U64 and starts.dtype is DT_I64 and hashes.flags.c_contiguous
                                  and starts.flags.c_contiguous) else None
        if len(hashes) > 4096:  # (in C the same spans: words in any order, keyed by rule index)
            if tables is not None:
                return tables[0].anchored_by_rule(tables[1], hashes, starts, ok, lo, n, _BEFORE,  # type: ignore[no-any-return]
                                                  _AFTER)
            return self.anchored_long(words, ok, lo, n)
        if tables is not None:
            found: dict[int, list[tuple[int, int]]] | None = tables[0].anchored_spans(
                tables[1], hashes, starts, ok, lo, n, _BEFORE, _AFTER)
            if found is not None:  # (None: words not in text order, below)
                return found
        # short texts: plain Python beats numpy's per-call overhead
        if len(hashes) > 64:  # keep only the words that are anchors (one vectorised lookup)
            at = self._anchor_table_end.searchsorted(hashes)
            hit = (self._anchor_table_end[at] == hashes).nonzero()[0]
            hashes, starts = hashes[hit], starts[hit]
        rules_of = self._rules_of_anchor
        positions = starts.tolist()
        if positions != sorted(positions):  # (words of overlapping chunks)
            return self.anchored_unsorted(hashes.tolist(), positions, ok, lo, n)
        out: dict[int, list[tuple[int, int]]] = {}
        for h, p in zip(hashes.tolist(), positions, strict=True):
            ks = rules_of.get(h)
            if ks is None:
                continue
            a, b = p - _BEFORE, p + _AFTER
            a, b = lo if a < lo else a, n if b > n else b
            for k in ks:
                if ok[k]:
                    spans = out.get(k)
                    if spans is None:
                        out[k] = [(a, b)]
                    elif a <= spans[-1][1]:  # overlaps the last span (positions ascend): merged
                        spans[-1] = (spans[-1][0], b)
                    else:
                        spans.append((a, b))
        return out

    def anchored_unsorted(self, hashes: list[int], positions: list[int], ok: bytes | bytearray, lo: int,
                          n: int) -> dict[int, list[tuple[int, int]]]:
        """`anchored_spans` of words not in text order."""
        grouped: dict[int, list[int]] = {}
        for h, p in zip(hashes, positions, strict=True):
            for k in self._rules_of_anchor.get(h, ()):
                if ok[k]:
                    grouped.setdefault(k, []).append(p)
        out: dict[int, list[tuple[int, int]]] = {}
        for k, ps in grouped.items():
            spans: list[tuple[int, int]] = []
            for p in sorted(ps):
                a, b = max(lo, p - _BEFORE), min(n, p + _AFTER)
                if spans and a <= spans[-1][1]:
                    spans[-1] = (spans[-1][0], b)
                else:
                    spans.append((a, b))
            out[k] = spans
        return out

    def anchored_long(self, words: WordIndex, ok: bytes | bytearray, lo: int,
                      n: int) -> dict[int, list[tuple[int, int]]]:
        """`anchored_spans` for a text of many words (vectorised; by rule index)."""
        out: dict[int, list[tuple[int, int]]] = {}
        todo = [k for k in self._anchored if ok[k]]
        if not todo:
            return out
        arrays = [self._anchor_arrays[k] for k in todo]
        hit = np.flatnonzero(np.isin(words.hashes, np.concatenate(arrays)))
        hashes_hit, starts_hit = words.hashes[hit], words.starts[hit]
        for k, arr in sorted(zip(todo, arrays, strict=True)):
            found = starts_hit[np.isin(hashes_hit, arr)]
            if len(found):
                sorted_pos = np.sort(found)
                los, his = np.maximum(sorted_pos - _BEFORE, lo), np.minimum(sorted_pos + _AFTER, n)
                breaks = np.flatnonzero(los[1:] > his[:-1])
                first = np.concatenate((np.zeros(1, dtype=np.int64), breaks + 1))
                last = np.concatenate((breaks, np.array([len(sorted_pos) - 1], dtype=np.int64)))
                out[k] = list(zip(los[first].tolist(), his[last].tolist(), strict=True))
        return out
