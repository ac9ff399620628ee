"""Write src/bastion/policy/injection/trigrams.py: the character 3-grams most benign texts hold.

Usage: python data/injection/common_trigrams.py [--top N]

Reads the benign texts (label 0) of data/injection/corpus, takes their canonical form (the detector's, with
`canon.canonicalize`) and counts in how many texts each 3-gram occurs; writes the `--top` most frequent (2000 by
default), most frequent first (ties in code point order). Deterministic. The prefilter files each rule string
under its least common 3-gram (`prefilter.Prefilter`): an ordinary text then tests fewer strings. Only the cost
depends on this table, never a flag (every picked 3-gram of a string is tested whichever is its key).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "data" / "injection" / "corpus"
OUT = ROOT / "src" / "bastion" / "policy" / "injection" / "trigrams.py"
PER_LINE = 30  # 3-grams per line of the written string


def common(top: int) -> list[str]:
    """The `top` 3-grams of the most benign canonical texts, most frequent first."""
    from bastion.policy.injection import canon

    df: Counter[str] = Counter()
    for path in sorted(CORPUS.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").split("\n"):
            if not line.strip():
                continue
            row = json.loads(line)
            if row["label"] == 0:
                text = canon.canonicalize(row["text"]).text
                df.update({text[i:i + 3] for i in range(len(text) - 2)})
    return [g for g, _ in sorted(df.items(), key=lambda kv: (-kv[1], kv[0]))[:top]]


def render(grams: list[str]) -> str:
    lines = [repr("".join(grams[k:k + PER_LINE])) for k in range(0, len(grams), PER_LINE)]
    body = "\n".join(f"    {line}" for line in lines)
    return (f'"""The {len(grams)} character 3-grams that most benign texts of the corpus hold (canonical form), most '
            "frequent first.\nWritten by data/injection/common_trigrams.py: do not edit. The prefilter's cost depends on "
            'it, no flag does."""\n\n'
            f"COMMON = (\n{body}\n)\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--top", type=int, default=2000)
    args = parser.parse_args()
    OUT.write_text(render(common(args.top)), encoding="utf-8")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
