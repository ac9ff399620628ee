"""The rate-limit algorithm: a token bucket over time, as pure functions (no I/O, no clock).

A limit of L per minute is a bucket of capacity L refilled continuously at L/60 per second.
There is no window and so no boundary: a full minute's allowance is available at once, and
after that no more than L/60 per second is ever admitted; nothing "resets" at :00 for a client
to double-dip (the flaw of fixed windows). This is GCRA's behaviour with burst = L, kept as
(level, timestamp) so that taking whole tokens from a whole-number level is exact in floating
point (GCRA's accumulated emission intervals are not: 50 * 1.2 s != 60 s in binary).

The Redis backend runs the same arithmetic in Lua (limits/lua.py); tests hold both to it.
"""

from __future__ import annotations

import math

PERIOD_SECONDS = 60.0


def level_at(level: float | None, stamp: float, now: float, limit: int,
             period: float = PERIOD_SECONDS) -> float:
    """Tokens in the bucket at `now`, given `level` at `stamp` (None: a new, full bucket)."""
    if level is None:
        return float(limit)
    elapsed = now - stamp
    if elapsed > 0:
        level += elapsed * limit / period
    return float(limit) if level > limit else level


def wait_for(level: float, need: int, limit: int, period: float = PERIOD_SECONDS) -> float:
    """Seconds until `need` tokens are available (inf when `need` exceeds the capacity)."""
    if need > limit or limit <= 0:
        return math.inf
    if level >= need:
        return 0.0
    return (need - level) * period / limit


def full_after(level: float, limit: int, period: float = PERIOD_SECONDS) -> float:
    """Seconds until the bucket is full again (OpenAI's `x-ratelimit-reset-*`)."""
    if limit <= 0 or level >= limit:
        return 0.0
    return (limit - level) * period / limit


def remaining(level: float) -> int:
    """Whole tokens left (never negative)."""
    return max(0, math.floor(level))


def format_reset(seconds: float) -> str:
    """A duration the way OpenAI writes it in `x-ratelimit-reset-*`: "6ms", "1s", "1.5s", "6m0s"."""
    if seconds <= 0:
        return "0s"
    if seconds < 1:  # (finite: NaN compares false both times and goes on)
        ms = math.ceil(seconds * 1000)
        return f"{ms}ms" if ms > 1 else "1ms"  # not max(): a builtin call costs more than this whole branch
    if not math.isfinite(seconds):
        seconds = 86_400.0  # never: a day is as honest a hint as a header can give
    ms = math.ceil(seconds * 1000)
    minutes, ms = divmod(ms, 60_000)
    hours, minutes = divmod(minutes, 60)
    secs = f"{ms // 1000}" if ms % 1000 == 0 else f"{ms / 1000:.3f}".rstrip("0")
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"
