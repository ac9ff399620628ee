"""Differential check of the secrets and PII scanners: this tree's results against another version's (HEAD by default).

Usage: python bench/diff_scanners.py [--base DIR] [--random N] [--seed S]

Runs, in a subprocess per version (the other version imported from DIR/src, by default HEAD's `src/bastion`
extracted with `git archive`, which has no C accelerator built: give a built tree's DIR to compare the C paths
too), on every text: `scan` and `may_match` of the secrets and PII scanners in several
configurations (all types, subsets, min_score 0), `normalize` (its text and the map of every offset back to the
original, plain and as JSON text) and `is_plain`. Texts: the labelled PII/secrets set (data/pii_eval), the secrets
tests' positives and negatives, the injection corpus, the gateway bench's texts, and N generated texts: random
slices and concatenations of those, pieces of numbers, credentials split by zero-width or control characters,
homoglyphs, fullwidth digits, tag characters, JSON escapes, random strings over the alphabets the gates read.
Prints the number of comparisons and every difference; exits 1 when there is one. Not a test: it takes minutes.
"""

from __future__ import annotations

import json
import random
import string
import sys
from pathlib import Path

from diff_injection import run_cli  # bench/, this script's directory, is on sys.path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
PIECES = [
    "(415) 555-2671", "+44 20 7946 0958", "030 12345678", "4111 1111 1111 1111", "4111-1111-1111-1111", "536-22-8730",
    "DE89 3704 0044 0532 0130 00", "GB82WEST12345698765432", "192.168.1.20", "2001:db8::ff00:42:8329", "::1", "fe80::1%",
    "jane.doe@example.com", "a@b.co", "icon@2x.png", "2024-05-01", "1.2.3.4.5", "x1234", "SSN ", "phone: ", "call ",
    "AKIAIOSFODNN7EXAMPLE", "AKIA", "sk-", "sk-ant-", "ghp_", "github_pat_", "glpat-", "xoxb-", "hf_", "npm_", "SG.",
    "eyJ", "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9", "AIza", "ya29.", "Q~", "AccountKey=", "://", "postgres://u:p@h/db",
    "password=", "passwd: ", "pwd=", "api_key = ", "secret: ", "token=", "credential ", "Bearer ", "bearer ",
    "aws_secret_access_key = ", "twilio auth token: ", "-----BEGIN RSA PRIVATE KEY-----", "PRIVATE KEY", "SK",
    "whsec_", "sk_live_", "pypi-AgEIcHlwaS5vcmc", "hooks.slack.com", "private_key_id", "\"private_key_id\": \"",
    "\u200b", "\u200d", "\ufeff", "\u00ad", "\u2060", "\x00", "\x07", "\x7f", "\t", "\n", "\r", "\u2028", "\u00a0",
    "\u0430", "\u0435", "\u043e", "\u0440", "\u0441", "\u0410", "\u041a", "\u0130", "\u212a", "\uff10\uff11\uff12",
    "\uff21\uff2b\uff29\uff21", "\U0001d7ce\U0001d7cf", "\u0661\u0662\u0663", "\u096a\u096b", "\U000e0041\U000e004b",
    "\\u0041", "\\u004bIA", "\\/", "\\\\u0041", "é", "ß", "İ", "K", "中文", "カード番号", "😀", " ", "  ", ".", "-", ":",
    "::", "_", "=", "~", "@", "+", "(", ")", "[", "]", "'", '"', "0", "7", "12", "999", "0x1f", "3.14",
]
ALPHABETS = ["0123456789 -.()\tABZab:+/", string.ascii_letters + string.digits + "_-.~:=/ ", string.hexdigits + ":. ",
             "0123456789@.a ", string.printable, "0123456789 \u200b\u00a0\uff10\u0430-:."]
FILLER = ("Our team is planning the migration of a reporting service. Keep the answer short, with a numbered list "
          "of steps; Version 3.14.2 fixed the build (see issue #4521). ")


def _lines(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]


