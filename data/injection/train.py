"""Train the injection classifier (hashed n-grams + rule cues → logistic regression) and save it.

Usage: python data/injection/train.py [--out src/bastion/policy/injection/model.npz] [--exclude GROUP ...]

Needs numpy and scipy (training only; the gateway needs numpy alone). Reads data/injection/corpus/*.jsonl,
featurises every text exactly as the scanner does (same canonical form, same windows, same rule cues),
weights samples so that every source group counts the same within its class and both classes count
the same, fits an L2-regularised logistic regression with L-BFGS, and shifts the bias so that at most
`--target-fpr` of the training benign texts (group-balanced) reach the default threshold 0.8.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.optimize
import scipy.sparse

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))

from bastion.policy.injection import canon  # noqa: E402
from bastion.policy.injection.classifier import LinearModel  # noqa: E402
from bastion.policy.injection.detector import Detector, WordIndex  # noqa: E402
from bastion.policy.injection.features import Hasher  # noqa: E402
from bastion.policy.injection.rules import RULES, digest  # noqa: E402

CORPUS = Path(__file__).resolve().parent / "corpus"
INFO_PREFIX = "info_"  # groups reported separately, never trained on
BITS, WINDOW, STRIDE = 18, 1024, 512
MAX_TRAIN_CHARS = 20000
THRESHOLD = 0.8


@dataclass
class Doc:
    text: str
    label: int
    group: str
    rows: list[tuple[np.ndarray, np.ndarray]]  # per window: (n-gram buckets, cue rule indices)


def load_corpus(include_info: bool = False) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for f in sorted(CORPUS.glob("*.jsonl")):
        if f.stem.startswith(INFO_PREFIX) and not include_info:
            continue
        rows.extend(json.loads(line) for line in f.read_text(encoding="utf-8").split("\n") if line)
    return rows


def featurise(records: list[dict[str, object]], window: int = WINDOW, stride: int = STRIDE, bits: int = BITS) -> list[Doc]:
    probe = LinearModel(np.zeros(1 << bits, np.float32), np.zeros(len(RULES), np.float32), 0.0, bits, window, stride, "")
    det = Detector(probe)
    hasher = Hasher(bits=bits, max_len=1 << 16)
    docs: list[Doc] = []
    for r in records:
        text = str(r["text"])[:MAX_TRAIN_CHARS]
        c = canon.canonicalize(text)
        f = hasher.extract(c.codes)
        hits = det.rule_hits(c.text, WordIndex(f.words, f.word_starts))
        n = len(c.text)
        rows = []
        order = np.argsort(f.positions, kind="stable")
        pos, buckets = f.positions[order], f.buckets[order]
        for s in probe.window_starts(n).tolist():
            e = min(s + window, n)
            lo, hi = np.searchsorted(pos, s), np.searchsorted(pos, e)
            cues = np.array(sorted({h.rule for h in hits if s <= h.start < e}), dtype=np.int64)
            rows.append((buckets[lo:hi], cues))
        docs.append(Doc(text, int(r["label"]), str(r["group"]), rows))
    return docs


def design(docs: list[Doc], bits: int = BITS) -> tuple[scipy.sparse.csr_matrix, np.ndarray, np.ndarray]:
    """CSR matrix of all windows, their labels and sample weights (group- and class-balanced)."""
    dim = (1 << bits) + len(RULES)
    indptr, indices, values, labels, doc_weight = [0], [], [], [], []
    group_totals: dict[tuple[int, str], int] = defaultdict(int)
    for d in docs:
        group_totals[(d.label, d.group)] += 1
    groups_per_label: dict[int, int] = defaultdict(int)
    for label, _ in group_totals:
        groups_per_label[label] += 1
    for d in docs:
        per_doc = 1.0 / (group_totals[(d.label, d.group)] * groups_per_label[d.label])
        for buckets, cues in d.rows:
            uniq, counts = np.unique(buckets, return_counts=True)
            norm = math.sqrt(max(len(buckets), 1))
            indices.extend(uniq.tolist())
            values.extend((counts / norm).tolist())
            indices.extend(((1 << bits) + cues).tolist())
            values.extend([1.0] * len(cues))
            indptr.append(len(indices))
            labels.append(d.label)
            doc_weight.append(per_doc / len(d.rows))
    x = scipy.sparse.csr_matrix((np.array(values), np.array(indices), np.array(indptr)), shape=(len(labels), dim))
    w = np.array(doc_weight)
    return x, np.array(labels, dtype=np.float64), w / w.sum() * len(w)


def fit(x: scipy.sparse.csr_matrix, y: np.ndarray, w: np.ndarray, l2: float, iters: int = 400) -> tuple[np.ndarray, float]:
    n, dim = x.shape
    xt = x.T.tocsr()

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        coef, b = theta[:-1], theta[-1]
        z = x @ coef + b
        p = 1.0 / (1.0 + np.exp(-z))
        ll = np.logaddexp(0, z) - y * z
        grad_z = w * (p - y) / n
        g = np.empty_like(theta)
        g[:-1] = xt @ grad_z + l2 * coef
        g[-1] = grad_z.sum()
        return float((w * ll).sum() / n + 0.5 * l2 * coef @ coef), g

    res = scipy.optimize.minimize(loss, np.zeros(dim + 1), jac=True, method="L-BFGS-B",
                                  options={"maxiter": iters})
    return res.x[:-1], float(res.x[-1])


def train(docs: list[Doc], l2: float, target_fpr: float, bits: int = BITS, window: int = WINDOW,
          stride: int = STRIDE) -> LinearModel:
    x, y, w = design(docs, bits)
    coef, bias = fit(x, y, w, l2)
    model = LinearModel(coef[: 1 << bits].astype(np.float32), coef[1 << bits:].astype(np.float32), bias, bits,
                        window, stride, "")
    # calibrate: shift the bias so that group-balanced benign training docs reach 0.8 at most target_fpr
    det = Detector(model, use_rules=False)
    benign_by_group: dict[str, list[float]] = defaultdict(list)
    for d in docs:
        if d.label == 0:
            f = [x for x in det.findings(d.text) if x.family == "classifier"]
            benign_by_group[d.group].append(math.log(f[0].score / (1 - f[0].score + 1e-12) + 1e-12))
    logit_thr = math.log(THRESHOLD / (1 - THRESHOLD))
    lo, hi = -20.0, 20.0
    for _ in range(50):
        mid = (lo + hi) / 2
        fpr = np.mean([np.mean(np.array(v) + mid >= logit_thr) for v in benign_by_group.values()])
        if fpr > target_fpr:
            hi = mid
        else:
            lo = mid
    shift = min(lo, 0.0) if target_fpr > 0 else lo
    return LinearModel(model.weights, model.cue_weights, bias + shift, bits, window, stride, "")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "src" / "bastion" / "policy" / "injection" / "model.npz"))
    ap.add_argument("--exclude", nargs="*", default=[])
    ap.add_argument("--l2", type=float, default=1e-4)
    ap.add_argument("--target-fpr", type=float, default=0.005)
    args = ap.parse_args()
    records = [r for r in load_corpus() if r["group"] not in set(args.exclude)]
    docs = featurise(records)
    model = train(docs, args.l2, args.target_fpr)
    version = f"hash{BITS}-w{WINDOW}-n{len(docs)}"
    LinearModel(model.weights, model.cue_weights, model.bias, model.bits, model.window, model.stride, version,
                digest()).save(Path(args.out))
    sys.stdout.write(f"saved {args.out} ({version}), bias {model.bias:.3f}\n")


if __name__ == "__main__":
    main()
