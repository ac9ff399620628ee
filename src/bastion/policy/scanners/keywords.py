"""The `keywords` scanner: a deny list matched case- and Unicode-insensitively on word boundaries."""

from __future__ import annotations

import re

from bastion.policy.normalize import fold
from bastion.policy.registry import ScannerOptionError, flag, str_list
from bastion.policy.scanner import Match


class KeywordScanner:
    """Words and phrases are folded like the text (homoglyphs, width, accents, zero-width) and
    matched case-insensitively; any run of whitespace in the text matches a phrase's space."""

    name = "keywords"
    cheap = True  # a short text costs less to scan than to look up (rules.CHEAP)

    def __init__(self, words: object = None, word_boundary: object = True, type: object = "keyword") -> None:
        listed = str_list("words", words if words is not None else [])
        if not listed:
            raise ScannerOptionError("words", "must list at least one word or phrase")
        if not isinstance(type, str) or not re.fullmatch(r"[a-z][a-z0-9_]{0,63}", type):
            raise ScannerOptionError("type", "must be a lower-case identifier")
        self.type = type
        parts = []
        for i, word in enumerate(listed):
            folded = fold(word).strip()
            if not folded:
                raise ScannerOptionError(f"words[{i}]", "is empty after normalisation")
            parts.append(r"\s+".join(re.escape(p) for p in folded.split()))
        # Longest first, so a phrase wins over a word it starts with.
        body = "|".join(sorted(parts, key=len, reverse=True))
        if flag("word_boundary", word_boundary):
            body = rf"(?<!\w)(?:{body})(?!\w)"
        self._rx = re.compile(body, re.IGNORECASE)

    def scan(self, text: str) -> list[Match]:
        return [Match(self.type, m.start(), m.end(), 1.0) for m in self._rx.finditer(text)]
