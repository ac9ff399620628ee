"""The pure bucket arithmetic, OpenAI's reset format, and bounded memory of the memory backend."""

from __future__ import annotations

import math

from bastion.limits.bucket import format_reset, full_after, level_at, remaining, wait_for
from bastion.limits.memory import MemoryBackend
from bastion.limits.scopes import ScopeLimit, key_model_scope, key_scope


def test_level_refills_continuously_and_caps_at_the_limit() -> None:
    assert level_at(None, 0, 5, 60) == 60
    assert level_at(0.0, 100.0, 130.0, 60) == 30.0
    assert level_at(0.0, 100.0, 1000.0, 60) == 60.0
    assert level_at(10.0, 100.0, 90.0, 60) == 10.0  # a clock going backwards grants nothing
    assert level_at(-30.0, 0.0, 60.0, 60) == 30.0  # debt from under-estimated tokens is repaid first


def test_whole_tokens_from_whole_levels_are_exact() -> None:
    lvl = 50.0
    for _ in range(50):
        lvl -= 1
    assert lvl == 0.0 and wait_for(lvl, 1, 50) == 1.2


def test_wait_and_reset() -> None:
    assert wait_for(5.0, 3, 10) == 0.0
    assert math.isinf(wait_for(100.0, 11, 10)) and math.isinf(wait_for(0.0, 1, 0))
    assert full_after(40.0, 60) == 20.0 and full_after(60.0, 60) == 0.0
    assert remaining(-3.5) == 0 and remaining(2.9) == 2


def test_openai_reset_format() -> None:
    assert format_reset(0) == "0s"
    assert format_reset(0.0061) == "7ms"
    assert format_reset(1.0) == "1s"
    assert format_reset(1.5) == "1.5s"
    assert format_reset(360.0) == "6m0s"
    assert format_reset(3725.25) == "1h2m5.25s"


def test_scope_ids_cannot_collide_through_separators() -> None:
    assert key_model_scope("a:b", "c") != key_model_scope("a", "b:c")
    assert key_scope("x%3Ay") != key_scope("x:y")


async def test_memory_backend_sweeps_full_buckets() -> None:
    t = [0.0]
    b = MemoryBackend(clock=lambda: t[0], max_buckets=100)
    for i in range(1000):
        await b.acquire(f"r{i}", (ScopeLimit(f"k:{i}", "k", rpm=10, tpm=100),), 5)
        t[0] += 0.1  # every key goes idle and refills within 6 s
    assert len(b._buckets) <= 200
