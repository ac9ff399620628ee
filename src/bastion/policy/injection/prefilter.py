"""A literal prefilter for the injection rules: which rules can match a text, and where, before any regex runs.

A rule's regex can only match where the literal strings it consumes occur. From the parsed pattern we
derive, per rule, clauses of strings (every match consumes one string of each clause) and skip a rule or
a region where a clause has no string in the text: an exact shortcut, the regex still decides.
"""

from __future__ import annotations

import importlib
import math
import re
import threading
from collections.abc import Callable, Iterable
from functools import partial
from itertools import compress
from operator import itemgetter
from typing import Any

import numpy as np
import numpy.typing as npt

from bastion.policy.injection.features import DT_I64, Hasher, Trigrams, as_i64
from bastion.policy.injection.trigrams import COMMON

_SCAN_BUDGET = 1 << 20  # characters `str.find` may scan to test one clause
_PARSER: Any = importlib.import_module("re._parser")  # the stdlib regex parser (sre_parse is deprecated)
_EXACT_LIMIT = 64
_BRANCH_CLAUSES = 8  # clauses an alternation may give (one per choice of a clause in each branch)
_Info = tuple[frozenset[str] | None, list[frozenset[str]]]  # (every string the node can consume, or clauses)


def _cost(clause: frozenset[str]) -> float:
    return sum(1.0 / len(s) ** 2 for s in clause)


def _clause(strings: Iterable[str]) -> frozenset[str] | None:
    """The strings as a clause (None when one is empty: no requirement), minus those holding another one."""
    keep: list[str] = []
    for s in sorted(set(strings), key=len):
        if s == "":
            return None
        if not any(k in s for k in keep):
            keep.append(s)
    return frozenset(keep) if keep else None


def _seq_info(items: Iterable[tuple[Any, Any]]) -> _Info:
    cur: frozenset[str] = frozenset({""})
    clauses: list[frozenset[str]] = []
    exact = True
    for op, av in items:
        ex, cl = _node_info(op, av)
        if ex is not None:
            prod = frozenset(a + b for a in cur for b in ex)
            if len(prod) <= _EXACT_LIMIT:
                cur = prod
                continue
            exact, c = False, _clause(cur)
            clauses.extend([c] if c else [])
            cur = ex
            continue
        exact, c = False, _clause(cur)
        clauses.extend([c] if c else [])
        clauses.extend(cl)
        cur = frozenset({""})
    if exact:
        return cur, []
    c = _clause(cur)
    return None, clauses + ([c] if c else [])


def _node_info(op: Any, av: Any) -> _Info:
    name = str(getattr(op, "name", op))
    if name == "LITERAL":
        return frozenset({chr(av)}), []
    if name == "IN":
        chars = [v for o, v in av if str(getattr(o, "name", o)) == "LITERAL"]
        return (frozenset(map(chr, chars)), []) if chars and len(chars) == len(av) <= 8 else (None, [])
    if name in ("AT", "ASSERT", "ASSERT_NOT"):  # zero-width: consume nothing
        return frozenset({""}), []
    if name == "SUBPATTERN":
        if av[1] & re.IGNORECASE:
            return None, []
        return _seq_info(av[3])
    if name == "ATOMIC_GROUP":
        return _seq_info(av)
    if name == "BRANCH":
        infos = [_seq_info(b) for b in av[1]]
        exacts = [ex for ex, _ in infos if ex is not None]
        if len(exacts) == len(infos):
            union = frozenset().union(*exacts)
            if len(union) <= _EXACT_LIMIT:
                return union, []
        # a match takes one branch and consumes a string of each of that branch's clauses: one clause per
        # branch, joined, is a clause of the whole (for every such choice: "(a and b) or c" = "(a or c) and (b or c)")
        per_branch: list[list[frozenset[str]]] = []
        for ex, cl in infos:
            options = sorted((c for c in ([_clause(ex)] if ex is not None else cl) if c), key=_cost)
            if not options:
                return None, []
            per_branch.append(options)
        combos: list[tuple[frozenset[str], ...]] = [()]
        for options in per_branch:  # the cheapest option of each branch first; at most _BRANCH_CLAUSES
            wider = [(*combo, o) for o in options for combo in combos]
            combos = wider if len(wider) <= _BRANCH_CLAUSES else [(*combo, options[0]) for combo in combos]
        clauses = {c for c in (_clause(s for p in combo for s in p) for combo in combos) if c}
        return None, sorted(clauses, key=lambda c: (_cost(c), sorted(c)))
    if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
        lo, hi, sub = av
        ex, cl = _seq_info(sub)
        if lo == 0:
            if hi == 0:
                return frozenset({""}), []
            return (ex | {""}, []) if hi == 1 and ex is not None else (None, [])
        if ex is not None:
            if lo == hi and len(ex) ** lo <= _EXACT_LIMIT:
                out = frozenset({""})
                for _ in range(lo):
                    out = frozenset(a + b for a in out for b in ex)
                return out, []
            c = _clause(ex)
            return None, [c] if c else []
        return None, cl
    return None, []  # back references, conditionals, anything new: no requirement (always searched)


