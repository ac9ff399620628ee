"""Short everyday chat lines, written for Bastion (thirty-second round; training only, off by default).

One training-only group (`train.WRITTEN_EXTRA`: `written_chat`, never evaluated), benign only (label 0): the one-line
messages a chat or support assistant gets all day — delivery and order questions, account and billing questions,
follow-ups on the assistant's last answer ("can you make it shorter", "now put it in a table"), small talk and
everyday requests — sometimes with a speaker prefix ("User:", "Customer:") as in pasted transcripts. Round 31 found
that loosening the offset makes such lines score too high (`dev_results_round31.md`, item 3): the corpus has few of
them, and their words ("now", "you", "instead", "from now on") are also the words of short orders to a model.

Every text is composed here from word lists written for this project (seeded, deterministic, no network). `main()`
writes the corpus file offline, dropping any text that shares half its 5-word shingles with an evaluated corpus text
(the same test as collect.py).
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

SEED = 3232
LICENSE = "Apache-2.0 (written for Bastion)"
SOURCE = "data/injection/chat.py"
GROUPS = ("written_chat",)
PER_KIND = 80

ITEMS = ["order", "parcel", "package", "replacement", "new phone", "sofa", "refund", "return label", "gift card",
         "second box", "printer ink", "book order", "laptop", "desk", "subscription box"]
STATES = ["has gone out", "was dispatched", "left the warehouse", "got confirmed", "was paid for", "is marked as sent",
          "has a tracking number", "was approved"]
ASKS = ["when will it arrive", "how long until it gets here", "can I still change the delivery address",
        "will it come before the weekend", "why does the tracking page show nothing", "who is the courier",
        "can someone leave it with my neighbour", "do I need to be home to sign for it", "is there a way to speed it up",
        "what happens if I'm not in", "can I pick it up from the depot instead", "when should I expect an e-mail"]
LEADS = ["Now that the", "Since my", "The", "My", "So the", "Ok, the", "Great, the", "Hi, my", "Hello! My", "Quick one: my"]

ACCOUNT = ["I can't log in to my account", "I forgot my password", "my card was charged twice this month",
           "the app keeps logging me out", "I never got the confirmation e-mail", "I want to cancel my subscription",
           "my discount code doesn't work", "the invoice has the wrong company name", "I moved house last week",
           "I was billed after I cancelled", "the verification text never comes", "my loyalty points disappeared"]
ACCOUNT_ASKS = ["what should I do?", "can you help?", "how do I fix it?", "who do I talk to?", "is that normal?",
                "can you check?", "what are my options?", "how long does that take to sort out?", "any ideas?"]

EDITS = ["make it shorter", "make it a bit more formal", "make it friendlier", "put it in bullet points",
         "turn that into a table", "translate it into Spanish", "say it in simpler words", "add a title",
         "remove the last sentence", "try again but funnier", "keep it under 100 words", "use British spelling",
         "do the same for the second paragraph", "give me three more options", "write it as an e-mail to my boss",
         "drop the emojis", "explain the second step again", "change the name to Maria", "add a short summary at the top",
         "start with the most important point"]
EDIT_LEADS = ["Can you", "Could you", "Please", "Now", "Ok, now", "Nice. Now", "Thanks, can you", "Hmm, could you",
              "That's good, but", "Great, now", "Actually,", "Perfect. Please", "Not bad. Can you"]

TALK = ["good morning!", "how's your day going?", "tell me a joke about cats", "what's a good film for tonight?",
        "I'm bored, any ideas?", "what should I cook with rice, eggs and spinach?", "is it going to rain tomorrow?",
        "what's a nice name for a goldfish?", "recommend a book like The Martian", "how do I say thank you in Japanese?",
        "what time is it in Sydney right now?", "any tips for falling asleep faster?", "thanks, that was really helpful",
        "haha that's great", "never mind, I figured it out", "sorry, I meant Tuesday, not Thursday",
        "what's the difference between baking soda and baking powder?", "give me a fun fact about octopuses",
        "I have a job interview tomorrow, I'm nervous", "can you help me plan a weekend in Lisbon?",
        "how many cups are in a litre?", "what's a good gift for my dad's 60th?", "ok, and what about the blue one?",
        "you said Monday earlier, is that still right?", "wait, which one did you mean?", "that didn't work, what now?"]
TALK_LEADS = ["", "Hi! ", "Hey, ", "Hello, ", "Quick question: ", "Also, ", "One more thing: ", "Ok so ", "Btw, "]

PREFS = ["from now on, please call me Sam", "from now on keep the answers short", "from now on use metric units",
         "please answer in French from now on", "you can skip the introductions from now on",
         "instead of a list, just give me one sentence", "use the other recipe instead",
         "let's talk about the garden instead", "forget the pasta, let's do soup instead",
         "scratch that, make it for six people", "never mind the last question", "ignore my spelling, I'm typing on my phone",
         "just give me the answer, no explanation needed", "no need to apologise, it's fine",
         "you don't have to be so formal with me", "pretend I'm five and explain it again",
         "stop, I already know that part", "go back to the first version"]

PREFIXES = ["User: ", "Customer: ", "Me: ", "Q: ", "Client: ", "Guest: "]


def _cap(s: str) -> str:
    return s[0].upper() + s[1:] if s else s


def _delivery(rng: random.Random) -> str:
    lead, item, state, ask = rng.choice(LEADS), rng.choice(ITEMS), rng.choice(STATES), rng.choice(ASKS)
    return f"{lead} {item} {state}, {ask}?" if lead.endswith(("the", "my", "My")) else f"{lead} {item} {state}. {_cap(ask)}?"


def _account(rng: random.Random) -> str:
    return f"{_cap(rng.choice(ACCOUNT))}, {rng.choice(ACCOUNT_ASKS)}"


def _edit(rng: random.Random) -> str:
    lead, edit = rng.choice(EDIT_LEADS), rng.choice(EDITS)
    end = "?" if lead.endswith(("you", "you,")) else "."
    return f"{lead} {edit}{end}"


def _talk(rng: random.Random) -> str:
    lead = rng.choice(TALK_LEADS)
    line = rng.choice(TALK)
    return lead + (line if lead else _cap(line))


def _pref(rng: random.Random) -> str:
    line = _cap(rng.choice(PREFS))
    return line + rng.choice([".", "!", " please.", ", thanks.", ""])


KINDS: list[Callable[[random.Random], str]] = [_delivery, _account, _edit, _talk, _pref]


def benign() -> list[str]:
    rng = random.Random(SEED)
    out = []
    for kind in KINDS:
        for _ in range(PER_KIND):
            line = kind(rng)
            # pasted transcripts: a speaker prefix on about a third of the lines
            out.append(rng.choice(PREFIXES) + line if rng.random() < 0.3 else line)
    return out


def records() -> Iterator[dict[str, object]]:
    for t in dict.fromkeys(benign()):
        yield {"text": t, "label": 0, "group": "written_chat", "source": SOURCE, "license": LICENSE}


def main() -> None:
    """Write corpus/written_chat.jsonl offline (the evaluated corpus files are the texts to keep clear of)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import collect

    collect.write_generated(list(records()), GROUPS)


if __name__ == "__main__":
    main()
