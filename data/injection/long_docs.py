"""Benign flags on whole documentation files: how often the injection detector flags a README or manual a user pastes.

Usage: python data/injection/long_docs.py [--threshold 0.8] [--min-bytes 2000] [--max-bytes 200000]
                                          [--per-package 40] [--cache DIR] [--no-sdists] [--model FILE]
                                          [--show N] [--near N] [--list] [--json FILE]

Users paste READMEs, manuals, changelogs, tutorials and setup guides, which are full of second-person orders
("You must run…", "Never commit your API key", "Ignore this warning…", "set the system prompt…"). The corpus holds
prompts and short snippets; this script measures, like `long_inputs.py` does for source files, documents that
nobody wrote for this project and that the detector never trained on:

* the long description (the README, Markdown or reStructuredText) in the `METADATA` / `PKG-INFO` of every
  distribution installed in the running environment's site-packages, the base interpreter's site-packages
  (the machine's Python) and the system Python's `/usr/lib/python3/dist-packages`, one per distribution name
  (the first of those directories wins); `bastion-gateway` (this project) is left out;
* the `.md`, `.rst` and `.txt` files shipped inside those packages and in the base interpreter's standard library
  (`idlelib/NEWS.txt`, `email/architecture.rst`, …);
* the same files in the source distributions of `SDISTS` (pinned, from PyPI with `pip download --no-binary`,
  unpacked under `--cache`): their documentation directories hold tutorials, user guides, setup and deployment
  guides, FAQs and changelogs (Django, pip, pytest, Sphinx, Flask, Celery);
* the same from the sdists of `LLM_SDISTS` (nineteenth round; kind `llm`): documentation of LLM applications
  (instructor, openai-agents in four languages, outlines, llama-cpp-python with its vendored llama.cpp docs, and the
  READMEs of dspy, guardrails-ai, guidance, haystack-ai, llm, mirascope, ollama), which talks about prompts, system
  messages, chat templates, models and API keys, and whose publishers no corpus group reads;

files not under `test`/`tests`/`testing`/`data` directories, not licence files (`LICENSE*`, `COPYING*`, `NOTICE*`,
`AUTHORS*`, `CONTRIBUTORS*`: vendored legal boilerplate and name lists), `.txt` only when it reads as prose (most of its
tokens are lower-case words: no grammars, entity tables, requirement or number lists), at most `--per-package` per
top-level package or sdist (evenly over its files in path order: awscli alone ships 5,834 command examples,
Django 332 documentation pages); each between `--min-bytes` and `--max-bytes` (UTF-8). Duplicates are removed: a text
whose whitespace-folded form or name was seen before, or whose 5-word shingles are half contained in the texts kept
before it (the same README in two versions, an sdist's README and its wheel's description); and a text that shares
half its 5-word shingles with the training corpus (every file of `data/injection/corpus`) is left out and counted, so
the measure stays on text the detector never trained on. Every file is benign. Files are split like the corpus, by the
SHA-256 of their name (`<distribution>/METADATA` for a description, the path relative to its site-packages or
standard-library directory for an installed file, `<name>-sdist/<path>` for an sdist's): dev half (first hex digit
0-7) and sealed half (8-f). Only dev-half files are ever shown (`--show` prints flagged ones with their best window,
`--near` the highest-scoring unflagged ones, and the dev counts at other thresholds are printed); for the sealed half
only the number of files and of flagged files at `--threshold` is printed or written, so that a change can be chosen
on the dev half and checked once on the sealed half. `--model` scores with another classifier file (train.py --out)
than the shipped one.
"""

from __future__ import annotations

import argparse
import email
import hashlib
import json
import re
import subprocess
import sys
import sysconfig
import tarfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from bastion.policy.injection import canon
from bastion.policy.injection.detector import MODEL_FAMILY
from bastion.policy.injection.rules import RULES
from bastion.policy.scanners.injection import shared_detector

