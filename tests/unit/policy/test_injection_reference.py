"""The injection detector's findings over the whole corpus equal a stored reference (speed-ups must not move them).

The reference (test_injection_reference.json.gz) was computed with the detector before its fast paths
(ASCII canonicalisation, one-regex substring test) were added: per corpus text (keyed by the first 16
hex digits of its SHA-256) the full detector's findings, and for a few obfuscated texts the findings of
each layer alone. Spans must match exactly and scores to within 1e-9. After a rule or model change (never after a
speed-up), regenerate it with `python data/injection/reference.py`.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from bastion.policy.injection import canon
from bastion.policy.injection.classifier import LinearModel
from bastion.policy.injection.detector import Detector

ROOT = Path(__file__).resolve().parents[3]
CORPUS = ROOT / "data" / "injection" / "corpus"
REFERENCE = Path(__file__).with_name("test_injection_reference.json.gz")


def _reference() -> dict[str, Any]:
    with gzip.open(REFERENCE, "rt", encoding="utf-8") as f:
        data: dict[str, Any] = json.load(f)
    return data


def _same(got: list[Any], want: list[list[Any]], label: str) -> None:
    assert len(got) == len(want), label
    for f, (family, start, end, score) in zip(got, want, strict=True):
        assert (f.family, f.start, f.end) == (family, start, end), label
        assert abs(f.score - float(score)) <= 1e-9, label


@pytest.fixture(scope="module")
def model() -> LinearModel:
    return LinearModel.load()


def test_corpus_findings_equal_reference(model: LinearModel) -> None:
    if not CORPUS.is_dir():
        pytest.skip("data/injection/corpus is not present")
    ref = _reference()["corpus"]
    det = Detector(model)
    seen = 0
    for path in sorted(CORPUS.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").split("\n"):
            if not line.strip():
                continue
            text = json.loads(line)["text"]
            key = hashlib.sha256(text.encode()).hexdigest()[:16]
            if key not in ref:
                continue  # a text added to the corpus after the reference was stored
            _same(det.findings(text), ref[key], f"{path.name}: {text[:60]!r}")
            seen += 1
    assert seen >= 0.95 * len(ref)


def test_obfuscated_texts_equal_reference_per_layer(model: LinearModel) -> None:
    dets = {"full": Detector(model), "rules": Detector(model, use_model=False), "model": Detector(model, use_rules=False)}
    for item in _reference()["extra"]:
        for layer, det in dets.items():
            _same(det.findings(item["text"]), item[layer], f"{layer}: {item['text']!r}")


@pytest.mark.parametrize("text", ["Hello  world", "a\n\nb", "x\tY", "A\x00B", "I g n o r e this", "Plain text. Ok?",
                                  "line\r\nnext", "", "UPPER lower 123"])
def test_ascii_fast_path_equals_general_path(text: str) -> None:
    tab = canon._table()
    fast = canon.canonicalize(text)
    saved = tab.ascii
    try:
        tab.ascii = None  # force the general (numpy) path
        slow = canon.canonicalize(text)
    finally:
        tab.ascii = saved
    assert fast.text == slow.text
    assert fast.codes.tolist() == slow.codes.tolist()
    assert fast.origin.tolist() == slow.origin.tolist()
    assert fast.source_length == slow.source_length
