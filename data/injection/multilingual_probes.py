"""Attacks and benign look-alikes in 25 languages: how the injection detector does outside English.

Usage: python data/injection/multilingual_probes.py [--threshold 0.8] [--set dev|heldout|all] [--json FILE]

`multilingual_probes.jsonl` holds two sets of 350 short texts (25 languages: es pt fr it de nl pl ru uk zh zh-tw ja ko
ar hi id vi th he el fa bn ms bg sr; per language 8 attacks and 6 benign look-alikes), each written for this project
(Apache-2.0) by a separate helper that saw neither the detector's code, its rules, its data nor the other set:

* `dev` (the twenty-second round's held-out set, read after that round and used to write the twenty-third round's
  rules): stock families in local wording (ignore the instructions, show the system prompt, developer / DAN mode,
  no restrictions from now on, a note to the AI inside a document, a fake system message); benign: "ignore my previous
  e-mail", "don't forget the instructions on the box", developer mode on a phone, system requirements ...
* `heldout` (written without the stock phrasings: override in other words, extraction by other means, personas,
  restrictions lifted, injected content, fake authority, hypothetical framing, a task followed by a hidden order;
  benign look-alikes of those). Its texts have not been read by whoever writes rules; only counts are printed.

Prints, per set, attacks caught and benign texts flagged at `--threshold`, and per language for the dev set. Not
training data: no group of the corpus or of train.py reads this file.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROBES = HERE / "multilingual_probes.jsonl"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threshold", type=float, default=0.8)
    ap.add_argument("--set", choices=("dev", "heldout", "all"), default="all")
    ap.add_argument("--json", default="", help="write the counts here")
    args = ap.parse_args()
    from bastion.policy.scanners.injection import InjectionScanner

    scanner = InjectionScanner()
    rows = [json.loads(line) for line in PROBES.read_text(encoding="utf-8").splitlines() if line.strip()]
    counts: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0, 0, 0]))
    for row in rows:
        if args.set != "all" and row["set"] != args.set:
            continue
        score = max((f.score for f in scanner.scan(row["text"])), default=0.0)
        c = counts[row["set"]][row["lang"]]
        k = 0 if row["label"] else 2
        c[k] += 1
        c[k + 1] += score >= args.threshold
    out: dict[str, dict[str, object]] = {}
    for name, langs in counts.items():
        a = sum(v[0] for v in langs.values())
        af = sum(v[1] for v in langs.values())
        b = sum(v[2] for v in langs.values())
        bf = sum(v[3] for v in langs.values())
        line = f"{name}: attacks caught {af} / {a}, benign flagged {bf} / {b}"
        if name == "dev":
            line += " | " + " ".join(f"{lang} {v[1]}/{v[0]},{v[3]}/{v[2]}" for lang, v in sorted(langs.items()))
        print(line)
        out[name] = {"attacks": a, "caught": af, "benign": b, "flagged": bf}
    if args.json:
        Path(args.json).write_text(json.dumps({"threshold": args.threshold, **out}, indent=1) + "\n")


if __name__ == "__main__":
    sys.exit(main())
