"""Validators of the PII scanner: Luhn and card brands, IBAN mod-97, US SSN rules, context words."""

from __future__ import annotations

import re

# (prefix range low, high, prefix length, allowed lengths)
_CARD_RANGES: tuple[tuple[int, int, int, frozenset[int]], ...] = (
    (4, 4, 1, frozenset({13, 16, 19})),                      # Visa (incl. 19-digit)
    (51, 55, 2, frozenset({16})),                            # Mastercard
    (2221, 2720, 4, frozenset({16})),                        # Mastercard 2-series
    (34, 34, 2, frozenset({15})), (37, 37, 2, frozenset({15})),  # Amex
    (6011, 6011, 4, frozenset(range(16, 20))),               # Discover
    (644, 649, 3, frozenset(range(16, 20))), (65, 65, 2, frozenset(range(16, 20))),
    (3528, 3589, 4, frozenset(range(16, 20))),               # JCB
    (2131, 2131, 4, frozenset({15})), (1800, 1800, 4, frozenset({15})),  # JCB 15-digit
    (300, 305, 3, frozenset(range(14, 20))), (36, 36, 2, frozenset(range(14, 20))),  # Diners
    (38, 39, 2, frozenset(range(14, 20))),
    (50, 50, 2, frozenset(range(12, 20))), (56, 69, 2, frozenset(range(12, 20))),  # Maestro, UnionPay
    (2200, 2204, 4, frozenset(range(16, 20))),               # Mir
)


def luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i & 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def card_brand(digits: str) -> bool:
    """True when the number's issuer prefix and length belong to a known card scheme."""
    n = len(digits)
    for low, high, plen, lengths in _CARD_RANGES:
        if n in lengths and low <= int(digits[:plen]) <= high:
            return True
    return False


def card_grouping(candidate: str) -> bool:
    """Separators, if any, are all the same and split the number into groups of 3-6 digits."""
    seps = {c for c in candidate if not c.isdigit()}
    if not seps:
        return True
    if len(seps) > 1:
        return False
    groups = candidate.split(seps.pop())
    return all(3 <= len(g) <= 6 for g in groups[:-1]) and 1 <= len(groups[-1]) <= 6


IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
    "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29,
    "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28,
    "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
    "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22,
    "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25,
    "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27,
    "SO": 23, "ST": 25, "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}


def iban_mod97(compact: str) -> bool:
    rearranged = compact[4:] + compact[:4]
    total = 0
    for ch in rearranged:
        total = (total * (100 if ch.isalpha() else 10) + (ord(ch) - 55 if ch.isalpha() else ord(ch) - 48)) % 97
    return total == 1


_SSN_INVALID = frozenset({"123456789", "078051120", "219099999", "987654320", "987654321"})


def ssn_valid(area: str, group: str, serial: str) -> bool:
    """SSA rules: area not 000, 666 or 900-999; group not 00; serial not 0000; no famous fakes."""
    if area == "000" or area == "666" or area[0] == "9" or group == "00" or serial == "0000":
        return False
    whole = area + group + serial
    return whole not in _SSN_INVALID and len(set(whole)) > 1


def isbn10(candidate: str, after: str) -> bool:
    """A hyphenated ISBN-10 (group-publisher-title-check; `after` holds the "-X" of a check
    character X that the number pattern leaves out) with a valid mod-11 check."""
    groups = candidate.split("-")
    if after[:2] in ("-X", "-x"):
        groups.append("X")
    if len(groups) != 4 or len(groups[3]) != 1 or not all(g.isdigit() for g in groups[:3]):
        return False
    chars = "".join(groups)
    if len(chars) != 10 or not (chars[9].isdigit() or chars[9] == "X" or chars[9] == "x"):
        return False
    return sum((10 - i) * (10 if c in "Xx" else int(c)) for i, c in enumerate(chars)) % 11 == 0


def context_words(words: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile(r"(?<![a-z])(?:" + "|".join(re.escape(w) for w in words) + r")(?![a-z])")


PHONE_CONTEXT = context_words((
    "phone", "phones", "tel", "telephone", "call", "calling", "mobile", "cell", "cellphone", "fax", "whatsapp",
    "sms", "text me", "contact", "reach me", "dial", "ring", "ph", "hotline", "tél", "telefon",
    "téléphone", "handy", "teléfono", "móvil", "☎", "📞"))
PHONE_NEGATIVE = context_words((
    "order", "invoice", "ticket", "tracking", "serial", "isbn", "sku", "ref", "reference", "transaction",
    "account", "acct", "id", "po", "case", "version", "build", "zip", "postcode", "item", "part",
    "confirmation", "booking", "batch", "lot", "policy", "claim", "iban", "bic", "swift", "sort code"))
SSN_CONTEXT = context_words(("ssn", "ssns", "social security", "social sec", "soc sec", "taxpayer", "tin",
                             "itin", "ss#", "ss no", "ssa"))
IP_NEGATIVE = context_words(("version", "ver", "v", "release", "build", "oid", "sdk", "api version", "rv"))
