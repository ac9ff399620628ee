"""round3: the milliseconds of access log lines and audit records, at most 3 decimals as JSON."""

from __future__ import annotations

import json
import math
import random

import orjson

from bastion.core.decimals import round3


def test_round3_writes_at_most_three_decimals_and_agrees_with_round() -> None:
    rng = random.Random(7)
    values = [rng.random() * 10 ** rng.randint(-3, 9) for _ in range(50_000)] + [0.0, 0.0015, 2.675, 1e14 + 0.123]
    differing = 0
    for v in values:
        r = round3(v)
        for text in (orjson.dumps(r).decode(), json.dumps(r)):
            assert "e" not in text and len(text.partition(".")[2]) <= 3, (v, text)
        if r != round(v, 3):  # only a value within a rounding error of a half-thousandth
            differing += 1
            assert abs(r - round(v, 3)) <= 0.001 * (1 + 1e-9) and abs(v * 1000 % 1 - 0.5) < 1e-6 * max(1.0, v), v
    assert differing < len(values) / 1000


def test_round3_keeps_what_round_keeps() -> None:
    assert round3(12.3456) == 12.346 and round3(-1.2344) == -1.234 and round3(3.0) == 3.0
    assert round3(1e16) == 1e16 and round3(math.inf) == math.inf and math.isnan(round3(math.nan))