HERE = Path(__file__).resolve().parent
BANDS = ((0, 10_000, "< 10 kB"), (10_000, 50_000, "10-50 kB"), (50_000, 10**9, ">= 50 kB"))
SWEEP = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9)  # dev half only
DOC_EXTS = {".md", ".rst", ".txt"}
SKIP_DIRS = {"test", "tests", "testing", "idle_test", "data", "__pycache__", "site-packages", "dist-packages"}
LEGAL = re.compile(r"^(licen[cs]e|copying|notice|authors|contributors)", re.I)
SKIP_DISTS = {"bastion-gateway"}  # this project's own README
SYSTEM_SITE = Path("/usr/lib/python3/dist-packages")
# source distributions from PyPI whose documentation directories hold tutorials, user guides, setup and deployment
# guides and changelogs (second-person instructions to people); versions pinned, licences of their docs
SDISTS = {"django": "5.1.4", "pip": "24.3.1", "pytest": "8.3.4", "sphinx": "8.1.3", "flask": "3.1.0", "celery": "5.4.0"}
# nineteenth round, second component (kind "llm"): documentation of LLM applications (prompts, system messages, agents,
# API keys), from libraries whose publishers no corpus group reads; the first four ship their docs directories, the
# others their README
LLM_SDISTS = {"instructor": "1.17.0", "openai-agents": "0.24.0", "outlines": "1.3.3", "llama-cpp-python": "0.3.36",
              "dspy": "3.4.1", "guardrails-ai": "0.11.0", "guidance": "0.3.1", "haystack-ai": "3.4.1", "llm": "0.36",
              "mirascope": "2.8.2", "ollama": "0.6.3"}
SDIST_LICENCES = {"instructor": "MIT", "openai-agents": "MIT", "outlines": "Apache-2.0",
                  "llama-cpp-python": "MIT (and llama.cpp: MIT)", "dspy": "MIT", "guardrails-ai": "Apache-2.0",
                  "guidance": "MIT", "haystack-ai": "Apache-2.0", "llm": "Apache-2.0", "mirascope": "MIT",
                  "ollama": "MIT", "django": "BSD-3-Clause", "pip": "MIT", "pytest": "MIT", "sphinx": "BSD-2-Clause",
                  "flask": "BSD-3-Clause", "celery": "BSD-3-Clause (code), CC-BY-SA-4.0 (docs)"}


@dataclass(frozen=True)
class Doc:
    name: str  # the name the dev/sealed split hashes
    kind: str  # "description", "file" (shipped in an installed package), "sdist" or "llm" (an LLM library's sdist)
    dist: str  # distribution (name==version) or "stdlib"
    text: str


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def sites() -> list[Path]:
    """The running environment's site-packages, the base interpreter's, and the system Python's (when present)."""
    own = Path(sysconfig.get_paths()["purelib"])
    base = Path(sysconfig.get_paths(vars={"base": sys.base_prefix, "platbase": sys.base_prefix})["purelib"])
    out: list[Path] = []
    for p in (own, base, SYSTEM_SITE):
        if p.is_dir() and p.resolve() not in {q.resolve() for q in out}:
            out.append(p)
    return out


def description(meta: Path) -> tuple[str, str, str, str]:
    """(normalised name, version, licence, long description) of a METADATA / PKG-INFO file."""
    msg = email.message_from_string(meta.read_text(encoding="utf-8", errors="replace"))
    body = msg.get_payload()
    text = body if isinstance(body, str) and body.strip() else ""
    if not text:  # older metadata: the description is a folded header, continuation lines indented by 8
        raw = str(msg.get("Description") or "")
        text = "\n".join(line[8:] if line.startswith(" " * 8) else line.lstrip("|") for line in raw.split("\n"))
    if text.strip() == "UNKNOWN":
        text = ""
    lic = str(msg.get("License-Expression") or msg.get("License") or "").strip().split("\n")[0][:60]
    if not lic or lic == "UNKNOWN":
        lic = "; ".join(c.split(" :: ")[-1] for c in msg.get_all("Classifier") or [] if c.startswith("License ::"))
    return norm(str(msg.get("Name") or meta.parent.name)), str(msg.get("Version") or ""), lic, text


