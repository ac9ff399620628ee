"""The `pii` scanner: email, phone, credit card, IBAN, US SSN and IP addresses, validated.

Each type has a cheap candidate pass (a literal-anchored regex or a digit-run regex) and a
validator (Luhn and issuer ranges, mod-97, SSA rules, `ipaddress`, `phonenumbers`); context
words raise or lower the score of the ambiguous ones (phone, SSN). Phone parsing, the only
costly step, runs only on digit runs that are formatted like a number or follow a context word.
On ASCII text the questions asked before any regex runs (a digit? an IBAN or IPv6 hint? which number
clusters?) are answered by one pass in C when the accelerator is built (`bastion._native.pii_gates`).
"""

from __future__ import annotations

import ipaddress
import re
import string
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from types import ModuleType

import phonenumbers

from bastion.policy.registry import ScannerOptionError, number, str_list
from bastion.policy.scanner import Match
from bastion.policy.scanners import pii_checks as checks

_native: ModuleType | None
try:
    import bastion._native as _built

    _native = _built
except ImportError:  # not built (no C compiler at install time): the Python gates below
    _native = None

PII_TYPES = ("email", "phone", "credit_card", "iban", "us_ssn", "ip_address")
# Overlaps are resolved by this priority (earlier wins), e.g. a card number is not a phone.
_PRIORITY = {"iban": 0, "credit_card": 1, "us_ssn": 2, "ip_address": 3, "email": 4, "phone": 5}
DEFAULT_REGIONS = ("US", "GB", "DE", "FR", "IN")

_DOMAIN = re.compile(r"@((?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24})(?![A-Za-z0-9-])")
_LOCAL_CHARS = frozenset(string.ascii_letters + string.digits + ".!#$%&'*+=?^_`{|}~-")
_FILE_TLDS = frozenset({"png", "jpg", "jpeg", "gif", "svg", "webp", "css", "js", "ts", "py", "txt", "md"})
# Numbers are bounded by ASCII word characters only: Chinese and Japanese put them right next
# to words ("カード番号4111111111111111です"), and CJK characters are \w.
_CARD = re.compile(r"(?<![0-9A-Za-z_.-])\d(?:[ -]?\d){11,18}(?![0-9A-Za-z_]|[.-]\d)")
_SSN = re.compile(r"(?<![0-9A-Za-z_.-])(\d{3})([- ]?)(\d{2})\2(\d{4})(?![0-9A-Za-z_]|[.-]\d)")
_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){10,34}")
_IPV4 = re.compile(r"(?<![0-9A-Za-z_.])(?:\d{1,3}\.){3}\d{1,3}(?![0-9A-Za-z_]|\.\d)")
_HEXCOLON = frozenset(string.hexdigits + ":.")
_HEXCOLON_RUN = re.compile(r"[0-9A-Fa-f:.]+")
# Every IPv6 address has two colons at most four hex digits apart ("::", or "x:abcd:" between
# groups): text without such a pair has none (one fast search instead of a look at every colon).
_IPV6_HINT = re.compile(r":[0-9A-Fa-f]{0,4}:")
# Every card, SSN, phone and IPv4 candidate lies inside one of these clusters; the type
# regexes then run only inside them (one pass over the text instead of one per type).
_CLUSTER = re.compile(r"\d[\d \t().\-]{5,}\d")
_CLUSTER_ASCII = re.compile(_CLUSTER.pattern, re.ASCII)  # the same on ASCII text, a third faster
_IBAN_HINT = re.compile(r"[A-Z][A-Z]\d\d")
_DIGIT = re.compile(r"\d")
_NON_DIGITS = re.compile(r"\D+")
_GROUP_AFTER = re.compile(r"[ -]\d{3}")
_GROUP_BEFORE = re.compile(r"\d{3}[ -]$")
_DECIMAL = re.compile(r"^\d+\.\d+$")
_SSN_SHAPE = re.compile(r"^\d{3}-\d{2}-\d{4}$")
# A phone may end in an extension written "x123" (555-201-7000x412): the number stops before it.
_PHONE = re.compile(r"(?<![0-9A-Za-z_+/.-])(?:\+ ?)?\(?\d[\d \t().-]{5,20}\d(?!(?![xX]\d)[0-9A-Za-z_]|[.-]\d)")
_DATE = re.compile(r"^\(?(?:\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4}(?!\d))")


