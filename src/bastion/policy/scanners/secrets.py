"""The `secrets` scanner: provider and cloud credentials, private keys, JWTs, passwords.

One pass per rule that survives its literal prefilter: most prompts contain none of the
literals. The prefilter is one pass over the text in C when the accelerator is built
(`bastion._native.secret_bits`), else a handful of C-level substring searches (`_present`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial
from types import ModuleType

from bastion.policy.registry import ScannerOptionError, str_list
from bastion.policy.scanner import Match
from bastion.policy.scanners.secret_rules import RULE_TYPES, RULES, SecretRule

_native: ModuleType | None
try:
    import bastion._native as _built

    _native = _built
except ImportError:  # not built (no C compiler at install time): the Python prefilter below
    _native = None


class SecretsScanner:
    name = "secrets"
    cheap = True  # a short text costs less to scan than to look up (rules.CHEAP)
    token_bounded = True  # see rules.TOKEN_BOUNDED; tests/unit/policy/test_window_early.py

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
        if not wanted - dropped:  # a rule that can find nothing is a mistake, not a policy
            raise ScannerOptionError("exclude" if wanted else "types", "leaves no secret type to look for")
        self.types = frozenset(wanted - dropped)
        self._rules: tuple[SecretRule, ...] = tuple(r for r in RULES if r.type in self.types)
        self._folds = any(r.anchor is not None for r in self._rules)
        self._ci_anchors = {r.type: re.compile(r.anchor.pattern, re.IGNORECASE)
                            for r in self._rules if r.anchor is not None}
        self._exact, self._folded = _prefilter_groups(self._rules)
        self._gates = _gates(self._exact)
        self._anchored = sum(1 << i for i, r in enumerate(self._rules) if r.anchor is not None)
        # The same bits or more (never fewer) in one pass in C, without building text.lower()
        self._c_bits: Callable[[str], int] | None = None if _native is None else partial(
            _native.secret_bits, _native.secret_tables(
                [(lit, 1 << i, r.anchor is not None) for i, r in enumerate(self._rules) for lit in r.prefilters],
                _COMMON))

    def quiet_marks(self) -> tuple[str, object] | None:
        """`may_match` is `secret_bits(tables, text) != 0` with the accelerator (rules.QUIET_MARKS)."""
        return None if self._c_bits is None else ("", self._c_bits.args[0])  # type: ignore[attr-defined]

    def may_match(self, text: str) -> bool:
        """False when no rule's literal occurs: `scan` then finds nothing (rules.MAY_MATCH)."""
        if self._c_bits is not None:
            return self._c_bits(text) != 0
        return bool(self._live(text, text.lower() if self._folds else text))

    def _live(self, text: str, lowered: str) -> int:
        """The bits of the rules whose literals occur (Python; `_c_bits` gives these or more)."""
        live = _present(self._exact, text) if len(text) < _LONG else _gated(self._gates, text)
        return live | _present(self._folded, lowered) if self._folds else live

    def scan(self, text: str) -> list[Match]:
        if self._c_bits is not None:
            live = self._c_bits(text)
            # the lower-cased text only for a live anchored rule (its anchor is matched there)
            lowered = text.lower() if live & self._anchored else text
        else:
            lowered = text.lower() if self._folds else text
            live = self._live(text, lowered)
        if not live:
            return []
        # str.lower keeps lengths except for a few characters normalisation already folds.
        same_length = len(lowered) == len(text)
        specific: list[Match] = []
        generic: list[Match] = []
        for i, rule in enumerate(self._rules):
            if not live >> i & 1:
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


# Literals holding one of these are looked for only when it occurs: one search of "_" stands
# for fourteen prefixes (ghp_, sk_live_, hf_, ...) in text without an underscore.
_ROOTS = ("_", "-", "Key=")
# Characters from common to rare in prose (any other is rarer still). A multi-character search
# costs a pass over the text (~1-5 µs per kB, more the shorter the literal), a one-character
# one is a memchr (~0.05 µs): each literal is first gated on its two rarest characters.
_COMMON = (" etaoinsrhldcu.,mfpgwybv-\nk'\"TSAI()CMxWPBDH:OFRNEL0123456789jGqzJUKVYQXZ/_=~")
_Member = tuple[str, str, str, int]  # (gate, second gate, literal, rule bit)
_Groups = tuple[tuple[str, str, str, tuple[_Member, ...]], ...]  # (gate, second gate, root, members)


def _rarest(literal: str) -> tuple[str, str]:
    """The literal's two rarest characters (one twice for a one-character literal)."""
    chars = sorted(set(literal), key=lambda c: _COMMON.find(c) if c in _COMMON else len(_COMMON), reverse=True)
    return chars[0], chars[1] if len(chars) > 1 else chars[0]


def _prefilter_groups(rules: tuple[SecretRule, ...]) -> tuple[_Groups, _Groups]:
    """Each rule's prefilter literals as (gates, root, ((gates, literal, rule bit), ...)) groups:
    the case-sensitive ones, and those matched in the lower-cased text (anchored rules)."""
    exact: dict[str, list[_Member]] = {}
    folded: dict[str, list[_Member]] = {}
    for i, rule in enumerate(rules):
        groups = exact if rule.anchor is None else folded
        for lit in rule.prefilters:
            root = next((r for r in _ROOTS if r in lit and r != lit), lit) if groups is exact else lit
            groups.setdefault(root, []).append((*_rarest(lit), lit, 1 << i))
    return (tuple((*_rarest(r), r, tuple(v)) for r, v in exact.items()),
            tuple((*_rarest(r), r, tuple(v)) for r, v in folded.items()))


def _present(groups: _Groups, hay: str) -> int:
    """The bits of the rules one of whose literals occurs in `hay`."""
    live = 0
    for gate, gate2, root, members in groups:
        if gate in hay and gate2 in hay and root in hay:
            if len(members) == 1 and members[0][2] == root:
                live |= members[0][3]
                continue
            for g, g2, lit, bit in members:
                if not live & bit and g in hay and g2 in hay and lit in hay:
                    live |= bit
    return live


# In a long text a search per literal costs a pass over the text each (~45 µs per 100 kB).
# There, the literals are found by a few searches of a rarer character they hold, each with
# look-arounds that spell the literals: one pass per character instead of one per literal.
_LONG = 2048
_GATE_CHARS = "_-AK.~xJ:"
_Gate = tuple[re.Pattern[str] | None, tuple[tuple[str, int], ...]]


def _gates(groups: _Groups) -> tuple[_Gate, ...]:
    by_char: dict[str, list[tuple[str, int]]] = {}
    alone: list[_Gate] = []
    for _, _, _, members in groups:
        for _, _, lit, bit in members:
            c = next((c for c in _GATE_CHARS if c in lit), None)
            if c is None:
                alone.append((None, ((lit, bit),)))
            else:
                by_char.setdefault(c, []).append((lit, bit))
    gates: list[_Gate] = []
    for c, held in by_char.items():
        arms = []
        for lit, _ in held:
            k = lit.index(c) + 1
            arms.append(f"(?<={re.escape(lit[:k])})" + (f"(?={re.escape(lit[k:])})" if lit[k:] else ""))
        gates.append((re.compile(re.escape(c) + "(?:" + "|".join(arms) + ")"), tuple(held)))
    return (*gates, *alone)


def _gated(gates: tuple[_Gate, ...], hay: str) -> int:
    """As `_present`, for a long text."""
    live = 0
    for gate, members in gates:
        if gate is None or gate.search(hay) is not None:
            for lit, bit in members:
                if not live & bit and lit in hay:
                    live |= bit
    return live


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
