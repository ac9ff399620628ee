"""Strips anything credential-shaped from a provider's text before it may reach a client or a log.

Providers echo credentials in errors (OpenAI: "Incorrect API key provided: sk-abc***xyz"),
sometimes masked, sometimes not. Over-redaction is the safe failure: a request id or a long
hash in an error message is replaced too.
"""

from __future__ import annotations

import math
import re
from collections import Counter

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
_HEX = re.compile(r"[0-9a-fA-F]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def _entropy(token: str) -> float:
    n = len(token)
    return -sum(c / n * math.log2(c / n) for c in Counter(token).values())


def _looks_random(token: str) -> bool:
    """Mixed case, or letters and digits with high entropy (a dated model name such as
    claude-3-5-sonnet-20241022 stays, a hex request id or a lowercase key goes)."""
    has_lower = any(c.islower() for c in token)
    has_upper = any(c.isupper() for c in token)
    if has_lower and has_upper:
        return True
    has_digit = any(c.isdigit() for c in token)
    if not (has_digit and (has_lower or has_upper)):
        return False
    return _entropy(token) >= 3.95 or (len(token) >= 32 and _HEX.fullmatch(token) is not None)


def _long_token(m: re.Match[str]) -> str:
    return REDACTED if _looks_random(m.group(0)) else m.group(0)


def sanitize(text: str, limit: int = 500) -> str:
    """`text` without credential-shaped substrings or control characters, at most `limit` chars."""
    # Bound the scan (the masked-token rule is quadratic on long runs). A redaction never shrinks
    # 24+ characters below 10, so whatever survives the final cut was scanned whole.
    text = _CONTROL.sub(" ", text[: max(limit, 100) * 4])
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    text = _LONG_TOKEN.sub(_long_token, text)
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


MAX_MESSAGE_CHARS = 300


def sanitize_provider_message(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """A provider's error text made safe to pass on to a client (shared by every adapter)."""
    return sanitize(text, limit)
