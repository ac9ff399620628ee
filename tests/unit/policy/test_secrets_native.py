"""The secrets scanner's literal prefilter in C (`bastion._native.secret_bits`) against the Python one.

The C bits must hold every bit the Python prefilter (`SecretsScanner._live`: `_present` / `_gated` on the
text and `_present` on text.lower()) gives, for any text: a missing bit is a missed credential. On text
without the two characters whose lower case is ASCII (U+0130, U+212A) the bits are the same. Compared on
the labelled PII/secrets set (data/pii_eval/labeled.jsonl), the injection corpus, generated strings of
every kind (1-, 2- and 4-byte), literals at the text's edges, and every non-ASCII character that lowers to
ASCII; the Python fallback (no accelerator) is checked to find the same credentials.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.policy.scanners import secrets
from bastion.policy.scanners.secret_rules import RULES
from bastion.policy.scanners.secrets import SecretsScanner
from tests.unit.policy.fake_credentials import SECRETS
from tests.unit.policy.native_required import native_or_skip

_native = native_or_skip(secrets._native)

DATA = Path(__file__).resolve().parents[3] / "data"
SCANNER = SecretsScanner()
SUBSETS = (SecretsScanner(types=["jwt", "password", "github_token"]),
           SecretsScanner(exclude=["generic_secret", "bearer_token", "password", "aws_secret_access_key",
                                   "twilio_auth_token"]),  # no folded literal
           SecretsScanner(types=["generic_secret"]))  # folded literals only
FOLDED = sorted({lit for r in RULES if r.anchor is not None for lit in r.prefilters})
EXACT = sorted({lit for r in RULES if r.anchor is None for lit in r.prefilters})
# non-ASCII characters whose lower case holds an ASCII character (str.lower of this Python)
LOWERS_TO_ASCII = [c for c in map(chr, range(128, sys.maxunicode + 1)) if any(x.isascii() for x in c.lower())]
SPECIAL = frozenset(LOWERS_TO_ASCII)


def _lines(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").split("\n") if line]


def _python(scanner: SecretsScanner, text: str) -> int:
    return scanner._live(text, text.lower())


def _c(scanner: SecretsScanner, text: str) -> int:
    assert scanner._c_bits is not None
    return scanner._c_bits(text)


def _check(text: str, scanners: tuple[SecretsScanner, ...] = (SCANNER, *SUBSETS)) -> None:
    """C bits ⊇ Python bits; equal unless a character lowers to ASCII from outside it."""
    for scanner in scanners:
        py, c = _python(scanner, text), _c(scanner, text)
        assert py & ~c == 0, (text[:200], bin(py), bin(c))
        if SPECIAL.isdisjoint(text):
            assert c == py, (text[:200], bin(py), bin(c))


def test_only_known_characters_lower_to_ascii() -> None:
    """The reasoning in _native_secrets.c (Py_UNICODE_TOLOWER, one character each) holds for these."""
    assert LOWERS_TO_ASCII  # U+0130 and U+212A in Unicode 15; the tests below cover whatever is here
    for ch in LOWERS_TO_ASCII:
        low = ch.lower()
        assert low[0].isascii() and all(not x.isascii() for x in low[1:]), hex(ord(ch))


def test_labelled_secrets_set_gives_the_same_bits() -> None:
    rows = [json.loads(line) for line in _lines(DATA / "pii_eval" / "labeled.jsonl")]
    assert len(rows) > 1000
    live = 0
    for row in rows:
        text = row["text"]
        for t in (text, text.upper(), text.lower(), text.swapcase(), text * 40):  # * 40: past secrets._LONG
            _check(t)
        live |= _c(SCANNER, text)
    assert bin(live).count("1") >= 15  # the set exercises most rules


def test_injection_corpus_gives_the_same_bits() -> None:
    texts = [json.loads(line)["text"] for f in sorted((DATA / "injection" / "corpus").glob("*.jsonl"))
             for line in _lines(f)]
    assert len(texts) > 5000
    for text in texts:
        _check(text, (SCANNER,))


def test_every_credential_case_gives_the_same_bits_and_findings() -> None:
    for text, value, negative in SECRETS.values():
        for t in (text, value, negative, text.upper(), text.lower(), "é" + text + "中", "😀" + value):
            _check(t)
        assert _c(SCANNER, text) != 0


@pytest.mark.parametrize("lit", EXACT + FOLDED)
def test_each_literal_at_the_edges_of_texts_of_every_kind(lit: str) -> None:
    """The literal alone, first, last and inside, in ASCII, Latin-1, 2-byte and 4-byte text, short and
    long (the Python side then uses `_gated`); for a folded literal also upper and mixed case."""
    variants = [lit] if lit in EXACT else [lit, lit.upper(), lit.title(), lit.swapcase(),
                                           "".join(c.upper() if i % 2 else c for i, c in enumerate(lit))]
    for v in variants:
        for pad in ("", "x", "é", "ő", "中", "😀", "\u0130", "\u212a", "\x00"):
            for long in ("", "plain words and more; " * 100):
                for t in (v, pad + v, v + pad, pad + v + pad, long + pad + v, v + pad + long, v[:-1], v[1:]):
                    _check(t)
                bits = _c(SCANNER, long + pad + v + pad)
                assert bits & _python(SCANNER, v) == _python(SCANNER, v) != 0
        for k in range(17):  # every offset in the C pass's blocks of eight, and every distance to the end
            for t in ("." * k + v, v + "." * k, "." * k + v + "." * (16 - k), "é" + "." * k + v):
                _check(t)
                assert _c(SCANNER, t) & _python(SCANNER, v) == _python(SCANNER, v) != 0


@pytest.mark.parametrize("ch", LOWERS_TO_ASCII, ids=lambda c: f"U+{ord(c):04X}")
def test_characters_that_lower_to_ascii_never_lose_a_bit(ch: str) -> None:
    """A folded literal spelled with such a character (KELVIN SIGN for "k", U+0130 for "i") is found."""
    low = ch.lower()
    for lit in FOLDED:
        for j, x in enumerate(lit):
            if x != low[0]:
                continue
            spelled = lit[:j] + ch + lit[j + 1:]
            for t in (spelled, " " + spelled + " ", "ő" + spelled, spelled + "😀", spelled.upper() + "é",
                      "a" * 3000 + spelled):
                _check(t)
            if len(low) == 1:  # the character alone stands for the letter: Python finds the literal
                assert _python(SCANNER, spelled) != 0 and _c(SCANNER, spelled) & _python(SCANNER, spelled)


def test_a_lookalike_character_does_not_make_an_exact_literal() -> None:
    """KELVIN SIGN lowers to "k" but is not "K": "AKIA" spelled with it is not AWS's prefix (the same as
    Python), while the folded "key" spelled with it is."""
    aws = 1 << next(i for i, r in enumerate(SCANNER._rules) if r.type == "aws_access_key_id")
    assert _c(SCANNER, "A\u212aIA") & aws == 0 == _python(SCANNER, "A\u212aIA") & aws
    assert _c(SCANNER, "\u212aey") == _python(SCANNER, "\u212aey") != 0


# fragments of literals, their case variants and neighbours of every width
_PIECES = st.sampled_from([*EXACT, *FOLDED, *(s.upper() for s in FOLDED), *(s[:2] for s in EXACT + FOLDED),
                           *(s[1:] for s in EXACT + FOLDED), "_", "-", "=", ":", "/", ".", "~", " ", "\n", "A",
                           "K", "k", "S", "é", "ß", "中", "😀", "\u0130", "\u212a", "\u0307", "ǅ", "Σ"])
_TEXT = st.lists(st.one_of(_PIECES, st.text(max_size=6)), max_size=60).map("".join)


@settings(max_examples=600, deadline=None)
@given(_TEXT)
def test_generated_texts_never_lose_a_bit(text: str) -> None:
    _check(text)


@settings(max_examples=60, deadline=None)
@given(_TEXT, _TEXT, st.sampled_from(["", "é", "中", "😀"]))
def test_generated_long_texts_never_lose_a_bit(head: str, tail: str, width: str) -> None:
    """Past secrets._LONG (2048) the Python side searches with `_gated`."""
    filler = ("A Key: value; code_like names - and dots. J. x = 1 :: " + width) * 45
    _check(head + filler + tail)
    _check(filler + head + tail)


def test_scan_lowers_the_text_only_for_a_live_anchored_rule() -> None:
    calls = []

    class Counting(str):
        def lower(self) -> str:
            calls.append(1)
            return str.lower(self)

    assert SCANNER.scan(Counting("Plain prose about a migration, nothing to find here.")) == []
    assert calls == []
    assert SCANNER.scan(Counting("ghp_short and gh_pat")) == []  # a live exact rule only
    assert calls == []
    _, value, _ = SECRETS["aws_secret_access_key"]
    assert [m.type for m in SCANNER.scan(Counting(f"AWS_SECRET_ACCESS_KEY={value}"))] == ["aws_secret_access_key"]
    assert calls == [1]


def test_python_fallback_finds_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the accelerator the scanner uses `_live` and finds the same credentials."""
    monkeypatch.setattr(secrets, "_native", None)
    fallback = SecretsScanner()
    assert fallback._c_bits is None
    rows = [json.loads(line)["text"] for line in _lines(DATA / "pii_eval" / "labeled.jsonl")]
    texts = [*rows, *(t for case in SECRETS.values() for t in case), *(t.upper() for t in rows[:300])]
    for text in texts:
        assert fallback.scan(text) == SCANNER.scan(text), text
        assert fallback.may_match(text) == SCANNER.may_match(text), text
    assert fallback.may_match(SECRETS["jwt"][0]) and not fallback.may_match("nothing here")


