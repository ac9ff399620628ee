"""window.pending_start in C (`_native.pending_start`, ASCII text) against the patterns it replaces."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.policy import window
from tests.unit.policy.native_required import native_or_skip

native_or_skip(window._native_start)

# The pending suffix as first written (as in test_window_early): where this pattern first matches from `pos`.
_PENDING_SEARCH = re.compile(r'(?:[^a-z\s"]+(?:[^\S\n\r\u2028\u2029]+[^a-z\s"]+)*[^\S\n\r\u2028\u2029]+[^a-z\s"]*'
                             r'|[^\s"]*)\Z')
_ASCII = [chr(i) for i in range(128)]
_BIASED = [*'aqzAZ019 \t\n\r"-(.:@[\x0b\x0c\x1c\x1f\x7f', "word", "4111", "DE89", "  "]


def _general(text: str, pos: int) -> int:
    return len(text) if pos >= len(text) else window._pending_start(text, pos, len(text))


@settings(max_examples=3000, deadline=None)
@given(st.one_of(st.text(st.sampled_from(_ASCII), max_size=24),
                 st.lists(st.sampled_from(_BIASED), max_size=12).map("".join)), st.integers(0, 30))
def test_native_pending_start_is_the_patterns(text: str, pos: int) -> None:
    native = window._native_start(text, pos)  # type: ignore[misc]
    assert native == _general(text, pos)
    m = _PENDING_SEARCH.search(text, pos)
    assert native == (len(text) if m is None else m.start())
    assert window.pending_start(text, pos) == native


def test_native_pending_start_leaves_other_text_to_the_patterns() -> None:
    assert window._native_start("caf\u00e9 4111 1111", 0) == -1  # type: ignore[misc]
    assert window.pending_start("caf\u00e9 4111 1111", 0) == 3  # ("é" is no a-z letter: a group's character)
    assert window.pending_start("card 4111\u00a01111", 0) == 5


@pytest.mark.parametrize("text", ["", "a", "hello world ", "card 4111 1111 ", "x \t 12 34"])
def test_native_pending_start_at_and_past_the_end(text: str) -> None:
    for pos in range(len(text) + 3):
        assert window.pending_start(text, pos) == _general(text, pos)


def test_native_pending_start_refuses_bad_arguments() -> None:
    native = window._native_start
    assert native is not None
    with pytest.raises(TypeError):
        native(b"abc", 0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        native("abc")  # type: ignore[call-arg]
    with pytest.raises(ValueError):
        native("abc", -1)


def test_python_variant_is_the_patterns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(window, "_native_start", None)
    for text in ["card 4111 1111", "hello wor", 'quoted "4111 1111', "the end.\n", "IBAN DE89 3704 0044"]:
        m = _PENDING_SEARCH.search(text)
        assert window.pending_start(text) == (len(text) if m is None else m.start())
