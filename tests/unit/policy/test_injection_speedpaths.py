"""The injection detector's fast paths equal the slow paths they replace, on random and adversarial input.

Each fast path (literal prefilter, leetspeak pre-check, one-pass feature extractor, few-window scorer,
bytes ASCII canonicaliser) is compared with the computation it shortcuts; the whole detector is compared
with a reference detector in test_injection_speedpaths_detector.py.
"""

from __future__ import annotations

import bisect
import dataclasses
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bastion.policy.injection import canon
from bastion.policy.injection.classifier import LinearModel
from bastion.policy.injection.features import Features, Hasher
from bastion.policy.injection.leet import _LEET, _LEET_TOKEN, _leet_runs
from bastion.policy.injection.prefilter import requirement
from bastion.policy.injection.rules import RULES

CORPUS = Path(__file__).resolve().parents[3] / "data" / "injection" / "corpus"
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FEW = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def _corpus_texts(limit: int = 2500) -> list[str]:
    texts: list[str] = []
    for path in sorted(CORPUS.glob("*.jsonl")) if CORPUS.is_dir() else []:
        texts.extend(json.loads(line)["text"] for line in path.read_text(encoding="utf-8").split("\n") if line)
    return texts[::max(1, len(texts) // limit)][:limit]  # spread over every group (files come in name order)


def _satisfied(clauses: tuple[frozenset[str], ...], matched: str) -> bool:
    return all(any(s in matched for s in clause) for clause in clauses)


# ------------------------------------------------------------------ literal requirements of a regex
PARTS = 4  # the rules are read in four parts (every fourth rule), so that both xdist workers share the corpus scan


@pytest.fixture(scope="module")
def canonical_corpus() -> list[str]:
    return [canon.canonicalize(t).text for t in _corpus_texts()]


@pytest.mark.parametrize("part", range(PARTS))
def test_rule_requirements_hold_for_every_corpus_match(part: int, canonical_corpus: list[str]) -> None:
    texts = canonical_corpus
    if not texts:
        pytest.skip("data/injection/corpus is not present")
    matches = 0
    for rule in RULES[part::PARTS]:
        need = requirement(rule.pattern)
        for text in texts:
            for m in rule.pattern.finditer(text):
                assert _satisfied(need, m.group(0)), (rule.pattern.pattern[:60], m.group(0))
                matches += 1
    assert matches > 500 // PARTS  # each part over 125: together over 500, as when the rules were one test


PATTERNS = [r"abc", r"a(?:bc|de)f", r"(?:ignore|skip)\W{0,3}(?:all|any)?\s*rules?", r"x?y?z?", r"(?:ab)+c{2,3}",
            r"[sz]ummari[sz]e", r"(?:foo|bar|)baz", r"(?:a|b)(?:c|d)(?:e|f)(?:g|h)(?:i|j)(?:k|l)(?:m|n)",
            r"\bnote\b\W{0,3}(?:to|for) (?:the )?ai", r"q(?=u)u+x", r"(?:do not|don'?t) follow",
            r"(?:[^\W\d_][ .]){2,}[^\W\d_]", r"(a|b)\1c", r"(?i:hello) world", r"(?:openai'?s?|anthropic) polic(?:y|ies)"]


@pytest.mark.parametrize("pattern", PATTERNS)
@FEW
@given(data=st.data())
def test_requirements_hold_for_generated_matches(pattern: str, data: st.DataObject) -> None:
    compiled = re.compile(pattern)
    need = requirement(compiled)
    text = data.draw(st.from_regex(compiled, fullmatch=True))
    for m in compiled.finditer(text):
        assert _satisfied(need, m.group(0)), (pattern, m.group(0), need)


def test_requirements_are_conservative_for_what_they_cannot_read() -> None:
    assert requirement(re.compile("abc", re.IGNORECASE)) == ()
    assert requirement(re.compile(r"(?i:abc)")) == ()
    assert requirement(re.compile(r".*")) == ()
    assert requirement(re.compile(r"(a)\1")) == (frozenset({"a"}),)
    assert requirement(re.compile(r"(?:ignore|ignores|ignoring) x")) == (frozenset({"ignore x", "ignores x",
                                                                                    "ignoring x"}),)


# ------------------------------------------------------------------ leetspeak: the changed runs
LEET_ALPHABET = "ab1 0$@-_2é٣x8\n7Z"


def _changed_spans(text: str) -> list[tuple[int, int]]:
    """The spans the substitution (`_LEET_TOKEN.sub`) changes."""
    return [m.span() for m in _LEET_TOKEN.finditer(text) if m.group(0).translate(_LEET) != m.group(0)]


@SETTINGS
@given(st.text(alphabet=LEET_ALPHABET, max_size=40) | st.text(max_size=20))
def test_leet_runs_are_what_the_substitution_changes(text: str) -> None:
    assert _leet_runs(text) == _changed_spans(text)


def test_leet_runs_on_long_runs() -> None:
    for text in ("a" * 70_000 + "1", "1" * 70_000 + "a", "1" * 70_000, "9" * 70_000 + "1", "1" + "9" * 70_000,
                 "$" * 5 + "s", "1 " * 32 + "a", "1 " * 32 + "a1", "x 1" * 30_000, "1 " * 40 + "b3",
                 "a1" * 35_000, "2_6a_9_1" * 1000):
        assert _leet_runs(text) == _changed_spans(text)


# ------------------------------------------------------------------ features
@pytest.fixture(scope="module")
def hasher() -> Hasher:
    return Hasher(bits=18, max_len=1 << 16)


def _codes(text: str) -> np.ndarray:  # type: ignore[type-arg]
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)


def _same_features(hasher: Hasher, codes: np.ndarray) -> None:  # type: ignore[type-arg]
    fast, slow = hasher.extract(codes), hasher.extract_stepwise(codes)
    for field in ("buckets", "positions", "words", "word_starts"):
        a, b = getattr(fast, field), getattr(slow, field)
        assert a.dtype == b.dtype and a.tolist() == b.tolist(), field
    assert fast.longest_word == slow.longest_word


@SETTINGS
@given(st.text(alphabet=st.sampled_from(["a", "B", " ", "1", "é", "中", "\U0001f600", "_", "-", "\n", "\U000e0041"]),
               max_size=60) | st.text(max_size=60))
def test_one_pass_extractor_equals_stepwise(hasher: Hasher, text: str) -> None:
    _same_features(hasher, _codes(text))


def test_one_pass_extractor_at_the_limits(hasher: Hasher) -> None:
    rng = np.random.default_rng(7)
    _same_features(hasher, rng.integers(0, 0x110000, size=1 << 16).astype(np.uint32))
    _same_features(hasher, rng.integers(97, 100, size=(1 << 16) - 1).astype(np.uint32))
    for n in (7, 8, 4096, 4097):  # around the extractor's size thresholds
        _same_features(hasher, rng.choice(np.array([32, 97, 98, 0x4E2D, 0x1F600], dtype=np.uint32), size=n))
    _same_features(hasher, np.array([0x110000, 0xFFFFFFFF, 97, 98, 99, 100, 101, 102, 103], dtype=np.uint32))
    _same_features(hasher, np.zeros(0, dtype=np.uint32))
    with pytest.raises(ValueError):
        hasher.extract(np.zeros((1 << 16) + 1, dtype=np.uint32))


# ------------------------------------------------------------------ classifier windows
def reference_windows(model: LinearModel, feats: Features, n: int, cues: list[tuple[int, int]],
                      offset: int = 0) -> list[tuple[int, int, float]]:
    """The window scores as computed before the fast paths: every window vectorised, float32 weights.

    A model with a `cap` counts a bucket at most `cap` times per window (the model file's definition): in each
    large window, its features taken in position order (ties: feature order), a bucket's first `cap` add their
    weights, summed one by one in float64, over sqrt(how many were added, at least 1). Such a model scores the
    large windows only (no small window). A model with a `short_bias` scores a text of one window (n <= window)
    with it instead of `bias`. Written here as a plain loop, independent of the scanner's code."""
    assert not model.dead_runs  # (not modelled here: no shipped model has used it)
    bias = model.short_bias if model.short_bias is not None and n <= model.window else model.bias
    if n == 0:
        return [(offset, offset, 1.0 / (1.0 + math.exp(-bias)))]
    starts = model.window_starts(n)
    ends = np.minimum(starts + model.window, n)
    if model.cap:
        logits = np.array([bias + total / math.sqrt(max(count, 1))
                           for total, count in _capped_sums(model, feats, n, starts.tolist(), ends.tolist())])
    else:
        assert not model.small_window  # (not modelled here)
        w = model.weights[feats.buckets]
        contrib = np.zeros(n + 1, dtype=np.float64)
        contrib[1:] = np.cumsum(np.bincount(feats.positions, weights=w, minlength=n)[:n])
        counts = np.zeros(n + 1, dtype=np.float64)
        counts[1:] = np.cumsum(np.bincount(feats.positions, minlength=n)[:n])
        logits = bias + (contrib[ends] - contrib[starts]) / np.sqrt(np.maximum(counts[ends] - counts[starts], 1.0))
    seen: set[tuple[int, int]] = set()
    for rule, pos in cues:
        for k in np.flatnonzero((starts <= pos) & (pos < ends)).tolist():
            if (k, rule) not in seen:
                seen.add((k, rule))
                logits[k] += float(model.cue_weights[rule])
    probs = 1.0 / (1.0 + np.exp(-logits))
    return [(int(s) + offset, int(e) + offset, float(p))
            for s, e, p in zip(starts.tolist(), ends.tolist(), probs.tolist(), strict=True)]


def _capped_sums(model: LinearModel, feats: Features, n: int, starts: list[int],
                 ends: list[int]) -> list[tuple[float, int]]:
    """Per window [a, e): the sum of the weights the capped count keeps, and how many it keeps."""
    positions, buckets = feats.positions.tolist(), feats.buckets.tolist()
    order = sorted((p, i) for i, p in enumerate(positions) if 0 <= p < n)  # position order, ties: feature order
    at = [p for p, _ in order]
    out = []
    for a, e in zip(starts, ends, strict=True):
        seen: dict[int, int] = {}
        total, count = 0.0, 0
        for _, i in order[bisect.bisect_left(at, a):bisect.bisect_left(at, e)]:  # the features in [a, e)
            b = buckets[i]
            seen[b] = seen.get(b, 0) + 1
            if seen[b] <= model.cap:
                total += float(model.weights[b])
                count += 1
        out.append((total, count))
    return out


@pytest.fixture(scope="module", params=["shipped", "other cap", "other short bias"])
def model(request: pytest.FixtureRequest) -> LinearModel:
    """The shipped model, and its weights with the other kind of count (cap 3 if it has none, else none) and
    with the other kind of bias (a one-window `short_bias` if it has none, else none), so that both the capped
    and the uncapped scorers, with one bias or two, are compared with the reference whichever ships."""
    shipped = LinearModel.load()
    if request.param == "other short bias":
        return dataclasses.replace(shipped, short_bias=None if shipped.short_bias is not None else shipped.bias + 0.4)
    return shipped if request.param == "shipped" else dataclasses.replace(shipped, cap=0 if shipped.cap else 3)


@SETTINGS
@given(st.lists(st.sampled_from(["ignore ", "all ", "previous ", "the ", "a", " ", "x", "\n"]), max_size=600).map("".join),
       st.lists(st.tuples(st.integers(0, 40), st.integers(0, 5000)), max_size=5), st.integers(0, 3))
def test_few_window_scorer_equals_vectorised(hasher: Hasher, model: LinearModel, text: str,
                                             cues: list[tuple[int, int]], offset: int) -> None:
    codes = _codes(text)
    feats = hasher.extract(codes)
    n = len(codes)
    fast = model.score_windows(feats, n, cues, offset)
    assert [(w.start, w.end, w.score) for w in fast] == reference_windows(model, feats, n, cues, offset)


# ------------------------------------------------------------------ ASCII canonical form
def _general(text: str) -> canon.Canonical:
    tab = canon._table()
    saved = tab.ascii
    try:
        tab.ascii = None
        return canon.canonicalize(text)
    finally:
        tab.ascii = saved


@SETTINGS
@given(st.text(alphabet="aB c.-_*|/\\+\n\t\x00\x7f\r1 zZ\x0b\x1c\x1f", max_size=30) | st.text(
    alphabet=st.characters(max_codepoint=127), max_size=40))
def test_bytes_ascii_path_equals_general_path(text: str) -> None:
    fast, slow = canon.canonicalize(text), _general(text)
    assert fast.text == slow.text
    assert fast.codes.tolist() == slow.codes.tolist()
    assert fast.origin.tolist() == slow.origin.tolist()
    assert fast.source_length == slow.source_length


@SETTINGS
@given(st.text(alphabet="a .*_|/\\+-b\n1é", max_size=30) | st.text(alphabet=st.characters(max_codepoint=127), max_size=30))
def test_spaced_hint_by_bytes_equals_regex(text: str) -> None:
    assert canon._hinted(text, canon._table()) == (canon._SPACED_HINT.search(text) is not None)
