"""The scanners' fast paths give exactly what their general paths give (each test fails if one diverges)."""

from __future__ import annotations

import random
import re
import string
from collections.abc import Callable

import pytest

from bastion.policy import normalize as normalize_mod
from bastion.policy.normalize import is_plain
from bastion.policy.scanners import pii
from bastion.policy.scanners.pii import PiiScanner
from bastion.policy.scanners.secret_rules import RULES
from bastion.policy.scanners.secrets import SecretsScanner
from tests.unit.policy.fake_credentials import SECRETS

_R = random.Random(20261128)
PROSE = ("Our team is planning the migration of a reporting service. Keep the answer short, with a "
         "numbered list of steps; Version 3.14.2 fixed the build (see issue #4521). ")
PII_SAMPLES = ["(415) 555-2671", "+44 20 7946 0958", "030 12345678", "4155552671", "4111 1111 1111 1111",
               "4000-0000-0000-0000-006", "3782 822463 10005", "DE89 3704 0044 0532 0130 00",
               "GB82WEST12345698765432", "SSN: 536-22-8730", "536228730", "192.168.1.20", "2001:db8::ff00:42:8329",
               "jane.doe@example.com", "order 4111111111111111 1", "2024-05-01", "1.2.3.4.5", "AB12 3456",
               "call 555-2671 ext 12", "Tel. 0044 20 7946 0958", "(0)20 7946-0958", "12 34 56 78 90 12 34",
               "host 10.0.0.1 down", "1.2.3.4", "at 8.8.8.8."]
PIECES = [*PII_SAMPLES, "DE", "GB82", " - ", "(", ")", ".", "  ", "\t", "x", "AB", "99", "0", "-1", ":", "::1"]


def pii_texts() -> list[str]:
    texts = [PROSE, PROSE.lower(), "", "no digits at all", "1", "12345678", "DE89", "XX00 1234 5678 9012"]
    texts += [f"{PROSE}{s} and more text" for s in PII_SAMPLES]
    texts += [f"{s}" for s in PII_SAMPLES]
    for _ in range(400):
        texts.append("".join(_R.choice([*PIECES, " ", "word ", "Word "]) for _ in range(_R.randint(1, 14))))
    for _ in range(200):  # random characters from the alphabet the number regexes care about
        texts.append("".join(_R.choice("0123456789 -.()\tABZab:+/") for _ in range(_R.randint(1, 60))))
    return texts


def test_pii_helpers_equal_the_regexes() -> None:
    for text in pii_texts():
        if not text.isascii():
            continue
        digits = pii.ascii_digits(text)
        expected = [m.start() for m in re.finditer(r"\d", text)]
        if digits is None:
            assert len(expected) > pii.FEW_DIGITS
            continue
        assert digits == expected
        if not digits:
            continue
        hint = pii._IBAN_HINT.search(text, max(0, digits[0] - 2))
        assert pii.iban_hint(text, digits) == (hint.start() if hint else None), text
        regex = [(m.start(), m.end()) for m in pii._CLUSTER_ASCII.finditer(text, digits[0])]
        assert [(m.start(), m.end()) for m in pii.cluster_matches(text, digits)] == regex, text


@pytest.mark.parametrize("find_min", [0, pii.FIND_MIN])
def test_pii_scan_fast_path_equals_the_general_path(monkeypatch: pytest.MonkeyPatch, find_min: int) -> None:
    """`find_min` 0: every ASCII text, however short, takes the fast path (most of the corpus is short).
    Without the C gates (test_pii_native.py compares those with these paths)."""
    monkeypatch.setattr(pii, "_gates", None)
    monkeypatch.setattr(pii, "FIND_MIN", find_min)
    scanners = [PiiScanner(), PiiScanner(types=["iban", "phone"]), PiiScanner(min_score=0.0)]
    texts = pii_texts()
    fast = [[s.scan(t) for s in scanners] for t in texts]
    fast_may = [[s.may_match(t) for s in scanners] for t in texts]
    kinds = {m.type for per_scanner in fast for matches in per_scanner for m in matches}
    assert kinds == set(pii.PII_TYPES)  # the corpus holds findings of every type
    monkeypatch.setattr(pii, "ascii_digits", lambda text: None)
    monkeypatch.setattr(pii, "has_ascii_digit", lambda text: re.search(r"\d", text) is not None)
    for text, expected, may in zip(texts, fast, fast_may, strict=True):
        assert [s.scan(text) for s in scanners] == expected, text
        assert may == [("email" in s.types and "@" in text) or re.search(r"\d", text) is not None
                       for s in scanners], text