# Of an ASCII text, in one C pass: (first digit or -1, `_IBAN_HINT` start or -1, whether `_IPV6_HINT` finds
# something, the spans of `_CLUSTER_ASCII.finditer`); None for other text (_native_pii.c)
Gates = tuple[int, int, bool, list[tuple[int, int]]]
_gates: Callable[[str], Gates | None] | None = None if _native is None else _native.pii_gates

_ASCII_DIGITS = "0123456789"
_CLUSTER_CHARS = frozenset("0123456789 \t().-")  # the characters of a _CLUSTER match
_UPPER = frozenset(string.ascii_uppercase)
# An ASCII text with at most this many digits (prose) has its digits found by one C-level
# `find` per digit instead of a regex pass over the whole text; past it, the regexes run.
FEW_DIGITS = 48
FIND_MIN = 128  # on a shorter text one regex pass costs less than ten finds


def ascii_digits(text: str) -> list[int] | None:
    """The sorted positions of the digits of an ASCII `text`, or None when it has more than
    FEW_DIGITS (then the whole-text regexes are cheaper)."""
    out: list[int] = []
    find = text.find
    for d in _ASCII_DIGITS:
        if d not in text:  # an `in` costs less than a call of `find` (most digits are absent from prose)
            continue
        i = find(d)
        while i != -1:
            out.append(i)
            if len(out) > FEW_DIGITS:
                return None
            i = find(d, i + 1)
    out.sort()
    return out


def has_ascii_digit(text: str) -> bool:
    """`_DIGIT.search(text) is not None` of an ASCII `text`: ten C-level searches, without the
    regex's pass (~100 instructions a character) or a generator's frames."""
    return ("0" in text or "1" in text or "2" in text or "3" in text or "4" in text or "5" in text
            or "6" in text or "7" in text or "8" in text or "9" in text)


def iban_hint(text: str, digits: list[int]) -> int | None:
    """`_IBAN_HINT.search(text, first digit - 2).start()` of an ASCII text, from its digit positions:
    the first two capitals followed by two digits."""
    n = len(text)
    for p in digits:
        if p >= 2 and p + 1 < n and text[p + 1] in _ASCII_DIGITS and text[p - 2] in _UPPER and text[p - 1] in _UPPER:
            return p - 2
    return None


def cluster_matches(text: str, digits: list[int]) -> Iterator[re.Match[str]]:
    """`_CLUSTER_ASCII.finditer(text, first digit)` of an ASCII text, from its digit positions.
    A match starts at a digit and holds only cluster characters, so it lies inside the run of
    cluster characters that follows a digit: the regex runs on those runs only."""
    n = len(text)
    end = -1
    for p in digits:
        if p < end:
            continue  # inside the run already searched
        end = p + 1
        while end < n and text[end] in _CLUSTER_CHARS:
            end += 1
        if end - p >= 7:  # a match has at least 7 characters
            yield from _CLUSTER_ASCII.finditer(text, p, end)


def _before(text: str, start: int, width: int = 40) -> str:
    """The `width` characters before `start`, lowercased, without a word the window cuts: the
    tail "id" of "aliquid" is not the context word "id"."""
    lo = max(0, start - width)
    while 0 < lo < start and text[lo - 1].isalpha() and text[lo].isalpha():
        lo += 1
    return text[lo:start].lower()


def _slice(text: str, start: int, end: int, cand: str) -> bool:
    """`xs[::2]`, `xs[1::2]`: a decimal-only candidate right inside `[` is a Python/NumPy slice."""
    return (start > 0 and text[start - 1] == "[" and text[end:end + 1] in ("]", ",")
            and all(c in "0123456789:" for c in cand))


