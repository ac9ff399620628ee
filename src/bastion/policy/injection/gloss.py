"""The cross-lingual gloss feature kind: English word features for attack words of other languages.

The classifier's n-gram weights were learned from English. A lexicon hit in a canonical text (`gloss_lexicon`:
"игнорируй" → ignore, "系统提示" → system prompt) adds the word-unigram and word-bigram features that the English
words would have (the same hashes), at the hit's position, so their weights apply to the foreign wording. Pairs
are also formed between neighbouring hits (in both orders: adjectives follow nouns, verbs follow objects in
many languages). Keys that are English words are not in the lexicon, so an English text gets no gloss feature.

Matching is cheap: keys in scripts that separate words by spaces are looked up by their words' raw hashes
(`Features.words`, one sorted search for the whole text); keys in scripts without spaces (CJK, kana, Hangul,
Thai) or whose canonical form splits inside a word (Indic vowel signs) are searched as substrings, only when
the text holds a code point as high as theirs.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache
from itertools import pairwise

import numpy as np
import numpy.typing as npt

from bastion.policy.injection import canon
from bastion.policy.injection.features import _MIX, _PAIR, STOP_WORDS, Hasher, word_hash
from bastion.policy.injection.gloss_lexicon import LEXICON

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]

MAX_WORDS = 4  # words in a key matched by word hashes
NEAR = 4  # two hits are neighbours when at most this many characters lie between them ("todas las …")
_JOIN = np.uint64(0xD6E8FEB86659FD93)  # combines the word hashes of a multi-word key (any odd constant)
_SEPARATORS = " -'"  # characters that may join the words of a word key
_ANY = np.logical_or.reduce  # (ufunc methods: ndarray.any and .max add a Python wrapper to a few-µs call)
_MAX = np.maximum.reduce
_TOP_BITS = 20
_TOP_SHIFT = np.uint64(64 - _TOP_BITS)
_ENGLISH_TOO = {"dan", "in", "mail", "over", "per", "plus", "sensor", "so"}  # English words in keys ("sla over")


@dataclass(frozen=True, slots=True)
class Entry:
    key: str  # canonical form
    english: tuple[str, ...]
    lang: str


def _is_word(ch: str) -> bool:
    cp = ord(ch)
    return ch.isalnum() and not (0x2E80 <= cp <= 0x9FFF or 0xAC00 <= cp <= 0xD7AF or 0xF900 <= cp <= 0xFAFF)


def _words(key: str) -> list[str] | None:
    """The words of a canonical key as `Hasher.extract` splits them, or None when the key must be searched as a
    substring (a character that is neither a word character nor a separator)."""
    if not all(_is_word(ch) or ch in _SEPARATORS for ch in key):
        return None
    return [w for w in re.split(f"[{re.escape(_SEPARATORS)}]+", key) if w]


@cache
def entries() -> tuple[Entry, ...]:
    """The lexicon compiled to canonical keys (the first meaning of a key that two lines give wins)."""
    out: dict[str, Entry] = {}
    for lang, block in LEXICON.items():
        for line in filter(None, block.strip().splitlines()):
            keys, english = line.split(" = ")
            for raw in keys.split("|"):
                key = " ".join(canon.canonicalize(raw.strip()).text.split())
                if key and key not in out:
                    out[key] = Entry(key, tuple(english.split()), lang)
    return tuple(out.values())


@cache
def digest() -> str:
    """Digest of the compiled lexicon (model files and caches trained with the kind depend on it)."""
    text = "\n".join(f"{e.key}\t{' '.join(e.english)}" for e in entries())
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _anchor(words: list[str], english: set[str]) -> str:
    """The longest word of a key that is not an English word (ties: the last, "in ra" → "ra"), else its longest."""
    return max(reversed([w for w in words if w not in english] or words), key=len)


def _combined(hashes: list[int]) -> int:
    h = 0
    for x in hashes:
        h = (h * int(_JOIN) + x) % (1 << 64)
    return h


class Gloss:
    """The gloss features of one hasher's bucket space (build once per `Hasher`)."""

    def __init__(self, hasher: Hasher) -> None:
        self._hasher = hasher
        self.english: list[list[int]] = []  # per gloss: the raw hashes of its English words
        by_len: dict[int, dict[int, int]] = {}
        subs: dict[str, int] = {}
        for e in entries():
            self.english.append([word_hash(w) for w in e.english])
            words = _words(e.key)
            if words is not None and len(words) <= MAX_WORDS:
                by_len.setdefault(len(words), {}).setdefault(_combined([word_hash(w) for w in words]),
                                                             len(self.english) - 1)
            else:
                subs[e.key] = len(self.english) - 1
        self._lengths = sorted(by_len, reverse=True)
        self._keys = {n: np.array(sorted(d), dtype=np.uint64) for n, d in by_len.items()}
        self._gloss = {n: np.array([d[k] for k in sorted(d)], dtype=np.int64) for n, d in by_len.items()}
        # each word key's anchor, a word that English texts rarely hold (a text without any costs one sorted search)
        english = set(STOP_WORDS) | {w for e in entries() for w in e.english} | _ENGLISH_TOO
        anchors = {word_hash(_anchor(ws, english)) for e in entries()
                   if (ws := _words(e.key)) is not None and len(ws) <= MAX_WORDS}
        self._anchors = np.array(sorted(anchors), dtype=np.uint64)
        # with a last entry no search goes past (a word equal to it is only a candidate that no key matches)
        self._anchors_end = np.append(self._anchors, np.uint64((1 << 64) - 1))
        # the top bits of the anchors' mixed hashes (short words' raw hashes differ in their low bits only): one
        # table lookup per word rules most texts out before any search (~0.2 % of other words share an anchor's)
        self._maybe_anchor = np.zeros(1 << _TOP_BITS, dtype=bool)
        self._maybe_anchor[(self._anchors * _MIX) >> _TOP_SHIFT] = True
        self._back = np.arange(MAX_WORDS, dtype=np.int64)  # a key starts up to MAX_WORDS - 1 words before its anchor
        self._subs = subs
        self._sub_re = re.compile("|".join(re.escape(k) for k in sorted(subs, key=len, reverse=True)))
        # a text can hold a substring key only if its highest code point reaches the key's highest
        self._sub_min = min((max(ord(ch) for ch in k) for k in subs), default=0x110000)

    def hits(self, codes: npt.NDArray[np.uint32], words: U64, starts: I64) -> list[tuple[int, int, int]]:
        """(start, end, gloss index) of the lexicon hits of one canonical text, in text order, not overlapping;
        a word hit's end is the start of the word after it (or the text's end)."""
        n = len(codes)
        found: list[tuple[int, int, int]] = []
        w = len(words)
        if w and _ANY(self._maybe_anchor.take((words * _MIX) >> _TOP_SHIFT)):  # (an English text stops here)
            is_anchor = self._anchors_end[self._anchors_end.searchsorted(words)] == words
            if is_anchor.any():
                anchored = is_anchor.nonzero()[0]
                cand = np.unique(anchored[:, None] - self._back)
                cand = cand[cand >= 0]
                taken = np.zeros(w, dtype=bool)
                word_ends = np.append(starts, n)
                for length in self._lengths:  # longest keys first
                    ok = cand[cand + length <= w]
                    if not len(ok):
                        continue
                    h = words[ok].copy()
                    for j in range(1, length):
                        h = h * _JOIN + words[ok + j]
                    keys = self._keys[length]
                    k = np.minimum(keys.searchsorted(h), len(keys) - 1)
                    for i, g in zip(ok[keys[k] == h].tolist(), self._gloss[length][k[keys[k] == h]].tolist(),
                                    strict=True):
                        if not taken[i:i + length].any():
                            taken[i:i + length] = True
                            found.append((int(starts[i]), int(word_ends[i + length]), g))
        if n and int(_MAX(codes)) >= self._sub_min:
            text = codes.astype(np.uint32, copy=False).tobytes().decode("utf-32-le")
            found += [(m.start(), m.end(), self._subs[m.group()]) for m in self._sub_re.finditer(text)]
        found.sort()
        out: list[tuple[int, int, int]] = []
        for hit in found:
            if not out or hit[0] >= out[-1][1]:
                out.append(hit)
        return out

    def features(self, codes: npt.NDArray[np.uint32], words: U64, starts: I64) -> tuple[I64, I64]:
        """Buckets and positions of the gloss features of one canonical text (the words of the hits' English
        glosses, their consecutive pairs, and the pairs across neighbouring hits, both orders)."""
        return self.features_of(self.hits(codes, words, starts))

    def features_of(self, hits: list[tuple[int, int, int]]) -> tuple[I64, I64]:
        """`features` of the hits `hits` found."""
        if not hits:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty
        word_h: list[int] = []
        word_p: list[int] = []
        pair_h: list[int] = []
        pair_p: list[int] = []
        mask = (1 << 64) - 1
        pair = int(_PAIR)
        for k, (start, _, g) in enumerate(hits):
            eng = self.english[g]
            word_h += eng
            word_p += [start] * len(eng)
            pair_h += [(a * pair + b) & mask for a, b in pairwise(eng)]
            pair_p += [start] * (len(eng) - 1)
            if k + 1 < len(hits) and 0 <= hits[k + 1][0] - hits[k][1] <= NEAR:
                nxt = self.english[hits[k + 1][2]]
                pair_h += [(eng[-1] * pair + nxt[0]) & mask, (nxt[-1] * pair + eng[0]) & mask]
                pair_p += [start, start]
        bucket = self._hasher._bucket
        buckets = np.concatenate((bucket(np.array(word_h, dtype=np.uint64), "word"),
                                  bucket(np.array(pair_h, dtype=np.uint64), "pair")))
        return buckets, np.array(word_p + pair_p, dtype=np.int64)
