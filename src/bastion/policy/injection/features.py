"""Hashed n-gram features of a canonical text: character 3-5-grams, word unigrams and bigrams.

Every feature is a bucket in [0, 2**bits) and the position where it starts, so a model can sum
feature weights over any window of the text in O(1) after one cumulative sum. Hashes are polynomial
hashes modulo 2**64 computed for all substrings at once from a prefix sum (uint64 arithmetic wraps,
and the hash base is odd so it is invertible), then mixed per feature kind and reduced to `bits`.
Deterministic across processes and platforms (no use of Python's salted hash()). Optional kinds, appended after
the base ones (`Hasher(kinds=SKIP | CPAIR)`; the model file says which it was trained with): word skip-bigrams and
pairs of consecutive content words (measured, not used by the shipped model: docs/injection.md, eighth round), and
the cross-lingual gloss (`gloss.py`, twenty-fifth round), which keeps the C accelerator for the base kinds.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import accumulate
from types import ModuleType
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from bastion.policy.injection.gloss import Gloss

_native: ModuleType | None
try:  # the optional C accelerator (setup.py builds it where a compiler is present); same values
    import bastion._native as _built

    _native = _built
except ImportError:  # pragma: no cover - depends on the install
    _native = None
NATIVE = _native is not None

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]
U32 = npt.NDArray[np.uint32]
# character 3-gram buckets: an int64 array, or the bytearray of int64 the C pass leaves (`Scored.buckets`: the
# prefilter reads them in C again, so no array is built for them)
Trigrams = npt.NDArray[np.int64] | bytearray

_BASE = 0x100000001B3  # odd: invertible modulo 2**64
_BASE_INV = pow(_BASE, -1, 2**64)
_MIX = np.uint64(0x9E3779B97F4A7C15)
_PAIR = np.uint64(0xC2B2AE3D27D4EB4F)
_SKIP = np.uint64(0x165667B19E3779F9)
_CPAIR = np.uint64(0x27D4EB2F165667C5)
CHAR_NS = (3, 4, 5)
_ACCUMULATE = np.add.accumulate  # np.cumsum's sums, without its Python wrapper
_MAX_REDUCE = np.maximum.reduce
# dtype objects, not the scalar types: `np.frombuffer` and `==` convert a type to its dtype on every call, and
# the C accelerator's arrays carry these very objects (`is` tests them; any other dtype takes the slow path)
DT_I64, DT_U64, DT_U32 = np.dtype(np.int64), np.dtype(np.uint64), np.dtype(np.uint32)
# salts keep kinds apart: the word "the" and the character 3-gram "the" are different features
_SALT = {3: 0x1F3D5B79, 4: 0x2E4C6A88, 5: 0x3D5B7997, "word": 0x4C6A88A6, "pair": 0x5B7997B5, "cue": 0x6A88A6C4,
         "skip": 0x79A8C6E2, "cpair": 0x88C6E4F0}
SKIP = 1  # `Hasher(kinds=...)` bit: word skip-bigrams (a word and the word after next)
CPAIR = 2  # `Hasher(kinds=...)` bit: pairs of consecutive content words (function words skipped)
GLOSS = 4  # `Hasher(kinds=...)` bit: English word and pair features of foreign attack words (gloss.py)
VERT = 8  # model-file bit (no feature of its own): the canonical form reads runs of short lines as one line (canon.py)
STOP_WORDS = ("a an the all any some each every of to in on at for with by from into about as and or but nor "
              "this that these those is are be was were been being am it its please just also very so then "
              "there here such other others can could would should will shall may might must do does did "
              "has have had not no only than too more most").split()


def _is_word_table() -> npt.NDArray[np.bool_]:
    table = np.zeros(0x10000, dtype=bool)
    for cp in range(0x10000):
        ch = chr(cp)
        # CJK, kana and Hangul have no spaces between words: their character n-grams carry them
        if ch.isalnum() and not (0x2E80 <= cp <= 0x9FFF or 0xAC00 <= cp <= 0xD7AF or 0xF900 <= cp <= 0xFAFF):
            table[cp] = True
    return table


@dataclass(frozen=True, slots=True)
class Features:
    """Feature buckets and the text positions they start at (same length, int64)."""

    buckets: I64
    positions: I64
    words: U64  # raw 64-bit hashes of the words (rules look their anchors up in these)
    word_starts: I64
    longest_word: int


# `TUPLE_NEW(cls, (field, ...))` builds a NamedTuple `cls` with every field given, without the Python-level
# `__new__` frame the class call runs (the same object; ~1,300 instructions less): for the records of every scan
TUPLE_NEW = tuple.__new__


class Scored(NamedTuple):
    """A chunk's features as `Hasher.extract_scored` leaves them: what the detector reads of `Features` besides
    the classifier's input (`buckets` holds only the character 3-grams', which the prefilter reads: int64 each, in
    the bytearray the C pass leaves, `as_i64` reads it as an array), and the logits of its large windows before
    rule cues (float64 each, for `LinearModel.score_scored`). A NamedTuple:
    one is built per chunk of every scanned text, and a frozen dataclass's `__init__` costs three times more."""

    buckets: bytearray
    words: U64
    word_starts: I64
    longest_word: int
    logits: bytearray