@pytest.mark.parametrize(("literals", "error"), [
    ([("", 1, False)], ValueError), ([("é", 1, False)], ValueError), ([("a\x00", 1, False)], ValueError),
    ([("ab", 0, False)], ValueError), ([("ab", -1, False)], ValueError), ([("ab", 1 << 64, False)], ValueError),
    ([("ab", "1", False)], TypeError), ([("ab", 1)], TypeError), (["ab"], TypeError), ([(b"ab", 1, False)], TypeError),
    ([("ab", 1, False)] * 65, ValueError), (5, TypeError),
])
def test_bad_tables_raise(literals: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        _native.secret_tables(literals, "")  # type: ignore[arg-type]


def test_bad_calls_raise() -> None:
    tables = _native.secret_tables([("ab", 1, False), ("c", 2, True)], "ab")
    assert _native.secret_bits(tables, "xaby") == 1 and _native.secret_bits(tables, "C") == 2
    assert _native.secret_bits(tables, "") == 0
    with pytest.raises(TypeError):
        _native.secret_bits(tables, b"ab")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        _native.secret_bits(object(), "ab")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        _native.secret_bits(tables)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        _native.secret_tables([("ab", 1, False)], b"ab")  # type: ignore[arg-type]
    # found by its rarest pair ("yz", "xy" by `common`) wherever that falls: the whole literal is compared
    mid = _native.secret_tables([("wxyz", 1, False), ("qwxy", 2, True)], "abcdwxq")
    texts = ("wxyz", "QWXY", "qwxyz", "Qwxyz", "xyz", "wxy", "WXYZ", "wxyZ", "wxyqwx", "yzwxyz")
    assert [_native.secret_bits(mid, t) for t in texts] == [1, 2, 3, 3, 0, 0, 0, 0, 0, 1]
    top = _native.secret_tables([(f"{i:02d}", 1 << 63, False) for i in range(64)], "0123456789")
    assert _native.secret_bits(top, "x63") == 1 << 63 and _native.secret_bits(top, "6") == 0
