"""The rule type and the phrase fragments the rule families share (see rules/__init__.py).

Rules for known prompt-injection families are matched on the canonical (folded, lower-case) text.

A rule is a regular expression with the words that must occur for it to be worth running (its
anchors: canonical words, or substrings for scripts written without spaces). Strong rules report a
finding on their own with their score; weak rules ("cues") only feed the classifier. Patterns are
written in natural lower-case spelling and passed through the policy's Unicode fold when compiled,
so they match the folded text (accents stripped, look-alike letters mapped) in every language.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bastion.policy.normalize import fold

S = r"[\W_]{0,3}"  # between words: spaces, punctuation, or nothing when letters were glued together
# words before a match that make it a description or a prohibition rather than an order (checked in code:
# fourteen look-behinds at every position made the regex slow)
DESCRIBED = re.compile(r"(?:\battempts? to|\btrying to|\btries to|\btry to|\bdesigned to|\bhow to|\bways to|\bused to|"
                       r"\bnot|\bnever|n't|\bcannot) $")
NOT_QUOTED_DEFENCE = r"(?! {1,2}(?:in|inside|within|contained|embedded|found|from(?! before| earlier| previous| prior)|that appear|which appear|that may|included|hidden)\b)"

IGNORE = (r"(?:ignore|ignoring|ignores|disregard|disregarding|forget|forgetting|neglect|skip|bypass|override|overwrite|"
          r"discard|abandon|dismiss|drop|cancel|erase|scrap|do not follow|don'?t follow|dont follow|stop following|"
          r"no longer follow|set aside|pay no attention to|never ?mind|nevermind|void)")
QUAL = (r"(?:all|any|every|each|your|previous|previously|prior|above|earlier|preceding|former|original|initial|old|"
        r"existing|current|system|developer|developers|default|safety|ethical|moral|content|hidden|pre-?set|"
        r"given|provided|openai'?s?|anthropic'?s?|programmed)")
FILL = (r"(?:the|of|these|those|and|or|&|that|its|my|our|other|whatever|entire|whole|such|kind|sort|set|list|following|"
        r"conversations?|chats?)")
OBJ = (r"(?:instructions?|instruction set|rules?|directions?|directives?|guidelines?|guidance|prompts?|commands?|"
       r"constraints?|restrictions?|limitations?|polic(?:y|ies)|programming|training|conditioning|filters?|"
       r"guardrails?|safeguards?|boundaries|principles|protocols?|system ?prompt|orders|tasks?|context|inputs?|"
       r"i\w?n\w?s\w?t\w?r\w{0,6}ions?)")
EXFIL_VERB = (r"(?:reveal|print|show|display|output|repeat|recite|dump|leak|share|expose|disclose|tell me|give me|"
              r"provide|write out|spell out|echo|return|copy|paste|list|translate|encode|summari[sz]e|read back|"
              r"what (?:is|are|were|was)|what'?s)")
PROMPT_OBJ = r"(?:prompt|instructions|message|directives|rules|guidelines|configuration|preamble|pre-?prompt|context)"
IMPERATIVE = r"(?:^|[.!?:;,\n]\s*|\b(?:please|now|first|then|and|you must|you should|you will|kindly|just)\s+)"
# after AI: "the assistant manager", "the bot coach" are people, not the model
NOT_JOB = r"(?! (?:manager|director|editor|coach|teacher|professor|principal|engineer|secretary|team|store|buyer|producer))"
AI = r"(?:ai|a\.i\.|assistant|llm|language model|chatbot|bot|agent|model|gpt|chatgpt|claude|gemini|copilot)"


@dataclass(frozen=True, slots=True)
class Rule:
    family: str
    score: float  # 0 for cues (classifier features only)
    pattern: re.Pattern[str]
    anchors: frozenset[str]  # canonical words, one of which must occur
    substrings: tuple[str, ...]  # or one of these substrings (scripts without spaces, special tokens)

    def described(self, text: str, start: int) -> bool:
        """True when the words just before the match describe or forbid the act instead of ordering it."""
        return self.family == "ignore_previous" and DESCRIBED.search(text, max(0, start - 16), start) is not None

    @property
    def is_cue(self) -> bool:
        return self.score == 0.0


# pieces of contractions ("you're" → you, re): never an anchor on their own, the word before them is one
_FRAGMENTS = frozenset({"s", "t", "re", "ve", "ll", "d", "m"})


def rule(family: str, score: float, pattern: str, anchors: str = "", substrings: str = "") -> Rule:
    folded = fold(pattern)
    words = frozenset(w for w in re.findall(r"\w+", fold(anchors)) if w not in _FRAGMENTS)
    return Rule(family, score, re.compile(folded), words, tuple(fold(substrings).split()))


IGNORE_WORDS = ("ignore ignoring ignores disregard disregarding forget forgetting neglect skip bypass override "
                 "overwrite discard abandon dismiss drop cancel erase scrap follow following aside attention mind "
                 "nevermind void")
