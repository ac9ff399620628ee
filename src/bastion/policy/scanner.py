"""The scanner seam: a scanner finds typed spans in one (normalised) text. Pure, CPU-bound."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(slots=True, frozen=True)
class Match:
    """A span a scanner found: its type (e.g. "email", "aws_access_key", "injection"),
    character offsets into the scanned text and a confidence score in [0, 1]."""

    type: str
    start: int
    end: int
    score: float = 1.0


class Scanner(Protocol):
    name: str  # "pii" | "secrets" | "injection" | "regex" | "keywords" | ...

    def scan(self, text: str) -> list[Match]: ...
