"""dev_eval.py's leave-one-source-out protocol with a one-hidden-layer second stage (mlp.py; twenty-ninth round).

Usage: python data/injection/dev_eval_mlp.py --kinds 8 --name NAME [--hidden H] [--weight-decay X] [--epochs E]
              [--lr X] [--dropout X] [--folds N] [recipe options of train.py]

Same caches, same folds, same near-duplicate removal and training rows as dev_eval.py: per fold the logistic model is
trained from scratch (train.train_from, the shipped recipe) and so is the MLP, on the same rows and sample weights
(strong cues' columns zeroed for both). Only the dev halves' held-out texts are scored. Writes, per held-out dev text,
its windows' logistic and MLP logits to /tmp/r29/NAME.npz (the logistic logits once per fold, cached in
/tmp/r29/logistic_fold*.npz); mlp_report.py turns them into the comparison tables. Needs torch (a separate venv).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dev_eval
import evaluate
import mlp
import train

from bastion.policy.injection.detector import Detector
from bastion.policy.injection.features import VERT
from bastion.policy.injection.rules import RULES

OUT = Path("/tmp/r29")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--l2", type=float, default=1e-4)
    ap.add_argument("--target-fpr", type=float, default=train.TARGET_FPR)
    ap.add_argument("--folds", type=int, default=0)
    ap.add_argument("--bits", type=int, default=train.BITS)
    ap.add_argument("--kinds", type=int, default=train.KINDS)
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--weight-decay", type=float, default=1e-2)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--dropout", type=float, default=0.2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rule-matched-weight", type=float, default=1.0,
                    help="attack texts a strong rule matches weigh this times as much (MLP; each class's total kept)")
    ap.add_argument("--logistic-reweight", type=int, default=0, help="1: the logistic model is trained so too")
    ap.add_argument("--columns", type=int, default=1 << 15, help="the MLP reads this many feature columns (mlp.columns)")
    train.add_recipe_args(ap)
    args = ap.parse_args()
    train.set_recipe(args)
    train.KINDS = args.kinds
    t0 = time.time()
    records = train.load_corpus()
    digest, tag = dev_eval.cache_keys(records, args.bits, args.kinds)
    docs = dev_eval.cached(f"docs_{tag}", lambda: train.featurise(records, bits=args.bits))
    is_dev = np.array([dev_eval.dev(d.text) for d in docs])
    rules_only = Detector(None, use_model=False, vertical=bool(train.KINDS & VERT))
    rule_score = dev_eval.cached(f"rules_{tag}", lambda: np.array(
        [rules_only.score(d.text) if dev_eval.dev(d.text) else 0.0 for d in docs]))
    keep_rest = dev_eval.cached(f"rest_{digest}", lambda: (_ for _ in ()).throw(SystemExit("run dev_eval.py first")))
    x_all, y_all, row_doc = dev_eval.cached(f"design_{tag}{f'_cap{train.CAP}' if train.CAP else ''}",
                                            lambda: train.design_rows(docs, bits=args.bits))
    rows_of = np.split(np.arange(len(row_doc)), np.flatnonzero(np.diff(row_doc)) + 1)
    x_free = train.without_strong_cues(x_all, args.bits) if not train.STRONG_CUES else x_all
    sys.stderr.write(f"loaded {len(docs)} texts, {x_all.shape[0]} windows, nnz {x_all.nnz}, {time.time() - t0:.0f}s\n")
    strong = (1 << args.bits) + np.flatnonzero([not r.is_cue for r in RULES])
    sample_weights = train.sample_weights
    folds = list(evaluate.FOLDS.items())
    if args.folds:
        folds = folds[: args.folds]
    OUT.mkdir(exist_ok=True)
    out: dict[str, list[np.ndarray]] = {k: [] for k in ("zlog", "zmlp", "doc", "label", "rule", "group", "key")}
    base_doc = 0
    for k, (name, groups) in enumerate(folds):
        held = [i for i, d in enumerate(docs) if d.group in groups and is_dev[i]]
        tr = [i for i in keep_rest[name] if docs[i].group not in train.TEST_ONLY]
        rows = np.concatenate([rows_of[i] for i in tr])
        remap = np.full(len(docs), -1)
        remap[tr] = np.arange(len(tr))
        hrows = np.concatenate([rows_of[i] for i in held])
        hremap = np.full(len(docs), -1)
        hremap[held] = np.arange(len(held))
        # attack texts a strong rule matches (a strong cue in any window) weigh --rule-matched-weight times as much,
        # each class's total kept: the detector's rules report those, the classifier is needed for the others
        matched = np.asarray(x_all[rows][:, strong].getnnz(axis=1) > 0)
        doc_matched = np.zeros(len(tr), bool)
        np.logical_or.at(doc_matched, remap[row_doc[rows]], matched)
        factor = np.where(doc_matched & (np.array([docs[i].label for i in tr]) == 1), args.rule_matched_weight, 1.0)

        def reweighted(ds, dor, factor=factor, yr=y_all[rows]):  # type: ignore[no-untyped-def]
            w0 = sample_weights(ds, dor)
            w1 = w0 * factor[dor]
            for lab in (0, 1):
                sel = yr == lab
                w1[sel] *= w0[sel].sum() / w1[sel].sum()
            return w1

        suffix = f"_rw{args.rule_matched_weight:g}" if args.logistic_reweight and args.rule_matched_weight != 1 else ""
        train.sample_weights = reweighted if suffix else sample_weights
        cache = OUT / f"logistic_fold{k}_{tag}{suffix}.npz"
        if cache.exists():
            zlog, coef = np.load(cache)["z"], np.load(cache)["coef"]
        else:
            model = train.train_from([docs[i] for i in tr], x_all[rows], y_all[rows], remap[row_doc[rows]], args.l2,
                                     args.target_fpr, bits=args.bits)
            coef = np.append(model.weights, model.cue_weights).astype(np.float64)
            zlog = np.asarray(x_all[hrows] @ coef + model.bias)
            part = cache.with_suffix(f".{os.getpid()}.npz")
            np.savez(part, z=zlog, coef=coef)
            part.rename(cache)  # atomic: runs of several configurations share the cache
        tr_docs = [docs[i] for i in tr]
        w = reweighted(tr_docs, remap[row_doc[rows]])
        if not args.epochs:  # the logistic model alone (its reweighted variant)
            zmlp = zlog.copy()
        else:
            zmlp = None
        if zmlp is None:
            xt = x_free[rows]
            cols = mlp.columns(xt, coef, args.columns)  # chosen from this fold's training rows and logistic model only
            sys.stderr.write(f"  columns: {len(cols)}, {xt[:, cols].nnz / max(xt.nnz, 1):.3f} of the training nnz\n")
            net = mlp.fit_mlp(xt[:, cols], y_all[rows], w, hidden=args.hidden, weight_decay=args.weight_decay,
                              epochs=args.epochs, lr=args.lr, dropout=args.dropout, seed=args.seed, log=sys.stderr.write)
            zmlp = net.logits(x_free[hrows][:, cols])
        out["zlog"].append(zlog)
        out["zmlp"].append(zmlp)
        out["doc"].append(hremap[row_doc[hrows]] + base_doc)
        out["label"].append(np.array([docs[i].label for i in held]))
        out["rule"].append(np.array([rule_score[i] for i in held]))
        out["group"].append(np.array([docs[i].group for i in held]))
        out["key"].append(np.array([hashlib.sha256(docs[i].text.encode()).hexdigest()[:16] for i in held]))
        base_doc += len(held)
        sys.stderr.write(f"fold {name}: {len(held)} dev texts, {len(rows)} training windows, {time.time() - t0:.0f}s\n")
    np.savez(OUT / f"{args.name}.npz", **{k: np.concatenate(v) for k, v in out.items()},
             config=json.dumps(vars(args)))


if __name__ == "__main__":
    main()