def as_i64(trigrams: Trigrams) -> I64:
    """3-gram buckets as an int64 array (a view of a `Scored.buckets` bytearray, an array as it is)."""
    return np.frombuffer(trigrams, DT_I64) if isinstance(trigrams, bytearray) else trigrams


class Hasher:
    """Turns canonical code points into hashed features. Build once; `max_len` bounds one call.
    `native` (default: when built) computes `extract` in C (`bastion._native`); the numpy code
    below is the reference it must equal, and the fallback."""

    def __init__(self, bits: int = 18, max_len: int = 1 << 16, kinds: int = 0, native: bool | None = None) -> None:
        self.bits = bits
        self.kinds = kinds
        # the C accelerator computes the five base kinds: a hasher with extra kinds takes the numpy path (the gloss
        # is appended to the base features, from either path)
        self.native = _native if (NATIVE if native is None else native) and not kinds & ~(GLOSS | VERT) else None
        if native and _native is None:
            raise RuntimeError("the C accelerator bastion._native is not built")
        self.shift = np.uint64(64 - bits)
        self.max_len = max_len
        self._pow = self._powers(_BASE, max_len + 1)
        self._inv = self._powers(_BASE_INV, max_len + 1)
        self._pow_before = np.roll(self._pow, 1)  # _pow_before[k] = _pow[k - 1] (k >= 1)
        self._word = _is_word_table()
        self._stop = np.unique(np.array([word_hash(x) for x in STOP_WORDS], dtype=np.uint64))
        self._salt = {key: np.uint64(v) for key, v in _SALT.items()}
        # for the one-pass extractor: the word table with a False entry that clipped astral code points
        # hit, positions 0..max_len, the salt of each kind in output order
        self._word_clip = np.append(self._word, False)
        self._arange = np.arange(max_len + 1, dtype=np.int64)
        self._kind_salt = np.array([_SALT[g] for g in CHAR_NS] + [_SALT["word"], _SALT["pair"]]
                                   + ([_SALT["skip"]] if kinds & SKIP else []), dtype=np.uint64)
        self._word_bytes = self._word.tobytes()
        self._salt_bytes = self._kind_salt[:5].tobytes()  # the base kinds' salts (the C accelerator's)
        self._gloss: Gloss | None = None
        if kinds & GLOSS:
            from bastion.policy.injection.gloss import Gloss  # (gloss.py builds on this module)

            self._gloss = Gloss(self)

    @staticmethod
    def _powers(base: int, n: int) -> U64:
        out = np.empty(n, dtype=np.uint64)
        acc = 1
        for i in range(n):
            out[i] = acc
            acc = (acc * base) % (1 << 64)
        return out

    def _bucket(self, h: U64, kind: object) -> I64:
        mixed = (h ^ self._salt[kind]) * _MIX
        return (mixed >> self.shift).astype(np.int64)

    def cue(self, name: str) -> int:
        """The bucket of a named rule cue (rules feed the classifier through these)."""
        h = 0
        for ch in name:
            h = (h * _BASE + ord(ch)) % (1 << 64)
        return int(self._bucket(np.array([h], dtype=np.uint64), "cue")[0])

    def extract(self, codes: U32) -> Features:
        """Features of one canonical text of at most `max_len` code points."""
        n = len(codes)
        if n > self.max_len:
            raise ValueError(f"text longer than max_len={self.max_len}; chunk it")
        if n < 8:
            return self.extract_stepwise(codes)
        if self.native is not None and codes.dtype == np.uint32 and codes.flags.c_contiguous:
            b, p, w, ws, longest = self.native.features(codes, self.bits, self._word_bytes, self._salt_bytes)
            feats = Features(np.frombuffer(b, np.int64), np.frombuffer(p, np.int64), np.frombuffer(w, np.uint64),
                             np.frombuffer(ws, np.int64), longest)
            return feats if self._gloss is None else self._glossed(codes, feats)
        # One pass: the hashes of all five kinds written straight into their blocks of one array (in the
        # order `extract_stepwise` concatenates them), then mixed and reduced in place. Same values. (Ufunc
        # methods, not their numpy.* wrappers: at a few hundred characters a call costs more than its work.)
        prefix = np.empty(n + 1, dtype=np.uint64)
        prefix[0] = 0
        np.multiply(codes if codes.dtype == np.uint32 else codes.astype(np.uint64), self._inv[:n], out=prefix[1:])
        _ACCUMULATE(prefix[1:], out=prefix[1:])
        word = np.zeros(n + 2, dtype=bool)
        self._word_clip.take(codes, out=word[1:-1], mode="clip")
        edges = (word[1:] != word[:-1]).nonzero()[0]
        starts, ends = edges[0::2], edges[1::2]
        w = len(starts)
        pairs = max(w - 1, 0)
        skips = max(w - 2, 0) if self.kinds & SKIP else 0
        sizes = [n - g + 1 for g in CHAR_NS] + [w, pairs] + ([skips] if self.kinds & SKIP else [])
        bounds = list(accumulate(sizes, initial=0))
        h = np.empty(bounds[-1], dtype=np.uint64)
        for k, g in enumerate(CHAR_NS):
            block = h[bounds[k]:bounds[k + 1]]
            np.subtract(prefix[g:], prefix[:n - g + 1], out=block)
            np.multiply(block, self._pow[g - 1:n], out=block)
        hw = h[bounds[3]:bounds[4]]
        np.subtract(prefix[ends], prefix[starts], out=hw)
        np.multiply(hw, self._pow_before[ends], out=hw)
        words = hw.copy()
        longest = int(_MAX_REDUCE(ends - starts)) if w else 0
        if pairs:
            hp = h[bounds[4]:bounds[5]]
            np.multiply(hw[:-1], _PAIR, out=hp)
            np.add(hp, hw[1:], out=hp)
        if skips:
            hs = h[bounds[5]:]
            np.multiply(hw[:-2], _SKIP, out=hs)
            np.add(hs, hw[2:], out=hs)
        if n <= 4096:  # one salt array and one xor beat five calls on short texts (and cost memory on long)
            h ^= self._kind_salt.repeat(sizes)
        else:
            for k, salt in enumerate(self._kind_salt):
                h[bounds[k]:bounds[k + 1]] ^= salt
        h *= _MIX
        h >>= self.shift
        a = self._arange
        positions = np.concatenate((a[:n - 2], a[:n - 3], a[:n - 4], starts, starts[:pairs], starts[:skips]))
        buckets = h.view(np.int64)
        if self.kinds & CPAIR and w > 2:
            cb, cp = self._content_pairs(words, starts)
            buckets, positions = np.concatenate((buckets, cb)), np.concatenate((positions, cp))
        feats = Features(buckets, positions, words, starts, longest)
        return feats if self._gloss is None else self._glossed(codes, feats)

    def _glossed(self, codes: U32, feats: Features) -> Features:
        """`feats` with the gloss features appended (after every other kind)."""
        assert self._gloss is not None
        hits = self._gloss.hits(codes, feats.words, feats.word_starts)
        if not hits:
            return feats
        gb, gp = self._gloss.features_of(hits)
        return Features(np.concatenate((feats.buckets, gb)), np.concatenate((feats.positions, gp)), feats.words,
                        feats.word_starts, feats.longest_word)

    def extract_scored(self, codes: U32, weights: npt.NDArray[np.float32], live: bytes, window: int, stride: int,
                       bias: float, short_bias: float | None = None) -> Scored | None:
        """`extract` and the window logits `LinearModel.score_windows` sums from its features, in one C pass that
        keeps no feature but the 3-grams' buckets (the same values); None without the C accelerator, for fewer
        than 8 code points or with extra feature kinds (then `extract`). `short_bias` (when given) is the bias of
        codes no longer than one window (`LinearModel.bias_at`)."""
        if (self.native is None or self._gloss is not None or len(codes) < 8 or codes.dtype is not DT_U32
                or not codes.flags.c_contiguous):
            return None  # (the gloss keeps the C accelerator for `extract`, but its features are not in this pass)
        if len(codes) > self.max_len:
            raise ValueError(f"text longer than max_len={self.max_len}; chunk it")
        t, w, ws, longest, logits = self.native.features_windows(codes, self.bits, self._word_bytes, self._salt_bytes,
                                                                 weights, live, window, stride,
                                                                 bias if short_bias is None or len(codes) > window
                                                                 else short_bias)
        return TUPLE_NEW(Scored, (t, np.frombuffer(w, DT_U64), np.frombuffer(ws, DT_I64), longest, logits))

    def base_tables(self) -> tuple[bytes, bytes]:
        """The word-character table and the base kinds' salts, as the C passes read them (after `bits`)."""
        return self._word_bytes, self._salt_bytes

    def _content_pairs(self, words: U64, starts: I64) -> tuple[I64, I64]:
        """Buckets and positions of the pairs of consecutive content words (STOP_WORDS skipped)."""
        at = np.searchsorted(self._stop, words)
        keep = self._stop[np.minimum(at, len(self._stop) - 1)] != words
        cw, cs = words[keep], starts[keep]
        if len(cw) < 2:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        hc = cw[:-1] * _CPAIR + cw[1:]
        return self._bucket(hc, "cpair"), cs[:-1]

    def extract_stepwise(self, codes: U32) -> Features:
        """`extract` computed one feature kind at a time (the reference the one-pass extractor must equal)."""
        n = len(codes)
        if n > self.max_len:
            raise ValueError(f"text longer than max_len={self.max_len}; chunk it")
        if n == 0:
            empty = np.zeros(0, dtype=np.int64)
            return Features(empty, empty, np.zeros(0, dtype=np.uint64), empty, 0)
        c = codes.astype(np.uint64)
        prefix = np.zeros(n + 1, dtype=np.uint64)
        np.cumsum(c * self._inv[:n], out=prefix[1:])
        buckets: list[I64] = []
        positions: list[I64] = []
        for g in CHAR_NS:
            if n < g:
                continue
            a = np.arange(n - g + 1, dtype=np.int64)
            h = (prefix[g:] - prefix[: n - g + 1]) * self._pow[g - 1: n]
            buckets.append(self._bucket(h, g))
            positions.append(a)
        word = np.zeros(n + 2, dtype=bool)
        bmp = codes < 0x10000
        word[1:-1] = self._word[np.where(bmp, codes, 0)] & bmp
        edges = np.flatnonzero(word[1:] != word[:-1])
        starts, ends = edges[0::2], edges[1::2]
        hw = np.zeros(0, dtype=np.uint64)
        longest = 0
        if len(starts):
            hw = (prefix[ends] - prefix[starts]) * self._pow[ends - 1]
            longest = int((ends - starts).max())
            buckets.append(self._bucket(hw, "word"))
            positions.append(starts.astype(np.int64))
            if len(starts) > 1:
                hp = hw[:-1] * _PAIR + hw[1:]
                buckets.append(self._bucket(hp, "pair"))
                positions.append(starts[:-1].astype(np.int64))
            if self.kinds & SKIP and len(starts) > 2:
                hs = hw[:-2] * _SKIP + hw[2:]
                buckets.append(self._bucket(hs, "skip"))
                positions.append(starts[:-2].astype(np.int64))
            if self.kinds & CPAIR and len(starts) > 2:
                cb, cp = self._content_pairs(hw, starts.astype(np.int64))
                buckets.append(cb)
                positions.append(cp)
        if not buckets:
            empty = np.zeros(0, dtype=np.int64)
            return Features(empty, empty, hw, starts.astype(np.int64), longest)
        feats = Features(np.concatenate(buckets), np.concatenate(positions), hw, starts.astype(np.int64), longest)
        return feats if self._gloss is None else self._glossed(codes, feats)


