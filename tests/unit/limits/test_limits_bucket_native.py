"""The memory backend's buckets in C (_native_bucket.c) against its Python code: the same
decisions, the same header numbers and the same counters left behind, bit for bit, over random
requests, releases and clock steps; and what the C code does not handle runs the Python code."""

from __future__ import annotations

import random

import pytest

from bastion.limits import memory
from bastion.limits.memory import MemoryBackend
from bastion.limits.scopes import ScopeLimit

pytestmark = pytest.mark.skipif(memory._bucket_take is None, reason="C accelerator not built")


def scopes_of(rng: random.Random) -> tuple[ScopeLimit, ...]:
    def lim(hi: int) -> int | None:
        return None if rng.random() < 0.3 else rng.choice([0, 1, 2, 3, 7, 60, rng.randint(1, hi)])

    out = []
    for name in rng.sample(["k:a", "km:a:m", "t:x", "tm:x:m"], rng.randint(1, 4)):
        out.append(ScopeLimit(name, name, rpm=lim(50), tpm=lim(5000), max_parallel=lim(4)))
    return tuple(out)


def state(b: MemoryBackend) -> tuple[object, object]:
    return ({k: list(v) for k, v in b._buckets.items()}, dict(b._parallel))


@pytest.mark.parametrize("seed", range(40))
def test_c_and_python_buckets_agree(seed: int) -> None:
    rng = random.Random(seed)
    fast, slow = MemoryBackend(), MemoryBackend()
    sets = [scopes_of(rng) for _ in range(3)]
    t = 1_800_000_000.0 + rng.random()
    held: list[tuple[tuple[ScopeLimit, ...], int]] = []
    for _ in range(300):
        t += rng.choice([0.0, 0.0, 0.001, 0.37, 1.0, 2.5, 61.0, rng.random() * 5])
        if held and rng.random() < 0.4:
            s, tokens = held.pop(rng.randrange(len(held)))
            delta = rng.choice([0, -tokens, rng.randint(-tokens, 3 * tokens), 7])
            fast.give_back(s, delta, t)
            slow._give_back(s, delta, t)
        else:
            s = rng.choice(sets)
            tokens = rng.choice([1, 5, 100, 999, rng.randint(1, 6000)])
            a = fast.take(s, tokens, t)
            assert a == slow._take(s, tokens, t)
            if a.allowed:
                held.append((s, tokens))
        assert state(fast) == state(slow)
        assert fast._ops == slow._ops


def test_what_c_does_not_handle_runs_in_python() -> None:
    big = (ScopeLimit("k:big", "key 'big'", rpm=10, tpm=2**60),)
    fast, slow = MemoryBackend(), MemoryBackend()
    assert memory._bucket_take is not None
    rows = fast._plan(big)[0]
    assert memory._bucket_take(fast._buckets, fast._parallel, rows, 5, 1.0) is None  # limit past 2**53
    assert fast.take(big, 5, 1.0) == slow._take(big, 5, 1.0)
    s = (ScopeLimit("k:a", "key 'a'", rpm=10, tpm=100, max_parallel=2),)
    assert memory._bucket_take(fast._buckets, fast._parallel, fast._plan(s)[0], 5, 7) is None  # an int clock
    assert fast.take(s, 5, 7) == slow._take(s, 5, 7)
    assert fast.take(s, 2**60, 8.0) == slow._take(s, 2**60, 8.0)  # tokens past 2**53: too large, in Python
    fast.give_back(s, 2**60, 9.0)
    slow._give_back(s, 2**60, 9.0)
    assert state(fast) == state(slow)
