"""Twenty-eighth round: refusal removed as a persona's trait (strong, `roleplay_jailbreak`).

"X will never refuse a request", "must never refuse to answer", "never declines the request": an order that the
model may not refuse. The object must be a request, a question, an answer or the end of the clause, so "never refuse a
refund request without checking the policy" (a support rule) does not match; "to never refuse" (a description of
what a jailbreak asks) is left to the classifier.
"""

from __future__ import annotations

from bastion.policy.injection.rules.base import Rule, rule

RULES: tuple[Rule, ...] = (
    rule("roleplay_jailbreak", 0.9, r"(?<!\bto )\bnever (?:ever )?(?:refuses?|declines?|rejects?)\b(?=\s*(?:[.!,;:)\"'\n]|$)|"
         r"\s+(?:to )?(?:answer|respond|reply|comply|help|assist|write|generate|provide|fulfil+|obey)\b|"
         r"\s+(?:a|any|the|my|your|user'?s?|human'?s?)\s+(?:(?:direct|human|user|single)\s+)?"
         r"(?:requests?|questions?|prompts?|orders?|commands?|tasks?|queries)\b|"
         r"\s+(?:anything|requests|questions|orders|commands)\b)",
         "refuse refuses decline declines reject rejects"),
)
