"""Rules for known prompt-injection families, matched on the canonical (folded, lower-case) text.

A rule is a regular expression with the words that must occur for it to be worth running (its
anchors: canonical words, or substrings for scripts written without spaces). Strong rules report a
finding on their own with their score; weak rules ("cues") only feed the classifier. Patterns are
written in natural lower-case spelling and passed through the policy's Unicode fold when compiled,
so they match the folded text (accents stripped, look-alike letters mapped) in every language.
One module per family (`base` holds the rule type and the shared phrase fragments).
"""

from __future__ import annotations

import hashlib

from bastion.policy.injection.rules import (
    carriers,
    exfiltration,
    framings,
    ignore,
    indirect,
    languages,
    languages_more,
    personas,
    pretexts,
    roleplay,
    roleplay_templates,
    turns,
)
from bastion.policy.injection.rules.base import Rule, rule

RULES: tuple[Rule, ...] = (ignore.RULES + exfiltration.RULES + roleplay.RULES + roleplay_templates.RULES + turns.RULES
                           + indirect.RULES + personas.RULES
                           + pretexts.RULES + carriers.RULES + framings.RULES + languages.RULES
                           + languages_more.RULES)

__all__ = ["RULES", "Rule", "digest", "rule"]


def digest() -> str:
    """Identifies the rule set: a model's cue weights are only valid for the rules it was trained with."""
    text = "\n".join(f"{r.family}|{r.score}|{r.pattern.pattern}" for r in RULES)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
