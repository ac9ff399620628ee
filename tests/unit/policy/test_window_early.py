"""Early release of streamed text: released as soon as no finding can start in it, never a split value."""

from __future__ import annotations

import itertools
import re
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bastion.config.policy import PolicyConfig
from bastion.core.context import RequestContext
from bastion.core.errors import PolicyViolation
from bastion.core.types import (
    ChatResponse,
    Choice,
    StreamEnd,
    StreamEvent,
    TextDelta,
    TextPart,
    ToolCallDelta,
)
from bastion.policy.registry import ScannerRegistry
from bastion.policy.stage import PolicyStage
from bastion.policy.window import pending_start
from tests.unit.policy.fake_credentials import SECRETS

REDACT_OUT = {"output": [{"scanner": "secrets", "action": "redact"}, {"scanner": "pii", "action": "redact"}]}

# (text with the value, the value): every secret type, and PII in the formats the scanner knows,
# including values whose groups are joined by whitespace that normalisation turns into a space
PII: dict[str, tuple[str, str]] = {
    "card_spaces": ("card 4111 1111 1111 1111 exp", "4111 1111 1111 1111"),
    "card_dashes": ("visa 4000-0000-0000-0000-006 ok", "4000-0000-0000-0000-006"),
    "card_plain": ("mc 2221000000000009.", "2221000000000009"),
    "card_amex": ("amex 3782 822463 10005 done", "3782 822463 10005"),
    "card_nbsp": ("card 4111\u00a01111\u00a01111\u00a01111 exp", "4111\u00a01111\u00a01111\u00a01111"),
    "card_thin_space": ("card 4111\u20091111\u20091111\u20091111 exp", "4111\u20091111\u20091111\u20091111"),
    "card_after_colon": ("card:4111 1111 1111 1111", "4111 1111 1111 1111"),
    "card_in_quotes": ('{"card": "4111 1111 1111 1111"}', "4111 1111 1111 1111"),
    "iban_grouped": ("IBAN DE89 3704 0044 0532 0130 00, thanks", "DE89 3704 0044 0532 0130 00"),
    "iban_compact": ("pay GB82WEST12345698765432.", "GB82WEST12345698765432"),
    "ssn_dashes": ("SSN 536-22-8730", "536-22-8730"),
    "ssn_spaces": ("my ssn is 536 22 8730 ok", "536 22 8730"),
    "phone_us": ("call me at (415) 555-2671 later", "(415) 555-2671"),
    "phone_intl": ("UK office +44 20 7946 0958.", "+44 20 7946 0958"),
    "phone_de": ("Telefon: 030 12345678", "030 12345678"),
    "ipv4": ("host 192.168.1.20 is down", "192.168.1.20"),
    "ipv6": ("ping 2001:db8::ff00:42:8329 now", "2001:db8::ff00:42:8329"),
    "email": ("mail jane.doe+news@example.co.uk today", "jane.doe+news@example.co.uk"),
}
PLANTED = {t: (text, value) for t, (text, value, _) in SECRETS.items()} | PII


def stage(registry: ScannerRegistry, **raw: Any) -> PolicyStage:
    return PolicyStage({"default": PolicyConfig.model_validate(raw)}, registry=registry)


def ctx() -> RequestContext:
    return RequestContext(request_id="r", ingress="openai")


async def source(events: Sequence[StreamEvent]) -> AsyncIterator[StreamEvent]:
    for e in events:
        yield e


def split(text: str, cuts: Sequence[int]) -> list[str]:
    points = sorted({min(max(c, 0), len(text)) for c in cuts} | {0, len(text)})
    return [text[a:b] for a, b in itertools.pairwise(points) if b > a]


async def stream(s: PolicyStage, chunks: Sequence[str]) -> tuple[str, list[str]]:
    """The text the client receives, and what it had received after each delta went in."""
    got, after = "", []

    async def deltas() -> AsyncIterator[StreamEvent]:
        for i, c in enumerate(chunks):
            if i:
                after.append(got)  # the guard asks for the next delta only once the last one's output is out
            yield TextDelta(c)
        after.append(got)
        yield StreamEnd("stop")

    async for e in s.guard.guard_stream(ctx(), deltas()):
        if isinstance(e, TextDelta):
            got += e.text
    return got, after


