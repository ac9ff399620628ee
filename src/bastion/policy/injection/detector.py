"""The layered detector: canonical text → rules (strong findings, weak cues) → classifier windows.

Also decodes what an attacker may have hidden: base64 runs and ROT13 text are decoded and checked
against the strong rules, and reported as `encoded_payload` when they hide an attack.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
from bisect import bisect_right
from types import ModuleType
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from bastion.policy.injection import canon
from bastion.policy.injection.classifier import LinearModel, Window
from bastion.policy.injection.encodings import encoded_runs
from bastion.policy.injection.features import (
    DT_I64,
    DT_U64,
    GLOSS,
    STOP_WORDS,
    TUPLE_NEW,
    VERT,
    Features,
    Hasher,
    Scored,
    Trigrams,
    as_i64,
    word_hash,
)
from bastion.policy.injection.joined import joined_runs, pieces, spaced
from bastion.policy.injection.leet import (
    _LEET,
    CHUNK,
    _leet_batches,
    _leet_runs,
    _leet_windows,
)
from bastion.policy.injection.prefilter import Prefilter, heads
from bastion.policy.injection.regions import Regions, WordIndex
from bastion.policy.injection.rules import RULES, Rule, digest

_B64 = re.compile(r"[A-Za-z0-9+/]{20,}={0,2}")
_WORD_TAIL = re.compile(r"\w*\Z")
_WORD_HEAD = re.compile(r"\w*")
_LEET_SMALL = 8192  # up to this length the leet pass reads the whole leet text again
_NEAR_MARGIN = 64  # characters a rule's look-arounds may read past a region (\b, (?<!...), (?=...): a few)
# text / region lengths from which the literal prefilter pays (a region's test, in C, costs less than one regex
# search of 50 characters: a sample of the corpus scanned with 0, 20, 50 and 100 here, 50 cost least overall)
_SCAN_FROM, _TEST_FROM = 300, 50
MODEL_FAMILY = "classifier"
VERTICAL = True  # a detector without a model file reads runs of short lines as one line (as the shipped model, round 27)


def _quoted(text: str, start: int) -> bool:
    """A match that opens a quotation is talked about, not addressed to the model: left to the classifier."""
    before = text[max(0, start - 2):start].rstrip()
    return bool(before) and before[-1] in "'\"`«“‘"  # noqa: RUF001


class Finding(NamedTuple):
    """A detection: its family ("ignore_previous", …, or "classifier"), original span and score. Immutable (a
    NamedTuple: every scan builds a few, and a frozen dataclass's `__init__` costs several times more)."""

    family: str
    start: int
    end: int
    score: float


class RuleHit(NamedTuple):
    rule: int  # index into RULES
    start: int  # canonical offsets
    end: int


def _trigrams(feats: list[Features | Scored], offsets: list[int], n: int, step: int) -> Trigrams | None:
    """The 3-gram buckets of the whole text from its chunks' features (None when chunks do not overlap)."""
    if len(feats) == 1:
        buckets = feats[0].buckets  # (a `Scored` holds just these, in its bytearray: no slice needed)
        return buckets if type(buckets) is bytearray or len(buckets) == n - 2 else buckets[:max(n - 2, 0)]
    if CHUNK - step < 2:  # a 3-gram across two chunks would be missing
        return None
    return np.concatenate([as_i64(f.buckets)[:max(min(CHUNK, n - o) - 2, 0)]
                           for f, o in zip(feats, offsets, strict=True)])


FEW_WORDS = 5  # fewer distinct words than this, each said 4+ times on average: the classifier alone
FEW_WORDS_CAP = 0.5  # does not flag the text (its score is capped here)


_WORD = re.compile(r"[^\W_]+")
_NAME_LINE = re.compile(r"[ \t]*[A-Za-z_$][\w$.-]*[ \t]*")
# words that make one-a-line words a sentence, not a list of names (twenty-sixth round, `vertical`)
_FUNCTION_WORDS = frozenset(STOP_WORDS) | frozenset("i me my you your we us our he she they them what how before after "
                                                    "now".split())
PROSE_MIN = 3  # function words (and at least a fifth of the words) that make a names list a sentence


def _names_only(text: str, vertical: bool = False) -> bool:
    """Fewer than three words (`system`, `system prompt`), or a list of names, one a line (the
    property names of a schema, `system_prompt\ninstructions`): no sentence for the classifier to
    weigh (it scores the single word `system` 0.91). Rules still judge such texts, and they catch
    the underscore-joined orders (`ignore_all_previous_instructions`). With `vertical`, words one a line
    that read as a sentence (`PROSE_MIN` function words, a fifth of the words or more) are not a list."""
    if not text.isascii():  # Chinese or Japanese write a whole order without a space
        return False
    words = _WORD.findall(text)
    if len(words) < 3:
        return True
    if not all(_NAME_LINE.fullmatch(line) for line in text.split("\n") if line.strip()):
        return False
    if vertical:
        function = sum(w.lower() in _FUNCTION_WORDS for w in words)
        return function < PROSE_MIN or 5 * function < len(words)
    return True


def _repetitive(text: str) -> bool:
    tokens = text.split()
    distinct = len(set(tokens))
    return distinct < FEW_WORDS and distinct * 4 <= len(tokens)


def _score(window: Window) -> float:
    return window.score


class _Near:
    """Sorted, disjoint spans (the changed runs of a leet pass), widened by `_NEAR_MARGIN` on each side:
    `touches(a, b)` says whether [a, b) meets one. A region of the leet text that meets none holds the
    same characters, and sees the same ones around it, as in the text the main pass searched."""

    __slots__ = ("_ends", "_starts")

    def __init__(self, spans: list[tuple[int, int]]) -> None:
        self._starts = [s - _NEAR_MARGIN for s, _ in spans]
        self._ends = [e + _NEAR_MARGIN for _, e in spans]

    def touches(self, a: int, b: int) -> bool:
        k = bisect_right(self._ends, a)  # the first span ending after a
        return k < len(self._starts) and self._starts[k] < b


class Detector:
    """Build once (loads tables and the model); `findings` is pure and thread-safe."""

    def __init__(self, model: LinearModel | None, *, use_rules: bool = True, use_model: bool = True,
                 native: bool | None = None, vertical: bool | None = None) -> None:
        """`native`: use the C accelerator (default: when it is built; findings are the same). `vertical`: runs of
        short lines read as one line (`canon.short_lines`; default: as the model file says, `features.VERT`, and
        `VERTICAL` without a model)."""
        canon.warm()
        if model is not None and use_model and model.rules_digest and model.rules_digest != digest():
            raise ValueError("the injection model was trained with another rule set: retrain it "
                             "(python data/injection/train.py)")
        self.model = model if use_model else None
        self.use_rules = use_rules
        self._native = native  # for canon.canonicalize (None: when built)
        self.vertical = (bool(model.kinds & VERT) if model is not None else VERTICAL) if vertical is None else vertical
        self.hasher = Hasher(bits=model.bits if model is not None else 18, max_len=CHUNK,
                             kinds=model.kinds if model is not None and use_model else 0, native=native)
        self.regions = Regions(RULES, self.hasher.native)
        self._strong = bytes(not r.is_cue for r in RULES)  # 1 per strong rule
        self._strong_bits = int.from_bytes(self._strong, "big")
        self._rot = (word_hash("rot13"), word_hash("rot"))
        self._prefilter = Prefilter([r.pattern for r in RULES], self.hasher)
        # per rule, the literals every match starts with when it is led by `\b` (`_no_match`; with the C module only)
        self._heads = [heads(r.pattern) if self.hasher.native is not None else None for r in RULES]
        # what `LinearModel.extract_scored` passes on when it always applies (no cap, no small windows)
        self._scored_args = None if self.model is None or self.model.cap or self.model.small_window else (
            self.model.scored_args())
        # `_findings_ascii`'s C calls and their arguments after the text (None: that path does not apply: it needs
        # the C accelerator at every step it fuses, the rules and a model the C pass scores without the gloss)
        tab = canon._table()
        nat = self.hasher.native
        self._fused: tuple[ModuleType, tuple[object, ...], tuple[object, ...], object, object,
                           tuple[int, float, float]] | None = None
        if (nat is not None and canon.native_for(native) is nat and tab.ascii_native is not None and use_rules
                and self._scored_args is not None and not self.hasher.kinds & GLOSS
                and self._prefilter.native_tables is not None and self._prefilter.possible_tables is not None):
            # the C pass's arguments up to its bias (`features_windows(codes, *these, bias)`), the prefilter's
            # tables (of `prefilter` and `possible_regions`); the bias is the text's (`LinearModel.bias_at`: a model
            # with `short_bias` scores a one-window text with it): (window, bias up to it, bias past it)
            m = self.model
            assert m is not None  # (`_scored_args`)
            self._fused = (nat, canon.ascii_args(tab, tab.ascii_native), (self.hasher.bits, *self.hasher.base_tables(),
                                                        *self._scored_args[:4]), self._prefilter.native_tables,
                           self._prefilter.possible_tables, (m.window, m.bias_at(m.window), m.bias_at(m.window + 1)))

    # ------------------------------------------------------------------ rules
    def rule_hits(self, text: str, words: WordIndex, strong_only: bool = False,
                  trigrams: Trigrams | None = None, lo: int = 0, hi: int | None = None,
                  near: _Near | None = None) -> list[RuleHit]:
        """Rule matches in a canonical text. `trigrams`, when given, must be the buckets of every character
        3-gram of `text` (from `Hasher.extract`): they let most rules be skipped without a search.
        With `lo`/`hi`, only matches within text[lo:hi] (searched in the whole text, so look-arounds see past
        the span): `words` and `trigrams` are then those of the span (or of more). With `near`, only the
        regions that touch one of its spans."""
        n = len(text) if hi is None else hi - lo
        # a short text's regions are small: only clauses of a few strings are worth testing (in regions long
        # enough for the test to pay), and without the C accelerator a search costs less than the 3-gram lookup
        # (in C the lookup costs a few µs at any length: a short text's buckets index the rule strings)
        short = trigrams is None or n < _SCAN_FROM
        if trigrams is not None and short and not self._prefilter.indexed:
            trigrams = None
        rule_ok, maybe = self._prefilter.scan(trigrams)
        if strong_only:  # (one AND for all rules)
            rule_ok = self._strong if trigrams is None else (
                int.from_bytes(rule_ok, "big") & self._strong_bits).to_bytes(len(rule_ok), "big")
        if 1 not in rule_ok:
            return []
        regions = self.regions.find(text, words, rule_ok, lo, hi)
        if near is not None:
            regions = {i: kept for i, spans in regions.items() if (kept := [s for s in spans if near.touches(*s)])}
        # the regions where every clause has a string (those of `_TEST_FROM` or more characters tested): in the
        # others no match can lie (one call for all rules)
        return self._search(text, self._prefilter.possible_regions(regions, maybe, text, short, _TEST_FROM))

    def _search(self, text: str, regions: dict[int, list[tuple[int, int]]]) -> list[RuleHit]:
        """The matches of each rule of `regions` in its spans (in the order of `regions`; 16 per rule at most)."""
        hits: list[RuleHit] = []
        for i, spans in regions.items():
            rule: Rule = RULES[i]
            lead = self._heads[i]
            found = 0
            last = -1
            for a, b in spans:
                # most regions hold no match (a test cheaper than starting finditer)
                if rule.pattern.search(text, a, b) is None if lead is None else self._no_match(rule, lead, text, a, b):
                    continue
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

    def _no_match(self, rule: Rule, lead: tuple[str, ...], text: str, a: int, b: int) -> bool:
        """`rule.pattern.search(text, a, b) is None` for a rule led by `\b` whose every match starts with one of the
        literals `lead` (`prefilter.heads`): a match is tried only where one of them starts, in text order, so the
        first match found is the search's. (sre finds no prefix to skip ahead with after a `\b`: it tries a match
        at each position, ~230 instructions each.)"""
        nat = self.hasher.native
        pattern = rule.pattern
        while True:
            at = nat.next_literal(text, lead, a, b)  # type: ignore[union-attr]  # (`_heads`: set with the C module)
            if at < 0:
                return at == -1 or pattern.search(text, a, b) is None  # (-2: not one byte a character)
            if pattern.match(text, at, b) is not None:
                return False
            a = at + 1

    def _hidden(self, text: str, c: canon.Canonical, feats: list[Features | Scored], words: WordIndex) -> list[Finding]:
        """Attacks hidden in base64, hex, binary or Morse runs, or ROT13 text."""
        out: list[Finding] = []
        if (feats[0].longest_word if len(feats) == 1 else max(f.longest_word for f in feats)) >= 20:
            for m in _B64.finditer(text):
                token = m.group(0)
                try:
                    raw = base64.b64decode(token + "=" * (-len(token) % 4), validate=False)
                    decoded = raw.decode("utf-8")
                except (binascii.Error, UnicodeDecodeError, ValueError):
                    continue
                if self._strong_in(decoded):
                    out.append(Finding("encoded_payload", m.start(), m.end(), 0.95))
        for start, end, decoded in encoded_runs(text, c.gates):  # hex, binary, Morse
            if self._strong_in(decoded):
                out.append(Finding("encoded_payload", start, end, 0.95))
        rot = c.rot  # (whether "rot" occurs, when the C pass saw it: `in` reads the whole text)
        if ("rot" in c.text if rot is None else rot) and words.has_any(self._rot):  # the word "rot13" or "rot"
            if self._strong_in(codecs.encode(c.text, "rot13")):
                out.append(Finding("encoded_payload", 0, len(text), 0.9))
        return out

    def _leet_hits(self, text: str, words: WordIndex, trigrams: Trigrams | None) -> list[RuleHit]:
        """Strong rules on the text with leetspeak undone (same length, so offsets carry over), searched only
        near the words that change: a match away from them is a match of the text itself, which the main pass
        searched. `words` and `trigrams` are the main pass's (of `text`, or None).

        Few changed words: each window of `LEET_REACH` around them is searched on its own, with the words
        and 3-grams of the window. Many (the windows cover half the text or more), or windows that found
        several rules (whose order decides which hit of a family is reported): the whole leet text is
        searched, with the text's words and 3-grams patched where words changed.
        """
        runs = _leet_runs(text)
        if not runs:
            return []
        pieces: list[str] = []
        prev = 0
        for s, e in runs:
            pieces += (text[prev:s], text[s:e].translate(_LEET))
            prev = e
        pieces.append(text[prev:])
        leet = "".join(pieces)
        n = len(leet)
        near = _Near(runs)  # a match of the leet text that the text itself does not have meets a changed run
        windows = _leet_windows(runs, n)
        if 2 * sum(b - a for a, b in windows) < n and all(b - a <= CHUNK - 256 for a, b in windows):
            hits: list[RuleHit] = []
            for a, b in windows:  # widened to whole words (up to 64 characters) so no word is cut
                a = _WORD_TAIL.search(leet, max(0, a - 64), a).start()  # type: ignore[union-attr]
                b = _WORD_HEAD.match(leet, b, min(n, b + 64)).end()  # type: ignore[union-attr]
                f = self.hasher.extract(np.frombuffer(leet[a:b].encode("utf-32-le"), dtype=np.uint32))
                hits += self.rule_hits(leet, WordIndex(f.words, f.word_starts + a), strong_only=True,
                                       trigrams=f.buckets[:max(b - a - 2, 0)], lo=a, hi=b, near=near)
            if len({h.rule for h in hits}) <= 1:  # one rule: its hits in text order, as the whole pass gives them
                return hits
            # several rules (a leet attack): the whole pass below orders them as usual (first hit of a family wins)
        if n <= _LEET_SMALL:  # a short text: reading it again costs less than patching
            f = self.hasher.extract(np.frombuffer(leet.encode("utf-32-le"), dtype=np.uint32))
            return self.rule_hits(leet, WordIndex(f.words, f.word_starts), strong_only=True,
                                  trigrams=f.buckets[:max(n - 2, 0)], near=near)
        # words: those of `text` outside the changed runs (a run is bounded by non-word characters, so the
        # others are the same), plus the words of each run in the leet text; 3-grams: the text's and those
        # touching a changed run (a superset only lets the prefilter through more: the regex decides)
        bounds = np.array(runs, dtype=np.int64)
        at = np.searchsorted(bounds[:, 0], words.starts, side="right") - 1
        keep = (at < 0) | (words.starts >= bounds[np.maximum(at, 0), 1])
        new_words, new_starts, new_tri = [words.hashes[keep]], [words.starts[keep]], []
        for batch in _leet_batches(runs, n):  # the runs with 2 characters of context, "\0"-separated
            piece_at = np.array([a for a, _, _ in batch], dtype=np.int64)  # where each piece is in the leet text
            joined = "\0".join(leet[a:b] for a, b, _ in batch)
            f = self.hasher.extract(np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32))
            new_tri.append(f.buckets[:max(len(joined) - 2, 0)])
            at_piece = np.cumsum([0] + [b - a + 1 for a, b, _ in batch[:-1]], dtype=np.int64)
            k = np.searchsorted(at_piece, f.word_starts, side="right") - 1
            pos = f.word_starts - at_piece[k] + piece_at[k]
            run_s = np.array([r[0] for _, _, r in batch], dtype=np.int64)[k]
            run_e = np.array([r[1] for _, _, r in batch], dtype=np.int64)[k]
            mine = (pos >= run_s) & (pos < run_e)  # not the bits of words around the run
            new_words.append(f.words[mine])
            new_starts.append(pos[mine])
        starts = np.concatenate(new_starts)
        order = np.argsort(starts, kind="stable")
        patched = WordIndex(np.concatenate(new_words)[order], starts[order])
        tri = None if trigrams is None else np.concatenate([as_i64(trigrams), *new_tri])
        return self.rule_hits(leet, patched, strong_only=True, trigrams=tri, near=near)

    def _joined_hits(self, text: str) -> list[RuleHit]:
        """Strong rules on the text with underscore-joined words spaced ("ignore_all_previous_instructions"),
        searched only around those runs (same length: offsets carry over)."""
        runs = joined_runs(text)
        if not runs:
            return []
        plain = spaced(text, runs)
        hits: list[RuleHit] = []
        for a, b in pieces(_leet_windows(runs, len(plain))):
            f = self.hasher.extract(np.frombuffer(plain[a:b].encode("utf-32-le"), dtype=np.uint32))
            hits += self.rule_hits(plain, WordIndex(f.words, f.word_starts + a), strong_only=True,
                                   trigrams=f.buckets[:max(b - a - 2, 0)], lo=a, hi=b)
        return hits

    def _strong_in(self, text: str) -> bool:
        c = canon.canonicalize(text[:CHUNK], self._native, self.vertical)
        f = self.hasher.extract(c.codes)
        tri = f.buckets[:max(len(c.text) - 2, 0)]
        return bool(self.rule_hits(c.text, WordIndex(f.words, f.word_starts), strong_only=True, trigrams=tri))

    def _extract(self, codes: npt.NDArray[np.uint32]) -> Features | Scored:
        """A chunk's features, with its window logits summed in the same C pass when the model can have them."""
        if self._scored_args is not None:  # `LinearModel.extract_scored` without its call and tests
            scored = self.hasher.extract_scored(codes, *self._scored_args)
        else:
            scored = self.model.extract_scored(self.hasher, codes) if self.model is not None else None
        return self.hasher.extract(codes) if scored is None else scored

    # ------------------------------------------------------------------ all layers
    def findings(self, text: str, floor: float | None = None) -> list[Finding]:
        """Every strong rule finding plus the classifier's best window (whatever its score). `floor`
        (`classifier.logit_floor(threshold)`): the classifier's finding may be left out when its score is below
        that threshold for certain (the scanner drops it then)."""
        # (`_findings_ascii` declines a text of fewer than 8 or more than `CHUNK` characters after its canonical pass,
        # which maps one character to one: not tried then, a long text's pass would be made twice)
        if self._fused is not None and 8 <= len(text) <= CHUNK and text.isascii():
            fused = self._findings_ascii(text, floor)
            if isinstance(fused, list):
                return fused
            c = fused  # (the canonical form, as `canon.canonicalize` gives it, from the fused path's pass)
        else:
            c = canon.canonicalize(text, self._native, self.vertical)
        n = len(c.text)
        step = CHUNK - (self.model.window if self.model is not None else 0)
        offsets = list(range(0, max(n - (CHUNK - step), 1), step)) if n > CHUNK else [0]
        if n > CHUNK:
            feats = [self._extract(c.codes[o:o + CHUNK]) for o in offsets]
            words = WordIndex.of(feats, offsets)
            trigrams = _trigrams(feats, offsets, n, step)
        else:  # one chunk (most texts): no slice, no list comprehension, `_trigrams` and `WordIndex.of` inlined
            f0 = self._extract(c.codes)
            feats = [f0]
            words = TUPLE_NEW(WordIndex, (f0.words, f0.word_starts))
            buckets = f0.buckets  # (a `Scored`'s bytearray holds just these: passed on to the prefilter's C as it is)
            trigrams = buckets if type(buckets) is bytearray or len(buckets) == n - 2 else buckets[:max(n - 2, 0)]
        hits = self.rule_hits(c.text, words, trigrams=trigrams) if self.use_rules else []
        return self._layers(text, c, feats, offsets, words, trigrams, hits)

    def _findings_ascii(self, text: str, floor: float | None = None) -> list[Finding] | canon.Canonical:
        """`findings` of an ASCII text (`_fused` set) in a few C calls, without the records and arrays of the
        general path: the canonical pass, the features with the window logits, the 3-gram prefilter, the regions
        and their string test (`canon.ascii_parts`, `Hasher.extract_scored`, `rule_hits`). The common case (no rule
        match, nothing leetspeak, joined or encoded to look at) ends here; any other hands what it has to
        `_layers`, as `findings` would; where the general path must run from the start (a text the ASCII canonical
        pass declines, of fewer than 8 or more than `CHUNK` characters, or with short lines to join), the canonical
        form it starts from (`canon.canonicalize`'s, without its pass made again).
        With `floor`, no finding when every window's logit is below it (`findings`)."""
        assert self._fused is not None
        nat, canon_args, hash_args, pre_tables, possible_tables, (window, short_bias, long_bias) = self._fused
        got = nat.ascii_canon(text, *canon_args)  # (`canon.ascii_parts` inlined)
        if got is None:
            return canon.declined(text, self._native, self.vertical)
        out, codes, spaced_hint, run_hint, gates, leet, rot = got
        if (spaced_hint or run_hint) and canon.ascii_declines(out, spaced_hint, run_hint):
            return canon.declined(text, self._native, self.vertical)
        n = len(out)
        if n < 8 or n > CHUNK or (self.vertical and "\n" in out and canon.short_runs(out)):
            c = canon.ascii_canonical(text, out, codes, gates, leet, rot)  # (`canonicalize`'s ASCII path)
            return canon.short_lines(c) if self.vertical and "\n" in out else c
        # with `rule_hits(out, words, trigrams=t)`'s prefilter flags (`nat.prefilter(pre_tables, t)`: the C prefilter
        # reads any text's 3-grams, `indexed`) from the same call
        t, w, ws, longest, logits, rule_ok, maybe = nat.features_windows(
            codes, *hash_args, short_bias if n <= window else long_bias, pre_tables)  # (`model.bias_at(n)`)
        regions = None
        if 1 in rule_ok:  # (`possible_regions` of `find_ascii`'s regions in one call when no rule is searched whole)
            regions = self.regions.possible_ascii(out, w, ws, rule_ok, possible_tables, maybe, n < _SCAN_FROM, _TEST_FROM)
            if regions is None:
                regions = nat.possible_regions(possible_tables, self.regions.find_ascii(out, w, ws, rule_ok), maybe, out,
                                               n < _SCAN_FROM, _TEST_FROM)
        hits = self._search(out, regions) if regions else []
        morse, zero, _digits, hex_run, b85_run = gates
        if (hits or leet or rot or longest >= 20 or "_" in out or morse >= 7 or zero or hex_run or b85_run
                or "<" in text):  # (`_layers` then, with the records it reads: `_hidden` finds nothing without)
            c = canon.ascii_canonical(text, out, codes, gates, leet, rot)
            scored = TUPLE_NEW(Scored, (t, np.frombuffer(w, DT_U64), np.frombuffer(ws, DT_I64), longest, logits))
            words = TUPLE_NEW(WordIndex, (scored.words, scored.word_starts))
            return self._layers(text, c, [scored], [0], words, t, hits)
        model = self.model
        assert model is not None  # (`_scored_args`)
        if floor is not None and model.all_below(logits, floor):  # (no cue: the scores are these logits')
            return []
        few = model.best_few(logits, n)  # (`best_scored(logits, n, [])` without its record, for most texts)
        s, e, score = few if few is not None else model.best_scored(logits, n, [])
        if s >= e:
            s = e = 0
        if score > FEW_WORDS_CAP:
            return [self._model_finding(text, out, s, e, score)]
        return [TUPLE_NEW(Finding, (MODEL_FAMILY, s, e, score))]  # (`_model_finding` leaves such a score)

    def _layers(self, text: str, c: canon.Canonical, feats: list[Features | Scored], offsets: list[int],
                words: WordIndex, trigrams: Trigrams | None, hits: list[RuleHit]) -> list[Finding]:
        """`findings` after the main rule pass (`hits` in `c.text`, whose chunks at `offsets` have `feats`)."""
        n = len(c.text)
        out: list[Finding] = []
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
            # (no call when the canonical pass found no leetspeak run, or the text has no underscore to join)
            extra = self._leet_hits(c.text, words, trigrams) if c.leet else []
            if "_" in c.text:
                extra += self._joined_hits(c.text)
            for h in extra:
                rule = RULES[h.rule]
                if rule.family not in best and not _quoted(c.text, h.start):
                    s, e = c.span(h.start, h.end)
                    best[rule.family] = Finding(rule.family, s, e, rule.score)
        out.extend(best.values())
        if self.use_rules:
            out.extend(self._hidden(text, c, feats, words))
        if self.model is not None:
            if n <= CHUNK and not isinstance(feats[0], Features):  # one chunk read by the C pass (most texts):
                # the loop below with o = 0 and length = n (every hit of the text is a cue of its one chunk)
                top = self.model.best_scored(feats[0].logits, n, [(h.rule, h.start) for h in hits] if hits else [])
            else:
                bests: list[Window] = []  # per chunk, its first window of the highest score
                for o, f in zip(offsets, feats, strict=True):
                    length = min(CHUNK, n - o)
                    cues = [(h.rule, h.start - o) for h in hits if o <= h.start < o + length] if hits else []
                    bests.append(max(self.model.score_windows(f, length, cues, offset=o, native=self.hasher.native),
                                     key=_score) if isinstance(f, Features)
                                 else self.model.best_scored(f.logits, length, cues, offset=o))
                top = bests[0] if len(bests) == 1 else max(bests, key=_score)  # the first window of the highest score
            if c.plain:  # `c.span` of a window (within [0, n]) where offsets are the identity, without its call
                s, e = (top.start, top.end) if top.start < top.end else (0, 0)
            else:
                s, e = c.span(top.start, top.end) if n else (0, 0)
            out.append(self._model_finding(text, c.text, s, e, top.score))
        return out

    def _model_finding(self, text: str, canonical: str, s: int, e: int, score: float) -> Finding:
        """The classifier's finding of its best window (original span [s, e), `score`) in `text`."""
        if score > FEW_WORDS_CAP and (_repetitive(canonical) or _names_only(text, self.vertical)):
            # A few distinct words, each repeated (one word twenty times), give the classifier
            # nothing to weigh: its score there is an artefact, not evidence. Rules still judge
            # such texts. (No held-out text changed verdict: docs/injection.md.)
            score = FEW_WORDS_CAP
        return TUPLE_NEW(Finding, (MODEL_FAMILY, s, e, score))

    def score(self, text: str) -> float:
        """The highest score of any layer (0 when nothing fires)."""
        return max((f.score for f in self.findings(text)), default=0.0)