def owners(site: Path) -> dict[str, str]:
    """Top-level package directory → distribution name==version, from the RECORD / top_level.txt files."""
    out: dict[str, str] = {}
    for info in sorted([*site.glob("*.dist-info"), *site.glob("*.egg-info")]):
        meta = info / ("METADATA" if info.suffix == ".dist-info" else "PKG-INFO")
        if not meta.is_file():
            continue
        name, version, _, _ = description(meta)
        tops: set[str] = set()
        if (info / "RECORD").is_file():
            tops = {line.split("/")[0] for line in (info / "RECORD").read_text().splitlines() if "/" in line}
        if (info / "top_level.txt").is_file():
            tops |= set((info / "top_level.txt").read_text().split())
        for t in tops:
            if not t.endswith((".dist-info", ".egg-info", ".data")) and t != "..":
                out.setdefault(t, f"{name}=={version}")
    return out


def prose(text: str) -> bool:
    """Most tokens are lower-case words (no grammar, entity table or list of numbers or domains)."""
    tokens = text.split()
    words = sum(1 for t in tokens if re.fullmatch(r"[\"'(]?[A-Za-z]?[a-z]+[.,;:!?)\"']*", t))
    return len(tokens) >= 200 and words >= 0.5 * len(tokens)


def doc_files(root: Path, base: Path) -> list[Path]:
    out = []
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(base)
        if p.suffix.lower() not in DOC_EXTS or not p.is_file() or LEGAL.match(p.name):
            continue
        if SKIP_DIRS & {part.lower() for part in rel.parts[:-1]} or any(x.endswith(("-info", ".data")) for x in rel.parts):
            continue
        out.append(p)
    return out


def spread(items: list[Doc], k: int) -> list[Doc]:
    """At most k of items, evenly over them (path order)."""
    if len(items) <= k:
        return items
    step = len(items) / k
    return [items[int(i * step)] for i in range(k)]


def fetch_sdists(cache: Path) -> dict[str, Path]:
    """Download (once, into `cache`, with pip) and unpack the pinned source distributions; their roots by name."""
    roots: dict[str, Path] = {}
    for name, version in (SDISTS | LLM_SDISTS).items():
        target = cache / f"{name}-{version}"
        unpacked = target / "x"
        if not unpacked.exists():
            target.mkdir(parents=True, exist_ok=True)
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-q",
                            "-d", str(target), f"{name}=={version}"], check=True)
            with tarfile.open(next(target.glob("*.tar.gz"))) as tf:
                tf.extractall(target / "sdist", filter="data")
            next((target / "sdist").iterdir()).rename(unpacked)
        roots[name] = unpacked
    return roots


def read_docs(lo: int, hi: int, per_package: int, cache: Path | None = None) -> tuple[list[Doc], dict[str, str]]:
    """Every candidate document (before deduplication), and the licence of each distribution read."""
    docs: list[Doc] = []
    licences: dict[str, str] = {}
    seen_dists: set[str] = set()

    def fits(text: str) -> bool:
        return lo <= len(text.encode()) <= hi

    stdlib = Path(sysconfig.get_paths()["stdlib"])
    std: list[Doc] = []
    for p in doc_files(stdlib, stdlib):
        text = p.read_text(encoding="utf-8", errors="replace")
        if fits(text) and (p.suffix != ".txt" or prose(text)):
            std.append(Doc(p.relative_to(stdlib).as_posix(), "file", "stdlib", text))
    docs += spread(std, per_package)
    licences[f"stdlib ({sys.version.split()[0]})"] = "PSF-2.0"
    for site in sites():
        owner = owners(site)
        for info in sorted([*site.glob("*.dist-info"), *site.glob("*.egg-info")]):
            meta = info / ("METADATA" if info.suffix == ".dist-info" else "PKG-INFO")
            if info.is_file():  # a single-file egg-info is the PKG-INFO itself
                meta = info
            if not meta.is_file():
                continue
            name, version, lic, text = description(meta)
            if name in SKIP_DISTS or name in seen_dists:
                continue
            seen_dists.add(name)
            licences[f"{name}=={version}"] = lic
            if text and fits(text):
                docs.append(Doc(f"{name}/METADATA", "description", f"{name}=={version}", text))
        per_top: dict[str, list[Doc]] = {}
        for top in sorted(p for p in site.iterdir() if p.is_dir() and not p.name.endswith(("-info", ".data"))):
            dist = owner.get(top.name, top.name)
            if norm(dist.split("==")[0]) in SKIP_DISTS:
                continue
            for p in doc_files(top, site):
                text = p.read_text(encoding="utf-8", errors="replace")
                if fits(text) and (p.suffix != ".txt" or prose(text)):
                    per_top.setdefault(top.name, []).append(Doc(p.relative_to(site).as_posix(), "file", dist, text))
        for items in per_top.values():
            docs += spread(items, per_package)
    if cache is not None:
        for name, root in fetch_sdists(cache).items():
            kind = "llm" if name in LLM_SDISTS else "sdist"
            dist = f"{name}=={(SDISTS | LLM_SDISTS)[name]} (sdist)"
            licences[dist] = SDIST_LICENCES[name]
            items = []
            for p in doc_files(root, root):
                text = p.read_text(encoding="utf-8", errors="replace")
                if fits(text) and (p.suffix != ".txt" or prose(text)):
                    items.append(Doc(f"{name}-sdist/{p.relative_to(root).as_posix()}", kind, dist, text))
            docs += spread(items, per_package)
    return docs, licences


