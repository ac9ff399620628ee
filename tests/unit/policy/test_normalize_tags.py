"""Invisible characters that hid a value (red-team findings): Unicode tag characters interleaved
with a visible value (read as ASCII they spelt a different text), and the Hangul fillers."""

from __future__ import annotations

from typing import Any

import pytest

from bastion.config.policy import PolicyConfig
from bastion.core.context import RequestContext
from bastion.core.types import StreamEnd, StreamStart, TextDelta
from bastion.policy.engine import PolicyEngine
from bastion.policy.normalize import has_tags, normalize
from bastion.policy.registry import ScannerRegistry
from bastion.policy.stage import PolicyStage
from tests.unit.policy.test_guard import collect, joined

AWS = "AKIAZ7QHW3XK5MNBV2QD"
EMAIL = "jane.roe@example.org"


def _tag(c: str) -> str:
    return chr(0xE0000 + ord(c))


INTERLEAVED = {
    "tag_after_each": lambda v: "".join(c + _tag(c) for c in v),
    "one_tag_between": lambda v: _tag("x").join(v),
    "two_tags_between": lambda v: (_tag("x") + _tag("y")).join(v),
    "hangul_filler": lambda v: "\u3164".join(v),
    "halfwidth_hangul_filler": lambda v: "\uffa0".join(v),
    "choseong_filler": lambda v: "\u115f".join(v),
}


def _engine(registry: ScannerRegistry, **raw: Any) -> PolicyEngine:
    return PolicyEngine("p", PolicyConfig.model_validate(raw), registry)


def test_tags_are_still_read_as_ascii_and_can_be_dropped() -> None:
    smuggled = "".join(_tag(c) for c in "hi")
    assert normalize(smuggled).text == "hi"
    assert normalize("a" + smuggled + "b", drop_tags=True).text == "ab"
    assert has_tags(smuggled) and not has_tags("plain") and not has_tags("caf\u00e9")


@pytest.mark.parametrize("how", sorted(INTERLEAVED))
def test_invisible_characters_between_a_secrets_characters_do_not_hide_it(registry: ScannerRegistry,
                                                                          how: str) -> None:
    engine = _engine(registry, input=[{"scanner": "secrets", "action": "block"},
                                      {"scanner": "pii", "action": "redact", "types": ["email"]}])
    assert engine.evaluate_text(f"key {INTERLEAVED[how](AWS)} ok").decision == "block"
    verdict = engine.evaluate_text(f"mail {INTERLEAVED[how](EMAIL)} ok")
    assert verdict.decision == "redact" and "@" not in verdict.redacted


@pytest.mark.parametrize("step", [1, 3, 7])
async def test_a_tag_interleaved_secret_never_leaves_a_stream(registry: ScannerRegistry, step: int) -> None:
    s = PolicyStage({"default": PolicyConfig.model_validate(
        {"output": [{"scanner": "secrets", "action": "redact"}]})}, registry=registry)
    text = "the key is " + INTERLEAVED["one_tag_between"](AWS) + " done"
    events = [StreamStart("id", "m"), *[TextDelta(text[i:i + step]) for i in range(0, len(text), step)],
              StreamEnd("stop")]
    out = joined(await collect(s, RequestContext(request_id="r", ingress="openai"), events))
    visible = "".join(c for c in out if not 0xE0000 <= ord(c) <= 0xE007F)
    assert AWS not in visible and "[AWS_ACCESS_KEY_ID_1]" in out
