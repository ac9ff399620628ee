"""The scan glue's shortcuts decide exactly as the general steps they stand for (each test fails if one diverges):
ScanRun's view of a text without a Normalized object, the request scan's early return without hits, the inlined
output check of `quiet`, the cached locations of text parts and the scan cache's lock taken without `with`."""

from __future__ import annotations

import random
from dataclasses import fields
from typing import Any

import pytest

from bastion.config.policy import PolicyConfig
from bastion.core.context import Principal, RequestContext
from bastion.core.types import ChatRequest, Message, TextPart
from bastion.limits.estimate import STATE_KEY as TOKENS
from bastion.limits.estimate import TokenEstimate
from bastion.policy import slots as slots_mod
from bastion.policy.engine import PolicyEngine
from bastion.policy.normalize import normalize
from bastion.policy.registry import ScannerRegistry
from bastion.policy.rules import _view
from bastion.policy.scan_cache import ScanCache
from bastion.policy.slots import TextSlot, text_slots
from bastion.policy.stage import OFFLOAD_TOKENS, PolicyStage

_R = random.Random(20261130)
PIECES = ["plain words ", "4111 1111 1111 1111", "jane@example.com", "\\u0041KIA", "\\\\u0041", "\\/", "\t", "\n",
          "\x00", "\x07", "\x7f", "\u200b", "\u00e9", "\u0430", "\U000e0041", "\u2026", "\uff21", '"', "\\"]
TEXTS = ["", "a", "hello world", "\\u0041", "\\\\u0041", "x\\/y", "caf\u00e9", "A\u200bKIA", "tab\there"] + [
    "".join(_R.choice(PIECES) for _ in range(_R.randint(1, 10))) for _ in range(400)]


@pytest.mark.parametrize("json_string", [False, True])
def test_the_view_is_normalize(json_string: bool) -> None:
    for text in TEXTS:
        norm = normalize(text, json_string)
        ntext, mapped = _view(text, json_string)
        assert ntext == norm.text, text
        assert (mapped is None) == norm.is_identity, text
        for s in range(len(ntext) + 1):
            for e in range(s, min(len(ntext), s + 4) + 1):
                got = (s, e) if mapped is None else mapped.to_original(s, e)
                assert got == norm.to_original(s, e), (text, s, e)


def _engine(registry: ScannerRegistry, **raw: Any) -> PolicyEngine:
    return PolicyEngine("p", PolicyConfig.model_validate(raw), registry)


def test_a_request_without_hits_is_left_as_it_is_and_one_with_hits_is_redacted(registry: ScannerRegistry) -> None:
    e = _engine(registry, input=[{"scanner": "pii", "action": "redact"}, {"scanner": "secrets", "action": "flag"}])
    ctx = RequestContext(request_id="r", ingress="openai", principal=Principal(key_id="k", name="k"))
    quiet = ChatRequest("m", [Message("system", [TextPart("Be brief.")]), Message("user", [TextPart("hello there")])])
    assert e.scan_request(ctx, quiet).restore == {} and not ctx.findings
    assert [p.text for m in quiet.messages for p in m.content if isinstance(p, TextPart)] == ["Be brief.", "hello there"]
    found = ChatRequest("m", [Message("system", [TextPart("Be brief.")]),
                              Message("user", [TextPart("mail jane@example.com")])])
    e.scan_request(ctx, found)
    assert found.messages[1].content[0].text == "mail [EMAIL_1]"  # type: ignore[union-attr]
    assert [f.type for f in ctx.findings] == ["email"]


class _Boom:
    name = "boom"
    token_bounded = True

    def scan(self, text: str) -> list[object]:
        return []

    def may_match(self, text: str) -> bool:
        raise RuntimeError("no proof")


def test_quiet_is_false_when_an_output_check_raises(registry: ScannerRegistry) -> None:
    r = registry.copy()
    r.register("boom", _Boom)
    e = _engine(r, output=[{"scanner": "boom", "action": "block"}])
    assert e._output_checks is not None
    assert not e.quiet("plain text", {})  # a failing check is no proof: the text is scanned
    assert e._may_match("plain text")  # the same for inspect


def test_quiet_needs_every_condition(registry: ScannerRegistry) -> None:
    e = _engine(registry, output=[{"scanner": "pii", "action": "redact"}, {"scanner": "secrets", "action": "block"}])
    assert e.quiet("plain words", {})
    assert not e.quiet("mail jane@example.com", {})  # a check may match
    assert not e.quiet("caf\u00e9", {})  # not plain
    assert not e.quiet("x\\/y", {}, json_string=True) and e.quiet("x\\/y", {})  # JSON escapes
    assert e.quiet("no bracket", {"[EMAIL_1]": "a@b.co"})
    secrets_only = _engine(registry, output=[{"scanner": "secrets", "action": "block"}])
    assert secrets_only.quiet("see [EMAIL_1]", {})
    assert not secrets_only.quiet("see [EMAIL_1]", {"[EMAIL_1]": "a@b.co"})  # a placeholder to restore


def test_text_part_locations_past_the_cached_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(slots_mod, "_CONTENT_WHERE", {})
    monkeypatch.setattr(slots_mod, "_WHERE_MAX", 3)
    for _ in range(2):  # the second time from the cache (as far as it holds them)
        req = ChatRequest("m", [Message("user", [TextPart(f"t{i}{j}") for j in range(3)]) for i in range(3)])
        slots = text_slots(req)
        for slot in slots:  # every field set (a part's slot is built field by field)
            assert [getattr(slot, f.name) for f in fields(TextSlot)][2:] == [slot.set, False, "user", None]
        got = [(s.where, s.text) for s in slots]
        assert got == [(f"messages[{i}].content[{j}]", f"t{i}{j}") for i in range(3) for j in range(3)]
    assert len(slots_mod._CONTENT_WHERE) == 3


