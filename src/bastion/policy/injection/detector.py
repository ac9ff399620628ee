"""The layered detector: canonical text → rules (strong findings, weak cues) → classifier windows.

Also decodes what an attacker may have hidden: base64 runs and ROT13 text are decoded and checked
against the strong rules, and reported as `encoded_payload` when they hide an attack.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from bastion.policy.injection import canon
from bastion.policy.injection.classifier import LinearModel, Window
from bastion.policy.injection.features import Features, Hasher, word_hash
from bastion.policy.injection.rules import RULES, Rule, digest

_B64 = re.compile(r"[A-Za-z0-9+/]{20,}={0,2}")
# leetspeak: digits and symbols inside words that also hold letters ("1gn0r3", "pr3v10us")
_LEET_TOKEN = re.compile(r"(?<![\w@$])(?=[\w@$]*[^\W\d_])[\w@$]*[0-9@$][\w@$]*")
_LEET = str.maketrans("0134578@$", "oieastbas")
CHUNK = 1 << 16
_BEFORE, _AFTER = 160, 360  # a rule is searched this far around each occurrence of one of its anchors
MODEL_FAMILY = "classifier"


def _quoted(text: str, start: int) -> bool:
    """A match that opens a quotation is talked about, not addressed to the model: left to the classifier."""
    before = text[max(0, start - 2):start].rstrip()
    return bool(before) and before[-1] in "'\"`«“‘"  # noqa: RUF001


@dataclass(frozen=True, slots=True)
class Finding:
    """A detection: its family ("ignore_previous", …, or "classifier"), original span and score."""

    family: str
    start: int
    end: int
    score: float


@dataclass(frozen=True, slots=True)
class WordIndex:
    """The words of a canonical text: raw hashes and start offsets (from the feature extractor)."""

    hashes: npt.NDArray[np.uint64]
    starts: npt.NDArray[np.int64]

    @classmethod
    def of(cls, feats: list[Features], offsets: list[int]) -> WordIndex:
        if len(feats) == 1:
            return cls(feats[0].words, feats[0].word_starts)
        return cls(np.concatenate([f.words for f in feats]),
                   np.concatenate([f.word_starts + o for f, o in zip(feats, offsets, strict=True)]))

    def has(self, h: int) -> bool:
        return bool((self.hashes == np.uint64(h)).any())


@dataclass(frozen=True, slots=True)
class RuleHit:
    rule: int  # index into RULES
    start: int  # canonical offsets
    end: int


class Detector:
    """Build once (loads tables and the model); `findings` is pure and thread-safe."""

    def __init__(self, model: LinearModel | None, *, use_rules: bool = True, use_model: bool = True) -> None:
        canon.warm()
        if model is not None and use_model and model.rules_digest and model.rules_digest != digest():
            raise ValueError("the injection model was trained with another rule set: retrain it "
                             "(python data/injection/train.py)")
        self.model = model if use_model else None
        self.use_rules = use_rules
        self.hasher = Hasher(bits=model.bits if model is not None else 18, max_len=CHUNK)
        self._anchors = [frozenset(word_hash(w) for w in r.anchors) for r in RULES]
        self._rules_of_anchor: dict[int, list[int]] = defaultdict(list)
        for i, anchors in enumerate(self._anchors):
            for h in anchors:
                self._rules_of_anchor[h].append(i)
        self._all_anchors = np.array(sorted(self._rules_of_anchor), dtype=np.uint64)
        self._anchor_arrays = [np.array(sorted(a), dtype=np.uint64) for a in self._anchors]
        self._always = [i for i, r in enumerate(RULES) if not self._anchors[i] and not r.substrings]
        self._subs_of_rule = [(i, frozenset(r.substrings)) for i, r in enumerate(RULES) if r.substrings]
        self._substrings = sorted({s for r in RULES for s in r.substrings})
        ascii_subs = [s for s in self._substrings if s.isascii()]
        # one scan for "does any ASCII substring occur" instead of one `in` test per substring
        self._ascii_substring_re = re.compile("|".join(map(re.escape, ascii_subs))) if ascii_subs else None

    # ------------------------------------------------------------------ rules
    def _regions(self, text: str, words: WordIndex) -> dict[int, list[tuple[int, int]]]:
        """Per candidate rule, the text regions worth searching: around its anchors' occurrences."""
        n = len(text)
        out: dict[int, list[tuple[int, int]]] = {i: [(0, n)] for i in self._always}
        any_ascii = self._ascii_substring_re is not None and self._ascii_substring_re.search(text) is not None
        if self._substrings and (not text.isascii() or any_ascii):
            present = {s for s in self._substrings if s in text}
            for i, subs in self._subs_of_rule:
                if not present.isdisjoint(subs):
                    out[i] = [(0, n)]
        if len(words.hashes) <= 4096:  # short texts: plain Python beats numpy's per-call overhead
            grouped: dict[int, list[int]] = defaultdict(list)
            rules_of = self._rules_of_anchor
            for h, pos in zip(words.hashes.tolist(), words.starts.tolist(), strict=True):
                if h in rules_of:
                    for k in rules_of[h]:
                        grouped[k].append(pos)
            for k, ps in grouped.items():
                if k in out:
                    continue
                spans: list[tuple[int, int]] = []
                for p in sorted(ps):
                    a, b = max(0, p - _BEFORE), min(n, p + _AFTER)
                    if spans and a <= spans[-1][1]:
                        spans[-1] = (spans[-1][0], b)
                    else:
                        spans.append((a, b))
                out[k] = spans
            return out
        hit = np.flatnonzero(np.isin(words.hashes, self._all_anchors))
        hashes, starts = words.hashes[hit], words.starts[hit]
        for k, arr in enumerate(self._anchor_arrays):
            if k in out or not len(arr):
                continue
            found = starts[np.isin(hashes, arr)]
            if len(found):
                sorted_pos = np.sort(found)
                lo, hi = np.maximum(sorted_pos - _BEFORE, 0), np.minimum(sorted_pos + _AFTER, n)
                breaks = np.flatnonzero(lo[1:] > hi[:-1])
                first = np.concatenate((np.zeros(1, dtype=np.int64), breaks + 1))
                last = np.concatenate((breaks, np.array([len(sorted_pos) - 1], dtype=np.int64)))
                out[k] = list(zip(lo[first].tolist(), hi[last].tolist(), strict=True))
        return out

    def rule_hits(self, text: str, words: WordIndex, strong_only: bool = False) -> list[RuleHit]:
        hits: list[RuleHit] = []
        for i, spans in self._regions(text, words).items():
            rule: Rule = RULES[i]
            if strong_only and rule.is_cue:
                continue
            found = 0
            last = -1
            for a, b in spans:
                for m in rule.pattern.finditer(text, a, b):
                    if m.start() <= last or rule.described(text, m.start()):
                        continue
                    last = m.start()
                    hits.append(RuleHit(i, m.start(), m.end()))
                    found += 1
                    if found >= 16:
                        break
                if found >= 16:
                    break
        return hits

    def _hidden(self, text: str, c: canon.Canonical, feats: list[Features], words: WordIndex) -> list[Finding]:
        """Attacks hidden in base64 runs or ROT13 text."""
        out: list[Finding] = []
        if max((f.longest_word for f in feats), default=0) >= 20:
            for m in _B64.finditer(text):
                token = m.group(0)
                try:
                    raw = base64.b64decode(token + "=" * (-len(token) % 4), validate=False)
                    decoded = raw.decode("utf-8")
                except (binascii.Error, UnicodeDecodeError, ValueError):
                    continue
                if self._strong_in(decoded):
                    out.append(Finding("encoded_payload", m.start(), m.end(), 0.95))
        if words.has(word_hash("rot13")) or words.has(word_hash("rot")):
            if self._strong_in(codecs.encode(c.text, "rot13")):
                out.append(Finding("encoded_payload", 0, len(text), 0.9))
        return out

    def _leet_hits(self, text: str) -> list[RuleHit]:
        """Strong rules on the text with leetspeak undone (same length, so offsets carry over)."""
        if not any(ch in text for ch in "013457@$"):
            return []
        leet = _LEET_TOKEN.sub(lambda m: m.group(0).translate(_LEET), text)
        if leet == text:
            return []
        f = self.hasher.extract(np.frombuffer(leet.encode("utf-32-le"), dtype=np.uint32)[:CHUNK])
        return self.rule_hits(leet, WordIndex(f.words, f.word_starts), strong_only=True)

    def _strong_in(self, text: str) -> bool:
        c = canon.canonicalize(text[:CHUNK])
        f = self.hasher.extract(c.codes)
        return bool(self.rule_hits(c.text, WordIndex(f.words, f.word_starts), strong_only=True))

    # ------------------------------------------------------------------ all layers
    def findings(self, text: str) -> list[Finding]:
        """Every strong rule finding plus the classifier's best window (whatever its score)."""
        c = canon.canonicalize(text)
        n = len(c.text)
        step = CHUNK - (self.model.window if self.model is not None else 0)
        offsets = list(range(0, max(n - (CHUNK - step), 1), step)) if n > CHUNK else [0]
        feats = [self.hasher.extract(c.codes[o:o + CHUNK]) for o in offsets]
        words = WordIndex.of(feats, offsets)
        out: list[Finding] = []
        hits = self.rule_hits(c.text, words) if self.use_rules else []
        best: dict[str, Finding] = {}
        for h in hits:
            rule = RULES[h.rule]
            if rule.is_cue or _quoted(c.text, h.start):
                continue
            s, e = c.span(h.start, h.end)
            prev = best.get(rule.family)
            if prev is None or rule.score > prev.score:
                best[rule.family] = Finding(rule.family, s, e, rule.score)
        if self.use_rules:
            for h in self._leet_hits(c.text):
                rule = RULES[h.rule]
                if rule.family not in best and not _quoted(c.text, h.start):
                    s, e = c.span(h.start, h.end)
                    best[rule.family] = Finding(rule.family, s, e, rule.score)
        out.extend(best.values())
        if self.use_rules:
            out.extend(self._hidden(text, c, feats, words))
        if self.model is not None:
            windows: list[Window] = []
            for o, f in zip(offsets, feats, strict=True):
                length = min(CHUNK, n - o)
                cues = [(h.rule, h.start - o) for h in hits if o <= h.start < o + length]
                windows.extend(self.model.score_windows(f, length, cues, offset=o))
            top = max(windows, key=lambda w: w.score)
            s, e = c.span(top.start, top.end) if n else (0, 0)
            out.append(Finding(MODEL_FAMILY, s, e, top.score))
        return out

    def score(self, text: str) -> float:
        """The highest score of any layer (0 when nothing fires)."""
        return max((f.score for f in self.findings(text)), default=0.0)