async def whole(s: PolicyStage, text: str) -> str:
    out = await s.guard.check_response(ctx(), ChatResponse("id", "m", [Choice(0, [TextPart(text)], [], "stop")]))
    return out.choices[0].text()


def test_the_default_output_rules_release_early(registry: ScannerRegistry) -> None:
    assert stage(registry, **REDACT_OUT).policies.engines["default"].early_release
    keywords = stage(registry, output=[{"scanner": "keywords", "action": "redact", "words": ["falcon"]}])
    assert not keywords.policies.engines["default"].early_release


@pytest.mark.parametrize("type_", sorted(PLANTED))
async def test_value_split_anywhere_never_reaches_the_client(registry: ScannerRegistry, type_: str) -> None:
    """Every value, streamed one character per delta and cut in two at every position: the
    client gets exactly the whole-response result (which holds no part of the value)."""
    s = stage(registry, **REDACT_OUT)
    planted, value = PLANTED[type_]
    text = "Here it is: " + planted + " and the rest of the answer."
    expected = await whole(s, text)
    assert value not in expected and "_1]" in expected, expected
    got, _ = await stream(s, list(text))
    assert got == expected
    for i in range(1, len(text)):
        got, _ = await stream(s, split(text, [i]))
        assert got == expected, i
    for width in (2, 3, 5):
        for start in range(width):
            got, _ = await stream(s, split(text, range(start, len(text), width)))
            assert got == expected, (width, start)


@pytest.mark.parametrize("type_", sorted(PLANTED))
async def test_no_prefix_of_a_value_is_released_before_it_is_complete(registry: ScannerRegistry,
                                                                       type_: str) -> None:
    """Character by character: after each delta the client has a prefix of the final result,
    so a value's first characters never leave ahead of its redaction."""
    s = stage(registry, **REDACT_OUT)
    planted, value = PLANTED[type_]
    text = planted + " end."
    expected = await whole(s, text)
    _, after = await stream(s, list(text))
    start = text.index(value)
    for got in after:
        assert expected.startswith(got)
        assert len(got) <= start or "_1]" in got  # nothing past the value's start before its placeholder


async def test_text_is_released_a_token_behind(registry: ScannerRegistry) -> None:
    s = stage(registry, **REDACT_OUT, options={"stream_release_chars": 1})
    tokens = ["Hello", " there", ",", " how", " can", " I", " help", " you", " today", "?"]
    got, after = await stream(s, tokens)
    # after each token, everything before the last (unfinished) word has left
    assert after[:5] == ["", "Hello ", "Hello ", "Hello there, ", "Hello there, how "]
    assert after[-1] == "Hello there, how can I help you " and got == "".join(tokens)


async def test_by_default_the_first_word_leaves_at_once_then_once_per_release_step(
        registry: ScannerRegistry) -> None:
    s = stage(registry, **REDACT_OUT)
    tokens = ["Once", " upon", " a", " time", " there", " was", " a", " gateway", " that", " held", " back",
              " nothing", " it", " did", " not", " have", " to", " hold", "."] * 3
    got, after = await stream(s, tokens)
    assert after[:2] == ["", "Once "] and got == "".join(tokens)
    arrived = list(itertools.accumulate(tokens))
    # held: at most one release step (16) of text since the last scan, plus the last word
    assert all(len(a) - len(g) <= 16 + 8 for a, g in zip(arrived, after, strict=True))
    assert max(len(a) - len(g) for a, g in zip(arrived, after, strict=True)) < 64


async def test_a_card_held_until_its_groups_end(registry: ScannerRegistry) -> None:
    s = stage(registry, **REDACT_OUT)
    _, after = await stream(s, ["Card", " 4111", " 1111", " 1111", " 1111", " exp", " 12/27", "."])
    assert after[:6] == ["", "Card ", "Card ", "Card ", "Card ", "Card [CREDIT_CARD_1] "]