def requirement(pattern: re.Pattern[str]) -> tuple[frozenset[str], ...]:
    """Clauses of literal strings every match of `pattern` consumes one string of each (cheapest first)."""
    if pattern.flags & re.IGNORECASE:
        return ()
    try:
        ex, cl = _seq_info(_PARSER.parse(pattern.pattern, pattern.flags))
    except Exception:  # a parser we do not know: no shortcut, the rule is always searched
        return ()
    if ex is not None:
        c = _clause(ex)
        cl = [c] if c else []
    # a clause holding every string of another one says nothing more
    kept = [c for c in set(cl) if not any(o < c for o in cl)]
    return tuple(sorted(kept, key=lambda c: (_cost(c), sorted(c))))


def _name(op: Any) -> str:
    return str(getattr(op, "name", op))


def _leading(items: list[tuple[Any, Any]]) -> list[str] | None:
    """The literal strings one of which every match of the sequence `items` starts with (each alternative's
    literals up to its first other node), or None when a match may start otherwise (or with nothing)."""
    out = ""
    for op, av in items:
        name = _name(op)
        if name == "LITERAL":
            out += chr(av)
            continue
        if not out and name == "BRANCH":
            alternatives = [_leading(list(b)) for b in av[1]]
            return None if any(a is None for a in alternatives) else [s for a in alternatives for s in a or ()]
        if not out and name == "SUBPATTERN" and not av[1] and not av[2]:  # a group without inline flags
            return _leading(list(av[3]))
        break
    return [out] if out else None


def heads(pattern: re.Pattern[str]) -> tuple[str, ...] | None:
    """For a pattern that starts with `\b` (sre then finds no prefix to skip ahead with and tries a match at every
    position): the literals one of which starts every match (`Detector` tries a match only where one occurs: the
    same first match); None for any other pattern, a case-insensitive one or one this parser reading cannot vouch
    for."""
    if pattern.flags & (re.IGNORECASE | re.LOCALE):
        return None
    try:
        items = list(_PARSER.parse(pattern.pattern, pattern.flags))
    except Exception:  # a parser we do not know: searched as it is
        return None
    if len(items) < 2 or _name(items[0][0]) != "AT" or _name(items[0][1]) != "AT_BOUNDARY":
        return None
    found = _leading(items[1:])
    return tuple(sorted(set(found))) if found else None


