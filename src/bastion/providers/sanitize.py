"""Strips credential-shaped tokens from provider error text before it may reach a client or a log."""

from __future__ import annotations

import math
import re
from collections import Counter

REDACTED = "[REDACTED]"
MAX_MESSAGE_CHARS = 300

# Vendor credential shapes; order matters only for readability (each is replaced independently).
_KNOWN = re.compile(
    r"""
    (?<![A-Za-z0-9_\-])                          # a token start, not the middle of a word
    (?:
      sk-ant-[A-Za-z0-9_\-]+                      # Anthropic keys (api03, admin01, ...)
    | sk-[A-Za-z0-9_\-]{8,}                       # OpenAI keys (sk-..., sk-proj-..., sk-svcacct-...)
    | bst_[A-Za-z0-9_\-]+                         # Bastion virtual keys
    | (?:AKIA|ASIA)[0-9A-Z]{16}                   # AWS access key ids
    | gh[pousr]_[A-Za-z0-9]{20,}                  # GitHub tokens
    | github_pat_[A-Za-z0-9_]{20,}
    | xox[abprs]-[A-Za-z0-9\-]{10,}               # Slack tokens
    | AIza[A-Za-z0-9_\-]{30,}                     # Google API keys
    | hf_[A-Za-z0-9]{20,}                         # Hugging Face tokens
    | eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}(?:\.[A-Za-z0-9_\-]*)?   # JWTs
    | (?i:bearer|basic)\s+[A-Za-z0-9_\-+/=.~]{8,}   # Authorization header values
    )
    """,
    re.VERBOSE,
)
# Long runs of token characters (base64 included); "." and ":" split URLs and field paths into short runs.
_RUN = re.compile(r"[A-Za-z0-9_\-+/=]{20,}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def _entropy(s: str) -> float:
    n = len(s)
    return -sum(c / n * math.log2(c / n) for c in Counter(s).values())


def _looks_secret(run: str) -> bool:
    has_digit = any(c.isdigit() for c in run)
    has_alpha = any(c.isalpha() for c in run)
    if not (has_digit and has_alpha):
        return False
    mixed_case = any(c.isupper() for c in run) and any(c.islower() for c in run)
    return mixed_case or _entropy(run) >= 4.0 or (len(run) >= 32 and all(c in "0123456789abcdefABCDEF" for c in run))


def _generic(m: re.Match[str]) -> str:
    run = m.group(0)
    return REDACTED if _looks_secret(run) else run


def sanitize_provider_message(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """The provider's text with credential-shaped tokens replaced, control characters folded to
    spaces and the result cut to `limit` characters (cut after redaction, so no partial secret
    escapes a prefix rule)."""
    out = _KNOWN.sub(REDACTED, text)
    out = _RUN.sub(_generic, out)
    out = _CONTROL.sub(" ", out).strip()
    if len(out) > limit:
        out = out[: limit - 1].rstrip() + "…"
    return out
