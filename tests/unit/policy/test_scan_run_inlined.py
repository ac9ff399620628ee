"""ScanRun.scan's inlined timing and keeping of a request's scans (accumulate=True) decide exactly as
its general steps `_timed` and `_kept` do: the same hits, findings, refusals, skipped rules, time spent
per rule and clock readings (wall and thread), whatever each scan returns or raises, however long it
takes on either clock and whatever the text's length."""

from __future__ import annotations

import itertools
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.core.context import Finding
from bastion.core.errors import PolicyViolation
from bastion.policy import rules
from bastion.policy.normalize import normalize
from bastion.policy.rules import Rule, ScanRun
from bastion.policy.scanner import Match

OUTCOMES = st.sampled_from(["none_found", "found", "raises", "None", "invalid", "tuple"])


class _Scripted:
    """A scanner whose every scan does the next thing of its script (shared by both runs alike)."""

    name = "scripted"

    def __init__(self, script: list[str]) -> None:
        self.script = itertools.cycle(script)  # (a scan timed again takes the next step: the same in both)

    def scan(self, text: str) -> object:
        what = next(self.script)
        if what == "raises":
            raise RuntimeError("boom")
        return {"none_found": [], "found": [Match("t", 0, 1, 0.5)], "None": None,
                "invalid": [Match("t", 0, len(text) + 1)], "tuple": ()}[what]


def _general(run: ScanRun, rule_set: tuple[Rule, ...], text: str) -> list[tuple[int, str, int, int]]:
    """The scan loop on `_timed` and `_kept` (no cache: the inlined part is the same with one)."""
    norm = normalize(text)
    out: list[tuple[int, str, int, int]] = []
    for rule in rule_set:
        if rule.scanner is None or (rule.direction, rule.index) in run.skipped:
            continue
        matches, spent = run._timed(rule, rule.scanner, norm.text)
        if matches is None or not run._kept(rule, matches, spent, len(norm.text)):
            continue
        out.extend((rule.index, m.type, *norm.to_original(m.start, m.end)) for m in matches)
    return out


def _run(scan: object, budgets: list[float], errors: list[str], scripts: list[list[str]], texts: list[str],
         steps: list[float], wall_steps: list[float], cpu_clock: bool) -> tuple[object, ...]:
    rule_set = tuple(Rule("p", "input", i, f"r{i}", "flag", on_error, False, budget, _Scripted(script))  # type: ignore[arg-type]
                     for i, (budget, on_error, script) in enumerate(zip(budgets, errors, scripts, strict=True)))
    readings = itertools.accumulate(itertools.cycle(steps))
    wall_readings = itertools.accumulate(itertools.cycle(wall_steps))
    taken: list[tuple[str, float]] = []

    def thread_time() -> float:
        taken.append(("thread", next(readings)))
        return taken[-1][1]

    def perf_counter() -> float:
        taken.append(("wall", next(wall_readings)))
        return taken[-1][1]

    findings: list[Finding] = []
    run = ScanRun(findings, cpu_clock=cpu_clock)
    hits: list[object] = []
    outcome: object = None
    with mock.patch.object(rules.time, "thread_time", thread_time), \
            mock.patch.object(rules.time, "perf_counter", perf_counter):
        try:
            for text in texts:
                if scan == "inlined":
                    hits.append([(h.rule.index, h.type, h.start, h.end) for h in run.scan(rule_set, text)])
                else:
                    hits.append(_general(run, rule_set, text))
        except PolicyViolation as e:
            outcome = e.message
    return hits, outcome, findings, run.skipped, run._spent, taken


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_the_inlined_scan_decides_as_the_general_steps(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, 3))
    texts = data.draw(st.lists(st.sampled_from(["hello", "a b c", "x", "y" * rules.LONG_TEXT]), min_size=1,
                               max_size=4))
    scripts = [data.draw(st.lists(OUTCOMES, min_size=len(texts), max_size=len(texts))) for _ in range(n)]
    budgets = data.draw(st.lists(st.sampled_from([0.01, 0.05, 0.2]), min_size=n, max_size=n))
    errors = data.draw(st.lists(st.sampled_from(["block", "allow"]), min_size=n, max_size=n))
    steps = data.draw(st.lists(st.sampled_from([0.0, 0.004, 0.02, 0.06]), min_size=1, max_size=5))
    wall_steps = data.draw(st.lists(st.sampled_from([0.0, 0.004, 0.02, 0.06]), min_size=1, max_size=5))
    cpu_clock = data.draw(st.booleans())
    assert _run("inlined", budgets, errors, scripts, texts, steps, wall_steps, cpu_clock) == \
        _run("general", budgets, errors, scripts, texts, steps, wall_steps, cpu_clock)
