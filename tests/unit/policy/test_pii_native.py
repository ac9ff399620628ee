"""The C gates of the PII scanner and of normalisation (`bastion._native.pii_gates`, `plain`) against the regexes.

`pii_gates` answers, for an ASCII text, every question the PII scanner's number passes ask before their regexes
run (first digit, IBAN hint, IPv6 hint, the `_CLUSTER` spans); `plain` is `normalize.is_plain`. Both read the
text sixteen bytes at a time, so every ASCII character is tried at every offset of a block and near both ends.
The scanner with them must find exactly what it finds without them (the Python gates).
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.policy import normalize as normalize_mod
from bastion.policy.scanners import pii
from bastion.policy.scanners.pii import PiiScanner
from tests.unit.policy.native_required import native_or_skip
from tests.unit.policy.test_scan_fastpaths import PII_SAMPLES, pii_texts

_native = native_or_skip(pii._native)

DATA = Path(__file__).resolve().parents[3] / "data"
ASCII = [chr(c) for c in range(128)]


def _expected(text: str) -> tuple[int, int, bool, list[tuple[int, int]]] | None:
    """What `pii_gates` must give, by the scanner's own regexes."""
    if not text.isascii():
        return None
    digit = re.search(r"\d", text)
    hint = pii._IBAN_HINT.search(text)
    return (digit.start() if digit else -1, hint.start() if hint else -1, pii._IPV6_HINT.search(text) is not None,
            [(m.start(), m.end()) for m in pii._CLUSTER_ASCII.finditer(text)])


def _check(text: str) -> None:
    assert _native.pii_gates(text) == _expected(text), repr(text)
    assert _native.plain(text) == normalize_mod._is_plain(text) == (
        text.isascii() and normalize_mod._ASCII_CONTROL.search(text) is None), repr(text)


@pytest.mark.parametrize("char", ASCII, ids=lambda c: f"{ord(c):02x}")
def test_every_ascii_character_at_every_offset_of_a_block(char: str) -> None:
    for n in (1, 7, 15, 16, 17, 33):
        for k in range(n):
            for fill in ("x", "1", ":", " "):
                _check(fill * k + char + fill * (n - k - 1))


def test_labelled_set_and_samples() -> None:
    rows = [json.loads(line)["text"] for line in (DATA / "pii_eval" / "labeled.jsonl").read_text().split("\n") if line]
    assert len(rows) > 1000
    for text in [*rows, *pii_texts(), *(s * 9 for s in PII_SAMPLES)]:
        _check(text)
        _check(text + "é")


def test_clusters_and_hints_at_the_edges() -> None:
    for text in ("1234567", "123456", "x1234567", "1234567x", "1 2 3 4", "(415) 555-2671", "555-2671 ext 12",
                 "1......1", "1.....1", "12..........", "DE89", "D E89", "de89", "DE8", "xxDE89", "::", ":abcd:",
                 ":abcde:", "1:2", ":", "a:" * 20, "1" * 100, "1 " * 60, "\t1\t2\t3\t4\t5\t6\t7", "1-2-3-4-5-6-7-"):
        for pad in ("", "x" * 5, "y" * 16, " " * 13):
            _check(pad + text)
            _check(text + pad)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="0123456789 \t().-:ABCDEFabcdefXZ_+/\x00\x7f\n", max_size=80))
def test_generated_texts(text: str) -> None:
    _check(text)


def test_non_ascii_text_has_no_gates_and_is_not_plain() -> None:
    for text in ("é", "1234567 é", "\u0661\u0662\u0663\u0664\u0665\u0666\u0667", "😀" + "1" * 20):
        assert _native.pii_gates(text) is None
        assert not _native.plain(text)


def test_bad_calls_raise() -> None:
    for fn in (_native.pii_gates, _native.plain):
        with pytest.raises(TypeError):
            fn(b"123")  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            fn()  # type: ignore[call-arg]
    assert _native.pii_gates("") == (-1, -1, False, [])
    assert _native.plain("")


def test_scanner_with_gates_finds_what_the_python_gates_find(monkeypatch: pytest.MonkeyPatch) -> None:
    scanners = [PiiScanner(), PiiScanner(types=["iban", "phone"]), PiiScanner(min_score=0.0),
                PiiScanner(types=["ip_address", "email"])]
    rng = random.Random(7)
    texts = [*pii_texts(), *(rng.choice(PII_SAMPLES) + " " + t for t in pii_texts()[:200])]
    rows = [json.loads(line)["text"] for line in (DATA / "pii_eval" / "labeled.jsonl").read_text().split("\n") if line]
    texts += rows
    with_gates = [[(s.scan(t), s.may_match(t)) for s in scanners] for t in texts]
    kinds = {m.type for per_text in with_gates for matches, _ in per_text for m in matches}
    assert kinds == set(pii.PII_TYPES)
    monkeypatch.setattr(pii, "_gates", None)
    for text, expected in zip(texts, with_gates, strict=True):
        assert [(s.scan(text), s.may_match(text)) for s in scanners] == expected, text


def test_is_plain_is_the_c_pass() -> None:
    assert normalize_mod.is_plain is _native.plain
