"""Scrubs secret-shaped text (keys, tokens, passwords) and control characters from log/audit text.

Every sink that writes operator-visible text (JSON logs, the access log, audit records in
`redacted` capture) runs through `scrub`. It is a safety net for values that should never have
reached a log in the first place, not a PII detector. Two passes keep it cheap: token shapes
with distinctive literal prefixes (one regex the engine can skip through), then
credential keywords (`password=`, `Authorization: Bearer`, `user:pw@`), gated by a substring test.
"""

from __future__ import annotations

import re

REDACTED = "[REDACTED]"

_TOKEN = re.compile(
    # Bastion virtual key bst_<id>_<secret>: keep the public id, drop the secret.
    r"bst_(?P<bst_id>[A-Za-z0-9]{1,40})_[A-Za-z0-9_\-]{6,}"
    r"|bst_[A-Za-z0-9_\-]{20,}"
    # OpenAI (sk-, sk-proj-), Anthropic (sk-ant-), Stripe (sk_live_, rk_test_).
    r"|sk[-_][A-Za-z0-9_\-]{16,}|rk[-_][A-Za-z0-9_\-]{16,}"
    r"|A(?:KIA|SIA|GPA|IDA|ROA|NPA|NVA|IPA)[A-Z0-9]{16}(?![A-Za-z0-9])"
    r"|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,}"
    r"|AIza[0-9A-Za-z_\-]{35}"
    r"|xox[abposr]-[A-Za-z0-9\-]{10,}"
    r"|hf_[A-Za-z0-9]{30,}"
    r"|eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"
)
_KEYWORD = re.compile(
    r"(?P<auth>(?i:bearer|basic))\s+[A-Za-z0-9._~+/=\-]{8,}"
    r"|(?P<kv_head>(?i:api[_-]?key|secret[_a-z\-]*|passw(?:or)?d|pwd|token|access[_-]?token|auth[_-]?token"
    r"|authorization|x-api-key|private[_-]?key|client[_-]?secret)[\"']?\s*[:=]\s*[\"']?)"
    r"(?:(?i:bearer|basic)\s+)?[^\s\"',;&]{6,}"
    r"|(?P<url_head>://[^\s:/@]+:)[^\s@/]+@"
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)",
    re.DOTALL,
)
_KEYWORD_GATE = ("bearer", "basic", "key", "secret", "passw", "pwd", "token", "authoriz", "://", "-----begin")
# C0 controls (including \r \n \t and ESC), DEL, C1 controls, Unicode line/paragraph separators,
# and bidi overrides: anything that could forge a log line or rewrite a terminal.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _token(m: re.Match[str]) -> str:
    start = m.start()
    if start > 0 and m.string[start - 1].isalnum():
        return m.group()  # inside a longer word (e.g. "task-..."), not a key prefix
    bst_id = m.group("bst_id")
    return f"bst_{bst_id}_{REDACTED}" if bst_id is not None else REDACTED


def _keyword(m: re.Match[str]) -> str:
    if m.group("auth") is not None:
        return f"{m.group('auth')} {REDACTED}"
    if m.group("kv_head") is not None:
        return f"{m.group('kv_head')}{REDACTED}"
    if m.group("url_head") is not None:
        return f"{m.group('url_head')}{REDACTED}@"
    return REDACTED


def _escape(m: re.Match[str]) -> str:
    c = ord(m.group())
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


# The gateway's own request ids (http/asgi.py: "req_" and hex digits): nothing in them can start a
# token shape or hold a gate word (each needs a letter past "f" or a punctuation mark; "r" only
# opens the id), so they pass unchanged without the two passes.
_OWN_REQUEST_ID = re.compile(r"req_[0-9a-f]{1,64}")


# Short texts both passes left unchanged (model aliases, client addresses: the same few on every
# request): seen again, they are known clean without the passes. Only unchanged texts are kept,
# so nothing secret-shaped is ever held here; bounded, emptied when full.
_CLEAN: set[str] = set()
CLEAN_TEXTS = _CLEAN  # read by audit/record.py's C path (which keeps a text found here as scrub_secrets does)
_CLEAN_LEN = 64
_CLEAN_MAX = 4096


def _passes(text: str) -> str:
    text = _TOKEN.sub(_token, text)
    low = text.lower()
    for word in _KEYWORD_GATE:
        if word in low:
            return _KEYWORD.sub(_keyword, text)
    return text


def scrub_secrets(text: str) -> str:
    """Replace every secret-shaped substring with a marker."""
    if text in _CLEAN or (text.startswith("req_") and _OWN_REQUEST_ID.fullmatch(text) is not None):
        return text
    out = _passes(text)
    if out == text and len(text) <= _CLEAN_LEN and _CONTROL.search(text) is None:
        _remember(text)
    return out


def escape_controls(text: str) -> str:
    """Make control characters visible (a newline becomes the text `\\x0a`): no log-line forgery."""
    return _CONTROL.sub(_escape, text)


def scrub(text: str) -> str:
    """Both: secrets first (a key split by a newline is still one key), then controls."""
    # (the gateway's own request ids, one a request, hold no control character either)
    if text in _CLEAN or (text.startswith("req_") and _OWN_REQUEST_ID.fullmatch(text) is not None):
        return text
    return escape_controls(scrub_secrets(text))


def _remember(text: str) -> None:
    if len(_CLEAN) >= _CLEAN_MAX:
        _CLEAN.clear()
    _CLEAN.add(text)