# Characters whose runs are layout, not language: ASCII punctuation and symbols, dashes, bullets and
# ellipses, arrows, box drawing, block elements, geometric shapes, miscellaneous symbols and dingbats,
# CJK punctuation. A horizontal rule, a box frame or a table border made of them says which collection a
# text came from, not whether it is an attack (and padding a text with them must not move its score).
RUN_CHARS = "".join(
    chr(c) for lo, hi in ((0x21, 0x7E), (0x2010, 0x2027), (0x2190, 0x21FF), (0x2500, 0x25FF), (0x2600, 0x27BF),
                          (0x3000, 0x303F)) for c in range(lo, hi + 1) if not chr(c).isalnum())


def run_buckets(bits: int) -> I64:
    """The buckets of the character 3-, 4- and 5-grams made of one `RUN_CHARS` character repeated (a
    model can give them no weight and leave them out of its length normalisation)."""
    hasher = Hasher(bits=bits, max_len=8)
    out: list[int] = []
    for ch in RUN_CHARS:
        for g in CHAR_NS:
            h = 0
            for _ in range(g):
                h = (h * _BASE + ord(ch)) % (1 << 64)
            out.append(int(hasher._bucket(np.array([h], dtype=np.uint64), g)[0]))
    return np.unique(np.array(out, dtype=np.int64))


def word_hash(word: str) -> int:
    """The raw hash `Hasher.extract` gives `word` (a run of word characters)."""
    h = 0
    for ch in word:
        h = (h * _BASE + ord(ch)) % (1 << 64)
    return h