@pytest.mark.parametrize("char", [chr(c) for c in range(128)])
def test_has_ascii_digit_equals_the_regex(char: str) -> None:
    for text in (char, "plain " + char, char + " plain" * 30, "x" * 200 + char + "y"):
        assert pii.has_ascii_digit(text) == (re.search(r"\d", text) is not None), repr(text)


def test_pii_many_digits_take_the_general_path(monkeypatch: pytest.MonkeyPatch) -> None:
    text = " ".join(str(n) for n in range(100)) + " call (415) 555-2671"
    assert pii.ascii_digits(text) is None
    assert [m.type for m in PiiScanner().scan(text)] == ["phone"]
    monkeypatch.setattr(pii, "_gates", None)
    assert [m.type for m in PiiScanner().scan(text)] == ["phone"]


def _reference_live(scanner: SecretsScanner, text: str) -> int:
    """The rules whose literals occur, without any gate or grouping."""
    lowered = text.lower()
    live = 0
    for i, rule in enumerate(scanner._rules):
        hay = text if rule.anchor is None else lowered
        if any(lit in hay for lit in rule.prefilters):
            live |= 1 << i
    return live


def secret_texts() -> list[str]:
    literals = [lit for r in RULES for lit in r.prefilters]
    texts = [PROSE, PROSE.upper(), "", "K", "Key=", "Q~", "~", "_", "-"]
    texts += [t for sample in SECRETS.values() for t in sample]
    for lit in literals:
        texts += [lit, f"{PROSE}{lit}", lit[:-1], lit[1:], f"{lit[0]} {lit[1:]}", lit.upper(), lit.lower()]
    for _ in range(600):
        bits = [_R.choice(literals) if _R.random() < 0.3 else _R.choice(literals)[:_R.randint(0, 3)]
                for _ in range(_R.randint(1, 6))]
        filler = [_R.choice(string.ascii_letters + string.digits + " _-.~:=/") for _ in range(_R.randint(0, 10))]
        texts.append("".join(bits + filler))
    return texts


def test_secrets_prefilter_gates_find_every_literal() -> None:
    scanner = SecretsScanner()
    for text in secret_texts():
        assert scanner._live(text, text.lower()) == _reference_live(scanner, text), text


def test_secrets_gates_are_characters_of_their_literal() -> None:
    for groups in (SecretsScanner()._exact, SecretsScanner()._folded):
        for gate, gate2, root, members in groups:
            assert gate in root and gate2 in root
            for g, g2, lit, _ in members:
                assert g in lit and g2 in lit and root in lit


ASCII = [chr(c) for c in range(128)]


PLAIN = [is_plain, normalize_mod._is_plain]  # the one in use (C when built) and the Python one


@pytest.mark.parametrize("char", ASCII)
@pytest.mark.parametrize("plain", PLAIN)
def test_is_plain_equals_the_regex(char: str, plain: Callable[[str], bool]) -> None:
    edge = normalize_mod._PRINTABLE_MAX  # texts of that length and shorter are checked by str.isprintable first
    for text in (char, "plain " + char, char + " plain" * 30, "x" * 100 + char + "y", "x" * (edge - 1) + char,
                 "x" * edge + char, "\n" + char + "x" * (edge - 2), "line\n" * 100 + char):
        assert plain(text) == (normalize_mod._ASCII_CONTROL.search(text) is None), repr(text)


@pytest.mark.parametrize("plain", PLAIN)
def test_is_plain_long_and_non_ascii(plain: Callable[[str], bool]) -> None:
    long = "a" * (normalize_mod._MEMCHR_MAX + 10)
    assert plain(long)
    assert not plain(long + "\x00")
    assert not plain("café")
    assert plain("tabs\tand\nlines\r\n")