def test_a_text_part_slot_sets_its_own_part() -> None:
    # a part's setter is a method on the part the slot holds (slots._PartSlot), not a closure: each slot's
    # `set` writes its own part's text, system parts included, and nothing else
    req = ChatRequest("m", [Message("user", [TextPart("a0"), TextPart("a1")]), Message("assistant", [TextPart("b0")])],
                      system=[TextPart("s0")])
    got = text_slots(req)
    assert [(s.where, s.text, s.source) for s in got] == [
        ("system[0]", "s0", "system"), ("messages[0].content[0]", "a0", "user"),
        ("messages[0].content[1]", "a1", "user"), ("messages[1].content[0]", "b0", "assistant")]
    assert all(isinstance(s, TextSlot) and s.set == s.set and callable(s.set) for s in got)
    for slot in got:
        slot.set(slot.text.upper())
    assert [p.text for p in req.system] == ["S0"]
    assert [[p.text for p in m.content] for m in req.messages] == [["A0", "A1"], ["B0"]]
    assert [s.text for s in got] == ["s0", "a0", "a1", "b0"]  # a slot keeps the text it was built with


def test_the_cache_lock_is_released_after_every_call_and_every_raise() -> None:
    cache = ScanCache(2)
    key = ("k", "p", 1, b"d", False)
    assert cache.get(key) is None and not cache._lock.locked()
    cache.put(key, {("input", 0): ()})
    assert cache.get(key) == {("input", 0): ()} and not cache._lock.locked()
    for _ in range(3):
        cache.put(("k", "p", 1, bytes([_]), False), {("input", 0): ()})
    assert len(cache) == 2 and not cache._lock.locked()
    bad: Any = ("k", [], "input")  # unhashable: the dictionary raises inside the lock
    with pytest.raises(TypeError):
        cache.get(bad)
    assert not cache._lock.locked()
    with pytest.raises(TypeError):
        cache.put(bad, {})
    assert not cache._lock.locked()
    assert (cache.hits, cache.misses) == (1, 1)


@pytest.mark.parametrize(("estimate", "words", "offloaded"), [
    (None, 10, False), (None, 40_000, True),  # no estimate from the limits stage: one made here
    (10, 40_000, False), (OFFLOAD_TOKENS, 10, True),  # the limits stage's estimate decides
])
async def test_the_stage_offloads_by_the_token_estimate(registry: ScannerRegistry, monkeypatch: pytest.MonkeyPatch,
                                                        estimate: int | None, words: int, offloaded: bool) -> None:
    stage = PolicyStage({"default": PolicyConfig.model_validate({"input": [{"scanner": "pii", "action": "redact"}]})},
                        registry=registry)
    engine = stage.policies.engines["default"]
    seen: list[bool] = []
    scan = engine.scan_request

    def recording(*args: Any, **kw: Any) -> Any:
        seen.append(kw.get("use_cache", True) is False)
        return scan(*args, **kw)

    monkeypatch.setattr(engine, "scan_request", recording)
    c = RequestContext(request_id="r", ingress="openai")
    if estimate is not None:
        c.state[TOKENS] = TokenEstimate(estimate, 0)
    req = ChatRequest("m", [Message("user", [TextPart("word " * words + "mail jane@example.com")])])
    await stage.check(c, req)
    assert seen == [offloaded]
    assert req.messages[0].content[0].text.endswith("mail [EMAIL_1]")  # type: ignore[union-attr]
    assert [f.type for f in c.findings] == ["email"]


def test_the_scan_s_inlined_view_and_tag_test_find_what_the_general_steps_find(registry: ScannerRegistry) -> None:
    """ScanRun.scan takes printable ASCII (not JSON text) as its own view and tests for tag characters only in
    non-ASCII text, without calling `_view` / `has_tags`: the same hits as every text scanned in its normal
    form (`normalize`), spans mapped back, and a text with tags scanned again without them (`_tag_view`)."""
    from bastion.policy.normalize import has_tags
    from bastion.policy.rules import Hit, ScanRun

    e = PolicyEngine("p", PolicyConfig.model_validate({"input": [{"scanner": "secrets", "action": "redact"},
                                                                 {"scanner": "pii", "action": "redact"}]}),
                     registry)
    rng = random.Random(7)
    pieces = ["alice@example.com", "call (415) 555-2671", "ghp_" + "a1B2c3D4" * 5, " plain words. ", "\\u0041",
              "\\/", "caf\u00e9 ", "\U000e0061\U000e006b", "\u200b", "\t", "x" * 30, "ali\u200bce@example.com",
              "\uff41lice@example.com", "\u0430lice@example.com", "b\\u006fb@example.com"]
    for _ in range(300):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 8)))
        for json_string in (False, True):
            norm = normalize(text, json_string)
            expected: list[Hit] = []
            for rule in e.input_rules:
                assert rule.scanner is not None
                for m in rule.scanner.scan(norm.text):
                    start, end = norm.to_original(m.start, m.end)
                    expected.append(Hit(rule, m.type, start, end, float(m.score), norm.text[m.start:m.end]))
            if has_tags(text):
                expected += ScanRun([])._tag_view(e.input_rules, text, json_string, expected)
            got = ScanRun([]).scan(e.input_rules, text, json_string)
            assert [(h.type, h.start, h.end, h.key) for h in got] == \
                [(h.type, h.start, h.end, h.key) for h in expected], (text, json_string)