class Prefilter:
    """Which rules can match a text, from the literal strings their patterns consume (see `requirement`).

    A string can only occur in a text that holds each of its character 3-grams, so looking up (up to 8 of)
    each rule string's 3-gram buckets among the text's (already computed by the feature extractor) tells
    which strings may occur. Bucket collisions only let a string through: the exact test (`str.find` in
    each region) and the regex itself still decide.
    """

    def __init__(self, patterns: list[re.Pattern[str]], hasher: Hasher) -> None:
        ids: dict[frozenset[str], int] = {}
        self._of_rule = [tuple(ids.setdefault(c, len(ids)) for c in requirement(p)) for p in patterns]
        strings = sorted({s for c in ids for s in c}, key=lambda s: (-len(s), s))
        index = {s: k for k, s in enumerate(strings)}
        members = [sorted(index[s] for s in c) for c in ids]
        self._clauses = [(tuple(members[c]), tuple(strings[m] for m in members[c])) for c in range(len(ids))]
        # per clause: its members' flags in a `maybe` (a C-level lookup: a clause has up to ~70 strings)
        self._flags = [itemgetter(*ms) if len(ms) > 1 else _single(ms[0]) for ms in members]
        self._n_strings = len(strings)
        self._size = 1 << hasher.bits  # bucket `size` is a sentinel that is always set
        picks = [self._rarest(s, hasher) for s in strings]
        self._tri = np.array(picks, dtype=np.int64).reshape(-1, 8)  # per string, rarest first
        self._tri_cols = [np.ascontiguousarray(self._tri[:, k]) for k in range(3)]
        self._all_strings = np.arange(len(strings), dtype=np.int64)
        self._member_flat = np.array([m for ms in members for m in ms], dtype=np.int64)
        self._clause_start = np.cumsum([0] + [len(ms) for ms in members[:-1]], dtype=np.int64)
        # every rule gets at least one clause: the sentinel clause len(ids), always true
        rule_cl = [cs or (len(ids),) for cs in self._of_rule]
        self._rule_flat = np.array([c for cs in rule_cl for c in cs], dtype=np.int64)
        self._rule_start = np.cumsum([0] + [len(cs) for cs in rule_cl[:-1]], dtype=np.int64)
        self._everything = (b"\x01" * len(patterns), b"\x01" * len(strings))
        self._local = threading.local()
        native = hasher.native  # the C accelerator when the hasher uses it: the same flags (tests compare)
        self._native = None if native is None or not len(strings) else (native, native.prefilter_tables(
            self._tri, self._member_flat, self._clause_start, self._rule_flat, self._rule_start, self._size))
        # the C lookup indexes the rule strings by their picked 3-grams: a text of few 3-grams costs little
        self.indexed = self._native is not None
        # `native.prefilter`'s first argument (None without the C lookup): `Detector`'s fused ASCII path calls it
        self.native_tables = None if self._native is None else self._native[1]
        # `possible` in C when the accelerator is used (the method below is the reference; tests compare)
        self.possible: Callable[..., bool] = self._possible
        # `_possible_regions` in C likewise (one call per scan instead of one `possible` per region)
        self.possible_regions: Callable[..., dict[int, list[tuple[int, int]]]] = self._possible_regions
        # `native.possible_regions`'s first argument (None without the accelerator): `Detector`'s fused ASCII path
        # calls it without the partial
        self.possible_tables: object = None
        if native is not None:
            tables = self.possible_tables = native.possible_tables(self._of_rule, members, tuple(strings), _SCAN_BUDGET)
            self.possible = partial(native.possible, tables)
            self.possible_regions = partial(native.possible_regions, tables)

    def _rarest(self, s: str, hasher: Hasher) -> list[int]:
        """Buckets of the (up to) 8 3-grams of `s` least likely in ordinary text, padded with the sentinel, rarest
        first (the C lookup files `s` under the first: `_commonness`)."""
        if len(s) < 3:
            return [self._size] * 8
        buckets = hasher.extract(np.array([ord(ch) for ch in s], dtype=np.uint32)).buckets[:len(s) - 2].tolist()
        rank = sorted(range(len(buckets)), key=lambda i: (_commonness(s[i:i + 3]), i))
        picked = list(dict.fromkeys(buckets[i] for i in rank))[:8]
        return picked + [self._size] * (8 - len(picked))

    def scan(self, trigrams: Trigrams | None) -> tuple[bytes, bytes]:
        """(per rule, per string) 1 when it may match / occur in the text whose 3-gram buckets are given
        (everything when they are not; a bytearray holds them as int64, `Scored.buckets`)."""
        if trigrams is None or not self._n_strings:
            return self._everything
        if self._native is not None and (isinstance(trigrams, bytearray)
                                         or (trigrams.dtype is DT_I64 and trigrams.flags.c_contiguous)):
            native, tables = self._native
            return native.prefilter(tables, trigrams)  # type: ignore[no-any-return]
        maybe = self._present(as_i64(trigrams), self._all_strings)
        clause_ok = np.ones(len(self._clauses) + 1, dtype=bool)
        clause_ok[:-1] = np.logical_or.reduceat(maybe[self._member_flat], self._clause_start)
        return np.logical_and.reduceat(clause_ok[self._rule_flat], self._rule_start).tobytes(), maybe.tobytes()

    def _present(self, trigrams: npt.NDArray[np.int64], ids: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        """Per string, True when the text of these 3-gram buckets holds all 8 picked 3-grams of string `ids`
        (the others False). The rarest 3-gram first, the next ones of the strings that have it, then all 8 of
        the (few) strings left: the same as testing all 8 of every string, with a fraction of the lookups."""
        buf: npt.NDArray[np.bool_] | None = getattr(self._local, "buf", None)
        if buf is None:
            buf = self._local.buf = np.zeros(self._size + 1, dtype=bool)
        buf[trigrams] = True
        buf[self._size] = True
        first, second, third = self._tri_cols
        cand = ids[buf[first[ids]]]
        cand = cand[buf[second[cand]]]
        cand = cand[buf[third[cand]]]
        cand = cand[buf[self._tri[cand]].view(np.uint64)[:, 0] == 0x0101010101010101]
        buf[trigrams] = False  # (left set by an exception, it would only let strings through)
        maybe = np.zeros(self._n_strings, dtype=bool)
        maybe[cand] = True
        return maybe

    def _possible(self, rule: int, maybe: bytes, text: str, a: int, b: int, few: bool = False) -> bool:
        """Every clause of `rule` has a string in text[a:b]; only the strings that may occur are looked for.

        A clause of many such strings in a long span is not tested (each absent one costs a full scan), nor
        with `few`, a clause of more than eight strings.
        """
        most = 8 if few else max(8, _SCAN_BUDGET // max(b - a, 1))
        everything = maybe is self._everything[1]
        for c in self._of_rule[rule]:
            strings = self._clauses[c][1]
            present = strings if everything else tuple(compress(strings, self._flags[c](maybe)))
            if len(present) > most:
                continue
            if not any(text.find(s, a, b) >= 0 for s in present):
                return False
        return True


    def _possible_regions(self, regions: dict[int, list[tuple[int, int]]], maybe: bytes, text: str, few: bool,
                          test_from: int) -> dict[int, list[tuple[int, int]]]:
        """Per rule of `regions` (in its order), its spans shorter than `test_from` or `possible` (rules keeping
        none left out): the regions worth searching."""
        out: dict[int, list[tuple[int, int]]] = {}
        for i, spans in regions.items():
            kept = [(a, b) for a, b in spans if b - a < test_from or self._possible(i, maybe, text, a, b, few)]
            if kept:
                out[i] = kept
        return out


def _single(member: int) -> Callable[[bytes], tuple[int]]:
    """`itemgetter(member)`, as a 1-tuple (itemgetter of one item returns the item)."""
    return lambda maybe: (maybe[member],)


def _commonness(gram: str) -> tuple[int, float]:
    """How common the 3-gram `gram` is in ordinary text, to sort by (rarest first): its place among the benign
    corpus's most common 3-grams (`trigrams.COMMON`: 0 for one not among them, 2000 for the most common), then the
    product of its letter frequencies. Only the prefilter's cost depends on it: a string is filed under its rarest
    3-gram (an ordinary text holds it seldom: fewer strings tested, a measured half of them), and every pick is
    tested whichever is first."""
    return _COMMON_RANK.get(gram, 0), math.prod(_FREQ.get(ch, 0.0005) for ch in gram)


# per common 3-gram, how many of `trigrams.COMMON` follow it (the most common has the most)
_COMMON_RANK = {COMMON[k:k + 3]: (len(COMMON) - k) // 3 for k in range(0, len(COMMON), 3)}
# rough letter frequencies of ordinary text: a rule string is tested by its rarest 3-grams
_FREQ = dict(zip(" etaoinshrdlcumwfgypbvkjxqz", (0.18, 0.1, 0.075, 0.065, 0.06, 0.057, 0.057, 0.051, 0.049, 0.049,
                                                0.034, 0.033, 0.023, 0.022, 0.02, 0.019, 0.018, 0.016, 0.016, 0.015,
                                                0.012, 0.008, 0.006, 0.0013, 0.0012, 0.0008, 0.0006), strict=True))
