"""Fixtures of the policy tests: a stand-in injection scanner and a registry holding it."""

from __future__ import annotations

import re

import pytest

from bastion.policy.registry import ScannerRegistry, default_registry
from bastion.policy.scanner import Match

_ATTACK = re.compile(r"ignore (?:all )?previous instructions", re.IGNORECASE)


class StandInInjection:
    """Stands in for policy/scanners/injection.py (written elsewhere) with the same interface."""

    name = "injection"

    def __init__(self, threshold: float = 0.8, **options: object) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError("threshold must be between 0 and 1")
        self.threshold = threshold

    def scan(self, text: str) -> list[Match]:
        return [Match("injection", m.start(), m.end(), 0.99) for m in _ATTACK.finditer(text)]


@pytest.fixture
def registry() -> ScannerRegistry:
    r = default_registry().copy()
    r.register("injection", StandInInjection)
    return r
