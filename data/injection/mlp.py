"""A one-hidden-layer second stage over the classifier's own features (twenty-ninth round; experiment, not shipped).

The same design rows as the logistic model (hashed n-grams, length-normalised, plus the weak rule cues; the strong
cues' columns zeroed as `train.train_from` does), restricted to the columns the fold's logistic model leans on most
(`columns`: 2^15 of the 2^18 + cues by default, so that training and inference stay cheap), feed H ReLU units and one
output logit:

    z = b2 + v . relu(W1^T x + b1)

trained on the same rows with the same sample weights (weighted cross-entropy), AdamW (decoupled weight decay as the
L2 term), dropout on the hidden units, minibatches of windows; numpy and scipy only (training needs scipy, as
train.py does). A runtime version would need numpy alone: W1's rows summed over a window's buckets, times their values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse


@dataclass
class MLP:
    w1: np.ndarray  # (dim, hidden) float32
    b1: np.ndarray  # (hidden,)
    v: np.ndarray  # (hidden,)
    b2: float

    def logits(self, x: scipy.sparse.csr_matrix) -> np.ndarray:
        h = np.maximum(np.asarray(x @ self.w1) + self.b1, 0.0)
        return h @ self.v + self.b2


def columns(x: scipy.sparse.csr_matrix, coef: np.ndarray, k: int) -> np.ndarray:
    """The `k` feature columns the MLP reads: those of the largest mean absolute contribution to the logistic model's
    logit over the training windows (|weight| times the column's total value), sorted; every column when k >= dim.
    Rare buckets with large weights (one training text's n-grams) rank low, frequent ones with some weight high."""
    if k >= x.shape[1]:
        return np.arange(x.shape[1])
    mass = np.abs(coef[: x.shape[1]]) * np.asarray(abs(x).sum(axis=0)).ravel()
    return np.sort(np.argsort(-mass, kind="stable")[:k])


def fit_mlp(x: scipy.sparse.csr_matrix, y: np.ndarray, w: np.ndarray, hidden: int = 32, weight_decay: float = 1e-4,
            epochs: int = 8, lr: float = 2e-3, dropout: float = 0.2, batch: int = 512, seed: int = 0,
            log=None) -> MLP:  # type: ignore[no-untyped-def]
    """Minibatch AdamW (numpy and scipy only), learning rate warmed up over the first epoch and then decayed linearly
    to 0; inputs are the design rows, `w` the sample weights (normalised to mean 1 here)."""
    rng = np.random.default_rng(seed)
    x = x.tocsr().astype(np.float32)
    n, dim = x.shape
    w = (w / w.mean()).astype(np.float32)
    y = y.astype(np.float32)
    params = [rng.normal(0, 0.02, (dim, hidden)).astype(np.float32), np.zeros(hidden, np.float32),
              rng.normal(0, 1 / np.sqrt(hidden), hidden).astype(np.float32), np.zeros(1, np.float32)]
    m = [np.zeros_like(q) for q in params]
    v2 = [np.zeros_like(q) for q in params]
    b1, b2, eps = 0.9, 0.999, 1e-8
    per_epoch = (n + batch - 1) // batch
    steps, t = epochs * per_epoch, 0
    for epoch in range(epochs):
        perm = rng.permutation(n)
        total = 0.0
        for s in range(0, n, batch):
            idx = perm[s:s + batch]
            xb, yb, wb = x[idx], y[idx], w[idx]
            w1, c1, v, c2 = params
            pre = np.asarray(xb @ w1) + c1
            h = np.maximum(pre, 0.0)
            keep = (rng.random(h.shape) >= dropout).astype(np.float32) / (1 - dropout) if dropout else 1.0
            hd = h * keep
            z = hd @ v + c2[0]
            p = 1.0 / (1.0 + np.exp(-z))
            total += float((wb * (np.logaddexp(0, z) - yb * z)).sum())
            gz = wb * (p - yb) / len(idx)
            gv = hd.T @ gz
            gh = np.outer(gz, v) * keep * (pre > 0)
            grads = [np.asarray(xb.T @ gh), gh.sum(0), gv.astype(np.float32), np.array([gz.sum()], np.float32)]
            t += 1
            rate = lr * min(t / per_epoch, (steps - t + 1) / (steps - per_epoch + 1))
            for q, g, mq, vq in zip(params, grads, m, v2, strict=True):
                mq *= b1
                mq += (1 - b1) * g
                vq *= b2
                vq += (1 - b2) * g * g
                if q.ndim == 2 and weight_decay:
                    q *= 1 - rate * weight_decay
                q -= rate * (mq / (1 - b1 ** t)) / (np.sqrt(vq / (1 - b2 ** t)) + eps)
        if log:
            log(f"  epoch {epoch}: loss {total / n:.4f}\n")
    return MLP(params[0], params[1], params[2], float(params[3][0]))