class PiiScanner:
    name = "pii"
    cheap = True  # a short text costs less to scan than to look up (rules.CHEAP)
    token_bounded = True  # see rules.TOKEN_BOUNDED; tests/unit/policy/test_window_early.py

    def __init__(self, types: object = None, phone_regions: object = None, min_score: object = 0.5) -> None:
        wanted = list(PII_TYPES) if types is None else str_list("types", types)
        for t in wanted:
            if t not in PII_TYPES:
                raise ScannerOptionError("types", f"unknown PII type {t!r} (known: {', '.join(PII_TYPES)})")
        if not wanted:  # a rule that can find nothing is a mistake, not a policy
            raise ScannerOptionError("types", "must list at least one PII type (omit it for all)")
        self.types = frozenset(wanted)
        regions = list(DEFAULT_REGIONS) if phone_regions is None else str_list("phone_regions", phone_regions)
        supported = phonenumbers.SUPPORTED_REGIONS
        for r in regions:
            if r not in supported:
                raise ScannerOptionError("phone_regions", f"unknown region {r!r} (use ISO 3166 codes like US)")
        self.min_score = number("min_score", min_score, low=0.0, high=1.0)
        self._nanp = "US" in regions or "CA" in regions
        self._india = "IN" in regions  # Indian mobiles are written without the trunk 0: 98765 43210
        self._trunk_regions = [r for r in regions if r not in ("US", "CA")]
        self._phone_cache: dict[str, bool] = {}
        for r in regions:  # phonenumbers loads region metadata lazily: load it now, not per request
            phonenumbers.is_valid_number(phonenumbers.parse("+1 415 555 2671", r))
            phonenumbers.example_number(r)

    def quiet_marks(self) -> tuple[str, object] | None:
        """`may_match` of an ASCII text is a digit or (email) an "@" in it (rules.QUIET_MARKS)."""
        return ("0123456789@" if "email" in self.types else "0123456789"), None

    def may_match(self, text: str) -> bool:
        """False without a digit or an "@": `scan` then finds nothing (rules.MAY_MATCH)."""
        if "email" in self.types and "@" in text:
            return True
        gates = _gates(text) if _gates is not None else None
        if gates is not None:
            return gates[0] >= 0
        if text.isascii():
            return has_ascii_digit(text)
        return _DIGIT.search(text) is not None

    def scan(self, text: str) -> list[Match]:
        found: list[Match] = []
        types = self.types
        if "email" in types and "@" in text:
            self._emails(text, found)
        gates = _gates(text) if _gates is not None else None
        if gates is not None:  # an ASCII text: every gate below answered by one pass in C
            first, hint, ipv6, spans = gates
            if first < 0:  # every other type has a digit
                return _resolve([m for m in found if m.score >= self.min_score]) if found else found
            if hint >= 0 and "iban" in types:
                self._ibans(text, hint, found)
            if spans:
                self._numbers(text, spans, found)
            if ipv6 and "ip_address" in types:
                self._ipv6(text, found)
            return _resolve([m for m in found if m.score >= self.min_score]) if found else found
        ascii_text = text.isascii()
        digits = ascii_digits(text) if ascii_text and len(text) >= FIND_MIN else None
        if digits is not None:  # few ASCII digits: the number passes look only at the runs around them
            if not digits:
                return _resolve([m for m in found if m.score >= self.min_score]) if found else found
            if "iban" in types:
                at = iban_hint(text, digits)
                if at is not None:
                    self._ibans(text, at, found)
            clusters: Iterable[re.Match[str]] = cluster_matches(text, digits)
        else:
            digit = _DIGIT.search(text) if not ascii_text or has_ascii_digit(text) else None
            if digit is None:  # every other type has a digit
                return _resolve([m for m in found if m.score >= self.min_score]) if found else found
            first = digit.start()
            if "iban" in types:
                match = _IBAN_HINT.search(text, max(0, first - 2))
                if match is not None:
                    self._ibans(text, match.start(), found)
            clusters = (_CLUSTER_ASCII if ascii_text else _CLUSTER).finditer(text, first)
        self._numbers(text, [(c.start(), c.end()) for c in clusters], found)
        if "ip_address" in types and ":" in text and _IPV6_HINT.search(text) is not None:
            self._ipv6(text, found)
        return _resolve([m for m in found if m.score >= self.min_score])

    def _numbers(self, text: str, clusters: list[tuple[int, int]], out: list[Match]) -> None:
        """Cards, SSNs, IPv4 addresses and phones in the number clusters (`_CLUSTER` spans)."""
        types = self.types
        n = len(text)
        for start, end in clusters:
            # Widen by one character on the left (for a "+" or "(") and two on the right so the
            # type patterns' boundary assertions see the neighbours.
            lo, hi = max(0, start - 2), min(n, end + 2)
            if "credit_card" in types:
                self._cards(text, lo, hi, out)
            if "us_ssn" in types:
                self._ssns(text, lo, hi, out)
            if "ip_address" in types:
                self._ipv4(text, lo, hi, out)
            if "phone" in types:
                self._phones(text, lo, hi, out)

    def _emails(self, text: str, out: list[Match]) -> None:
        for m in _DOMAIN.finditer(text):
            at = m.start()
            i = at
            while i > 0 and text[i - 1] in _LOCAL_CHARS and at - i < 64:
                i -= 1
            while i < at and text[i] in ".'":
                i += 1
            if i == at or (i > 0 and text[i - 1] in _LOCAL_CHARS):
                continue
            token_start = text.rfind(" ", 0, i) + 1
            if "://" in text[token_start:at]:
                continue  # userinfo of a URL, not an address
            if m.group(1).rsplit(".", 1)[-1].lower() in _FILE_TLDS:
                continue  # icon@2x.png
            out.append(Match("email", i, m.end(), 1.0))

    def _cards(self, text: str, lo: int, hi: int, out: list[Match]) -> None:
        for m in _CARD.finditer(text, lo, hi):
            cand = m.group()
            sep = next((c for c in cand if not c.isdigit()), "")
            if sep and ((text.startswith(sep, m.end()) and _GROUP_AFTER.match(text, m.end()))
                        or (m.start() > 0 and text.startswith(sep, m.start() - 1)
                            and _GROUP_BEFORE.search(text, max(0, m.start() - 4), m.start()))):
                continue  # part of a longer grouped number
            spans = [(m.start(), m.end())]
            if sep:  # a stray group before or after the number: "4111 1111 1111 1111 1"
                first, last = cand.find(sep), cand.rfind(sep)
                if len(cand) - last <= 4:
                    spans.append((m.start(), m.start() + last))
                if first <= 2:
                    spans.append((m.start() + first + 1, m.end()))
            for s, e in spans:
                piece = text[s:e]
                digits = piece.replace(" ", "").replace("-", "")
                if (len(digits) >= 12 and checks.card_grouping(piece) and checks.card_brand(digits)
                        and checks.luhn(digits)):
                    out.append(Match("credit_card", s, e, 1.0))
                    break

    def _ibans(self, text: str, pos: int, out: list[Match]) -> None:
        for m in _IBAN.finditer(text, pos):
            cand = m.group()
            length = checks.IBAN_LENGTHS.get(cand[:2])
            if length is None:
                continue
            count = 0
            end = m.start()
            for i, ch in enumerate(cand):
                if ch != " ":
                    count += 1
                if count == length:
                    end = m.start() + i + 1
                    break
            else:
                continue
            if end < len(text) and text[end].isascii() and text[end].isalnum():
                continue
            compact = text[m.start():end].replace(" ", "")
            if checks.iban_mod97(compact):
                out.append(Match("iban", m.start(), end, 1.0))

    def _ssns(self, text: str, lo: int, hi: int, out: list[Match]) -> None:
        for m in _SSN.finditer(text, lo, hi):
            if not checks.ssn_valid(m.group(1), m.group(3), m.group(4)):
                continue
            context = checks.SSN_CONTEXT.search(_before(text, m.start(), 48)) is not None
            score = 0.95 if context else (0.6 if m.group(2) == "-" else 0.3)
            out.append(Match("us_ssn", m.start(), m.end(), score))

    def _ipv4(self, text: str, lo: int, hi: int, out: list[Match]) -> None:
        for m in _IPV4.finditer(text, lo, hi):
            try:
                ipaddress.IPv4Address(m.group())
            except ValueError:
                continue
            if checks.IP_NEGATIVE.search(_before(text, m.start(), 24)):
                continue
            out.append(Match("ip_address", m.start(), m.end(), 0.9))

    def _ipv6(self, text: str, out: list[Match]) -> None:
        i = text.find(":")
        while i != -1:
            s = i
            while s > 0 and text[s - 1] in _HEXCOLON and i - s < 40:
                s -= 1
            run = _HEXCOLON_RUN.match(text, s)
            e = run.end() if run else i + 1
            cand = text[s:e].rstrip(".")
            end = s + len(cand)
            bounded = not (s > 0 and text[s - 1].isascii() and (text[s - 1].isalnum() or text[s - 1] == "_")) and not (
                end < len(text) and text[end].isascii() and text[end].isalnum())
            if cand.count(":") >= 2 and bounded:
                try:
                    ipaddress.IPv6Address(cand)
                except ValueError:
                    pass
                else:
                    if any(c.isdigit() for c in cand) and not _slice(text, s, end, cand):  # not "a::b" (C++)
                        out.append(Match("ip_address", s, end, 0.9))
            i = text.find(":", max(e, i + 1))

    def _phones(self, text: str, lo: int, hi: int, out: list[Match]) -> None:
        for m in _PHONE.finditer(text, lo, hi):
            cand = m.group()
            if _DATE.match(cand) or _SSN_SHAPE.match(cand) or _DECIMAL.match(cand):
                continue
            digits = _NON_DIGITS.sub("", cand)
            if not 7 <= len(digits) <= 15:
                continue
            s, e = m.start(), m.end()
            if s >= 2 and text[s - 1] == "," and text[s - 2].isdigit():
                continue  # the tail of a number grouped by thousands ("12,345,678.90 12"): a table's figures
            if (s >= 2 and text[s - 1] in " -" and text[s - 2].isdigit()) or (
                    e + 1 < len(text) and text[e] in " -" and text[e + 1].isdigit()):
                continue  # one group of a longer run of digit groups (an account number)
            if checks.PHONE_NEGATIVE.search(_before(text, m.start(), 24)):
                continue
            if cand[-1] != ")" and checks.isbn10(cand, text[e:e + 2]):
                continue  # 0-306-40615-2: a book, not a phone
            before = _before(text, m.start())
            context = checks.PHONE_CONTEXT.search(before) is not None
            international = cand.startswith("+") or digits.startswith("00")
            formatted = len(digits) != len(cand.replace("+", ""))
            if not (international or formatted or context):
                continue  # a bare digit run without context: not worth a parse
            if not self._valid_phone(cand, digits, international):
                continue
            base = 0.85 if international else (0.6 if formatted else 0.3)
            out.append(Match("phone", m.start(), m.end(), max(base, 0.9) if context else base))

    def _valid_phone(self, cand: str, digits: str, international: bool) -> bool:
        # Cached: a stream's hold-back window scans the same number several times.
        known = self._phone_cache.get(cand)
        if known is None:
            known = self._parse_phone(cand, digits, international)
            if len(self._phone_cache) >= 4096:
                self._phone_cache.clear()
            self._phone_cache[cand] = known
        return known

    def _parse_phone(self, cand: str, digits: str, international: bool) -> bool:
        if international:
            number_text = cand if cand.startswith("+") else "+" + digits[2:]
            return _parses(number_text, None)
        # Outside North America national numbers are written with their trunk prefix 0;
        # reading other digit runs as foreign numbers only adds false positives.
        if digits.startswith("0") or not self._nanp:
            return any(_parses(cand, r) for r in self._trunk_regions)
        return _parses(cand, "US") or (self._india and len(digits) == 10 and digits[0] in "6789"
                                       and _parses(cand, "IN"))


def _parses(cand: str, region: str | None) -> bool:
    try:
        return bool(phonenumbers.is_valid_number(phonenumbers.parse(cand, region)))
    except phonenumbers.NumberParseException:
        return False


def _resolve(matches: list[Match]) -> list[Match]:
    """Drop matches overlapping a higher-priority one; return the rest by position."""
    matches.sort(key=lambda m: (_PRIORITY.get(m.type, 9), -m.score, m.start))
    starts: list[int] = []
    kept: list[Match] = []  # sorted by start, non-overlapping
    for m in matches:
        k = bisect_left(starts, m.start)
        if k > 0 and kept[k - 1].end > m.start:
            continue
        if k < len(kept) and kept[k].start < m.end:
            continue
        starts.insert(k, m.start)
        kept.insert(k, m)
    return kept
