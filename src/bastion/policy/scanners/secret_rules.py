"""The credential rules of the secrets scanner: gitleaks-style patterns, written for Bastion.

Each rule has literal prefilters (the regex runs only when one occurs in the text), the
pattern, the group that is the secret, and an optional validator that rejects look-alikes.
Every rule recognises a credential from a prefix of at most 64 characters: the stream window
(at least 64) relies on it to hold a credential back before any of it is released.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SecretRule:
    type: str
    prefilters: tuple[str, ...]  # literals, any of which must occur (case-sensitive unless `fold`)
    pattern: re.Pattern[str]
    group: int = 0
    validate: Callable[[str], bool] | None = None
    # When set: prefilters and this anchor match the lower-cased text, and `pattern` is then
    # matched in the original text where the anchor ends (case-insensitive context words).
    anchor: re.Pattern[str] | None = None
    generic: bool = False  # context/entropy rule: yields to specific rules on overlap
    score: float = 1.0
    check_group: int | None = None  # the group the validator sees (default: `group`)


def entropy(value: str) -> float:
    """Shannon entropy in bits per character."""
    if not value:
        return 0.0
    counts: dict[str, int] = {}
    for ch in value:
        counts[ch] = counts.get(ch, 0) + 1
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def _mixed(value: str) -> bool:
    """Random-looking: has a digit and a letter, or both letter cases."""
    has_digit = any(c.isdigit() for c in value)
    has_lower = any(c.islower() for c in value)
    has_upper = any(c.isupper() for c in value)
    return (has_digit and (has_lower or has_upper)) or (has_lower and has_upper)


_PLACEHOLDER = re.compile(
    r"^(?:[$%<{\[(]|.*(?:x{4,}|\*{3,}|\.{3}|your|example|placeholder|changeme|redacted|dummy|sample))",
    re.IGNORECASE)
_WEAK_PASSWORDS = frozenset({"password", "passwd", "pass", "secret", "changeme", "admin", "root", "user",
                             "pwd", "test", "none", "null", "true", "false"})


def not_placeholder(value: str) -> bool:
    return _PLACEHOLDER.match(value) is None and value.lower() not in _WEAK_PASSWORDS


def _openai(value: str) -> bool:
    body = value.split("-", 2)[-1] if value.startswith(("sk-proj-", "sk-svcacct-", "sk-admin-")) else value[3:]
    return "T3BlbkFJ" in value or (len(body) >= 32 and _mixed(body) and entropy(body) >= 3.5)


def _mixed_random(value: str) -> bool:
    return _mixed(value) and entropy(value) >= 3.0


def _aws_id(value: str) -> bool:
    return "EXAMPLE" not in value


def _jwt(value: str) -> bool:
    """The header decodes to a JOSE header. Checked on its first 12 characters, so a token is
    recognised from its first segment on (a stream holds it back before the signature arrives)."""
    head = value[:12]
    try:
        raw = base64.urlsafe_b64decode(head)
    except (binascii.Error, ValueError):
        return False
    return raw.startswith(b'{"') and any(k in raw for k in (b'"alg"', b'"typ"', b'"kid"', b'"enc"', b'"cty"'))


_WORD_PARTS = re.compile(r"[._/-]+")


def _generic(value: str) -> bool:
    """Random-looking: a digit and a letter, high entropy, not an identifier like
    `process.env.SECRET` or `my_secret_value_2` whose parts are plain words or numbers."""
    if len(value) < 16 or not any(c.isdigit() for c in value) or not any(c.isalpha() for c in value):
        return False
    if all(p.isalpha() or p.isdigit() for p in _WORD_PARTS.split(value) if p):
        return False
    return entropy(value) >= 3.5 and not_placeholder(value)


# `password = get_auth(url)`, `= request.url.password`, `= auth_from_netrc`: code that reads the value, not a value
_CODE_PATH = re.compile(r"[a-z_]+(?:\.[a-z_]+)*[(\[].*|[a-z_]+(?:\.[a-z_]+)+|_?[a-z]+(?:_[a-z]+)+")


def _password(value: str) -> bool:
    if len(value) < 8 or not not_placeholder(value):
        return False
    if _CODE_PATH.fullmatch(value):
        return False
    symbols = any(not c.isalnum() for c in value)
    return _mixed(value) or symbols or entropy(value) >= 3.2


def _conn_password(value: str) -> bool:
    return bool(value) and not_placeholder(value)


_B64 = "A-Za-z0-9+/"
_ID_END = r"(?![A-Za-z0-9_-])"

RULES: tuple[SecretRule, ...] = (
    SecretRule("private_key", ("PRIVATE KEY",), re.compile(
        r"-----BEGIN[A-Z0-9 ]{0,20}PRIVATE KEY(?: BLOCK)?-----[A-Za-z0-9+/=\s\\:,]{0,16384}"
        r"(?:-----END[A-Z0-9 ]{0,20}PRIVATE KEY(?: BLOCK)?-----)?")),
    SecretRule("anthropic_api_key", ("sk-ant-",), re.compile(
        r"(?<![A-Za-z0-9_-])sk-ant-[a-z]{2,10}\d{2}-[A-Za-z0-9_-]{32,}")),
    SecretRule("openai_api_key", ("sk-",), re.compile(
        r"(?<![A-Za-z0-9_-])sk-(?!ant-)(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}" + _ID_END),
        validate=_openai),
    SecretRule("aws_access_key_id", ("AKIA", "ASIA", "ABIA", "ACCA"), re.compile(
        r"(?<![A-Za-z0-9])(?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}(?![A-Za-z0-9])"), validate=_aws_id),
    SecretRule("aws_secret_access_key", ("aws",), re.compile(
        r"[\w.-]{0,30}?[\"']?\s{0,3}(?::=|=>|[:=])\s{0,3}[\"']?([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])"),
        group=1, anchor=re.compile(r"aws[\w.-]{0,30}?(?:secret|sk)"), validate=_mixed_random),
    SecretRule("gcp_api_key", ("AIza",), re.compile(r"(?<![A-Za-z0-9_-])AIza[0-9A-Za-z_-]{35}" + _ID_END)),
    SecretRule("gcp_service_account", ("private_key_id",), re.compile(
        r"\"private_key_id\"\s*:\s*\"([0-9a-f]{40})\""), group=1),
    SecretRule("google_oauth_token", ("ya29.",), re.compile(r"(?<![\w.])ya29\.[0-9A-Za-z_-]{20,}")),
    SecretRule("azure_storage_key", ("AccountKey=", "SharedAccessKey="), re.compile(
        rf"(?<![A-Za-z])(?:AccountKey|SharedAccessKey)=[{_B64}]{{40,}}={{0,2}}")),
    SecretRule("azure_ad_client_secret", ("Q~",), re.compile(
        r"(?<![\w~.-])[A-Za-z0-9_~.]{3}\dQ~[A-Za-z0-9_~.-]{31,34}(?![\w~.-])")),
    SecretRule("github_token", ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"), re.compile(
        r"(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{40,})(?![A-Za-z0-9_])")),
    SecretRule("gitlab_token", ("glpat-",), re.compile(r"(?<![A-Za-z0-9_-])glpat-[A-Za-z0-9_-]{20,}" + _ID_END)),
    SecretRule("slack_token", ("xox",), re.compile(
        r"(?<![A-Za-z0-9_-])xox[abposre]-(?:\d+-)?[A-Za-z0-9-]{10,}" + _ID_END), validate=_mixed_random),
    SecretRule("slack_webhook", ("hooks.slack.com",), re.compile(
        r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/-]{24,}")),
    SecretRule("stripe_api_key", ("sk_live_", "rk_live_", "sk_test_", "rk_test_", "whsec_"), re.compile(
        r"(?<![A-Za-z0-9_])(?:(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{20,}|whsec_[A-Za-z0-9]{32,})(?![A-Za-z0-9_])")),
    SecretRule("twilio_api_key", ("SK",), re.compile(r"(?<![A-Za-z0-9])SK[0-9a-f]{32}(?![A-Za-z0-9])")),
    SecretRule("twilio_auth_token", ("twilio",), re.compile(
        r"[\w.-]{0,20}?[\"']?\s{0,3}[:=]\s{0,3}[\"']?([0-9a-f]{32})(?![0-9A-Za-z])"),
        group=1, anchor=re.compile(r"twilio[\w.-]{0,30}?(?:auth|token|secret)")),
    SecretRule("sendgrid_api_key", ("SG.",), re.compile(
        r"(?<![A-Za-z0-9_-])SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{20,}" + _ID_END)),
    SecretRule("huggingface_token", ("hf_",), re.compile(r"(?<![A-Za-z0-9_])hf_[A-Za-z0-9]{30,40}(?![A-Za-z0-9_])"),
               validate=_mixed_random),
    SecretRule("npm_token", ("npm_",), re.compile(r"(?<![A-Za-z0-9_])npm_[A-Za-z0-9]{36}(?![A-Za-z0-9_])"),
               validate=_mixed_random),
    SecretRule("pypi_token", ("pypi-AgEIcHlwaS5vcmc",), re.compile(r"pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{40,}")),
    SecretRule("jwt", ("eyJ",), re.compile(
        r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{9,}(?:\.[A-Za-z0-9_-]*){0,2}"), validate=_jwt),
    SecretRule("connection_string", ("://",), re.compile(
        r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]{1,30}://[^\s:/@'\"<>]{1,256}:([^\s@/'\"<>]{1,256})@"
        r"[^\s/'\"<>?#,;]+"), validate=_conn_password, check_group=1),
    SecretRule("bearer_token", ("bearer",), re.compile(r"\s+([A-Za-z0-9\-._~+/]{20,}=*)"), group=1,
               anchor=re.compile(r"(?<![a-z0-9])bearer"), validate=_generic, generic=True, score=0.8),
    SecretRule("password", ("passw", "pwd"), re.compile(
        r"[\w.-]{0,20}?[\"'\]]?\s{0,3}(?::=|=>|[:=]|\s+is\s+)\s{0,3}[\"'`]?([^\s\"'`,;)}\]]{1,200})"),
        group=1, anchor=re.compile(r"passw(?:or)?d|passwd|pwd"), validate=_password, generic=True, score=0.8),
    SecretRule("generic_secret", ("key", "secret", "token", "credential"), re.compile(
        r"[\w.-]{0,20}?[\"'\]]?\s{0,3}(?::=|=>|[:=]|\s+is\s+)\s{0,3}[\"'`]?([A-Za-z0-9+/_\-.~=]{16,256})"),
        group=1, anchor=re.compile(r"api[_-]?key|apikey|secret|token|credential|access[_-]?key|auth[_-]?key"
                                   r"|signing[_-]?key"), validate=_generic, generic=True, score=0.7),
)

RULE_TYPES: frozenset[str] = frozenset(r.type for r in RULES)