def shingles(text: str) -> set[tuple[str, ...]]:
    words = re.findall(r"\w+", text.lower())
    return {tuple(words[i:i + 5]) for i in range(max(len(words) - 4, 1))}


def deduplicate(docs: list[Doc]) -> tuple[list[Doc], Counter[str]]:
    """Drop exact repeats (same name or whitespace-folded text), near-duplicates of a kept text, and texts that share
    half their 5-word shingles with the training corpus; the counts of what was dropped."""
    corpus: set[tuple[str, ...]] = set()
    for f in sorted((HERE / "corpus").glob("*.jsonl")):
        for line in f.read_text(encoding="utf-8").split("\n"):
            if line:
                corpus |= shingles(str(json.loads(line)["text"]))
    kept: list[Doc] = []
    names: set[str] = set()
    folded: set[str] = set()
    seen: set[tuple[str, ...]] = set()
    dropped = Counter[str]()
    for d in docs:
        key = hashlib.sha256(" ".join(d.text.split()).encode()).hexdigest()
        sh = shingles(d.text)
        if d.name in names or key in folded:
            dropped["repeat"] += 1
        elif len(sh & seen) >= 0.5 * len(sh):
            dropped["near-duplicate"] += 1
        elif len(sh & corpus) >= 0.5 * len(sh):
            dropped["in the corpus"] += 1
        else:
            kept.append(d)
            names.add(d.name)
            folded.add(key)
            seen |= sh
    return kept, dropped


def half(name: str) -> str:
    return "dev" if hashlib.sha256(name.encode()).hexdigest()[0] in "01234567" else "sealed"


def band(n: int) -> str:
    return next(name for a, b, name in BANDS if a <= n < b)


def rules_of(text: str, family: str) -> list[int]:
    """Indices of the strong rules of `family` whose pattern matches the canonical text (for the dev report)."""
    c = canon.canonicalize(text).text
    return [i for i, r in enumerate(RULES) if r.family == family and not r.is_cue and r.pattern.search(c)]


