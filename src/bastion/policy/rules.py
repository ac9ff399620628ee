"""Compiled policy rules and running them on one text: normalise, scan, map spans back, fail closed."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from bastion.core.context import Action, Direction, Finding
from bastion.core.errors import PolicyViolation
from bastion.policy.limits import RequestLimits
from bastion.policy.normalize import Normalized, has_tags, is_plain, normalize, spells_escapes
from bastion.policy.scan_cache import CacheKey, Results, ScanCache, kept
from bastion.policy.scanner import Match, Scanner

log = logging.getLogger(__name__)

WALL_SHARE = 7 / 8
"""The share of a rule's budget that its spend may reach on the wall clock alone: past it a scan is
timed on the thread clock (ScanRun). Below 1 because the wall time counted stays in the spend (an
upper bound of the CPU time: it holds any preemption inside those scans): at most 7/8 of the budget,
which leaves at least 1/8 to scans timed on the thread clock before the rule is failed."""

LONG_TEXT = 16_384
"""Characters from which a request's text is timed on the thread clock at once (ScanRun): scanning
it costs far more than the two readings (~1 µs), and it is the text likely to come near a budget."""

TOKEN_BOUNDED = "token_bounded"
"""The attribute a scanner sets to True to promise what a stream's early release relies on
(policy/window.py): every match lies inside one token (a run of characters other than
whitespace and `"`), or inside a run of tokens without ASCII lower-case letters separated by
whitespace other than line breaks; and whether and where it matches depends only on the text
before it (at most 64 characters of context), its own characters and the one character after
it, never on text further on."""


def token_bounded(scanner: object) -> bool:
    return getattr(scanner, TOKEN_BOUNDED, False) is True


CHEAP = "cheap"
"""The attribute a scanner sets to True when scanning a short text costs less than a look-up
in the input scan cache (a digest, a lock, a tuple per rule: ~1.8 µs): such a scanner's
results are cached only for texts of at least `ScanCache.min_chars` characters. Others (the
injection classifier: ~70 µs on a 30-character text) are cached whatever the length."""


def cheap(scanner: object) -> bool:
    return getattr(scanner, CHEAP, False) is True


MAY_MATCH = "may_match"
"""The method `may_match(text) -> bool` a scanner may have: False promises that `scan(text)`
finds nothing (a necessary condition checked in a fraction of a scan's time). When every
output rule has one, a stream's text that none may match is not scanned at all."""


def may_match(scanner: object) -> Callable[[str], bool] | None:
    check = getattr(scanner, MAY_MATCH, None)
    return check if callable(check) else None


QUIET_MARKS = "quiet_marks"
"""The method `quiet_marks() -> (characters, tables) | None` a scanner with `may_match` may have:
for printable ASCII text (tabs and line breaks allowed), when none of `characters` (ASCII) occurs
in it and, unless `tables` is None, the C accelerator's `secret_bits(tables, text)` is 0,
`may_match(text)` is False. The output guard then asks every output rule at once, in one C call
(PolicyEngine._quiet_test); None: only `may_match` answers."""


def quiet_marks(scanner: object) -> tuple[str, object] | None:
    marks = getattr(scanner, QUIET_MARKS, None)
    return marks() if callable(marks) else None


@dataclass(frozen=True, slots=True)
class Rule:
    """One `{scanner: ..., action: ...}` entry of a policy, built at start-up."""

    policy: str
    direction: Direction
    index: int
    name: str  # the scanner's name in config
    action: Action  # block | redact | flag
    on_error: str  # block | allow
    restore: bool
    budget_s: float
    scanner: Scanner | None = None
    limits: RequestLimits | None = None
    roles: frozenset[str] | None = None  # input: the parts of a request it scans (None: all)

    @property
    def path(self) -> str:
        return f"policies.{self.policy}.{self.direction}[{self.index}]"


@dataclass(frozen=True, slots=True)
class Hit:
    """A finding with what redaction needs; `key` is the normalised matched text and never
    leaves the engine (no log, no error, no Finding)."""

    rule: Rule
    type: str
    start: int  # in the original text
    end: int
    score: float
    key: str

    def finding(self, offset: int = 0) -> Finding:
        return Finding(scanner=self.rule.name, type=self.type, start=self.start + offset, end=self.end + offset,
                       score=self.score, action=self.rule.action, direction=self.rule.direction)


class ScanRun:
    """Runs rules over the texts of one request (or one response), keeping each rule's CPU
    time (thread time: a busy machine that deschedules the worker does not count) against its
    budget and applying `on_error`: block raises PolicyViolation, allow
    skips the rule for the rest of the run and records an `allow` finding of type "error".

    The thread clock (CLOCK_THREAD_CPUTIME_ID) is a system call per reading, the wall clock
    (perf_counter) is not (the vDSO serves it), and CPU time never exceeds wall time. So a scan
    is timed on the wall clock first: while a rule's spend (across the run's texts) with it
    stays within `WALL_SHARE` of the budget, the budget was kept whatever the CPU time. Past
    that, the scan is repeated under the thread clock (scanners are pure) and its CPU time is
    what counts: a machine slow enough to stretch one scan's wall time past its budget does not
    fail it. A text of at least `LONG_TEXT` characters, likely to come near the budget, is
    timed on the thread clock at once (a second scan would double its cost), and so is every
    text of a `cpu_clock` run: one off the event loop's thread (a huge prompt's, scanned on a
    worker: policy/stage.py), where waiting for the GIL stretches wall time. A rule's spend
    is the sum of its scans' times as counted: wall time for those timed under the share
    (upper bounds of their CPU time), so the budget holds across texts.

    With a `cache` (input runs only), an input rule's matches on a text are looked up by the
    text's digest first (for a `cheap` scanner only on a long enough text); a hit costs no budget (the budget applies to real scans),
    and only a scan that succeeded within its budget is kept. `scope` partitions the cache
    (the caller's key id), so one caller cannot time another's texts."""

    __slots__ = ("_accumulate", "_cache", "_cpu_clock", "_scope", "_spent", "findings", "skipped")

    def __init__(self, findings: list[Finding], accumulate: bool = True, cache: ScanCache | None = None,
                 scope: str | None = None, cpu_clock: bool = False) -> None:
        self.findings = findings
        self._accumulate = accumulate
        self._cache = cache
        self._scope = scope
        self._cpu_clock = cpu_clock
        self._spent: dict[tuple[str, int], float] = {}
        self.skipped: set[tuple[str, int]] = set()


    def fail(self, rule: Rule, why: str) -> None:
        """A rule could not run: block (fail closed) or skip it, per its `on_error`."""
        log.warning("policy %s: scanner %s %s (on_error: %s)", rule.policy, rule.name, why, rule.on_error)
        if rule.on_error == "allow":
            self.skipped.add((rule.direction, rule.index))
            self.findings.append(Finding(scanner=rule.name, type="error", start=0, end=0, score=0.0,
                                         action="allow", direction=rule.direction))
            return
        noun = "request" if rule.direction == "input" else "response"
        raise PolicyViolation(f"The {noun} was blocked by policy '{rule.policy}': scanner '{rule.name}' {why} "
                              f"(on_error: block).")

    def scan(self, rules: tuple[Rule, ...], text: str, json_string: bool = False) -> list[Hit]:
        """Hits of every text rule on `text`, with spans in the original text (`json_string`: JSON text
        whose escapes are read as the characters they spell: normalize.normalize)."""
        if not text:
            return []
        # the normalised text, and its map back when it is not the text itself (None: offsets are the same)
        ntext: str | None = None
        norm: Normalized | None = None
        cache = self._cache
        long_text = cache is not None and len(text) >= cache.min_chars
        # the text's cache entry: one look-up for its rules (on the first that may use it) and one store of what
        # this run scanned (`fresh`, after the loop), not one of each per rule
        tkey: CacheKey | None = None
        entry: Results | None = None
        fresh: Results | None = None
        scope = self._scope
        hits: list[Hit] = []
        skipped = self.skipped
        accumulate = self._accumulate
        spent_by = self._spent
        cpu_first = self._cpu_clock or len(text) >= LONG_TEXT
        for rule, scanner, key, input_, uncheap in _prepared(rules):
            if scanner is None or (skipped and key in skipped):
                continue
            keep = False  # this rule's result is to be kept
            if cache is not None and input_ and (long_text or uncheap):
                if tkey is None:  # (a run's rules are one policy's: the engine's)
                    tkey = (scope, rule.policy, len(text), cache.digest(text), json_string)
                    entry = cache.get(tkey)
                cached = entry.get(key) if entry is not None else None
                if cached is not None:
                    if cached:
                        if ntext is None:
                            ntext, norm = _view(text, json_string)
                        for type_, s, e, score in cached:
                            start, end = (s, e) if norm is None else norm.to_original(s, e)
                            hits.append(Hit(rule, type_, start, end, score, ntext[s:e]))
                    continue
                keep = True
            if ntext is None:
                # _view, its usual case inlined: printable ASCII that is not JSON text is its own normal form
                if not json_string and is_plain(text):
                    ntext = text
                else:
                    ntext, norm = _view(text, json_string)
            matches: list[Match] | None
            spent: float | None
            if accumulate:
                # _timed and _kept, inlined for a request's run (the same clocks, in the same order); a raise,
                # no result or a result that is not an empty list takes them in full
                try:
                    if cpu_first:
                        started = time.thread_time()
                        matches = scanner.scan(ntext)
                        spent = time.thread_time() - started
                    else:
                        started = time.perf_counter()
                        matches = scanner.scan(ntext)
                        spent = time.perf_counter() - started
                        if spent + spent_by.get(key, 0.0) > rule.budget_s * WALL_SHARE:
                            started = time.thread_time()
                            matches = scanner.scan(ntext)
                            spent = time.thread_time() - started
                except Exception as e:  # any scanner failure is decided by on_error
                    self._raised(rule, e)
                    continue
                if matches is not None and matches.__class__ is list and not matches:
                    spent += spent_by.get(key, 0.0)
                    spent_by[key] = spent
                    if spent > rule.budget_s:
                        self.fail(rule, f"exceeded its time budget of {rule.budget_s * 1000:g} ms")
                        continue
                    if keep:
                        if fresh is None:
                            fresh = {}
                        fresh[key] = ()
                    continue
                if matches is None:
                    self.fail(rule, "failed (returned no result)")
                    continue
            else:
                matches, spent = self._timed(rule, scanner, ntext)
            if matches is None or not self._kept(rule, matches, spent, len(ntext)):
                continue
            if keep:
                value = kept(matches)
                if value is not None:
                    if fresh is None:
                        fresh = {}
                    fresh[key] = value
            if matches:
                if norm is None:
                    hits.extend(Hit(rule, m.type, m.start, m.end, float(m.score), ntext[m.start:m.end])
                                for m in matches)
                else:
                    for m in matches:
                        start, end = norm.to_original(m.start, m.end)
                        hits.append(Hit(rule, m.type, start, end, float(m.score), ntext[m.start:m.end]))
        if fresh is not None and tkey is not None and cache is not None:
            cache.put(tkey, fresh if entry is None else {**entry, **fresh})
        if not text.isascii() and has_tags(text):  # (ASCII holds no tag character: no call for most texts)
            hits.extend(self._tag_view(rules, text, json_string, hits))
        return hits

    def _tag_view(self, rules: tuple[Rule, ...], text: str, json_string: bool, seen: list[Hit]) -> list[Hit]:
        """The hits on the text with its Unicode tag characters dropped (normalize.has_tags) that the
        usual view, which reads them as ASCII, did not find. Not cached; fail closed like a scan."""
        norm = normalize(text, json_string, drop_tags=True)
        known = {(h.rule.index, h.rule.direction, h.type, h.start, h.end) for h in seen}
        out: list[Hit] = []
        for rule in rules:
            scanner = rule.scanner
            if scanner is None or (self.skipped and (rule.direction, rule.index) in self.skipped):
                continue
            matches, spent = self._timed(rule, scanner, norm.text)
            if matches is None or not self._kept(rule, matches, spent, len(norm.text)):
                continue
            for m in matches:
                start, end = norm.to_original(m.start, m.end)
                if (rule.index, rule.direction, m.type, start, end) not in known:
                    out.append(Hit(rule, m.type, start, end, float(m.score), norm.text[m.start:m.end]))
        return out

    def _kept(self, rule: Rule, matches: list[Match], spent: float | None, length: int) -> bool:
        """A scan's matches may be used: they are valid and the rule kept its budget (its spend
        counts across the request's texts: `ScanRun`); otherwise on_error decides (`fail`)."""
        if spent is not None and self._accumulate:
            key = (rule.direction, rule.index)
            spent += self._spent.get(key, 0.0)
            self._spent[key] = spent
        if not (matches.__class__ is list and not matches) and not _all_valid(matches, length):
            self.fail(rule, "failed (returned invalid matches)")
            return False
        if spent is not None and spent > rule.budget_s:
            self.fail(rule, f"exceeded its time budget of {rule.budget_s * 1000:g} ms")
            return False
        return True

    def _raised(self, rule: Rule, e: Exception) -> None:
        log.warning("scanner %s raised %s", rule.name, type(e).__name__)
        self.fail(rule, "failed")

    def _timed(self, rule: Rule, scanner: Scanner, text: str) -> tuple[list[Match] | None, float | None]:
        """Run one scanner: its matches (None when it raised or returned None: on_error decided) and the
        time it adds to its rule's spend, on the clocks `ScanRun` describes. A per-call run (a stream's)
        adds none (None) when the wall time alone shows the budget kept; otherwise it returns the scan's
        CPU time (repeated under the thread clock: scanners are pure), which `_kept` checks alone."""
        accumulate = self._accumulate
        spent: float | None = None
        shown = False  # the wall time shows the budget kept
        try:
            if not accumulate or not (self._cpu_clock or len(text) >= LONG_TEXT):
                started = time.perf_counter()
                matches = scanner.scan(text)
                wall = time.perf_counter() - started
                if accumulate:
                    shown = wall + self._spent.get((rule.direction, rule.index), 0.0) <= rule.budget_s * WALL_SHARE
                    spent = wall
                else:
                    shown = wall <= rule.budget_s
            if not shown:
                started = time.thread_time()
                matches = scanner.scan(text)
                spent = time.thread_time() - started
        except Exception as e:  # any scanner failure is decided by on_error
            self._raised(rule, e)
            return None, None
        if matches is None:  # None means "decided" to the caller: a scanner returning it must not pass unseen
            self.fail(rule, "failed (returned no result)")
            return None, None
        return matches, spent


def _view(text: str, json_string: bool) -> tuple[str, Normalized | None]:
    """`normalize(text, json_string)`: its text, and the map back unless offsets are the same (None). Printable ASCII
    that is not JSON text spelling an escape is its own normal form (as `normalize` finds): no object is built."""
    if (not json_string or not spells_escapes(text)) and is_plain(text):
        return text, None
    norm = normalize(text, json_string)
    return norm.text, None if norm.is_identity else norm


# What `ScanRun.scan` reads of each rule, worked out once per rules tuple (a policy's tuples live as
# long as it does): (rule, scanner, (direction, index), an input rule, its scanner not `cheap`).
_Prepared = tuple[tuple[Rule, Scanner | None, tuple[str, int], bool, bool], ...]
_PREPARED: dict[int, tuple[tuple[Rule, ...], _Prepared]] = {}
_PREPARED_MAX = 1024


def _prepared(rules: tuple[Rule, ...]) -> _Prepared:
    found = _PREPARED.get(id(rules))
    if found is not None and found[0] is rules:
        return found[1]
    out = tuple((r, r.scanner, (r.direction, r.index), r.direction == "input",
                 r.scanner is not None and not cheap(r.scanner)) for r in rules)
    if len(_PREPARED) >= _PREPARED_MAX:
        _PREPARED.clear()
    _PREPARED[id(rules)] = (rules, out)  # the tuple is held: its id is not reused while the entry lives
    return out


def _all_valid(matches: object, length: int) -> bool:
    if not isinstance(matches, list):
        return False
    for m in matches:
        if not _valid(m, length):
            return False
    return True


def _valid(m: object, length: int) -> bool:
    return isinstance(m, Match) and 0 <= m.start < m.end <= length and isinstance(m.type, str) and bool(m.type)


def violation(hit: Hit, where: str) -> PolicyViolation:
    """The block error: names policy, scanner, type and location, never the value."""
    rule = hit.rule
    noun = "request" if rule.direction == "input" else "response"
    return PolicyViolation(f"The {noun} was blocked by policy '{rule.policy}': scanner '{rule.name}' found "
                           f"{hit.type} in {where}.", param=where if rule.direction == "input" else None)
