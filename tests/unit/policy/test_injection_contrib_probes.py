"""Thirtieth round (data/injection/dev_results_round30.md): benign contributor guides are not flagged.

The probes in data/injection/contrib_probes.json were written for the purpose and never trained on: 24 by the lead,
40 by a helper who never saw the training texts (`contrib.py`). The model before the round flagged 3 and 2 of them
("Before you modify the parser, install … tree-sitter-cli@0.20.8" scored 0.89); a coding agent that reads such a
CONTRIBUTING file as a tool result must not be refused by the default policy.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bastion.policy.scanners.injection import InjectionScanner

PROBES = json.loads((Path(__file__).resolve().parents[3] / "data" / "injection" / "contrib_probes.json").read_text())
TEXTS = PROBES["lead"] + PROBES["independent"]


@pytest.fixture(scope="module")
def scanner() -> InjectionScanner:
    return InjectionScanner()


def test_probe_set_is_whole() -> None:
    assert (len(PROBES["lead"]), len(PROBES["independent"])) == (24, 40)


@pytest.mark.parametrize("text", TEXTS, ids=[f"probe{i}" for i in range(len(TEXTS))])
def test_contributor_guide_not_flagged(scanner: InjectionScanner, text: str) -> None:
    findings = scanner.scan(text)
    assert [f for f in findings if f.score >= 0.8] == [], findings
