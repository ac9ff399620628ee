"""Compiled policy rules and running them on one text: normalise, scan, map spans back, fail closed."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from bastion.core.context import Action, Direction, Finding
from bastion.core.errors import PolicyViolation
from bastion.policy.limits import RequestLimits
from bastion.policy.normalize import Normalized, normalize
from bastion.policy.scan_cache import CacheKey, ScanCache
from bastion.policy.scanner import Match, Scanner

log = logging.getLogger(__name__)


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

    With a `cache` (input runs only), an input rule's matches on a long enough text are looked
    up by the text's digest first; a hit costs no budget (the budget applies to real scans),
    and only a scan that succeeded within its budget is kept. `scope` partitions the cache
    (the caller's key id), so one caller cannot time another's texts."""

    __slots__ = ("_accumulate", "_cache", "_scope", "_spent", "findings", "skipped")

    def __init__(self, findings: list[Finding], *, accumulate: bool = True, cache: ScanCache | None = None,
                 scope: str | None = None) -> None:
        self.findings = findings
        self._accumulate = accumulate
        self._cache = cache
        self._scope = scope
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

    def scan(self, rules: tuple[Rule, ...], text: str) -> list[Hit]:
        """Hits of every text rule on `text`, with spans in the original text."""
        if not text:
            return []
        norm: Normalized | None = None
        cache = self._cache if self._cache is not None and len(text) >= self._cache.min_chars else None
        digest = b""
        hits: list[Hit] = []
        for rule in rules:
            scanner = rule.scanner
            if scanner is None or (rule.direction, rule.index) in self.skipped:
                continue
            ckey: CacheKey | None = None
            if cache is not None and rule.direction == "input":
                digest = digest or cache.digest(text)
                ckey = (self._scope, rule.policy, rule.direction, rule.index, len(text), digest)
                cached = cache.get(ckey)
                if cached is not None:
                    if cached:
                        if norm is None:
                            norm = normalize(text)
                        for type_, s, e, score in cached:
                            start, end = norm.to_original(s, e)
                            hits.append(Hit(rule, type_, start, end, score, norm.text[s:e]))
                    continue
            if norm is None:
                norm = normalize(text)
            started = time.thread_time()
            try:
                matches = scanner.scan(norm.text)
                bad = not isinstance(matches, list) or not all(_valid(m, len(norm.text)) for m in matches)
            except Exception as e:  # any scanner failure is decided by on_error
                log.warning("scanner %s raised %s", rule.name, type(e).__name__)
                self.fail(rule, "failed")
                continue
            key = (rule.direction, rule.index)
            spent = time.thread_time() - started
            if self._accumulate:
                spent += self._spent.get(key, 0.0)
                self._spent[key] = spent
            if bad:
                self.fail(rule, "failed (returned invalid matches)")
                continue
            if spent > rule.budget_s:
                self.fail(rule, f"exceeded its time budget of {rule.budget_s * 1000:g} ms")
                continue
            if ckey is not None and cache is not None:
                cache.put(ckey, matches)
            for m in matches:
                start, end = norm.to_original(m.start, m.end)
                hits.append(Hit(rule, m.type, start, end, float(m.score), norm.text[m.start:m.end]))
        return hits


def _valid(m: object, length: int) -> bool:
    return isinstance(m, Match) and 0 <= m.start < m.end <= length and isinstance(m.type, str) and bool(m.type)


def violation(hit: Hit, where: str) -> PolicyViolation:
    """The block error: names policy, scanner, type and location, never the value."""
    rule = hit.rule
    noun = "request" if rule.direction == "input" else "response"
    return PolicyViolation(f"The {noun} was blocked by policy '{rule.policy}': scanner '{rule.name}' found "
                           f"{hit.type} in {where}.", param=where if rule.direction == "input" else None)
