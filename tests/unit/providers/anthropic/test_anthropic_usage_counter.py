"""UsageCounter.update (providers/anthropic/mapping.py) takes a usage object's counts exactly as `_count`
reads each key in turn: the same counts kept, the same usage refused (the same message), whatever the
values (missing, null, plain ints in and out of range, booleans, floats, strings, int subclasses)."""

from __future__ import annotations

from enum import IntEnum

from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.core.errors import UpstreamError
from bastion.providers.anthropic.mapping import MAX_TOKEN_COUNT, UsageCounter, _count

KEYS = [("input_tokens", "input"), ("output_tokens", "output"), ("cache_read_input_tokens", "cache_read"),
        ("cache_creation_input_tokens", "cache_creation")]


class Tokens(IntEnum):
    SOME = 7


VALUE = st.one_of(st.none(), st.integers(-3, 3), st.integers(MAX_TOKEN_COUNT - 2, MAX_TOKEN_COUNT + 2),
                  st.integers(0, 10**6), st.booleans(), st.floats(allow_nan=False), st.text(max_size=3),
                  st.just(Tokens.SOME), st.just([1]))
USAGE = st.dictionaries(st.sampled_from([k for k, _ in KEYS] + ["cache_creation", "other"]), VALUE, max_size=6)


def reference(counter: UsageCounter, usage: object) -> None:
    """The update as it was written before: `_count` of each key in turn, then the 1-hour split."""
    if usage is None:
        return
    if not isinstance(usage, dict):
        raise UpstreamError("anthropic upstream sent a usage that is not an object")
    for key, attr in KEYS:
        value = _count(usage, key)
        if value is not None:
            setattr(counter, attr, value)
    split = usage.get("cache_creation")
    if isinstance(split, dict):
        hour = _count(split, "ephemeral_1h_input_tokens")
        if hour is not None:
            counter.cache_1h = hour


def state(counter: UsageCounter) -> tuple[object, ...]:
    return tuple((getattr(counter, attr), type(getattr(counter, attr))) for attr in UsageCounter.__slots__)


def outcome(update: object, usages: list[object]) -> tuple[object, ...]:
    counter = UsageCounter()
    for usage in usages:
        try:
            update(counter, usage)  # type: ignore[operator]
        except UpstreamError as e:
            return state(counter), str(e)
    return state(counter), None


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.one_of(USAGE, st.none(), st.just([]), st.builds(lambda u, h: {**u, "cache_creation": h}, USAGE,
                                                                   st.dictionaries(st.just("ephemeral_1h_input_tokens"),
                                                                                   VALUE))), max_size=3))
def test_update_takes_and_refuses_what_count_does(usages: list[object]) -> None:
    assert outcome(UsageCounter.update, usages) == outcome(reference, usages)
