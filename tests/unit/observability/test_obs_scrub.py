"""The scrubber: every secret shape is removed, ordinary text is left alone, controls are escaped."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bastion.observability.scrub import REDACTED, escape_controls, scrub, scrub_secrets

SECRETS = {
    "openai": "sk-proj-AbCdEfGhIjKlMnOpQrStUvWx0123",
    "openai_legacy": "sk-AbCdEfGhIjKlMnOpQrStUvWxYz012345678901234567",
    "anthropic": "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWx-0123456789_abc",
    "stripe": "sk_live_AbCdEfGhIjKlMnOpQrSt",
    "aws_access_key": "AKIAIOSFODNN7EXAMPLE",
    "github": "ghp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
    "github_pat": "github_pat_11ABCDEFG0123456789_abcdefghijklmnop",
    "google": "AIzaSyA-AbCdEfGhIjKlMnOpQrStUvWxYz01234",
    "slack": "xoxb-123456789012-abcdefghijkl",
    "huggingface": "hf_AbCdEfGhIjKlMnOpQrStUvWxYz012345",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
}
SECRET_VALUES = sorted(SECRETS.values())


@pytest.mark.parametrize("name", sorted(SECRETS))
def test_token_shapes_are_redacted(name: str) -> None:
    secret = SECRETS[name]
    for text in (secret, f"key {secret} here", f'{{"k":"{secret}"}}', f"({secret})"):
        out = scrub(text)
        assert secret not in out and REDACTED in out


def test_virtual_key_keeps_its_public_id() -> None:
    out = scrub("presented bst_k7f3a9_9vJmZqXrT4LpWs2NcYb8Hd5")
    assert out == f"presented bst_k7f3a9_{REDACTED}"


@pytest.mark.parametrize(("text", "kept", "gone"), [
    ("Authorization: Bearer abc.def-ghi_jkl", "Authorization: ", "abc.def-ghi_jkl"),
    ("authorization=Basic dXNlcjpwYXNzd29yZA==", "authorization=", "dXNlcjpwYXNzd29yZA"),
    ("bearer abcdefgh12345678", "bearer ", "abcdefgh12345678"),
    ("x-api-key: 0123456789abcdef", "x-api-key: ", "0123456789abcdef"),
    ('{"password": "correct horse"}', '{"password": "', "correct"),
    ("client_secret=s3cr3t-value&x=1", "client_secret=", "s3cr3t-value"),
    ("postgresql://bastion:hunter22@db:5432/x", "postgresql://bastion:", "hunter22"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----", "", "MIIEow"),
])
def test_keyword_secrets_are_redacted(text: str, kept: str, gone: str) -> None:
    out = scrub_secrets(text)
    assert gone not in out and out.startswith(kept) and REDACTED in out


@pytest.mark.parametrize("text", [
    "gpt-4o-mini", "claude-sonnet-4-5", "hello world", '{"input_tokens":100,"output_tokens":50}',
    "task-proj-ABCDEFGHIJKLMNOPQRSTUV", "risk-assessment-for-quarterly-plan", "the desk-lamp is on",
    "tokens: 5", "2026-01-01T00:00:00.000Z", "req_0123456789abcdef",
])
def test_ordinary_text_is_unchanged(text: str) -> None:
    assert scrub(text) == text


def test_controls_are_escaped() -> None:
    assert escape_controls("a\nb\rc\td\x1b[31me\x9bf\u2028g\u202eh\x00") == \
        "a\\x0ab\\x0dc\\x09d\\x1b[31me\\x9bf\\u2028g\\u202eh\\x00"


@given(st.text())
def test_scrubbed_text_has_no_line_breaks_or_escapes(text: str) -> None:
    out = scrub(text)
    assert not any(c in out for c in "\n\r\x1b\x85\u2028\u2029")
    assert scrub(out) == out


@given(st.sampled_from(SECRET_VALUES), st.text(alphabet=" \n\t,;:()[]{}\"'<>=!?", max_size=5),
       st.text(max_size=30), st.text(max_size=30))
def test_planted_secret_never_survives(secret: str, sep: str, before: str, after: str) -> None:
    text = f"{before} {sep}{secret}{sep} {after}"
    assert secret not in scrub(text)
