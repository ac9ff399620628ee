"""The pure bucket arithmetic, OpenAI's reset format, and bounded memory of the memory backend."""

from __future__ import annotations

import math
from collections.abc import Callable

from hypothesis import given
from hypothesis import strategies as st

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


def _format_reset_before(seconds: float) -> str:
    """format_reset with the order of its first tests as it was (the finiteness test before the
    sub-second branch); from one second on it is format_reset's own code."""
    if seconds <= 0:
        return "0s"
    if not math.isfinite(seconds):
        return format_reset(86_400.0)
    if seconds < 1:
        ms = math.ceil(seconds * 1000)
        return f"{ms if ms > 1 else 1}ms"
    return format_reset(seconds)


@given(st.floats(allow_nan=True, allow_infinity=True) | st.floats(min_value=0, max_value=2)
       | st.floats(min_value=0, max_value=1e-3) | st.sampled_from([0.0, -0.0, 1e-300, 0.999, 1.0, math.nan, math.inf]))
def test_format_reset_is_what_it_was(seconds: float) -> None:
    def outcome(f: Callable[[float], str]) -> object:
        try:
            return f(seconds)
        except OverflowError:  # (a finite value beyond ~1.8e305 s: both overflow alike)
            return OverflowError

    assert outcome(format_reset) == outcome(_format_reset_before)


@given(st.integers(1, 10**6), st.integers(1, 10**6), st.integers(-10**6, 10**6),
       st.floats(0, 200, allow_nan=False), st.floats(0, 200, allow_nan=False), st.booleans())
def test_memory_release_corrects_the_tokens_bucket_by_level_at(tpm: int, tokens: int, delta: int, later: float,
                                                              again: float, fresh: bool) -> None:
    """The memory backend's release (level_at inlined) leaves the tokens bucket where the bucket
    arithmetic says: the refilled level minus the correction, capped at the limit; a bucket swept
    away in between counts as full."""
    t = [1000.0]
    b = MemoryBackend(clock=lambda: t[0])
    scopes = (ScopeLimit(key_scope("k"), "key 'k'", rpm=10**9, tpm=tpm, max_parallel=5),)
    d = b.take(scopes, tokens, None)
    key = key_scope("k") + "|t"
    if not d.allowed:
        assert tokens > tpm and key not in b._buckets
        return
    level, stamp = b._buckets[key][0], b._buckets[key][1]
    assert level == float(tpm) - tokens and stamp == 1000.0 and b._parallel == {key_scope("k"): 1}
    t[0] += later
    if fresh:
        del b._buckets[key]
    b.give_back(scopes, delta, None)
    expected = (float(tpm) if fresh else level_at(level, stamp, t[0], tpm)) - delta
    if delta:
        assert b._buckets[key] == [expected if expected <= tpm else float(tpm), t[0], float(tpm)]
    assert b._parallel == {}
    t[0] += again
    b.give_back(scopes, 0, None)  # a second release of nothing taken: no counter goes below zero
    assert b._parallel == {}