def _texts(n_random: int, seed: int) -> list[str]:
    sys.path.insert(0, str(ROOT))
    from bodies import SYSTEM, prompt
    from tests.unit.policy.fake_credentials import SECRETS
    from upstream import WORDS

    texts: list[str] = [json.loads(line)["text"] for line in _lines(DATA / "pii_eval" / "labeled.jsonl")]
    for sample in SECRETS.values():
        texts.extend(sample)
        texts.extend(f"{FILLER}{s} and more" for s in sample)
    for path in sorted((DATA / "injection" / "corpus").glob("*.jsonl")):
        texts.extend(json.loads(line)["text"] for line in _lines(path))
    texts += [SYSTEM, "".join(WORDS) * 4] + [f"Ticket bench-{i}: " + prompt(w) for i, w in enumerate((1, 20, 200, 400))]
    texts += ["", " ", "a", "0", "1a", ":", "::", "@", FILLER, FILLER * 30]
    rng = random.Random(seed)
    pool = list(texts)
    secrets = [s for sample in SECRETS.values() for s in sample]
    for k in range(n_random):
        kind = k % 4
        if kind == 0:  # slices and concatenations of the corpus
            parts = []
            for _ in range(rng.randint(1, 4)):
                src = rng.choice(pool)
                a = rng.randrange(len(src) + 1)
                parts.append(src[a:a + rng.choice((3, 9, 40, 120, 300, 1000, 3000))])
            text = rng.choice(("", " ", "\n")).join(parts)
        elif kind == 1:  # pieces of numbers and credentials with filler
            text = "".join(rng.choice(PIECES) if rng.random() < 0.6 else rng.choice(("word ", "Word ", " ", "x")) for
                           _ in range(rng.randint(1, 20)))
        elif kind == 2:  # random strings over the alphabets the gates read
            alphabet = rng.choice(ALPHABETS)
            text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 200)))
        else:  # a credential or number split, disguised or embedded
            value = rng.choice(secrets + PIECES[:20])
            cut = rng.randrange(len(value) + 1)
            glue = rng.choice(("\u200b", "\u00ad", "\ufeff", "\x00", "\u2060", " ", "", "\\u0041", "\U000e0041"))
            value = value[:cut] + glue + value[cut:]
            if rng.random() < 0.3:
                value = value.translate({ord("a"): "\u0430", ord("e"): "\u0435", ord("o"): "\u043e"})
            text = rng.choice(("", FILLER, FILLER * 20, "x" * rng.randint(0, 200))) + value + rng.choice(("", ".", " x"))
        texts.append(text)
    return texts


def _worker(src: str, texts_file: str, out_file: str) -> None:
    sys.path.insert(0, src)
    import bastion
    from bastion.policy.normalize import is_plain, normalize
    from bastion.policy.scanners.pii import PiiScanner
    from bastion.policy.scanners.secrets import SecretsScanner

    if not Path(bastion.__file__).resolve().is_relative_to(Path(src).resolve()):
        raise SystemExit(f"imported {bastion.__file__}, not the package under {src}")
    scanners = [SecretsScanner(), SecretsScanner(types=["jwt", "password", "github_token"]),
                SecretsScanner(types=["generic_secret"]), PiiScanner(), PiiScanner(min_score=0.0),
                PiiScanner(types=["iban", "phone"]), PiiScanner(types=["ip_address", "email"])]
    texts: list[str] = json.loads(Path(texts_file).read_text(encoding="utf-8"))
    out: dict[str, list[object]] = {"is_plain": [], "normalize": [], "normalize_json": []}
    for j in range(len(scanners)):
        out[f"scan{j}"] = []
        out[f"may{j}"] = []
    for t in texts:
        out["is_plain"].append(is_plain(t))
        for key, js in (("normalize", False), ("normalize_json", True)):
            norm = normalize(t, js)
            out[key].append([norm.text, [norm.to_original(a, b) for a in range(0, len(norm.text) + 1, 7)
                                         for b in (a, a + 1, a + 5)]])
        for j, s in enumerate(scanners):
            text = normalize(t).text
            out[f"scan{j}"].append([[m.type, m.start, m.end, float(m.score).hex()] for m in s.scan(text)])
            out[f"may{j}"].append(s.may_match(text))
    Path(out_file).write_text(json.dumps(out), encoding="utf-8")


def main() -> int:
    return run_cli(__file__, _worker, _texts, 20000, lambda key: key.startswith("scan"))


if __name__ == "__main__":
    raise SystemExit(main())
