"""The `secrets` scanner: provider and cloud credentials, private keys, JWTs, passwords.

One pass per rule that survives its literal prefilter: most prompts contain none of the
literals, so the cost is a handful of C-level substring searches.
"""

from __future__ import annotations

import re

from bastion.policy.registry import ScannerOptionError, str_list
from bastion.policy.scanner import Match
from bastion.policy.scanners.secret_rules import RULE_TYPES, RULES, SecretRule


class SecretsScanner:
    name = "secrets"

    def __init__(self, types: object = None, exclude: object = None) -> None:
        wanted = set(RULE_TYPES) if types is None else set(str_list("types", types))
        unknown = wanted - RULE_TYPES
        if unknown:
            raise ScannerOptionError("types", f"unknown secret type {sorted(unknown)[0]!r} "
                                              f"(known: {', '.join(sorted(RULE_TYPES))})")
        dropped = set() if exclude is None else set(str_list("exclude", exclude))
        unknown = dropped - RULE_TYPES
        if unknown:
            raise ScannerOptionError("exclude", f"unknown secret type {sorted(unknown)[0]!r}")
        self.types = frozenset(wanted - dropped)
        self._rules: tuple[SecretRule, ...] = tuple(r for r in RULES if r.type in self.types)
        self._folds = any(r.anchor is not None for r in self._rules)
        self._ci_anchors = {r.type: re.compile(r.anchor.pattern, re.IGNORECASE)
                            for r in self._rules if r.anchor is not None}

    def scan(self, text: str) -> list[Match]:
        lowered = text.lower() if self._folds else text
        # str.lower keeps lengths except for a few characters normalisation already folds.
        same_length = len(lowered) == len(text)
        specific: list[Match] = []
        generic: list[Match] = []
        for rule in self._rules:
            hay = text if rule.anchor is None else lowered
            for lit in rule.prefilters:
                if lit in hay:
                    break
            else:
                continue
            out = generic if rule.generic else specific
            if rule.anchor is None:
                for m in rule.pattern.finditer(text):
                    self._accept(rule, m, out)
                continue
            anchor, where = (rule.anchor, lowered) if same_length else (self._ci_anchors[rule.type], text)
            for a in anchor.finditer(where):
                tail = rule.pattern.match(text, a.end())
                if tail is not None:
                    self._accept(rule, tail, out)
        if generic:
            specific.extend(g for g in generic if not _overlaps(g, specific))
        specific.sort(key=lambda m: (m.start, -m.end))
        return _drop_nested(specific)

    @staticmethod
    def _accept(rule: SecretRule, m: re.Match[str], out: list[Match]) -> None:
        if rule.validate is not None:
            checked = m.group(rule.group if rule.check_group is None else rule.check_group)
            if not rule.validate(checked):
                return
        out.append(Match(rule.type, m.start(rule.group), m.end(rule.group), rule.score))


def _overlaps(m: Match, others: list[Match]) -> bool:
    return any(o.start < m.end and m.start < o.end for o in others)


def _drop_nested(matches: list[Match]) -> list[Match]:
    """Of matches sorted by start, drop those contained in an earlier one (e.g. a JWT inside a
    bearer header found by a specific rule)."""
    out: list[Match] = []
    for m in matches:
        if out and m.end <= out[-1].end and m.start >= out[-1].start:
            continue
        out.append(m)
    return out
