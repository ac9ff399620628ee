"""The `regex` scanner: named patterns from config (`patterns: {name: regex}`), compiled once."""

from __future__ import annotations

import re

from bastion.policy.registry import ScannerOptionError, flag
from bastion.policy.scanner import Match

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class RegexScanner:
    """Each pattern's name is the finding type; patterns match the normalised text."""

    name = "regex"
    cheap = True  # a short text costs less to scan than to look up (rules.CHEAP)

    def __init__(self, patterns: object = None, ignore_case: object = False) -> None:
        if not isinstance(patterns, dict) or not patterns:
            raise ScannerOptionError("patterns", "must be a non-empty mapping of name to regular expression")
        flags = re.IGNORECASE if flag("ignore_case", ignore_case) else 0
        compiled: list[tuple[str, re.Pattern[str]]] = []
        for name, pattern in patterns.items():
            if not isinstance(name, str) or not _NAME.match(name):
                raise ScannerOptionError(f"patterns.{name}", "names are lower-case identifiers (a-z, 0-9, _)")
            if not isinstance(pattern, str) or not pattern:
                raise ScannerOptionError(f"patterns.{name}", "must be a non-empty regular expression")
            try:
                rx = re.compile(pattern, flags)
            except re.error as e:
                raise ScannerOptionError(f"patterns.{name}", f"invalid regular expression: {e}") from None
            if rx.match(""):
                raise ScannerOptionError(f"patterns.{name}", "must not match the empty string")
            compiled.append((name, rx))
        self._patterns = tuple(compiled)

    def scan(self, text: str) -> list[Match]:
        out: list[Match] = []
        for name, rx in self._patterns:
            for m in rx.finditer(text):
                if m.end() > m.start():
                    out.append(Match(name, m.start(), m.end(), 1.0))
        return out
