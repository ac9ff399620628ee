"""The secrets scanner: every rule finds its credential and ignores a look-alike."""

from __future__ import annotations

import pytest

from bastion.policy.registry import ScannerOptionError
from bastion.policy.scanners.secret_rules import RULE_TYPES
from bastion.policy.scanners.secrets import SecretsScanner
from tests.unit.policy.fake_credentials import SECRETS

SCANNER = SecretsScanner()


def test_every_rule_has_a_case() -> None:
    assert set(SECRETS) == set(RULE_TYPES)


@pytest.mark.parametrize("type_", sorted(SECRETS))
def test_positive(type_: str) -> None:
    text, value, _ = SECRETS[type_]
    found = SCANNER.scan(text)
    assert [m.type for m in found] == [type_], found
    m = found[0]
    assert text[m.start:m.end] == value  # the whole credential, nothing around it


@pytest.mark.parametrize("type_", sorted(SECRETS))
def test_negative(type_: str) -> None:
    _, _, negative = SECRETS[type_]
    assert SCANNER.scan(negative) == []


@pytest.mark.parametrize("prose", [
    "Please summarise the key points of this report and list the main tokens of the grammar.",
    "The secret to a good sourdough is patience; the password policy requires 12 characters.",
    "Use the API key from your dashboard (Settings → API keys) and never share it.",
    "commit 3f2a9c1b7e4d5f6a8b9c0d1e2f3a4b5c6d7e8f90 fixed the build; uuid 550e8400-e29b-41d4-a716-446655440000",
    "const token = getToken(); const secret = process.env.SECRET; api_key = my_secret_value_2",
])
def test_prose_and_code_are_clean(prose: str) -> None:
    assert SCANNER.scan(prose) == []


def test_generic_yields_to_specific_rule() -> None:
    _, value, _ = SECRETS["stripe_api_key"]
    assert [m.type for m in SCANNER.scan("secret_key = " + value)] == ["stripe_api_key"]


def test_case_insensitive_context_words() -> None:
    _, value, _ = SECRETS["aws_secret_access_key"]
    assert [m.type for m in SCANNER.scan(f"AWS_SECRET_ACCESS_KEY={value}")] == ["aws_secret_access_key"]


def test_types_option_limits_rules() -> None:
    only = SecretsScanner(types=["jwt"])
    assert only.scan(SECRETS["github_token"][0]) == []
    assert [m.type for m in only.scan(SECRETS["jwt"][0])] == ["jwt"]
    assert SecretsScanner(exclude=["github_token"]).scan(SECRETS["github_token"][0]) == []


@pytest.mark.parametrize(("options", "field"), [
    ({"types": ["nope"]}, "types"), ({"types": "jwt"}, "types"), ({"exclude": ["nope"]}, "exclude"),
])
def test_bad_options_name_the_field(options: dict[str, object], field: str) -> None:
    with pytest.raises(ScannerOptionError) as e:
        SecretsScanner(**options)
    assert e.value.field == field


FILLER = "Plain prose with code_like names, dashes - and dots. A Key: value; x = 1 :: J. " * 40  # > 2 kB


@pytest.mark.parametrize("type_", sorted(SECRETS))
def test_long_texts_use_the_same_prefilter(type_: str) -> None:
    """Texts past 2 kB find the literals with one search per rarer character: same findings."""
    from bastion.policy.scanners import secrets
    text, _, negative = SECRETS[type_]
    for hay in (FILLER + text + FILLER, text + FILLER, FILLER + text, FILLER + negative + FILLER):
        assert len(hay) >= secrets._LONG
        assert secrets._gated(SCANNER._gates, hay) == secrets._present(SCANNER._exact, hay)
    found = SCANNER.scan(FILLER + " " + text + " " + FILLER)
    assert [m.type for m in found] == [type_]
    assert SCANNER.scan(FILLER + " " + negative + " " + FILLER) == []


@pytest.mark.parametrize("type_", sorted(SECRETS))
def test_may_match_is_true_whenever_scan_finds(type_: str) -> None:
    """`may_match` is the necessary condition the output guard relies on to skip a scan."""
    text, value, _ = SECRETS[type_]
    for t in (text, value, text.upper(), text.lower(), " " + text + " "):
        if SCANNER.scan(t):
            assert SCANNER.may_match(t), t
    assert SCANNER.may_match(text)
    assert not SCANNER.may_match("Plain words with nothing in them that looks like one at all.")


@pytest.mark.parametrize("code", [
    "        try:\n            username, password = get_auth_from_url(new_proxies[scheme])\n",
    "username, password = request.url.username, request.url.password",
    "self.password = config.db_password",
    "    login, account, password = auth_from_netrc\n",
])
def test_password_assigned_from_code_is_not_a_password(code: str) -> None:
    # pasting requests/sessions.py or httpx/_client.py was refused (secrets block)
    assert SCANNER.scan(code) == []


def test_password_that_looks_like_a_word_path_with_symbols_is_still_found() -> None:
    for value in ("Tr0ub4dor&3x.ok", "hunter2.secure", "s3cret(pass)"):
        assert [m.type for m in SCANNER.scan(f"password = {value}")] == ["password"], value
