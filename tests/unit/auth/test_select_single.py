"""auth/authenticator.py:_select answers a single presented credential without building a set,
with the same result as for the same credential presented in both headers."""

from __future__ import annotations

from bastion.auth import keys
from bastion.auth.authenticator import CONFLICTING, MALFORMED, MISSING, _candidates, _select


def test_one_credential_answers_as_two_identical_ones_do() -> None:
    key_id, plaintext = keys.generate()
    for value in (plaintext, plaintext[:-1], "", "sk-not-a-bastion-key", "bst_" + "x" * 60):
        assert _select([value]) == _select([value, value])
    assert _select([plaintext]) == keys.parse(plaintext)
    assert _select([plaintext])[0] == key_id


def test_the_outcomes() -> None:
    key_id, plaintext = keys.generate()
    other = keys.generate()[1]
    assert _select(_candidates(f"Bearer {plaintext}", None))[0] == key_id
    assert _select(_candidates(None, plaintext))[0] == key_id
    assert _select(_candidates(f"Basic {plaintext}", None)) == MALFORMED  # not Bearer: cannot parse
    assert _select(_candidates(None, None)) == MISSING
    assert _select(_candidates(f"Bearer {plaintext}", other)) == CONFLICTING
    assert _select(_candidates(f"Bearer {plaintext}", plaintext))[0] == key_id
