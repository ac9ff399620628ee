"""The linear classifier over hashed n-grams: loads the shipped weights, scores windows of a text.

A window's logit is `bias + sum(weights[buckets]) / sqrt(n_features) + sum(cue_weights[cues])`: the
n-gram part is length-normalised (an L2-normalised bag of counts when features do not repeat), rule
cues count once each (a model with `short_bias` uses it instead of `bias` for a text of one window). A
text is scored on overlapping windows so that an instruction buried in a long document is not diluted
by it; the text's score is its best window's. Per-position sums and one cumulative sum make every window
O(1), so the cost is linear in the text's length.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple, cast

import numpy as np
import numpy.typing as npt

from bastion.policy.injection.features import TUPLE_NEW, Features, Hasher, Scored, run_buckets

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

MODEL_FILE = "model.npz"


class Window(NamedTuple):
    """A window of a text and its score (a NamedTuple, like `Finding`: one per chunk of every scan)."""

    start: int
    end: int
    score: float


@dataclass(frozen=True)
class LinearModel:
    weights: npt.NDArray[np.float32]
    cue_weights: npt.NDArray[np.float32]  # one per rule, in rules.RULES order
    bias: float
    bits: int
    window: int
    stride: int
    version: str
    rules_digest: str = ""  # digest of the rule set the cue weights belong to (rules.digest())
    small_window: int = 0  # a second, smaller window scored with the same weights (0: none)
    small_stride: int = 0
    dead_runs: bool = False  # runs of one layout character (features.RUN_CHARS) neither weigh nor count
    kinds: int = 0  # extra feature kinds the model was trained with (`features.Hasher(kinds=...)` bits)
    cap: int = 0  # a bucket counts at most this many times per window (0: every time; 1: repeating adds nothing)
    # the bias of a text of one window (canonical length <= `window`), None: `bias`. A long text is scored by its best
    # window out of many, so a looser bias flags long texts first; this loosens it for one-window texts only
    short_bias: float | None = None

    @classmethod
    def load(cls, path: Path | None = None) -> LinearModel:
        """The packaged model (or the one at `path`). Never touches the network."""
        if path is None:
            ref = resources.files("bastion.policy.injection").joinpath(MODEL_FILE)
            with resources.as_file(ref) as p, np.load(p, allow_pickle=False) as z:
                return cls._from(dict(z))
        with np.load(path, allow_pickle=False) as z:
            return cls._from(dict(z))

    @classmethod
    def _from(cls, z: dict[str, npt.NDArray[np.generic]]) -> LinearModel:
        # bits, window, stride[, small window, small stride[, dead runs[, kinds[, cap]]]] (older files: 3, 5, 6 or 7)
        meta = z["meta"].astype(np.int64)
        small = (int(meta[3]), int(meta[4])) if len(meta) >= 5 else (0, 0)
        return cls(weights=z["weights"].astype(np.float32), cue_weights=z["cue_weights"].astype(np.float32),
                   bias=float(z["bias"][0]), bits=int(meta[0]), window=int(meta[1]), stride=int(meta[2]),
                   version=str(z["version"][0]), rules_digest=str(z["rules"][0]) if "rules" in z else "",
                   small_window=small[0], small_stride=small[1], dead_runs=len(meta) >= 6 and bool(meta[5]),
                   kinds=int(meta[6]) if len(meta) >= 7 else 0, cap=int(meta[7]) if len(meta) >= 8 else 0,
                   short_bias=float(z["short_bias"][0]) if "short_bias" in z else None)

    def save(self, path: Path) -> None:
        # (no `short_bias` entry without one: a model trained without it is written as before, byte for byte)
        extra: dict[str, Any] = {} if self.short_bias is None else {"short_bias": np.array([self.short_bias])}
        np.savez_compressed(path, weights=self.weights.astype(np.float16), cue_weights=self.cue_weights,
                            bias=np.array([self.bias]), meta=np.array([self.bits, self.window, self.stride, self.small_window, self.small_stride,
                                                                     int(self.dead_runs), self.kinds]
                                                                    + ([self.cap] if self.cap else [])),
                            version=np.array([self.version]), rules=np.array([self.rules_digest]), **extra)

    def bias_at(self, n: int) -> float:
        """The bias of every window of a text (or chunk) of `n` canonical characters: `short_bias` when it is set
        and the text is one window, else `bias`. (The detector's chunks of a longer text are all longer than a
        window, so a text's windows share one bias.)"""
        return self.short_bias if self.short_bias is not None and n <= self.window else self.bias

    def window_starts(self, n: int, window: int = 0, stride: int = 0) -> I64:
        """Starts of the windows covering [0, n): every `stride`, plus one flush with the end (default: the
        large windows; pass `small_window`, `small_stride` for the small ones)."""
        window, stride = window or self.window, stride or self.stride
        if n <= window:
            return np.zeros(1, dtype=np.int64)
        starts = np.arange(0, n - window + 1, stride, dtype=np.int64)
        if starts[-1] != n - window:
            starts = np.append(starts, n - window)
        return starts

    def score_windows(self, feats: Features, n: int, cues: list[tuple[int, int]], offset: int = 0,
                      native: ModuleType | None = None) -> list[Window]:
        """Score the windows of one text of length `n` (canonical characters).

        `cues` are (rule index, position) pairs of the weak and strong rules that matched. `native`: the C
        accelerator (`bastion._native`), which computes the same logits.
        """
        if n == 0:
            return [Window(offset, offset, _sigmoid(self.bias_at(0)))]
        if self.cap:
            return self._capped_windows(feats, n, cues, offset, native)
        out: list[Window] | None = None
        small = 0 < self.small_window < n
        if native is not None and not small:
            starts = _ONE_START if n <= self.window else self.window_starts(n)
            live = self._live_bytes if self.dead_runs else b""
            raw = native.window_logits(feats.buckets, feats.positions, self._weights32, live, n, starts, self.window,
                                       self.bias_at(n))
            if len(starts) <= _FEW:  # Python floats: no numpy call per step
                bounds = [(s, min(s + self.window, n)) for s in starts.tolist()]
                logits_few: list[float] = memoryview(raw).cast("d").tolist()  # type: ignore[assignment]
                return self._scored_few(bounds, logits_few, cues, offset)
            logits = np.frombuffer(raw, np.float64)
            return self._scored(starts, np.minimum(starts + self.window, n), logits, cues, offset)
        few = n <= self.window + self.stride  # one or two windows
        contrib: F64 | None = None  # weight sum of the features starting at each position (float64: weighted)
        if few or small:
            contrib = cast(F64, np.bincount(feats.positions, weights=self._weights64[feats.buckets], minlength=n))
        if few and contrib is not None:
            out = self._few_windows(feats, n, cues, offset, contrib)
        if out is None:
            out = self._all_windows(feats, n, cues, offset)
        if small and contrib is not None:
            out.append(self._best_small_window(feats, n, cues, offset, contrib[:n]))
        return out

    def extract_scored(self, hasher: Hasher, codes: npt.NDArray[np.uint32]) -> Scored | None:
        """`hasher.extract(codes)` with the logits `score_windows` sums from its features, in one C pass (see
        `Hasher.extract_scored`); None where that pass does not apply (no accelerator, a capped model, small
        windows inside the text): then `extract` and `score_windows`."""
        if self.cap or 0 < self.small_window < len(codes):
            return None
        return hasher.extract_scored(codes, *self.scored_args())

    def scored_args(self) -> tuple[npt.NDArray[np.float32], bytes, int, int, float, float | None]:
        """The model's arguments of `Hasher.extract_scored` after the codes."""
        return (self._weights32, self._live_bytes if self.dead_runs else b"", self.window, self.stride, self.bias,
                self.short_bias)

    def score_scored(self, scored: Scored, n: int, cues: list[tuple[int, int]], offset: int = 0) -> list[Window]:
        """`score_windows` of the text of length `n` that `extract_scored` read into `scored` (the same windows)."""
        bounds, probs = self._scored_probs(scored.logits, n, cues)
        return [Window(s + offset, e + offset, p) for (s, e), p in zip(bounds, probs, strict=True)]

    def best_scored(self, logits: bytearray, n: int, cues: list[tuple[int, int]], offset: int = 0) -> Window:
        """The first of `score_scored`'s windows of the highest score, without building the others (`logits`: a
        `Scored`'s, of a text of length `n`)."""
        if not cues:
            few = self.best_few(logits, n)
            if few is not None:
                return TUPLE_NEW(Window, (few[0] + offset, few[1] + offset, few[2]))
        bounds, probs = self._scored_probs(logits, n, cues)
        k = probs.index(max(probs))  # (the first maximal, as max(range(...), key=...) picks it)
        return Window(bounds[k][0] + offset, bounds[k][1] + offset, probs[k])

    def best_few(self, logits: bytearray, n: int) -> tuple[int, int, float] | None:
        """`best_scored(logits, n, [])`'s window as (start, end, score) when the text (or chunk) has one or two windows
        (most texts), without its record; None when it has more."""
        w = self.window
        if len(logits) != (8 if n <= w else 16):
            return None
        # `_probs_few`'s arithmetic per logit (`np.exp` of a float runs the same float64 loop as of a list: tests
        # compare), the bounds of the best window only
        if n <= w:
            logit: float = _ONE_D(logits)[0]
            return 0, n, 1.0 / (1.0 + float(np.exp(-logit)))
        first, last = _TWO_D(logits)
        p0, p1 = 1.0 / (1.0 + float(np.exp(-first))), 1.0 / (1.0 + float(np.exp(-last)))
        # two windows: at 0 and flush with the end (`window_starts`: n - w <= stride, or there would be more);
        # the second only when strictly higher, as `probs.index(max(probs))` picks (a NaN first stays first)
        return (n - w, n, p1) if p1 > p0 else (0, w, p0)

    @staticmethod
    def all_below(logits: bytearray, floor: float) -> bool:
        """Whether every window logit of a `Scored`'s `logits` (no cue added) is below `floor` (a NaN is not)."""
        if len(logits) == 8:
            return bool(_ONE_D(logits)[0] < floor)
        if len(logits) == 16:
            first, last = _TWO_D(logits)
            return bool(first < floor and last < floor)
        return all(x < floor for x in memoryview(logits).cast("d"))

    def _scored_probs(self, raw: bytearray, n: int,
                      cues: list[tuple[int, int]]) -> tuple[list[tuple[int, int]], list[float]]:
        """The bounds and scores of the windows of a `Scored`'s logits `raw`: `score_windows`'s arithmetic on the C
        pass's logits."""
        if len(raw) <= 8 * _FEW:
            w = self.window
            if n <= w:
                bounds = [(0, n)]
            else:  # `window_starts`: every stride and one flush with the end (each window within the text)
                bounds = [(s, s + w) for s in range(0, n - w + 1, self.stride)]
                if bounds[-1][0] != n - w:
                    bounds.append((n - w, n))
            logits: list[float] = memoryview(raw).cast("d").tolist()  # type: ignore[assignment]
            return bounds, self._probs_few(bounds, logits, cues)
        starts_all = self.window_starts(n)
        ends = np.minimum(starts_all + self.window, n)
        probs = self._probs(starts_all, ends, np.frombuffer(raw, np.float64).copy(), cues)
        return list(zip(starts_all.tolist(), ends.tolist(), strict=True)), probs.tolist()

    def _capped_windows(self, feats: Features, n: int, cues: list[tuple[int, int]], offset: int,
                        native: ModuleType | None) -> list[Window]:
        """The large windows with each bucket counted at most `cap` times per window: its first `cap` features in
        position order (ties: feature order) add their weights, summed in that order (as the C accelerator)."""
        starts = self.window_starts(n)
        ends = np.minimum(starts + self.window, n)
        live = self._live_bytes if self.dead_runs else b""
        if native is not None:
            logits = np.frombuffer(native.window_logits_capped(feats.buckets, feats.positions, self._weights32, live,
                                                               n, starts, self.window, self.bias_at(n), self.cap),
                                   np.float64)
            return self._scored(starts, ends, logits, cues, offset)
        inside = (feats.positions >= 0) & (feats.positions < n)
        bias = self.bias_at(n)
        order = np.argsort(feats.positions[inside], kind="stable")
        pos, bk = feats.positions[inside][order], feats.buckets[inside][order]
        w = self._weights64
        logits = np.empty(len(starts), dtype=np.float64)
        for k, (a, e) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
            seg = bk[np.searchsorted(pos, a):np.searchsorted(pos, e)]
            if self.dead_runs:
                seg = seg[self._live[seg]]
            kept = seg[_occurrence_rank(seg) < self.cap]
            total = float(np.cumsum(w[kept])[-1]) if len(kept) else 0.0  # sequential, as the C loop adds
            logits[k] = bias + total / math.sqrt(max(len(kept), 1))
        return self._scored(starts, ends, logits, cues, offset)

    def _best_small_window(self, feats: Features, n: int, cues: list[tuple[int, int]], offset: int,
                           per_position: F64) -> Window:
        """The best of the small windows (the detector keeps a text's best window only); `per_position` is the
        sum of the feature weights starting at each position."""
        sw = self.small_window
        contrib = np.zeros(n + 1, dtype=np.float64)
        np.cumsum(per_position, out=contrib[1:])
        counts = np.zeros(n + 1, dtype=np.float64)
        counts[1:] = np.cumsum(self._position_counts(feats, n))
        starts = self.window_starts(n, sw, self.small_stride)
        ends = np.minimum(starts + sw, n)
        logits = self.bias_at(n) + (contrib[ends] - contrib[starts]) / np.sqrt(np.maximum(counts[ends] - counts[starts],
                                                                                             1.0))
        if cues:
            seen: set[tuple[int, int]] = set()
            for rule, pos in cues:
                for k in np.flatnonzero((starts <= pos) & (pos < ends)).tolist():
                    if (k, rule) not in seen:
                        seen.add((k, rule))
                        logits[k] += float(self.cue_weights[rule])
        k = int(np.argmax(logits))
        return Window(int(starts[k]) + offset, int(ends[k]) + offset, _sigmoid(float(logits[k])))

    def _few_windows(self, feats: Features, n: int, cues: list[tuple[int, int]], offset: int,
                     contrib: F64) -> list[Window] | None:
        """`_all_windows` for a text of a few windows, with the per-window arithmetic in Python floats (the
        same IEEE operations in the same order, so the same scores). None when a position lies past `n`.
        `contrib`: the sum of the feature weights starting at each position (bincount)."""
        if len(contrib) != n:
            return None
        live = self._live[feats.buckets] if self.dead_runs else None  # 1 per feature that counts
        total = len(feats.positions) if live is None else int(np.count_nonzero(live))
        csum = np.add.accumulate(contrib)  # (np.cumsum: the same sums, one Python call more)
        if n <= self.window:  # one window: its sum is the last prefix sum (minus csum[0] = 0.0, exact)
            bounds = [(0, n)]
            logits = [self.bias_at(n) + (float(csum[-1]) - 0.0) / math.sqrt(max(float(total - 0), 1.0))]
        else:
            starts = list(range(0, n - self.window + 1, self.stride))
            if starts[-1] != n - self.window:
                starts.append(n - self.window)
            bounds = [(s, s + self.window) for s in starts]
            # prefix sums and feature counts before each bound (every position is below n: bincount's
            # length said so); csum[b - 1] is the sum before b
            at = sorted({b for pair in bounds for b in pair} - {0, n})
            sums = dict(zip(at, csum[[b - 1 for b in at]].tolist(), strict=True))
            sums[0], sums[n] = 0.0, float(csum[-1])
            positions = feats.positions
            counts = {b: int(np.count_nonzero(positions < b)) if live is None else
                      int(np.count_nonzero(live & (positions < b))) for b in at}
            counts[0], counts[n] = 0, total
            logits = [self.bias + (sums[e] - sums[s]) / math.sqrt(max(float(counts[e] - counts[s]), 1.0))
                      for s, e in bounds]
        return self._scored_few(bounds, logits, cues, offset)

    @cached_property
    def _weights64(self) -> npt.NDArray[np.float64]:
        """The weights as float64 (exactly the values bincount would convert them to, once); layout runs
        weigh nothing with `dead_runs` (a model trained so has zeros there already)."""
        w = self.weights.astype(np.float64)
        if self.dead_runs:
            w[~self._live] = 0.0
        return w

    @cached_property
    def _live(self) -> npt.NDArray[np.bool_]:
        """Per bucket: False for the buckets of layout-character runs (with `dead_runs`), else True."""
        live = np.ones(1 << self.bits, dtype=bool)
        live[run_buckets(self.bits)] = False
        return live

    def _position_counts(self, feats: Features, n: int) -> F64:
        """The number of features starting at each position of [0, n) (layout runs not counted with
        `dead_runs`)."""
        if self.dead_runs:
            return cast(F64, np.bincount(feats.positions, weights=self._live[feats.buckets], minlength=n)[:n])
        return cast(F64, np.bincount(feats.positions, minlength=n)[:n])

    def _all_windows(self, feats: Features, n: int, cues: list[tuple[int, int]], offset: int) -> list[Window]:
        w = self._weights64[feats.buckets]
        contrib = np.zeros(n + 1, dtype=np.float64)
        contrib[1:] = np.cumsum(np.bincount(feats.positions, weights=w, minlength=n)[:n])
        counts = np.zeros(n + 1, dtype=np.float64)
        counts[1:] = np.cumsum(self._position_counts(feats, n))
        starts = self.window_starts(n)
        ends = np.minimum(starts + self.window, n)
        sums = contrib[ends] - contrib[starts]
        cnt = np.maximum(counts[ends] - counts[starts], 1.0)
        logits = self.bias_at(n) + sums / np.sqrt(cnt)
        return self._scored(starts, ends, logits, cues, offset)

    def _scored(self, starts: I64, ends: I64, logits: F64, cues: list[tuple[int, int]], offset: int) -> list[Window]:
        """The windows with their rule cues added (once per rule and window) and the logits made scores."""
        probs = self._probs(starts, ends, logits, cues)
        return [Window(int(s) + offset, int(e) + offset, float(p))
                for s, e, p in zip(starts.tolist(), ends.tolist(), probs.tolist(), strict=True)]

    def _probs(self, starts: I64, ends: I64, logits: F64, cues: list[tuple[int, int]]) -> F64:
        """`_scored`'s scores (`logits` gets the cues added in place)."""
        if cues:
            seen: set[tuple[int, int]] = set()
            for rule, pos in cues:
                for k in np.flatnonzero((starts <= pos) & (pos < ends)).tolist():
                    if (k, rule) not in seen:
                        seen.add((k, rule))
                        logits[k] += float(self.cue_weights[rule])
        return 1.0 / (1.0 + np.exp(-logits))

    def _scored_few(self, bounds: list[tuple[int, int]], logits: list[float], cues: list[tuple[int, int]],
                    offset: int) -> list[Window]:
        """`_scored` for a few windows, in Python floats (the same IEEE operations in the same order, and the
        same `np.exp`, so the same scores)."""
        probs = self._probs_few(bounds, logits, cues)
        return [Window(s + offset, e + offset, p) for (s, e), p in zip(bounds, probs, strict=True)]

    def _probs_few(self, bounds: list[tuple[int, int]], logits: list[float], cues: list[tuple[int, int]]) -> list[float]:
        """`_scored_few`'s scores (`logits` gets the cues added in place)."""
        if cues:
            seen: set[tuple[int, int]] = set()
            for rule, pos in cues:
                for k, (s, e) in enumerate(bounds):
                    if s <= pos < e and (k, rule) not in seen:
                        seen.add((k, rule))
                        logits[k] += float(self.cue_weights[rule])
        # np.exp (not math.exp: they may differ in the last bit), the rest in Python floats (same IEEE ops)
        if len(logits) == 1:  # one window (most texts): no comprehensions
            return [1.0 / (1.0 + np.exp([-logits[0]]).tolist()[0])]
        exps = np.exp([-x for x in logits]).tolist()  # (a list of floats: the float64 array np.array makes)
        return [1.0 / (1.0 + x) for x in exps]

    @cached_property
    def _weights32(self) -> npt.NDArray[np.float32]:
        """`_weights64` in the model's own float32 (the same values: float64 only widens them), for the C
        accelerator: half the cache footprint of a table that each prompt reads at random."""
        w = self.weights.astype(np.float32)
        if self.dead_runs:
            w[~self._live] = 0.0
        return w

    @cached_property
    def _live_bytes(self) -> bytes:
        return self._live.astype(np.uint8).tobytes()


_ONE_D, _TWO_D = struct.Struct("d").unpack, struct.Struct("2d").unpack  # 1 and 2 native float64s (as memoryview "d")
_ONE_START = np.zeros(1, dtype=np.int64)  # the windows of a text no longer than one window (read only)
_ONE_START.flags.writeable = False
_FEW = 8  # up to this many windows, their scores are computed in Python floats


def _occurrence_rank(seg: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Per element, how many earlier elements of `seg` hold the same value (0 for a value's first)."""
    order = np.argsort(seg, kind="stable")
    ordered = seg[order]
    idx = np.arange(len(seg), dtype=np.int64)
    group_start = np.maximum.accumulate(np.where(np.r_[True, ordered[1:] != ordered[:-1]], idx, 0))
    rank = np.empty(len(seg), dtype=np.int64)
    rank[order] = idx - group_start
    return rank


# a logit this far below the threshold's scores below it whatever exp's rounding: a score changes by about
# p (1 - p) per unit of logit, at least ~1e-6 * 1e-3 within the thresholds `logit_floor` accepts, where float64
# sigmoid's error is ~1e-16
_FLOOR_MARGIN = 1e-3
_FLOOR_RANGE = 1e-6


def logit_floor(threshold: float) -> float | None:
    """A window logit below which the window's score (`1 / (1 + np.exp(-logit))`) is below `threshold` for certain
    (None for thresholds within `_FLOOR_RANGE` of 0 or 1: no bound is used there)."""
    if not _FLOOR_RANGE <= threshold <= 1.0 - _FLOOR_RANGE:
        return None
    return math.log(threshold / (1.0 - threshold)) - _FLOOR_MARGIN


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))
