"""The audit record: fields from the context, no secrets, capture modes, canonical bytes."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable

import orjson
from hypothesis import given
from hypothesis import strategies as st

from bastion.audit.chain import content_key
from bastion.audit.record import AuditRecord, CapturedContent, build_record, canonical, iso_time, parse_iso
from bastion.core.context import RequestContext
from bastion.core.secret import Secret
from bastion.core.types import ChatRequest, Message, TextPart

PROMPT = "my email is alice@example.com and my key is sk-proj-ABCDEFGHIJKLMNOPQRSTUVWX"


def test_record_carries_the_request_facts(make_ctx: Callable[..., RequestContext]) -> None:
    ctx = make_ctx(7, stream=True, error_code=None)
    ctx.first_token_at = ctx.started + 0.25
    d = build_record(ctx).to_dict()
    assert d["request_id"] == "req-000007"
    assert d["key_id"] == "k1abc" and d["team"] == "billing" and d["authenticated"] is True
    assert d["client_addr"] == "10.1.2.3" and d["ingress"] == "openai" and d["operation"] == "chat"
    assert d["model"] == "gpt-4o"
    assert d["attempts"] == [{"provider": "openai", "model": "gpt-4o-2024", "outcome": "ok", "status": 200,
                              "latency_ms": 12.5}]
    assert d["status"] == 200 and d["stream"] is True and d["finish_reason"] == "stop"
    assert d["ttft_ms"] == 250.0
    assert d["usage"] == {"input_tokens": 10, "output_tokens": 5, "cached_input_tokens": 0,
                          "cache_write_tokens": 0, "reasoning_tokens": 0}
    assert d["cost_micros"] == 42 and d["policy"] == "default"
    assert d["findings"] == [{"scanner": "pii", "type": "email", "action": "redact", "score": 0.9,
                              "direction": "input"}]
    assert d["time"] == "2026-01-01T00:00:07.000000Z"
    assert d["capture"] == "none" and d["content"] is None


def test_failed_auth_records_presented_public_id_only(make_ctx: Callable[..., RequestContext]) -> None:
    ctx = make_ctx(1, principal=None, presented_key_id="k9zz", status=401, error_code="invalid_api_key")
    d = build_record(ctx).to_dict()
    assert d["key_id"] == "k9zz" and d["authenticated"] is False and d["team"] is None


def test_a_secret_presented_as_key_id_is_never_recorded(make_ctx: Callable[..., RequestContext]) -> None:
    secret = "bst_k9zz_s3cr3tS3CR3Ts3cr3tS3CR3T"
    ctx = make_ctx(1, principal=None, presented_key_id=secret, status=401)
    body = canonical(build_record(ctx).to_dict()).decode()
    assert "s3cr3tS3CR3T" not in body
    assert build_record(ctx).key_id == "[REDACTED]"


def test_capture_none_ignores_content(make_ctx: Callable[..., RequestContext]) -> None:
    rec = build_record(make_ctx(), capture="none", content=CapturedContent(PROMPT, "reply"))
    body = canonical(rec.to_dict()).decode()
    assert "alice@example.com" not in body and "reply" not in body
    assert rec.content is None and rec.capture == "none"


def test_capture_hash_keeps_only_digests(make_ctx: Callable[..., RequestContext]) -> None:
    rec = build_record(make_ctx(), capture="hash", content=CapturedContent(PROMPT, "reply"))
    d = rec.to_dict()
    assert d["content"] == {"alg": "sha256", "prompt": hashlib.sha256(PROMPT.encode()).hexdigest(),
                            "response": hashlib.sha256(b"reply").hexdigest()}
    assert "alice" not in canonical(d).decode()


def test_capture_hash_is_keyed_when_a_checkpoint_key_exists(make_ctx: Callable[..., RequestContext]) -> None:
    key = content_key(Secret("k" * 40))
    rec = build_record(make_ctx(), capture="hash", content=CapturedContent(PROMPT, None), content_key=key)
    content = rec.to_dict()["content"]
    assert isinstance(content, dict)
    assert content["alg"] == "hmac-sha256"
    assert content["prompt"] != hashlib.sha256(PROMPT.encode()).hexdigest()
    assert content["response"] is None


def test_capture_redacted_scrubs_secret_shapes(make_ctx: Callable[..., RequestContext]) -> None:
    rec = build_record(make_ctx(), capture="redacted", content=CapturedContent(PROMPT, "ok"))
    body = canonical(rec.to_dict()).decode()
    assert "sk-proj-ABCDEFGH" not in body
    assert "[REDACTED]" in body


def test_capture_full_keeps_text_and_truncates(make_ctx: Callable[..., RequestContext]) -> None:
    rec = build_record(make_ctx(), capture="full", content=CapturedContent(PROMPT, "x" * 100), max_content_chars=50)
    d = rec.to_dict()["content"]
    assert d == {"prompt": PROMPT[:50], "response": "x" * 50, "truncated": True}


def test_content_from_chat_renders_roles() -> None:
    req = ChatRequest(model="m", messages=[Message("user", [TextPart("hi")])], system=[TextPart("be nice")])
    content = CapturedContent.from_chat(req, "hello")
    assert orjson.loads(content.prompt or "") == [{"role": "system", "text": "be nice"}, {"role": "user", "text": "hi"}]
    assert content.response == "hello"


def test_canonical_is_sorted_and_compact(make_ctx: Callable[..., RequestContext]) -> None:
    d = build_record(make_ctx()).to_dict()
    raw = canonical(d)
    assert b" " not in raw.replace(b"Z\"", b"")  # compact
    keys = list(orjson.loads(raw).keys())
    assert keys == sorted(keys)
    assert canonical(dict(reversed(list(d.items())))) == raw


@given(st.integers(min_value=0, max_value=4_102_444_800_000_000))
def test_iso_time_round_trips_exactly(ts_us: int) -> None:
    assert parse_iso(iso_time(ts_us)) == ts_us


@given(st.integers(min_value=-10**12, max_value=4_102_444_800_000_000))
def test_iso_time_writes_the_microseconds_as_six_digits(ts_us: int) -> None:
    """The digit tables write what `{frac:06d}` writes (the text the hash chain commits to)."""
    from datetime import UTC, datetime

    whole, frac = divmod(ts_us, 1_000_000)
    assert iso_time(ts_us) == f"{datetime.fromtimestamp(whole, UTC).strftime('%Y-%m-%dT%H:%M:%S')}.{frac:06d}Z"


def test_parse_iso_accepts_dates_and_offsets() -> None:
    assert parse_iso("2026-01-01") == 1_767_225_600_000_000
    assert parse_iso("2026-01-01T01:00:00+01:00") == 1_767_225_600_000_000


def test_every_field_takes_its_own_fact(make_ctx: Callable[..., RequestContext], monkeypatch) -> None:
    """build_record passes the fields by position: each one must land in its own field (every fact
    here is distinct, so a swap of two fields of one type shows)."""
    import bastion.core.context as context
    from bastion.audit.record import AuditRecord

    monkeypatch.setattr(context.time, "perf_counter", lambda: 5000.0)
    ctx = make_ctx(7, stream=True, error_code="upstream_error")
    ctx.started, ctx.first_token_at, ctx.upstream_ms = 4999.5, 4999.75, 123.25
    ctx.status, ctx.client_disconnected, ctx.cost_micros = 502, True, 42
    content = CapturedContent(prompt="p", response="r")
    p, u, a = ctx.principal, ctx.usage, ctx.attempts[0]
    assert p is not None and u is not None
    expected = AuditRecord(
        time=ctx.wall_time, request_id="req-000007", key_id=p.key_id, team=p.team, authenticated=True,
        client_addr="10.1.2.3", ingress="openai", operation="chat", model="gpt-4o",
        attempts=((a.provider, a.model, a.outcome, a.status, a.latency_ms),), status=502,
        error_code="upstream_error", latency_ms=500.0, ttft_ms=250.0, upstream_ms=123.25,
        usage=(u.input_tokens, u.output_tokens, u.cached_input_tokens, u.cache_write_tokens, u.reasoning_tokens),
        cost_micros=42, stream=True, finish_reason="stop", client_disconnected=True, policy="default",
        findings=tuple((f.scanner, f.type, f.action, f.score, f.direction) for f in ctx.findings),
        capture="full", content={"prompt": "p", "response": "r"})
    assert build_record(ctx, capture="full", content=content) == expected


_text = st.text(max_size=12)
_opt_text = st.none() | _text
_ms = st.floats(min_value=0, max_value=1e6, allow_nan=False)
_records = st.builds(
    AuditRecord, st.floats(min_value=0, max_value=4e9, allow_nan=False), _text, _opt_text, _opt_text, st.booleans(),
    _opt_text, _text, _text, _opt_text,
    st.lists(st.tuples(_text, _text, _text, st.none() | st.integers(100, 599), _ms), max_size=3).map(tuple),
    st.integers(0, 599), _opt_text, _ms, st.none() | _ms, _ms,
    st.none() | st.tuples(*[st.integers(0, 10**6)] * 5), st.integers(0, 10**9), st.booleans(), _opt_text,
    st.booleans(), _opt_text,
    st.lists(st.tuples(_text, _text, _text, st.floats(0, 1), _text), max_size=3).map(tuple),
    st.sampled_from(["none", "hash", "redacted", "full"]),
    st.none() | st.dictionaries(_text, _opt_text, max_size=3),
    st.none() | st.dictionaries(_text, st.integers(-(2**63), 2**64 - 1) | _text, max_size=3))  # orjson's range


@given(_records, st.integers(1, 2**62))
def test_chain_body_is_canonical_of_the_mapping_with_the_chain_fields(rec: AuditRecord, seq: int) -> None:
    """The chain hashes what `canonical` makes of to_dict() plus writer_id and seq, byte for byte,
    though it skips the sort when the mapping is built in sorted order (no content, no admin)."""
    body = rec.chain_body("w-0123456789abcdef", seq)
    assert body == canonical({**rec.to_dict(), "writer_id": "w-0123456789abcdef", "seq": seq})
    fields = {f.name for f in dataclasses.fields(AuditRecord)}
    if rec.admin is None:  # every field but admin (only when set), and the version
        assert list(rec.to_dict()) == sorted(fields - {"admin"} | {"v"})
    else:
        assert set(rec.to_dict()) == fields | {"v"}
