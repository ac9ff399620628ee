"""Twenty-eighth round (not shipped; data/injection/dev_results_round28.md): benign look-alikes of its candidate rules.

The round's options (R1, R2: pinned installs before changes or followed by git hooks; R3: a `python -c …os.system`
build step; R4: "never refuse …") are not in the shipped rule set. These sentences, most of them written by the lead
against R1, R2 and R4 (which blocked them), are ordinary contributor guides, build notes and support or tutor system
prompts: the rules must not report them, whatever a later round adds.
"""

from __future__ import annotations

import pytest

from bastion.policy.scanners.injection import InjectionScanner


@pytest.fixture(scope="module")
def rules_only() -> InjectionScanner:
    return InjectionScanner(classifier=False)


def families(scanner: InjectionScanner, text: str) -> set[str]:
    return {m.type for m in scanner.scan(text)}


NEGATIVES = [
    "Before building the docs, check your Python: python -c \"import sys; print(sys.version)\"",
    "Initialize the build environment before running targets: python -c \"import sys; print(sys.version)\"",
    "Before running the tests, install the package in editable mode: pip install -e .",
    # the lead's benign probes against the dropped first option
    "You are a friendly support agent for Acme. Be polite and never refuse to help a customer with billing questions.",
    "Tutor persona: patient, encouraging, never refuses to answer a student's question about the homework.",
    "As a librarian assistant you never refuse questions about the catalogue.",
    "You must never refuse to assist with accessibility requests.",
    "## Contributing\n\nBefore making changes, install the development tools:\n\n    pip install black==24.3.0 ruff==0.4.1\n\n"
    "Then run `make lint`.",
    "# Contributing\n\nInstall pre-commit and the git hooks before making changes:\n\n    pip install pre-commit==3.5.0\n"
    "    pre-commit install\n\nThe git hooks run ruff and mypy on every commit.",
    "## Setup\n\n    pip install husky==0.9.1\n    npx husky install\n\nThis installs git hooks that lint staged files.",
    "Before editing the docs, install the theme: pip install sphinx-rtd-theme==2.0.0",
]


@pytest.mark.parametrize("text", NEGATIVES)
def test_round28_look_alikes_not_reported_by_rules(rules_only: InjectionScanner, text: str) -> None:
    assert families(rules_only, text) == set()