def snippet(text: str, a: int, b: int) -> str:
    return " ".join(text[a:b].split())[:200]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threshold", type=float, default=0.8)
    ap.add_argument("--min-bytes", type=int, default=2000)
    ap.add_argument("--max-bytes", type=int, default=200_000)
    ap.add_argument("--per-package", type=int, default=40, help="at most this many shipped doc files per package")
    ap.add_argument("--cache", default="/tmp/bastion-injection-docs", help="where the pinned sdists are unpacked")
    ap.add_argument("--no-sdists", action="store_true", help="only the installed distributions' documents")
    ap.add_argument("--model", default=None, help="a classifier file (default: the shipped model)")
    ap.add_argument("--show", type=int, default=0, help="print the first N flagged dev-half files with their window")
    ap.add_argument("--near", type=int, default=0, help="print the N highest-scoring unflagged dev-half files")
    ap.add_argument("--list", action="store_true", help="print the distributions read and their licences")
    ap.add_argument("--json", default="", help="write the counts here")
    a = ap.parse_args()
    docs, licences = read_docs(a.min_bytes, a.max_bytes, a.per_package, None if a.no_sdists else Path(a.cache))
    docs, dropped = deduplicate(docs)
    kinds = Counter(d.kind for d in docs)
    print(f"documents: {len(docs)} ({kinds['description']} descriptions, {kinds['file']} installed files, "
          f"{kinds['sdist']} sdist files, {kinds['llm']} LLM-application files); dropped: {dict(dropped)}; distributions read: {len(licences)}")
    if a.list:
        for dist, lic in sorted(licences.items()):
            print(f"  {dist}: {lic}")
    detector = shared_detector(True, True, a.model)
    files = Counter[tuple[str, str]]()
    flagged = Counter[tuple[str, str]]()
    dev_layers = Counter[str]()
    dev_rules = Counter[str]()
    dev_kinds = Counter[tuple[str, int]]()
    dev_scores: list[float] = []
    shown: list[str] = []
    near: list[tuple[float, str]] = []
    for d in docs:
        h = half(d.name)
        found = detector.findings(d.text)
        hits = [f for f in found if f.score >= a.threshold]
        files[h, "all"] += 1
        flagged[h, "all"] += bool(hits)
        if h != "dev":
            continue  # sealed: counted, nothing else kept
        dev_scores.append(max((f.score for f in found), default=0.0))
        b = band(len(d.text.encode()))
        files[h, b] += 1
        flagged[h, b] += bool(hits)
        dev_kinds[d.kind, int(bool(hits))] += 1
        for fam in sorted({f.family for f in hits}):
            dev_layers[fam] += 1
            if fam != MODEL_FAMILY:
                for i in rules_of(d.text, fam):
                    dev_rules[f"{fam} #{i}"] += 1
        if hits and len(shown) < a.show:
            f = max(hits, key=lambda f: f.score)
            shown.append(f"  {d.name} [{d.dist}] ({len(d.text):,} chars): {f.family} {f.score:.3f}: "
                         f"{snippet(d.text, f.start, f.end)}")
        elif not hits and a.near:
            f = max(found, key=lambda f: f.score)
            near.append((f.score, f"  {d.name} [{d.dist}]: {f.family} {f.score:.3f}: {snippet(d.text, f.start, f.end)}"))
    for line in shown:
        print(line)
    if a.near:
        print("highest-scoring unflagged dev files:")
        for _, line in sorted(near, reverse=True)[:a.near]:
            print(line)
    report: dict[str, object] = {"threshold": a.threshold, "min_bytes": a.min_bytes, "max_bytes": a.max_bytes,
                                 "per_package": a.per_package, "sites": [str(s) for s in sites()],
                                 "documents": len(docs), "dropped": dict(dropped), "distributions": licences}
    print("| half | size | files | flagged | share |\n|---|---|---|---|---|")
    dev: dict[str, object] = {}
    for _, _, name in (*BANDS, (0, 0, "all")):
        n, k = files["dev", name], flagged["dev", name]
        dev[name] = {"files": n, "flagged": k}
        print(f"| dev | {name} | {n} | {k} | {k / n:.3f} |" if n else f"| dev | {name} | 0 | 0 | - |")
    dev["layers"] = dict(sorted(dev_layers.items()))
    dev["rules"] = dict(sorted(dev_rules.items()))
    dev["kinds"] = {kind: {"files": dev_kinds[kind, 0] + dev_kinds[kind, 1], "flagged": dev_kinds[kind, 1]}
                    for kind in ("description", "file", "sdist", "llm")}
    dev["at_threshold"] = {f"{t:.2f}": sum(s >= t for s in dev_scores) for t in SWEEP}
    n, k = files["sealed", "all"], flagged["sealed", "all"]
    print(f"| sealed | all | {n} | {k} | {k / n:.3f} |" if n else "| sealed | all | 0 | 0 | - |")
    print(f"dev: flagged by {dev['layers']}, rules {dev['rules']}, by kind {dev['kinds']}; "
          f"dev files at or above other thresholds: {dev['at_threshold']}")
    report["halves"] = {"dev": dev, "sealed": {"all": {"files": n, "flagged": k}}}
    if a.json:
        Path(a.json).write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
