"""Precision and recall per type of the PII and secrets scanners on data/pii_eval/labeled.jsonl.

Run: .venv/bin/python data/pii_eval/evaluate.py [FILE]
A prediction counts as correct when it has the gold label's type and overlaps its span;
secrets are scored per credential type. Texts go through the engine (normalisation and the
offset map included), as in the gateway. Prints a Markdown table and the false positives
per hard-negative family.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from bastion.config.policy import PolicyConfig
from bastion.policy.engine import PolicyEngine
from bastion.policy.scanners.pii import PII_TYPES

ENGINE = PolicyEngine("eval", PolicyConfig.model_validate({"input": [
    {"scanner": "pii", "action": "flag"}, {"scanner": "secrets", "action": "flag"}]}))


def main(path: Path) -> None:
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    fp_family: Counter[str] = Counter()
    negatives: Counter[str] = Counter()
    for line in path.read_text().splitlines():
        row = json.loads(line)
        gold = [(lab["type"], lab["start"], lab["end"]) for lab in row["labels"]]
        pred = [(f.type, f.start, f.end) for f in ENGINE.evaluate_text(row["text"]).findings]
        matched: set[int] = set()
        for t, s, e in pred:
            hit = next((i for i, (gt, gs, ge) in enumerate(gold) if gt == t and s < ge and gs < e and i not in matched),
                       None)
            if hit is None:
                fp[t] += 1
                if row["kind"] == "hard_negative":
                    fp_family[row["family"]] += 1
            else:
                matched.add(hit)
                tp[t] += 1
        for i, (gt, _, _) in enumerate(gold):
            if i not in matched:
                fn[gt] += 1
        if row["kind"] == "hard_negative":
            negatives[row["family"]] += 1
    types = sorted(set(tp) | set(fp) | set(fn), key=lambda t: (t not in PII_TYPES, t))
    print("| type | gold | TP | FP | FN | precision | recall |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for t in types:
        p = tp[t] / (tp[t] + fp[t]) if tp[t] + fp[t] else 1.0
        r = tp[t] / (tp[t] + fn[t]) if tp[t] + fn[t] else 1.0
        print(f"| {t} | {tp[t] + fn[t]} | {tp[t]} | {fp[t]} | {fn[t]} | {p:.3f} | {r:.3f} |")
    print()
    print("| hard-negative family | examples | texts with a false positive |")
    print("| --- | ---: | ---: |")
    for fam in sorted(negatives):
        print(f"| {fam} | {negatives[fam]} | {fp_family[fam]} |")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("labeled.jsonl"))
