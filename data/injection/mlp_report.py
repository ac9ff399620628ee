"""Tables of dev_eval_mlp.py's runs: dev recall at equal benign flags, logistic vs MLP second stage (round 29).

Usage: python data/injection/mlp_report.py RUN.npz [--gate G ...] [--at K ...]

A combination turns each held-out window's logistic logit `zlog` and MLP logit `zmlp` into one logit; a text's is its
best window's. The full detector's score is max(classifier, rules), the threshold 0.8, and the classifier's logit is
shifted (the MLP's part only, for the gated and max combinations) by the largest shift at which at most K dev benign
texts are flagged: recall at equal benign flags, as a bias offset chosen on the dev halves would give. The same for the
classifier alone. Combinations: `logistic` (the baseline), `mlp` (MLP alone), `gate G` (the MLP's logit on windows
whose logistic score is >= G, the logistic's elsewhere: typical benign windows never pay the MLP), `avg` (mean logit),
`max` (the larger of the logistic logit and the shifted MLP logit).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

import numpy as np

LOGIT_08 = float(np.log(0.8 / 0.2))


def doc_max(z: np.ndarray, doc: np.ndarray, n: int) -> np.ndarray:
    out = np.full(n, -np.inf)
    np.maximum.at(out, doc, z)
    return out


def best_shift(score_at: Callable[[float], np.ndarray], rules: np.ndarray, y: np.ndarray, k: int, full: bool
               ) -> tuple[float, int, int]:
    """Largest shift s with at most k benign texts flagged at 0.8; (s, attacks flagged, benign flagged)."""
    def flagged(s: float) -> np.ndarray:
        p = 1.0 / (1.0 + np.exp(-score_at(s)))
        return np.maximum(p, rules) >= 0.8 if full else p >= 0.8

    lo, hi = -30.0, 30.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if flagged(mid)[y == 0].sum() > k:
            hi = mid
        else:
            lo = mid
    f = flagged(lo)
    return lo, int(f[y == 1].sum()), int(f[y == 0].sum())


def report(run: str, args: argparse.Namespace) -> None:
    w = sys.stdout.write
    d = np.load(run)
    zlog, zmlp, doc, y, rules, group = d["zlog"], d["zmlp"], d["doc"], d["label"], d["rule"], d["group"]
    n = len(y)
    w(f"== {run}: {d['config']}\n   {n} dev texts, {int((y == 1).sum())} attacks, {int((y == 0).sum())} benign, "
      f"{len(zlog)} windows\n")
    combos: dict[str, Callable[[float], np.ndarray]] = {
        "logistic": lambda s: doc_max(zlog + s, doc, n),
        "mlp": lambda s: doc_max(zmlp + s, doc, n),
        "avg": lambda s: doc_max((zlog + zmlp) / 2 + s, doc, n),
        "max": lambda s: doc_max(np.maximum(zlog, zmlp + s), doc, n),
    }
    for g in args.gate:
        on = zlog >= np.log(g / (1 - g))
        combos[f"gate {g:g}"] = lambda s, on=on: doc_max(np.where(on, zmlp + s, zlog), doc, n)
        benign_docs = np.zeros(n, bool)
        np.logical_or.at(benign_docs, doc, on)
        unreachable = int(((y == 1) & ~benign_docs).sum())
        w(f"   gate {g:g}: {on[np.isin(doc, np.flatnonzero(y == 0))].mean():.3f} of benign windows and "
          f"{benign_docs[y == 0].mean():.3f} of benign texts pass; {unreachable} attacks never reach the MLP\n")
    by_group: dict[str, np.ndarray] = {}
    for name, fn in combos.items():
        cells = []
        for full in (True, False):
            for k in args.at:
                s, a, b = best_shift(fn, rules, y, k, full)
                cells.append(f"{'full' if full else 'clf'}@{k}: {a} ({b}, s {s:+.2f})")
                if full and k == args.at[0]:
                    p = 1.0 / (1.0 + np.exp(-fn(s)))
                    by_group[name] = np.maximum(p, rules) >= 0.8
        missed = (y == 1) & (rules < 0.8)
        w(f"   {name:9s} " + " | ".join(cells) + f" | rule-missed caught @{args.at[0]}: "
          f"{int((by_group[name] & missed).sum())}/{int(missed.sum())} (not by the logistic "
          f"{int((by_group[name] & missed & ~by_group['logistic']).sum())}, by the logistic only "
          f"{int((~by_group[name] & missed & by_group['logistic']).sum())})\n")
    if args.groups:
        groups = sorted(set(group[y == 1].tolist()))
        w(f"   per attack group, full @{args.at[0]}: " + " ".join(
            f"{g[:14]} " + "/".join(str(int(f[(group == g) & (y == 1)].sum())) for f in by_group.values())
            + f" of {int(((group == g) & (y == 1)).sum())}" for g in groups) + f"  [{'/'.join(by_group)}]\n")
        flag = {k: v for k, v in by_group.items()}
        w("   benign flagged per group, full @" + str(args.at[0]) + ": " + " ".join(
            f"{g[:14]} " + "/".join(str(int(f[(group == g) & (y == 0)].sum())) for f in flag.values())
            for g in sorted(set(group[y == 0].tolist())) if any(f[(group == g) & (y == 0)].any() for f in flag.values()))
            + "\n")



def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--gate", type=float, nargs="*", default=[0.2])
    ap.add_argument("--at", type=int, nargs="*", default=[19, 20, 41])
    ap.add_argument("--groups", action="store_true", help="per attack group at the first K")
    args = ap.parse_args()
    for run in args.runs:
        report(run, args)


if __name__ == "__main__":
    main()