async def test_long_private_key_under_a_block_rule_never_leaks(registry: ScannerRegistry) -> None:
    """A credential longer than the window is held whole while it grows, with early release or not."""
    _, key, _ = SECRETS["private_key"]
    text = "Your key:\n" + key + "\nkeep it safe." + " more" * 30
    for raw in (REDACT_OUT, {**REDACT_OUT, "options": {"stream_window_chars": 64}}):
        for extra in ([], [{"scanner": "keywords", "action": "flag", "words": ["zzz"]}]):
            rules = [{"scanner": "secrets", "action": "block"}, *extra]
            s = stage(registry, output=rules, options=raw.get("options", {}))
            seen = ""
            with pytest.raises(PolicyViolation):
                async for e in s.guard.guard_stream(ctx(), source([*(TextDelta(c) for c in split(
                        text, range(0, len(text), 3))), StreamEnd("stop")])):
                    if isinstance(e, TextDelta):
                        seen += e.text
            assert "BEGIN" not in seen and key[40:60] not in seen


async def test_tool_arguments_split_everywhere(registry: ScannerRegistry) -> None:
    s = stage(registry, **REDACT_OUT)
    gh = SECRETS["github_token"][1]
    args = f'{{"token":"{gh}","card":"4111 1111 1111 1111","n":1}}'
    for i in range(1, len(args)):
        events: list[StreamEvent] = [ToolCallDelta(0, id="c", name="f", arguments="")]
        events += [ToolCallDelta(0, arguments=a) for a in split(args, [i, i + 7])]
        out = [e async for e in s.guard.guard_stream(ctx(), source([*events, StreamEnd("tool_calls")]))]
        got = "".join(e.arguments for e in out if isinstance(e, ToolCallDelta))
        assert got == '{"token":"[GITHUB_TOKEN_1]","card":"[CREDIT_CARD_1]","n":1}', i


@pytest.mark.parametrize(("text", "pending"), [
    ("hello world", "world"),
    ("hello world ", ""),
    ("card 4111 1111 ", "4111 1111 "),
    ("card 4111 1111 1111 1111 exp", "exp"),
    ("card:4111 1111", ":4111 1111"),
    ("nbsp 4111\u00a01111", "4111\u00a01111"),
    ("line 4111\n1111", "1111"),
    ('quoted "4111 1111', "4111 1111"),
    ("key -----BEGIN RSA PRIVATE KE", "-----BEGIN RSA PRIVATE KE"),
    ("IBAN DE89 3704 0044", "IBAN DE89 3704 0044"),  # upper-case words may be groups too
    ("Iban DE89 3704 0044", "DE89 3704 0044"),
    ("call (415) 555-", "(415) 555-"),
    ("the end.\n", ""),
])
def test_pending_suffix(text: str, pending: str) -> None:
    assert text[pending_start(text):] == pending


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
async def test_any_chunking_gives_the_whole_response_result(registry: ScannerRegistry, data: st.DataObject) -> None:
    s = stage(registry, **REDACT_OUT)
    # values up to the window's length: a longer one is treated as in the whole text only
    # when it is recognised from its start (the window docstring)
    pieces = [v for _, v in PLANTED.values() if len(v) <= 48] + [
        " ", "  ", "\n", "\t", "\u00a0", '"', "word", "WORD", "1234", "555", "-", ".", ":", "@", "password: ",
        "api_key=", "Bearer ", "ssn ", "call ", "(", ")", "+", "x", "[EMAIL_", "1]"]
    text = "".join(data.draw(st.lists(st.sampled_from(pieces), max_size=10)))
    # a token longer than the window is released past the window, as without early release
    assume(all(len(t) <= 60 for t in re.split(r'[\s"]', text)))
    cuts = data.draw(st.lists(st.integers(0, max(len(text), 1)), max_size=12))
    expected = await whole(s, text)
    got, _ = await stream(s, split(text, cuts))
    assert got == expected


# The pending suffix as first written: where this pattern first matches, searched from `pos`.
_PENDING_SEARCH = re.compile(r'(?:[^a-z\s"]+(?:[^\S\n\r\u2028\u2029]+[^a-z\s"]+)*[^\S\n\r\u2028\u2029]+[^a-z\s"]*'
                             r'|[^\s"]*)\Z')
_PENDING_CHARS = list('aqZ19 \t\n\r"-(.\u2028\u2029\xa0\x0b\x0c\x1c\x85\u3000é\U0001d400')


@settings(max_examples=3000, deadline=None)
@given(st.text(st.sampled_from(_PENDING_CHARS), max_size=16), st.integers(0, 18))
def test_pending_start_is_where_the_pending_pattern_first_matches(text: str, pos: int) -> None:
    m = _PENDING_SEARCH.search(text, pos)
    assert pending_start(text, pos) == (len(text) if m is None else m.start())
