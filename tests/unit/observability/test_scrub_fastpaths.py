"""The scrubber's shortcuts (the gateway's own request ids, short texts already seen clean) give
exactly what its two passes give."""

from __future__ import annotations

import random

import pytest

from bastion.observability import scrub as scrub_mod
from bastion.observability.scrub import escape_controls, scrub, scrub_secrets

_R = random.Random(7)
HEX = "0123456789abcdef"
GH = "ghp_" + "Zq8Lm3Xv7Rt2Wn5Kp9Bd4Hs6Jf1Gc0Ya8Ue3"


def passes(text: str) -> str:
    """The general path: both passes, no shortcut."""
    return scrub_mod._passes(text)


def test_own_ids_pass_unchanged_as_the_passes_would_leave_them() -> None:
    ids = [f"req_{''.join(_R.choice(HEX) for _ in range(n))}" for n in (1, 8, 18, 40, 64) for _ in range(200)]
    ids += ["req_bea4e4", "req_ba51c", "req_deadbeefcafe", "req_0000000000000000ff"]
    for rid in ids:
        assert scrub_secrets(rid) == rid == passes(rid)
        assert scrub(rid) == rid == escape_controls(passes(rid))


TEXTS = ["req_sk-proj-abcdefghijklmnopqrstuvwx", f"req_{GH}", "req_abc\nforged", "req_ABCDEF", "req_" + "a" * 65,
         "req_", "req_abc password=hunter22x", "req_abc bearer abcdefghijklmnop", "xreq_abc", "gpt-4o-mini",
         "127.0.0.1", "llama3.2:3b", GH, f"model {GH}", "a\x1bb", "line\nbreak", "token=abcdefghijklmnop",
         "x" * 64, "x" * 65 + GH, "sk-ant-api03-" + "a" * 40, "café", "\u202eevil"]


@pytest.mark.parametrize("text", TEXTS)
def test_shortcuts_equal_the_passes_on_first_and_later_calls(text: str) -> None:
    for _ in range(3):  # the first call may remember the text; the later ones take the shortcut
        assert scrub_secrets(text) == passes(text)
        assert scrub(text) == escape_controls(passes(text))


def test_only_clean_texts_are_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scrub_mod, "_CLEAN", set())
    for text in TEXTS:
        scrub(text)
        scrub_secrets(text)
    assert scrub_mod._CLEAN  # the clean short ones
    for text in scrub_mod._CLEAN:
        assert len(text) <= scrub_mod._CLEAN_LEN and escape_controls(passes(text)) == text
    assert GH not in scrub_mod._CLEAN and "a\x1bb" not in scrub_mod._CLEAN


def test_the_memory_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scrub_mod, "_CLEAN", set())
    for i in range(scrub_mod._CLEAN_MAX * 2 + 5):
        scrub(f"model-{i}")
    assert 0 < len(scrub_mod._CLEAN) <= scrub_mod._CLEAN_MAX


def test_a_key_after_the_prefix_is_still_scrubbed() -> None:
    assert "hunter22x" not in scrub_secrets("req_abc password=hunter22x")
    assert "\n" not in scrub("req_abc\nforged")
    assert GH not in scrub(f"model {GH}") and GH not in scrub(GH)
