"""Fast leave-one-source-out numbers on the *dev* halves only (for choosing training options).

Usage: python data/injection/dev_eval.py [--l2 X] [--strong-cues 0|1] [--bias-offset X] [--short-bias-offset X]
              [--kinds K] [--folds N]
              [--exclude GROUP ...] [--train-only 0|1] [--train-only-weight W] [--weight-scheme group|family]
              [--jailbreak-boost B] [--written 0|1|2] [--written-weight W] [--written-extra GROUP ...]
              [--extra-weight W] [--group-weight GROUP=W ...] [--scores FILE]

The same protocol as evaluate.py (each fold's classifier trained from scratch on the other folds, after
removing near-duplicates of the held-out fold), but: the texts are featurised once and every fold's
training rows are cut from one design matrix; a held-out text's classifier score is its best window's
logit computed from the design rows (what the scanner computes, without the repetition cap); the full
score is the larger of it and the rules' score. Only texts whose SHA-256 starts with 0-7 (the dev halves)
are scored and reported: sealed texts are trained on by other folds' classifiers, as in evaluate.py, but
never scored, printed or counted. Reports recall and benign flagged at threshold 0.8 and recall at fixed
benign-flagged rates, for the full detector, the classifier alone, and its n-grams alone (rule cues zeroed: how
it scores an attack no rule matches, e.g. a paraphrase). Featurised texts, rule scores and the design matrix are
cached in /tmp/inj_dev_eval (keyed by the corpus, the rule set and the feature options): ~3 min on one core.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pickle
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import evaluate
import train

from bastion.policy.injection import canon
from bastion.policy.injection.detector import Detector
from bastion.policy.injection.features import GLOSS, VERT
from bastion.policy.injection.gloss import digest as gloss_digest
from bastion.policy.injection.rules import digest as rules_digest

CACHE = Path("/tmp/inj_dev_eval")


def dev(text: str) -> bool:
    return int(hashlib.sha256(text.encode()).hexdigest()[0], 16) < 8


def cached(name: str, make):  # type: ignore[no-untyped-def]
    """`make()`, pickled under CACHE by `name` (the caller puts what the value depends on into the name)."""
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"{name}.pkl"
    if path.exists():
        return pickle.loads(path.read_bytes())
    value = make()
    path.write_bytes(pickle.dumps(value))
    return value


def cache_keys(records: list[dict[str, object]], bits: int, kinds: int) -> tuple[str, str]:
    """The corpus digest and the cache tag: the caches belong to these texts, rules and features."""
    digest = hashlib.sha256(json.dumps(records, sort_keys=True).encode()).hexdigest()[:8]
    tag = f"{digest}_{rules_digest()[:8]}_{bits}_{kinds}"
    if kinds & GLOSS:  # and to the gloss lexicon
        tag += f"_g{gloss_digest()}"
    if kinds & VERT:  # and to the short-line pattern
        tag += f"_v{canon.short_lines_digest()}"
    return digest, tag


def recall_at(scores: np.ndarray, labels: np.ndarray, fpr: float) -> float:
    neg = np.sort(scores[labels == 0])[::-1]
    k = int(np.floor(fpr * len(neg)))
    thr = neg[k] if k < len(neg) else -np.inf
    return float((scores[labels == 1] > thr).mean())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--l2", type=float, default=1e-4)
    ap.add_argument("--target-fpr", type=float, default=train.TARGET_FPR)
    ap.add_argument("--group-power", type=float, default=train.GROUP_POWER)
    ap.add_argument("--folds", type=int, default=0, help="only the first N folds (0: all)")
    ap.add_argument("--scores", default="", help="write dev texts' scores (JSONL) here")
    ap.add_argument("--bits", type=int, default=train.BITS)
    ap.add_argument("--kinds", type=int, default=train.KINDS, help="extra feature kinds (1: word skip-bigrams, 2: content-word pairs, 4: gloss, 8: short lines read as one)")
    ap.add_argument("--exclude", nargs="*", default=[], help="groups left out of every fold's training (ablations)")
    train.add_recipe_args(ap)
    args = ap.parse_args()
    train.set_recipe(args)
    train.GROUP_POWER = args.group_power
    train.KINDS = args.kinds
    t0 = time.time()
    records = train.load_corpus()
    digest, tag = cache_keys(records, args.bits, args.kinds)
    docs = cached(f"docs_{tag}", lambda: train.featurise(records, bits=args.bits))
    is_dev = np.array([dev(d.text) for d in docs])
    rules_only = Detector(None, use_model=False, vertical=bool(train.KINDS & VERT))
    rule_score = cached(f"rules_{tag}", lambda: np.array([rules_only.score(d.text) if dev(d.text) else 0.0 for d in docs]))
    sys.stderr.write(f"featurised {len(docs)} texts, {time.time() - t0:.0f}s\n")
    folds = list(evaluate.FOLDS.items())
    if args.folds:
        folds = folds[: args.folds]

    def rest_of() -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for name, groups in evaluate.FOLDS.items():
            kept = {id(x) for x in evaluate.without_near_duplicates([d for d in docs if d.group not in groups],
                                                                    [d for d in docs if d.group in groups])}
            out[name] = [i for i, d in enumerate(docs) if id(d) in kept]
        return out

    keep_rest = cached(f"rest_{digest}", rest_of)
    full: list[float] = []
    clf: list[float] = []
    ngram: list[float] = []
    labels: list[int] = []
    groups_of: list[str] = []
    keys: list[str] = []
    rule_of: list[float] = []
    windows: list[int] = []  # per text, its large windows (1: `--short-bias-offset`'s texts)
    x_all, y_all, row_doc = cached(f"design_{tag}{f'_cap{train.CAP}' if train.CAP else ''}",
                                   lambda: train.design_rows(docs, bits=args.bits))
    rows_of = np.split(np.arange(len(row_doc)), np.flatnonzero(np.diff(row_doc)) + 1)
    for name, groups in folds:
        held = [i for i, d in enumerate(docs) if d.group in groups and is_dev[i]]
        tr = [i for i in keep_rest[name] if docs[i].group not in train.TEST_ONLY | set(args.exclude)]
        rows = np.concatenate([rows_of[i] for i in tr])
        remap = np.full(len(docs), -1)
        remap[tr] = np.arange(len(tr))
        model = train.train_from([docs[i] for i in tr], x_all[rows], y_all[rows], remap[row_doc[rows]], args.l2,
                                 args.target_fpr, bits=args.bits)
        hrows = np.concatenate([rows_of[i] for i in held])
        hremap = np.full(len(docs), -1)
        hremap[held] = np.arange(len(held))
        coef = np.append(model.weights, model.cue_weights).astype(np.float64)
        # per row, its text's bias (`LinearModel.bias_at`: a text of one window has one row)
        row_bias = np.array([model.bias_at(0) if len(docs[held[j]].rows) - docs[held[j]].n_small == 1 else model.bias
                             for j in hremap[row_doc[hrows]]])
        z = train.doc_logits(x_all[hrows] @ coef + row_bias, hremap[row_doc[hrows]], len(held))
        p = 1.0 / (1.0 + np.exp(-z))
        coef[1 << args.bits:] = 0.0  # the n-grams alone (as on a paraphrase no rule matches)
        zn = train.doc_logits(x_all[hrows] @ coef + row_bias, hremap[row_doc[hrows]], len(held))
        ngram.extend((1.0 / (1.0 + np.exp(-zn))).tolist())
        for j, i in enumerate(held):
            clf.append(float(p[j]))
            full.append(max(float(p[j]), float(rule_score[i])))
            rule_of.append(float(rule_score[i]))
            labels.append(docs[i].label)
            groups_of.append(docs[i].group)
            keys.append(hashlib.sha256(docs[i].text.encode()).hexdigest()[:16])
            windows.append(len(docs[i].rows) - docs[i].n_small)
        sys.stderr.write(f"fold {name}: {len(held)} dev texts, {time.time() - t0:.0f}s\n")
    y = np.array(labels)
    w = sys.stdout.write
    if not (y == 0).any() or not (y == 1).any():
        raise SystemExit("these folds hold only one class: run more folds")
    for layer, s in (("full", np.array(full)), ("classifier", np.array(clf)), ("n-grams", np.array(ngram))):
        a, b = s[y == 1], s[y == 0]
        w(f"{layer:10s} @0.8 recall {np.mean(a >= 0.8):.3f} ({int((a >= 0.8).sum())}/{len(a)}) benign {np.mean(b >= 0.8):.4f}"
          f" ({int((b >= 0.8).sum())}/{len(b)}) | recall@1% {recall_at(s, y, 0.01):.3f} @2% {recall_at(s, y, 0.02):.3f}"
          f" @0.5% {recall_at(s, y, 0.005):.3f}\n")
    rules_dev = np.array(rule_of)
    missed = (y == 1) & (rules_dev < 0.8)  # the dev attacks no rule reports: what the classifier alone must catch
    for layer, s in (("full", np.array(full)), ("n-grams", np.array(ngram))):
        thr1 = np.sort(s[y == 0])[::-1][int(0.01 * (y == 0).sum())]
        w(f"rule-missed dev attacks ({int(missed.sum())}): {layer} @0.8 {int((s[missed] >= 0.8).sum())}"
          f", above the 1 % dev-benign threshold {int((s[missed] > thr1).sum())}\n")
    fam = np.array([train.FAMILY.get(g, "other") for g in groups_of])
    for layer, s in (("full", np.array(full)), ("n-grams", np.array(ngram))):  # per attack family, vs all dev benign
        thr1 = np.sort(s[y == 0])[::-1][int(0.01 * (y == 0).sum())]
        w(f"{layer} by family (above the 1 % dev-benign threshold; rule-missed in brackets): " + " ".join(
            f"{f} {int((s[(y == 1) & (fam == f)] > thr1).sum())}/{int(((y == 1) & (fam == f)).sum())}"
            f" ({int((s[missed & (fam == f)] > thr1).sum())}/{int((missed & (fam == f)).sum())})"
            for f in ("jailbreak", "direct", "indirect")) + "\n")
    missed_by: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # per attack group: rule-missed dev attacks, caught
    for g, m, s in zip(groups_of, missed, full, strict=True):
        if m:
            missed_by[g][0] += 1
            missed_by[g][1] += int(s >= 0.8)
    w("rule-missed caught by group: " + " ".join(f"{g[:14]} {c}/{n}" for g, (n, c) in sorted(missed_by.items())) + "\n")
    per: dict[str, list[float]] = defaultdict(list)
    for g, lab, s in zip(groups_of, labels, full, strict=True):
        per[f"{g}|{lab}"].append(s)
    w(" ".join(f"{k.split('|')[0][:14]}{'+' if k.endswith('1') else '-'}{np.mean(np.array(v) >= 0.8):.2f}"
               for k, v in sorted(per.items())) + "\n")
    if args.scores:
        Path(args.scores).write_text("".join(json.dumps({"key": k, "group": g, "label": lab, "full": f, "classifier": c, "rules": r,
                                                         "ngrams": n, "windows": nw}) + "\n"
                                             for k, g, lab, f, c, r, n, nw in zip(keys, groups_of, labels, full, clf,
                                                                                  rule_of, ngram, windows, strict=True)))


if __name__ == "__main__":
    main()
