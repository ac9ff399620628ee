"""Strips anything credential-shaped from a provider's text before it may reach a client or a log.

Providers echo credentials in errors (OpenAI: "Incorrect API key provided: sk-abc***xyz"),
sometimes masked, sometimes not. Over-redaction is the safe failure: a request id or a long
hash in an error message is replaced too.
"""

from __future__ import annotations

import re

REDACTED = "[redacted]"

# Order matters: labelled and prefixed forms first, then the generic long-token rule.
_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?i)\b(bearer|basic)\s+[^\s\"',;]+"), rf"\1 {REDACTED}"),
    (re.compile(r"(?i)\b(api[-_ ]?key|x-api-key|access[-_ ]?token|auth[-_ ]?token|token|secret|password|passwd"
                r"|authorization|credentials?)(\s*[:=]\s*)([\"']?)(?!\[redacted\]|(?i:bearer|basic)\s)[^\s\"',;]+"),
     rf"\1\2\3{REDACTED}"),
    (re.compile(r"\b(?:sk|pk|rk)-[\w\-*.]*[\w*]"), REDACTED),  # OpenAI, Anthropic (sk-ant-), masked or not
    (re.compile(r"\bbst_[\w\-*]+"), REDACTED),  # Bastion's own virtual keys
    (re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{12,}"), REDACTED),
    (re.compile(r"\b(?:ghp|gho|ghu|ghs|ghr|github_pat|glpat|hf|xox[abprs])[_-][\w\-*]+"), REDACTED),
    (re.compile(r"\bAIza[\w\-]{12,}"), REDACTED),
    (re.compile(r"\beyJ[\w\-]+\.[\w\-]+\.[\w\-]*"), REDACTED),  # JWT
    (re.compile(r"[^\s\"'`,;:()<>\[\]{}]*\*{3,}[^\s\"'`,;:()<>\[\]{}]*"), REDACTED),  # any masked token
)
_LONG_TOKEN = re.compile(r"[A-Za-z0-9+/=_\-~]{24,}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def _looks_random(token: str) -> bool:
    has_digit = any(c.isdigit() for c in token)
    has_lower = any(c.islower() for c in token)
    has_upper = any(c.isupper() for c in token)
    return (has_digit and (has_lower or has_upper)) or (has_lower and has_upper)


def _long_token(m: re.Match[str]) -> str:
    return REDACTED if _looks_random(m.group(0)) else m.group(0)


def sanitize(text: str, limit: int = 500) -> str:
    """`text` without credential-shaped substrings or control characters, at most `limit` chars."""
    text = _CONTROL.sub(" ", text)
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    text = _LONG_TOKEN.sub(_long_token, text)
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."
