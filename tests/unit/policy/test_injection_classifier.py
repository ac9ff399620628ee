"""The injection classifier's second, small window: file format, backward compatibility, scores.

A long benign document dilutes a short order inside it in the 1 kB windows; the small windows (scored
with the same weights) see the order on its own. These tests use a hand-made model, so they pin the
arithmetic, not the trained weights.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

from bastion.policy.injection import canon
from bastion.policy.injection.classifier import LinearModel, Window
from bastion.policy.injection.features import Hasher

BITS = 12
ORDER = "xyzzy plugh frobozz"


@pytest.fixture(scope="module")
def hasher() -> Hasher:
    return Hasher(bits=BITS, max_len=1 << 14)


def _model(hasher: Hasher, small: tuple[int, int]) -> LinearModel:
    """Every feature weighs -0.2, except the features of ORDER (+3)."""
    weights = np.full(1 << BITS, -0.2, dtype=np.float32)
    order = hasher.extract(canon.canonicalize(ORDER).codes)
    weights[order.buckets] = 3.0
    return LinearModel(weights, np.zeros(4, np.float32), 0.0, BITS, 1024, 512, "test", "",
                       small_window=small[0], small_stride=small[1])


def _filler(n: int) -> str:
    words = ["the", "report", "covers", "quarterly", "sales", "and", "regional", "growth", "figures", "for", "our"]
    out, i = [], 0
    while sum(len(w) + 1 for w in out) < n:
        out.append(words[i % len(words)] + str(i % 7))
        i += 1
    return " ".join(out)


def _best(model: LinearModel, hasher: Hasher, text: str) -> Window:
    c = canon.canonicalize(text)
    feats = hasher.extract(c.codes)
    return max(model.score_windows(feats, len(c.text), []), key=lambda w: w.score)


def test_small_window_finds_an_order_buried_in_a_long_document(hasher: Hasher) -> None:
    text = _filler(600) + " " + ORDER + " " + _filler(600)
    large = _best(_model(hasher, (0, 0)), hasher, text)
    both = _best(_model(hasher, (256, 128)), hasher, text)
    assert large.score < 0.5 <= both.score
    assert both.end - both.start == 256
    assert both.start <= text.index(ORDER) and text.index(ORDER) + len(ORDER) <= both.end


def test_small_window_is_the_best_of_all_small_windows(hasher: Hasher) -> None:
    """The scanner keeps only the best small window: it equals the best of every small window computed
    one by one (sum of weights over the window's features / sqrt(their count), plus each cue once)."""
    model = dataclasses.replace(_model(hasher, (256, 128)), cue_weights=np.array([0.0, 1.5, 0.0, 0.0], np.float32))
    text = _filler(300) + " " + ORDER + " " + _filler(900)
    c = canon.canonicalize(text)
    feats = hasher.extract(c.codes)
    n = len(c.text)
    cues = [(1, 1000), (1, 1010)]
    got = model.score_windows(feats, n, cues)[-1]
    best = -math.inf
    for s in model.window_starts(n, 256, 128).tolist():
        e = min(s + 256, n)
        inside = (feats.positions >= s) & (feats.positions < e)
        logit = float(model.weights[feats.buckets[inside]].astype(np.float64).sum()) / math.sqrt(max(int(inside.sum()), 1))
        logit += 1.5 if any(s <= p < e for _, p in cues) else 0.0
        best = max(best, logit)
    assert got.score == pytest.approx(1.0 / (1.0 + math.exp(-best)), rel=1e-9)


def test_short_text_has_no_small_window(hasher: Hasher) -> None:
    text = ORDER + " " + _filler(150)
    c = canon.canonicalize(text)
    windows = _model(hasher, (256, 128)).score_windows(hasher.extract(c.codes), len(c.text), [])
    assert [(w.start, w.end) for w in windows] == [(0, len(c.text))]


def test_file_round_trip_keeps_the_small_window(hasher: Hasher, tmp_path: Path) -> None:
    model = _model(hasher, (256, 128))
    model.save(tmp_path / "m.npz")
    loaded = LinearModel.load(tmp_path / "m.npz")
    assert (loaded.small_window, loaded.small_stride, loaded.window, loaded.stride) == (256, 128, 1024, 512)


def test_older_model_files_load_without_a_small_window(hasher: Hasher, tmp_path: Path) -> None:
    """Files written before the small window have three meta fields: they load, with the small window off."""
    model = _model(hasher, (0, 0))
    np.savez_compressed(tmp_path / "old.npz", weights=model.weights.astype(np.float16), cue_weights=model.cue_weights,
                        bias=np.array([0.0]), meta=np.array([BITS, 1024, 512]), version=np.array(["old"]),
                        rules=np.array([""]))
    loaded = LinearModel.load(tmp_path / "old.npz")
    assert (loaded.small_window, loaded.small_stride) == (0, 0)
    text = _filler(600) + " " + ORDER + " " + _filler(600)
    assert _best(loaded, hasher, text).score < 0.5


def test_shipped_model_loads() -> None:
    model = LinearModel.load()
    assert model.small_window in (0, 256) and model.window == 1024


def test_capped_model_round_trips_and_older_files_count_repeats(hasher: Hasher, tmp_path: Path) -> None:
    """The models are built here (not the shipped one, which may or may not have a cap)."""
    text = (ORDER + " ") * 30 + _filler(300)
    built = _model(hasher, (0, 0))
    uncapped = dataclasses.replace(built, weights=built.weights.astype(np.float16).astype(np.float32))  # as saved
    capped = dataclasses.replace(uncapped, cap=2)
    assert _best(capped, hasher, text).score != _best(uncapped, hasher, text).score  # the cap changes the score
    for model, fields in ((uncapped, 7), (capped, 8)):
        path = tmp_path / f"m{model.cap}.npz"
        model.save(path)
        with np.load(path, allow_pickle=False) as z:
            assert len(z["meta"]) == fields  # an uncapped model writes the older seven-field meta
        loaded = LinearModel.load(path)
        assert loaded.cap == model.cap
        assert _best(loaded, hasher, text) == _best(model, hasher, text)
    # a file without the field (every file before the cap) keeps counting every feature
    with np.load(tmp_path / "m2.npz", allow_pickle=False) as z:
        arrays = dict(z)
    arrays["meta"] = arrays["meta"][:7]
    np.savez_compressed(tmp_path / "older.npz", **arrays)
    older = LinearModel.load(tmp_path / "older.npz")
    assert older.cap == 0
    assert _best(older, hasher, text) == _best(uncapped, hasher, text)


def test_a_cap_of_one_keeps_a_window_from_growing_with_repetition(hasher: Hasher) -> None:
    """Counting each bucket once per window: a phrase repeated 10 or 20 times in one window scores the same."""
    from dataclasses import replace

    model = replace(LinearModel.load(), cap=1)

    def logit(text: str) -> float:
        codes = canon.canonicalize(text).codes
        feats = hasher.extract(codes)
        (w,) = model.score_windows(feats, len(codes), [])
        return w.score

    phrase = "UsersWithRawResponse as UsersWithRawResponse, "
    assert logit(phrase * 10) == pytest.approx(logit(phrase * 20), abs=1e-12)
    counted = replace(model, cap=0)
    codes = canon.canonicalize(phrase * 20).codes
    (grown,) = counted.score_windows(hasher.extract(codes), len(codes), [])
    assert grown.score != pytest.approx(logit(phrase * 20), abs=1e-6)  # without it, repetition moves the score
