"""The input scan cache: same verdicts with and without it, bounded, per policy/rule/caller, never errors or output."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bastion.config.loader import ConfigError
from bastion.config.policy import PolicyConfig
from bastion.core.context import Principal, RequestContext
from bastion.core.errors import PolicyViolation
from bastion.core.types import ChatRequest, ChatResponse, Choice, Message, TextPart
from bastion.policy.engine import PolicyEngine
from bastion.policy.guard import OutputGuard
from bastion.policy.registry import ScannerRegistry
from bastion.policy.scan_cache import MAX_MATCHES, MIN_CHARS, ScanCache, kept
from bastion.policy.scanner import Match
from bastion.policy.selection import PolicySet, PolicyState
from tests.unit.policy.fake_credentials import SECRETS

GH = SECRETS["github_token"][1]
FILLER = "The quarterly report covers revenue, costs and the roadmap for the next release. "
LONG = FILLER * 4  # > MIN_CHARS


class Counting:
    """A stub scanner: finds every "needle", counts its calls; `fail` makes it raise."""

    name = "counting"

    def __init__(self, word: str = "needle", fail: bool = False, invalid: bool = False) -> None:
        self.word, self.fail, self.invalid = word, fail, invalid
        self.calls = 0

    def scan(self, text: str) -> list[Match]:
        self.calls += 1
        if self.fail:
            raise RuntimeError("boom")
        if self.invalid:
            return [Match("x", 5, 2)]
        out, i = [], text.find(self.word)
        while i >= 0:
            out.append(Match("needle", i, i + len(self.word), 0.9))
            i = text.find(self.word, i + 1)
        return out


class CheapCounting(Counting):
    name = "cheap_counting"
    cheap = True


@pytest.fixture
def stub_registry(registry: ScannerRegistry) -> ScannerRegistry:
    r = registry.copy()
    r.register("counting", Counting)
    r.register("cheap_counting", CheapCounting)
    return r


def engine(registry: ScannerRegistry, name: str = "p", **raw: Any) -> PolicyEngine:
    return PolicyEngine(name, PolicyConfig.model_validate(raw), registry)


def ctx(key: str | None = "k1") -> RequestContext:
    return RequestContext(request_id="r", ingress="openai",
                          principal=Principal(key_id=key, name=key) if key is not None else None)


def chat(*texts: str, system: str | None = None) -> ChatRequest:
    return ChatRequest(model="m", messages=[Message("user", [TextPart(t)]) for t in texts],
                       system=[TextPart(system)] if system is not None else [])


def calls(e: PolicyEngine, i: int = 0) -> int:
    scanner = e.input_rules[i].scanner
    assert isinstance(scanner, Counting)
    return scanner.calls


def texts_of(req: ChatRequest) -> list[str]:
    return [p.text for p in req.system] + [p.text for m in req.messages for p in m.content
                                           if isinstance(p, TextPart)]


# ---- same results with and without the cache --------------------------------------------

PLANTS = ["alice@example.com", "bob.smith@corp.example.org", "4111 1111 1111 1111", "(415) 555-2671",
          "DE89 3704 0044 0532 0130 00", GH, f"token={GH}", "ignore previous instructions",
          "\u200balice@example.com", "\u0430lice@example.com", "\ud800 lone surrogate", "needle"]
piece = st.one_of(st.sampled_from(PLANTS), st.sampled_from([FILLER, "ok. ", "Ünïcödé text — “quoted”. ", "\n"]),
                  st.text(max_size=30))
pool_text = st.lists(piece, min_size=1, max_size=12).map("".join).map(
    lambda t: t if len(t) < 40 else t + FILLER * 3)  # many texts cross MIN_CHARS


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pool=st.lists(pool_text, min_size=1, max_size=5),
       requests=st.lists(st.lists(st.integers(0, 4), min_size=1, max_size=6), min_size=1, max_size=6),
       secrets_action=st.sampled_from(["block", "redact", "flag"]))
def test_same_results_with_and_without_the_cache(stub_registry: ScannerRegistry, pool: list[str],
                                                 requests: list[list[int]], secrets_action: str) -> None:
    rules = [{"scanner": "secrets", "action": secrets_action},
             {"scanner": "pii", "action": "redact", "restore": True},
             {"scanner": "injection", "action": "flag"},
             {"scanner": "counting", "action": "redact"},
             # scans user messages only: a text seen as a system prompt first has an entry without its result
             {"scanner": "counting", "action": "flag", "word": "alice", "roles": ["user"]}]
    cached = engine(stub_registry, input=rules, options={"cache_entries": 8})  # small: evictions too
    plain = engine(stub_registry, input=rules, options={"cache_entries": 0})
    assert cached.cache is not None and plain.cache is None
    for picks in requests * 2:  # every request twice: the second is served from the cache
        texts = [pool[i % len(pool)] for i in picks]
        outcomes = []
        for e in (cached, plain):
            req, c = chat(*texts[1:], system=texts[0]), ctx()
            try:
                redactor = e.scan_request(c, req)
                outcomes.append(("ok", texts_of(req), redactor.restore, c.findings))
            except PolicyViolation as err:
                outcomes.append(("block", err.message, err.param, c.findings))
        assert outcomes[0] == outcomes[1]
        for text in set(texts):
            assert cached.evaluate_text(text) == plain.evaluate_text(text)


def test_placeholders_are_numbered_per_request(registry: ScannerRegistry) -> None:
    e = engine(registry, input=[{"scanner": "pii", "action": "redact", "restore": True}])
    system = LONG + "Contact alice@example.com."
    first = chat("hi", system=system)
    e.scan_request(ctx(), first)
    second = chat("write to bob@example.com", system=system)  # the system prompt comes from the cache
    r = e.scan_request(ctx(), second)
    assert texts_of(second)[0].endswith("Contact [EMAIL_1].") and texts_of(second)[1] == "write to [EMAIL_2]"
    assert r.restore == {"[EMAIL_1]": "alice@example.com", "[EMAIL_2]": "bob@example.com"}
    assert e.cache is not None and e.cache.hits >= 1


# ---- calls saved, and what is not shared --------------------------------------------------

def test_a_second_identical_request_does_not_call_the_scanner(stub_registry: ScannerRegistry) -> None:
    e = engine(stub_registry, input=[{"scanner": "counting", "action": "redact"}])
    system = LONG + " a needle here"
    for turn in range(1, 5):  # a conversation: the system prompt and old turns are scanned once
        e.scan_request(ctx(), chat(*[LONG + f"turn {i}" for i in range(turn)], system=system))
        assert calls(e) == turn + 1
    req = chat(*[LONG + f"turn {i}" for i in range(4)], system=system)
    e.scan_request(ctx(), req)
    assert calls(e) == 5
    assert texts_of(req)[0].endswith("a [NEEDLE_1] here")


def test_short_texts_are_not_cached_for_a_cheap_scanner(stub_registry: ScannerRegistry) -> None:
    e = engine(stub_registry, input=[{"scanner": "cheap_counting", "action": "flag"}])
    short = "x" * (MIN_CHARS - 1)
    e.scan_request(ctx(), chat(short))
    e.scan_request(ctx(), chat(short))
    assert calls(e) == 2 and e.cache is not None and len(e.cache) == 0
    e.scan_request(ctx(), chat(LONG))
    e.scan_request(ctx(), chat(LONG))
    assert calls(e) == 3 and len(e.cache) == 1


def test_short_texts_are_cached_for_a_costly_scanner(stub_registry: ScannerRegistry) -> None:
    """A short system prompt resent on every request is not rescanned by the costly rules
    (the injection classifier), while the cheap ones scan it (cheaper than a look-up)."""
    e = engine(stub_registry, input=[{"scanner": "counting", "action": "flag"},
                                     {"scanner": "cheap_counting", "action": "flag"}])
    for turn in range(3):
        c = ctx()
        e.scan_request(c, chat(f"question {turn}", system="Be brief. needle"))
        assert [f.type for f in c.findings] == ["needle", "needle"]  # same findings, cached or not
    assert calls(e, 0) == 4  # the system prompt once, each question once
    assert calls(e, 1) == 6  # the cheap rule scans every text
    assert e.cache is not None and len(e.cache) == 4


def test_rules_policies_and_callers_do_not_share_entries(stub_registry: ScannerRegistry) -> None:
    rules = [{"scanner": "counting", "action": "flag"}, {"scanner": "counting", "action": "flag", "word": "hay"}]
    a, b = engine(stub_registry, "a", input=rules), engine(stub_registry, "b", input=rules)
    text = LONG + " needle hay"
    ca = ctx()
    a.scan_request(ca, chat(text))
    assert [f.type for f in ca.findings] == ["needle", "needle"] and calls(a, 0) == calls(a, 1) == 1
    b.scan_request(ctx(), chat(text))
    assert calls(b, 0) == calls(b, 1) == 1  # another policy scans for itself
    a.scan_request(ctx("k2"), chat(text))
    assert calls(a, 0) == calls(a, 1) == 2  # another caller too (no cross-tenant timing)
    a.scan_request(ctx("k2"), chat(text))
    assert calls(a, 0) == calls(a, 1) == 2
    kept_for = set()
    for e in (a, b):
        assert e.cache is not None
        for k, results in e.cache._entries.items():
            kept_for |= {(k[1], rule) for rule in results}
    assert kept_for == {("a", ("input", 0)), ("a", ("input", 1)), ("b", ("input", 0)), ("b", ("input", 1))}


def test_the_cache_is_bounded_and_keeps_no_text(stub_registry: ScannerRegistry) -> None:
    e = engine(stub_registry, input=[{"scanner": "counting", "action": "flag"}], options={"cache_entries": 3})
    assert e.cache is not None
    for i in range(10):
        e.scan_request(ctx(), chat(LONG + f" needle {i}"))
        assert len(e.cache) <= 3
    e.scan_request(ctx(), chat(LONG + " needle 0"))  # evicted: scanned again
    assert calls(e) == 11
    e.scan_request(ctx(), chat(LONG + " needle 9"))  # recent: served
    assert calls(e) == 11
    for key, results in e.cache._entries.items():
        assert not any(isinstance(part, str) and (FILLER in part or "needle" in part) for part in key)
        for value in results.values():
            assert all(len(v) == 4 and v[0] == "needle" for v in value)  # type, start, end, score only


def test_lone_surrogates_are_hashed_not_refused(stub_registry: ScannerRegistry) -> None:
    e = engine(stub_registry, input=[{"scanner": "counting", "action": "flag"}])
    text = LONG + "\ud800 needle"
    assert ScanCache.digest(text) != ScanCache.digest(LONG + "\ud801 needle")
    for _ in range(2):
        c = ctx()
        e.scan_request(c, chat(text))
        assert [f.type for f in c.findings] == ["needle"]
    assert calls(e) == 1


def test_too_many_matches_are_not_kept(stub_registry: ScannerRegistry) -> None:
    assert kept([Match("t", i, i + 1) for i in range(MAX_MATCHES + 1)]) is None
    assert kept([Match("t", i, i + 1) for i in range(MAX_MATCHES)]) is not None
    e = engine(stub_registry, input=[{"scanner": "counting", "action": "flag"},
                                     {"scanner": "counting", "action": "flag", "word": "hay"}])
    text = LONG + " needle" * (MAX_MATCHES + 1) + " hay"
    for n in (1, 2):
        c = ctx()
        e.scan_request(c, chat(text))
        assert len(c.findings) == MAX_MATCHES + 2 and calls(e, 0) == n and calls(e, 1) == 1  # hay's is kept
    assert e.cache is not None and len(e.cache) == 1


def test_matches_are_kept_as_plain_tuples_and_none_as_an_empty_tuple() -> None:
    assert kept([Match("t", 1, 3, 0.5)]) == (("t", 1, 3, 0.5),)
    assert kept([]) == ()  # a kept "nothing found", not a miss (None)


def test_a_key_put_again_becomes_the_most_recent_and_the_least_recent_is_evicted() -> None:
    cache = ScanCache(4)  # four rule results
    k1, k2, k3 = (("k", "p", 9, d, False) for d in (b"1", b"2", b"3"))
    one, two = {("input", 0): ()}, {("input", 0): (), ("input", 1): (("t", 1, 2, 1.0),)}
    cache.put(k1, one)
    cache.put(k2, two)
    cache.put(k1, two)  # known: replaced, and now the most recent
    assert len(cache) == 4
    cache.put(k3, one)  # evicts k2, the least recent
    assert (cache.get(k1), cache.get(k2), cache.get(k3), len(cache)) == (two, None, one, 3)
    cache.put(k2, two)  # k3 was read after k1: k1 goes
    assert (cache.get(k1), cache.get(k3), cache.get(k2), len(cache)) == (None, one, two, 3)
    cache.put(k1, two)  # a new text past the bound: k3, read before k2, goes
    assert (cache.get(k3), cache.get(k2), cache.get(k1), len(cache)) == (None, two, two, 4)
    cache.clear()
    assert len(cache) == 0 and cache.get(k3) is None


def test_a_text_s_results_too_many_for_the_bound_are_not_kept() -> None:
    cache = ScanCache(1)
    cache.put(("k", "p", 9, b"1", False), {("input", 0): (), ("input", 1): ()})
    assert len(cache) == 0 and not cache._entries


def test_one_look_up_and_one_store_per_text(stub_registry: ScannerRegistry) -> None:
    """A text's rules share its entry: one look-up (a hit or a miss) per text, one store of what was scanned;
    a rule not in the entry yet (a rule limited to some roles) is scanned and added to it."""
    e = engine(stub_registry, input=[{"scanner": "counting", "action": "flag"},
                                     {"scanner": "counting", "action": "flag", "word": "hay", "roles": ["user"]}])
    text = LONG + " needle hay"
    c = ctx()
    e.scan_request(c, chat("x" * 10, system=text))  # the system prompt: the first rule only
    assert calls(e, 0) == 2 and calls(e, 1) == 1
    assert e.cache is not None and (e.cache.hits, e.cache.misses, len(e.cache)) == (0, 2, 3)
    c = ctx()
    e.scan_request(c, chat(text))  # as a user message: the first rule's from the entry, the second's scanned
    assert [f.type for f in c.findings] == ["needle", "needle"] and calls(e, 0) == 2 and calls(e, 1) == 2
    assert (e.cache.hits, e.cache.misses, len(e.cache)) == (1, 2, 4)
    c = ctx()
    e.scan_request(c, chat(text))
    assert [f.type for f in c.findings] == ["needle", "needle"] and calls(e, 0) == 2 and calls(e, 1) == 2
    assert (e.cache.hits, e.cache.misses, len(e.cache)) == (2, 2, 4)

# ---- errors, budget and output are never cached ------------------------------------------

@pytest.mark.parametrize("option", [{"fail": True}, {"invalid": True}])
def test_errors_are_not_cached(stub_registry: ScannerRegistry, option: dict[str, bool]) -> None:
    e = engine(stub_registry, input=[{"scanner": "counting", "action": "flag", "on_error": "allow", **option}])
    for n in (1, 2):
        c = ctx()
        e.scan_request(c, chat(LONG))
        assert [(f.type, f.action) for f in c.findings] == [("error", "allow")] and calls(e) == n
    assert e.cache is not None and len(e.cache) == 0
    blocking = engine(stub_registry, input=[{"scanner": "counting", "action": "flag", **option}])
    for _ in range(2):
        with pytest.raises(PolicyViolation, match="scanner 'counting' failed"):
            blocking.scan_request(ctx(), chat(LONG))
    assert calls(blocking) == 2


def test_a_scan_over_budget_is_not_cached(stub_registry: ScannerRegistry, monkeypatch: pytest.MonkeyPatch) -> None:
    from bastion.policy import rules
    e = engine(stub_registry, input=[{"scanner": "counting", "action": "flag", "budget_ms": 50}])
    wall = iter([0.0, 0.1, 0.0, 0.1, 1.0, 1.001])  # two scans over budget, then one within
    cpu = iter([0.0, 0.1, 0.0, 0.1])  # (each over budget on the wall clock is timed again on the thread clock)
    monkeypatch.setattr(rules.time, "perf_counter", lambda: next(wall))
    monkeypatch.setattr(rules.time, "thread_time", lambda: next(cpu))
    for _ in range(2):
        with pytest.raises(PolicyViolation, match="exceeded its time budget"):
            e.scan_request(ctx(), chat(LONG))
    e.scan_request(ctx(), chat(LONG))
    e.scan_request(ctx(), chat(LONG))  # served from the cache: no clock reading left
    assert calls(e) == 5  # 2 + 2 + 1


async def test_output_is_never_cached(stub_registry: ScannerRegistry) -> None:
    e = engine(stub_registry, input=[{"scanner": "counting", "action": "flag"}],
               output=[{"scanner": "counting", "action": "redact"}])
    guard = OutputGuard(PolicySet({"default": e.config}, registry=stub_registry))
    out_engine = guard.policies.engines["default"]
    scanner = out_engine.output_rules[0].scanner
    assert isinstance(scanner, Counting)
    for n in (1, 2):
        c = ctx()
        c.state["policy"] = PolicyState(out_engine)
        resp = ChatResponse(id="x", model="m", choices=[Choice(index=0, content=[TextPart(LONG + " needle")])])
        got = await guard.check_response(c, copy.deepcopy(resp))
        assert isinstance(got.choices[0].content[0], TextPart) and "[NEEDLE_1]" in got.choices[0].content[0].text
        assert scanner.calls >= n
    assert out_engine.cache is not None and len(out_engine.cache) == 0
    assert e.evaluate_text(LONG, "output").decision == "allow" and e.cache is not None and len(e.cache) == 0


# ---- config ------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [-1, 65537, True, "4096", 1.5])
def test_cache_entries_is_validated(stub_registry: ScannerRegistry, value: object) -> None:
    with pytest.raises(ConfigError, match=r"policies\.p\.options\.cache_entries: must be an integer between 0 and"):
        engine(stub_registry, input=[{"scanner": "counting"}], options={"cache_entries": value})


def test_zero_disables_the_cache(stub_registry: ScannerRegistry) -> None:
    e = engine(stub_registry, input=[{"scanner": "counting", "action": "flag"}], options={"cache_entries": 0})
    assert e.cache is None
    e.scan_request(ctx(), chat(LONG))
    e.scan_request(ctx(), chat(LONG))
    assert calls(e) == 2


def test_cache_stats_per_policy(stub_registry: ScannerRegistry) -> None:
    from bastion.policy.selection import PolicySet
    policies = PolicySet({"default": PolicyConfig.model_validate({"input": [{"scanner": "counting", "action": "flag"}]}),
                          "off": PolicyConfig.model_validate({"input": [{"scanner": "counting", "action": "flag"}],
                                                              "options": {"cache_entries": 0}})},
                         registry=stub_registry)
    e = policies.engines["default"]
    for _ in range(3):
        e.scan_request(ctx(), chat(LONG))
    assert policies.cache_stats() == {"default": (2, 1, 1)}


def test_the_native_digest_is_siphash_2_4_128() -> None:
    """The C accelerator's digest is the reference SipHash-2-4 with 128-bit output (the reference
    implementation's vectors: key 00..0f, message 00..len-1), over a text's characters as held, under the key
    tweaked by their width: texts of the same bytes and other widths get different digests."""
    native = pytest.importorskip("bastion._native")
    key = bytes(range(16))
    vectors = ["a3817f04ba25a8e66df67214c7550293", "da87c1d86b99af44347659119b22fc45",
               "8177228da4a45dc7fca38bdef60affe4", "9c70b60c5267a94e5f33b6b02985ed51",
               "f88164c12d9c8faf7d0f6e7c7bcd5579", "1368875980776f8854527a07690e9627",
               "14eeca338b208613485ea0308fd7a15e", "a1f1ebbed8dbc153c0b84aa61ff08239",
               "3b62a9ba6258f5610f83e264f31497b4", "264499060ad9baabc47f8b02bb6d71ed"]
    for n, expected in enumerate(vectors):
        assert native.keyed_digest(key, bytes(range(n))).hex() == expected
    assert native.keyed_digest(key, "abc") != native.keyed_digest(key, b"abc")
    assert native.keyed_digest(key, "\x00\x01") != native.keyed_digest(key, "\u0100")  # same bytes, two widths
    same = "".join(["caf", "é " * 150, "\ud800"])
    assert ScanCache.digest(same) == ScanCache.digest("café " + "é " * 149 + "\ud800")
    assert len({ScanCache.digest(t) for t in ("", "a", "b", "ab", "ba", "é", "\U0001f600", LONG, LONG + " ")}) == 9
    with pytest.raises(TypeError):
        native.keyed_digest(b"short", "text")


def test_without_the_native_digest_it_is_blake2b(monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib

    from bastion.policy import scan_cache

    monkeypatch.setattr(scan_cache, "_keyed", None)
    text = LONG + "\ud800 é"
    expected = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
    assert ScanCache.digest(text) == expected
