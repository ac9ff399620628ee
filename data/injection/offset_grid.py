"""The bias-offset grid of a `dev_eval.py --scores` file: dev attacks and dev benign texts flagged per offset.

Usage: python data/injection/offset_grid.py SCORES.jsonl [--ran-at -0.30] [--budget 27] [--lo -0.50] [--hi 0.60]
              [--long-at X] [--per-group OFFSET] [--against OTHER.jsonl --against-offset X]

`BIAS_OFFSET` is added to every fold's bias after training and changes nothing else, so a run's held-out classifier
logits shifted by (offset - the offset the run used) are exactly what a run at that offset scores; the full score is
the larger of the shifted classifier score and the rules' (fixed) score. Reads dev scores only: it refuses a file
with a key outside the dev halves (SHA-256 starting 0-7). Prints, per offset on the grid, attacks / benign flagged at
the threshold, and the offset with the most attacks at no more than `--budget` benign flags (ties: fewer benign flags,
then the offset nearer `--ran-at`); with `--per-group`, the benign flags per group at that offset (and `--against`'s
at its offset, for a side-by-side).

With `--long-at X` the grid is over the one-window offset (`train.py --short-bias-offset`, `LinearModel.short_bias`):
texts of one classifier window move with the grid's offset, longer ones are held at X (both exact shifts of the run's
logits). A text's window count is the file's `windows` field (`dev_eval.py` writes it) or, in older files, is counted
by featurising the corpus text of that key as `dev_eval.py` does (the shipped feature kinds).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

THRESHOLD = 0.8


def load(path: str) -> list[dict[str, object]]:
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line]
    bad = [r for r in rows if int(str(r["key"])[0], 16) >= 8]
    if bad:
        raise SystemExit(f"{path}: {len(bad)} keys outside the dev halves; refusing to read it")
    return rows


def one_window(rows: list[dict[str, object]]) -> np.ndarray:
    """Per row: its text is one classifier window (from `windows`, or the corpus text of its key featurised)."""
    if all("windows" in r for r in rows):
        return np.array([int(r["windows"]) == 1 for r in rows])  # type: ignore[call-overload]
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import train

    wanted = {str(r["key"]) for r in rows}
    records = [x for x in train.load_corpus()
               if hashlib.sha256(str(x["text"])[:train.MAX_TRAIN_CHARS].encode()).hexdigest()[:16] in wanted]
    count = {hashlib.sha256(d.text.encode()).hexdigest()[:16]: len(d.rows) - d.n_small for d in train.featurise(records)}
    missing = wanted - set(count)
    if missing:
        raise SystemExit(f"{len(missing)} keys not in the corpus: cannot count their windows")
    return np.array([count[str(r["key"])] == 1 for r in rows])


def full_at(rows: list[dict[str, object]], delta: float, long_delta: float | None = None,
            one: np.ndarray | None = None) -> np.ndarray:
    """Full scores with the classifier's logits shifted by `delta` (with `long_delta`: only the texts `one` marks;
    the others by `long_delta`)."""
    p = np.clip(np.array([float(r["classifier"]) for r in rows]), 1e-15, 1 - 1e-15)  # type: ignore[arg-type]
    z = np.log(p / (1 - p)) + (delta if long_delta is None or one is None else np.where(one, delta, long_delta))
    return np.maximum(1 / (1 + np.exp(-z)), np.array([float(r["rules"]) for r in rows]))  # type: ignore[arg-type]


def grid(rows: list[dict[str, object]], ran_at: float, lo: float, hi: float, step: float = 0.05,
         long_at: float | None = None, one: np.ndarray | None = None) -> list[tuple[float, int, int, int]]:
    y = np.array([int(r["label"]) for r in rows])  # type: ignore[call-overload]
    missed = (y == 1) & (np.array([float(r["rules"]) for r in rows]) < THRESHOLD)  # type: ignore[arg-type]
    out = []
    for k in range(round((hi - lo) / step) + 1):
        off = round(lo + k * step, 2)
        flag = full_at(rows, off - ran_at, None if long_at is None else long_at - ran_at, one) >= THRESHOLD
        out.append((off, int((flag & (y == 1)).sum()), int((flag & (y == 0)).sum()), int((flag & missed).sum())))
    return out


def best(points: list[tuple[float, int, int, int]], budget: int, ran_at: float) -> tuple[float, int, int, int]:
    ok = [p for p in points if p[2] <= budget]
    return max(ok, key=lambda p: (p[1], -p[2], -abs(p[0] - ran_at)))


def benign_by_group(rows: list[dict[str, object]], delta: float, long_delta: float | None = None,
                    one: np.ndarray | None = None) -> Counter[str]:
    flag = full_at(rows, delta, long_delta, one) >= THRESHOLD
    return Counter(str(r["group"]) for r, f in zip(rows, flag, strict=True) if f and int(r["label"]) == 0)  # type: ignore[call-overload]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("scores")
    ap.add_argument("--ran-at", type=float, default=-0.30, help="the bias offset the dev_eval.py run used")
    ap.add_argument("--budget", type=int, default=27, help="dev benign flags allowed")
    ap.add_argument("--lo", type=float, default=-0.50)
    ap.add_argument("--hi", type=float, default=0.60)
    ap.add_argument("--long-at", type=float, default=None,
                    help="hold texts longer than one window at this offset; the grid moves one-window texts only")
    ap.add_argument("--per-group", type=float, default=None, help="print benign flags per group at this offset")
    ap.add_argument("--against", default="", help="a second scores file for the per-group side-by-side")
    ap.add_argument("--against-offset", type=float, default=-0.30)
    ap.add_argument("--against-ran-at", type=float, default=-0.30)
    args = ap.parse_args()
    rows = load(args.scores)
    w = sys.stdout.write
    one = None if args.long_at is None else one_window(rows)
    long_delta = None if args.long_at is None else args.long_at - args.ran_at
    if one is not None:
        y = np.array([int(r["label"]) for r in rows])  # type: ignore[call-overload]
        w(f"one-window texts: {int((one & (y == 1)).sum())} of {int((y == 1).sum())} attacks, "
          f"{int((one & (y == 0)).sum())} of {int((y == 0).sum())} benign; longer ones held at {args.long_at:+.2f}\n")
    points = grid(rows, args.ran_at, args.lo, args.hi, long_at=args.long_at, one=one)
    w("offset attacks/benign (rule-missed attacks caught): " + "  ".join(f"{o:+.2f}: {a}/{b} ({m})" for o, a, b, m in points)
      + "\n")
    o, a, b, m = best(points, args.budget, args.ran_at)
    w(f"best at <= {args.budget} benign: offset {o:+.2f}: {a}/{b}, rule-missed caught {m}\n")
    if args.per_group is not None:
        mine = benign_by_group(rows, args.per_group - args.ran_at, long_delta, one)
        other = benign_by_group(load(args.against), args.against_offset - args.against_ran_at) if args.against else Counter()
        sizes = Counter(str(r["group"]) for r in rows if int(r["label"]) == 0)  # type: ignore[call-overload]
        w(f"benign flags per group (dev texts of the group): this file at {args.per_group:+.2f}"
          + (f" | {args.against} at {args.against_offset:+.2f}" if args.against else "") + "\n")
        for g in sorted(set(mine) | set(other), key=lambda g: (-mine[g], g)):
            w(f"  {g:24s} n={sizes[g]:4d}  {mine[g]:3d}" + (f" | {other[g]:3d}" if args.against else "") + "\n")


if __name__ == "__main__":
    main()
