"""The policy engine: one compiled policy → scan a request (block, redact in place, flag) or a text."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from types import ModuleType
from typing import Literal

from bastion.config.loader import ConfigError
from bastion.config.policy import TEXT_SOURCES, PolicyConfig, ScannerConfig
from bastion.core.context import Direction, Finding, RequestContext
from bastion.core.errors import PolicyViolation
from bastion.core.types import ChatRequest, EmbeddingsRequest
from bastion.policy import redaction
from bastion.policy.limits import RequestLimits
from bastion.policy.normalize import is_plain, spells_escapes
from bastion.policy.redaction import Edit, Redactor
from bastion.policy.registry import ScannerOptionError, ScannerRegistry, default_registry
from bastion.policy.rules import Hit, Rule, ScanRun, may_match, quiet_marks, token_bounded, violation
from bastion.policy.scan_cache import DEFAULT_ENTRIES, MAX_ENTRIES, ScanCache
from bastion.policy.slots import text_slots

_native: ModuleType | None
try:
    import bastion._native as _built

    _native = _built
except ImportError:  # not built: quiet tests are Python (PolicyEngine._quiet_test)
    _native = None

RULE_KEYS = frozenset({"scanner", "action", "on_error", "restore", "budget_ms", "roles"})
DEFAULT_BUDGET_MS = 250.0
DEFAULT_WINDOW = 64
MIN_WINDOW = 64  # every built-in rule recognises a credential within its first 64 characters
DEFAULT_RELEASE = 16  # a stream is scanned once per 16 new characters, not per delta
Decision = Literal["allow", "flag", "redact", "block"]


@dataclass(slots=True)
class TextVerdict:
    """What a policy decides about one text (the `bastion scan` verdict)."""

    decision: Decision
    findings: list[Finding]
    redacted: str
    reason: str | None = None


@dataclass(slots=True)
class Inspection:
    edits: list[Edit] = field(default_factory=list)  # merged redactions and restores
    hits: list[Hit] = field(default_factory=list)  # every hit (block, redact, flag)


class PolicyEngine:
    """One named policy, compiled. Build it at start-up; raises ConfigError naming the field."""

    def __init__(self, name: str, config: PolicyConfig, registry: ScannerRegistry | None = None) -> None:
        self.name = name
        self.config = config
        registry = registry or default_registry()
        errors: list[str] = []
        self.input_rules = self._rules("input", config.input, registry, errors)
        self.output_rules = self._rules("output", config.output, registry, errors)
        self.window_chars = DEFAULT_WINDOW
        self.release_chars = DEFAULT_RELEASE
        cache_entries = DEFAULT_ENTRIES
        bounds = {"stream_window_chars": (MIN_WINDOW, 65536), "stream_release_chars": (1, 4096),
                  "cache_entries": (0, MAX_ENTRIES)}
        for key, value in config.options.items():
            if key not in bounds:
                errors.append(f"policies.{name}.options.{key}: unknown option (known: {', '.join(bounds)})")
                continue
            low, high = bounds[key]
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                errors.append(f"policies.{name}.options.{key}: must be an integer between {low} and {high}")
            elif key == "stream_window_chars":
                self.window_chars = value
            elif key == "stream_release_chars":
                self.release_chars = value
            else:
                cache_entries = value
        if errors:
            raise ConfigError(errors)
        # input scan results by text digest (0 disables); output is never cached
        self.cache = ScanCache(cache_entries) if cache_entries and self.input_rules else None
        self.restores = any(r.restore for r in self.input_rules)
        # streams release text as soon as no finding can start in it (window.py) when every
        # output rule promises token-bounded matches; otherwise only past the window
        self.early_release = all(token_bounded(r.scanner) for r in self.output_rules)
        checks = [may_match(r.scanner) for r in self.output_rules]
        self._output_checks = tuple(c for c in checks if c is not None) if None not in checks else None
        # quiet_test(restoring, json_string) is quiet_tests[restoring][json_string] (made once: one per held text)
        self.quiet_tests = tuple((self._quiet_test(r, False), self._quiet_test(r, True)) for r in (False, True))
        # per part of a request (config.policy.TEXT_SOURCES), the input rules that scan it, when some
        # rule is limited to some roles (None: every rule scans every text)
        self._input_for: dict[str, tuple[Rule, ...]] | None = None
        self._has_limits = any(r.limits is not None for r in self.input_rules)  # else _check_limits does nothing
        if any(r.roles is not None for r in self.input_rules):
            self._input_for = {src: tuple(r for r in self.input_rules if r.roles is None or src in r.roles)
                               for src in TEXT_SOURCES}

    def rules_for(self, source: str) -> tuple[Rule, ...]:
        """The input rules that scan a text of this part of a request (a role, `tool_definitions`, …);
        a text of no such part (slots.REQUEST_FIELDS: `user`, `metadata`, `stop`) is scanned by the
        rules that are not limited to some roles."""
        if self._input_for is None:
            return self.input_rules
        rules = self._input_for.get(source)
        if rules is None:
            rules = self._input_for[source] = tuple(r for r in self.input_rules if r.roles is None)
        return rules

    def _rules(self, direction: Direction, configs: list[ScannerConfig], registry: ScannerRegistry,
               errors: list[str]) -> tuple[Rule, ...]:
        rules: list[Rule] = []
        for i, cfg in enumerate(configs):
            path = f"policies.{self.name}.{direction}[{i}]"
            extra = dict(cfg.model_extra or {})
            restore = extra.pop("restore", False)
            budget = extra.pop("budget_ms", DEFAULT_BUDGET_MS)
            if not isinstance(restore, bool):
                errors.append(f"{path}.restore: must be true or false")
                continue
            if restore and (cfg.action != "redact" or direction != "input"):
                errors.append(f"{path}.restore: only input rules with action redact can restore")
                continue
            if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not 0 < budget <= 60000:
                errors.append(f"{path}.budget_ms: must be a number of milliseconds in (0, 60000]")
                continue
            if cfg.roles is not None and direction != "input":
                errors.append(f"{path}.roles: only input rules scan parts of a request (output rules scan the response)")
                continue
            if cfg.roles is not None and cfg.scanner == "limits":
                errors.append(f"{path}.roles: limits apply to the whole request, not to some roles")
                continue
            base = Rule(self.name, direction, i, cfg.scanner, cfg.action, cfg.on_error, restore, budget / 1000.0,
                        roles=frozenset(cfg.roles) if cfg.roles is not None else None)
            try:
                if cfg.scanner == "limits":
                    if direction != "input":
                        errors.append(f"{path}.scanner: limits applies to input only")
                        continue
                    if cfg.action == "redact":
                        errors.append(f"{path}.action: limits can block or flag, not redact")
                        continue
                    rules.append(replace(base, limits=RequestLimits(**extra)))
                elif cfg.scanner not in registry:
                    errors.append(f"{path}.scanner: unknown scanner {cfg.scanner!r} "
                                  f"(known: {', '.join([*registry.names(), 'limits'])})")
                else:
                    rules.append(replace(base, scanner=registry.create(cfg.scanner, extra)))
            except ScannerOptionError as e:
                errors.append(f"{path}.{e.field}: {e.message}" if e.field else f"{path}: {e.message}")
            except TypeError as e:
                errors.append(f"{path}: {e}")
        return tuple(rules)

    # ---- requests ------------------------------------------------------------------------

    def scan_request(self, ctx: RequestContext, request: ChatRequest | EmbeddingsRequest,
                     redactor: Redactor | None = None, *, use_cache: bool = True,
                     findings: list[Finding] | None = None) -> Redactor:
        """Scan everything the model reads. Records findings (no values) in ctx.findings;
        raises PolicyViolation on a block; redacts in place. Returns the request's redactor
        (its `restore` map holds what restorable rules replaced). Off the event loop's thread:
        `use_cache=False` (the cache is not shared across threads; every scan is then timed on the
        thread CPU clock: waiting for the GIL stretches wall time, see ScanRun) and `findings`, a list
        of the caller's to collect them in instead of ctx.findings (which the loop may be reading)."""
        redactor = redactor or Redactor()
        if not self.input_rules:
            return redactor
        slots = text_slots(request)
        scope = ctx.principal.key_id if ctx.principal is not None else None
        found = ctx.findings if findings is None else findings
        # (findings, accumulate, cache, scope, cpu_clock) by position: keywords make a class call build and
        # unpack a dict of them
        run = ScanRun(found, True, self.cache if use_cache else None, scope, not use_cache)
        if self._has_limits:
            self._check_limits(run, request, sum(len(s.text) for s in slots))
        per_slot: list[list[Hit]] = []
        blocking: tuple[Hit, str] | None = None
        every = self.input_rules if self._input_for is None else None  # rules_for(source) of every slot
        hit_any = False
        for slot in slots:
            hits = run.scan(every or self.rules_for(slot.source), slot.text, slot.json_string)
            per_slot.append(hits)
            for h in hits:
                hit_any = True
                found.append(h.finding())
                if blocking is None and h.rule.action == "block":
                    blocking = (h, slot.where)
        if blocking is not None:
            raise violation(*blocking)
        if not hit_any:  # most requests: nothing to redact in any text
            return redactor
        for slot, hits in zip(slots, per_slot, strict=True):
            if not hits:  # most texts: no list of edits to build
                continue
            edits = [Edit(h.start, h.end, h.type, h.key, slot.text[h.start:h.end] if h.rule.restore else None)
                     for h in hits if h.rule.action == "redact"
                     and (slot.keep is None or h.end <= slot.keep[0] or h.start >= slot.keep[1])]
            if edits:
                slot.set(redaction.apply(slot.text, redaction.merge(edits), redactor))
        return redactor

    def _check_limits(self, run: ScanRun, request: ChatRequest | EmbeddingsRequest | None, chars: int) -> None:
        for rule in self.input_rules:
            if rule.limits is None or (rule.direction, rule.index) in run.skipped:
                continue
            try:
                breaches = rule.limits.check(request, chars)
            except Exception:  # any failure is decided by on_error
                run.fail(rule, "failed")
                continue
            for b in breaches:
                run.findings.append(Finding(scanner="limits", type=b.type, start=0, end=0, action=rule.action))
                if rule.action == "block":
                    raise PolicyViolation(f"The request was blocked by policy '{self.name}': {b.reason}.",
                                          param=b.type)
            cap = rule.limits.max_tokens
            if (cap is not None and rule.action == "block" and isinstance(request, ChatRequest)
                    and request.max_tokens is None):
                request.max_tokens = cap  # no max_tokens: the provider's default could be more than the cap

    # ---- responses -----------------------------------------------------------------------

    def inspect(self, run: ScanRun, text: str, restore: dict[str, str], json_string: bool = False) -> Inspection:
        """Output rules' hits on a response text, and the edits that redact them and restore
        placeholders the input redaction put in (the provider's text is scanned as received)."""
        if (self._output_checks is not None and is_plain(text) and not (json_string and spells_escapes(text))
                and not self._may_match(text)):
            if not restore or "[" not in text:
                return Inspection()  # no rule can match (rules.MAY_MATCH): nothing to scan
            hits: list[Hit] = []
        else:
            hits = run.scan(self.output_rules, text, json_string) if self.output_rules else []
        edits = [Edit(h.start, h.end, h.type, h.key) for h in hits if h.rule.action == "redact"]
        edits.extend(redaction.restore_edits(text, restore, json_string))
        return Inspection(redaction.merge(edits) if edits else edits, hits)

    def quiet(self, text: str, restore: dict[str, str], json_string: bool = False) -> bool:
        """True when `inspect(run, text, restore, json_string)` has nothing to do: no output rule can
        match the text (rules.MAY_MATCH; JSON text with a \\u or \\/ escape is always scanned: the
        literal checks read it unescaped) and it holds no placeholder to restore. The guard then passes the text as it
        is, without building a hold-back window for it."""
        checks = self._output_checks
        if checks is None or not is_plain(text) or (json_string and spells_escapes(text)) or (restore and "[" in text):
            return False
        try:  # _may_match, inlined (one call per response text)
            for check in checks:
                if check(text):
                    return False
        except Exception:  # a failing check is no proof: scan (a failing scanner is decided by on_error)
            return False
        return True

    def quiet_test(self, restoring: bool, json_string: bool = False) -> Callable[[str], bool] | None:
        """`quiet` as one function of the text, for texts restored when `restoring` (a non-empty
        restore map) and read as JSON when `json_string`; None when every text is scanned (a rule
        without a literal pre-check). A hold-back window asks it before each inspection
        (window.py): True is `inspect` finding nothing and editing nothing."""
        return self.quiet_tests[restoring][json_string]

    def _quiet_test(self, restoring: bool, json_string: bool) -> Callable[[str], bool] | None:
        checks = self._output_checks
        if checks is None:
            return None
        plain, escapes = is_plain, spells_escapes
        native = self._native_quiet(restoring)
        if native is not None:
            if not json_string:
                return native

            def quiet_json(text: str) -> bool:
                return not escapes(text) and native(text)

            return quiet_json

        def quiet(text: str) -> bool:
            if not plain(text) or (json_string and escapes(text)) or (restoring and "[" in text):
                return False
            try:
                for check in checks:
                    if check(text):
                        return False
            except Exception:  # a failing check is no proof: scan
                return False
            return True

        return quiet

    def _native_quiet(self, restoring: bool) -> Callable[[str], bool] | None:
        """`quiet` of a text not read as JSON in one C call (`_native.quiet_text`), when every output
        rule's scanner gives its marks (rules.QUIET_MARKS) and at most one gives secret tables: True
        only for printable ASCII without a marked character ("[" too when `restoring`), for which
        no rule's `may_match` holds. (It may say False where `quiet` says True: the text is then
        inspected, and the inspection finds what `quiet` said, nothing.)"""
        if _native is None:
            return None
        marks = bytearray(b"\x01" * 0x20 + b"\x00" * 0x5f + b"\x01" * 0x81)  # what is_plain refuses
        marks[9] = marks[10] = marks[13] = 0
        tables: object = None
        for rule in self.output_rules:
            spec = quiet_marks(rule.scanner)
            if spec is None or (spec[1] is not None and tables is not None):
                return None
            chars, more = spec
            for ch in chars:
                marks[ord(ch)] = 1
            if more is not None:
                tables = more
        if restoring:
            marks[ord("[")] = 1
        return partial(_native.quiet_text, bytes(marks), tables)

    def _may_match(self, text: str) -> bool:
        try:
            for check in self._output_checks or ():  # a loop, not any(): no generator per response
                if check(text):
                    return True
            return False
        except Exception:  # a failing check is no proof: scan (a failing scanner is decided by on_error)
            return True

    # ---- one text (bastion scan) ---------------------------------------------------------

    def evaluate_text(self, text: str, direction: Direction = "input", role: str = "user") -> TextVerdict:
        """The verdict on one text as a message of `role` (input; default a user message) or a
        response (output). Never raises for a finding; a scanner failure with on_error: block (or
        a limit) is a block verdict whose `redacted` is empty."""
        findings: list[Finding] = []
        run = ScanRun(findings, cache=self.cache if direction == "input" else None)
        rules = self.rules_for(role) if direction == "input" else self.output_rules
        try:
            if direction == "input":
                self._check_limits(run, None, len(text))
            hits = run.scan(rules, text)
        except PolicyViolation as e:
            # a limit or a failed scanner: the text was not (fully) scanned, and the findings of
            # the rules that did run are lost, so no part of it can be shown as redacted
            return TextVerdict("block", findings, "", e.message)
        findings.extend(h.finding() for h in hits)
        edits = [Edit(h.start, h.end, h.type, h.key) for h in hits if h.rule.action in ("redact", "block")]
        redacted = redaction.apply(text, redaction.merge(edits), Redactor())
        actions = {h.rule.action for h in hits}
        decision: Decision = ("block" if "block" in actions else "redact" if "redact" in actions
                              else "flag" if "flag" in actions else "allow")
        reason = None
        if decision == "block":
            first = next(h for h in hits if h.rule.action == "block")
            reason = violation(first, "the text").message
        return TextVerdict(decision, findings, redacted, reason)

