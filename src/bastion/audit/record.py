"""The audit record: what one finished request leaves behind, and its canonical serialisation.

Built on the hot path from a finished RequestContext (cheap: copies scalars and tuples);
serialised later by the writer task. It never holds a secret: the key id is the public id,
findings carry scanner/type/action/score, never the matched value, and content is kept only
as the policy's capture mode allows.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import orjson

from bastion.core.context import RequestContext
from bastion.core.decimals import round3
from bastion.core.types import ChatRequest, ImagePart, Message
from bastion.observability.scrub import CLEAN_TEXTS, REDACTED, scrub_secrets

_native_body: Callable[[object, str, int, int], tuple[bytes, str, int] | None] | None
_native_record: Callable[[type[AuditRecord], RequestContext, float, Callable[[str], str], set[str]],
                         AuditRecord | None] | None
_native_link: Callable[..., tuple[object, ...] | None] | None  # chain.py's (Chain.append), with the body's C code
try:
    from bastion._native import audit_body as _native_body
    from bastion._native import audit_link as _native_link
    from bastion._native import audit_record as _native_record
except ImportError:  # not built (no C compiler at install time): the mapping and orjson below
    _native_body = _native_link = _native_record = None

RECORD_VERSION = 1
CaptureMode = Literal["none", "hash", "redacted", "full"]
_MAX_ID = 128


@dataclass(slots=True, frozen=True)
class CapturedContent:
    """Prompt and response text as they passed the policy (input redaction already applied).
    The lead attaches it with `AuditStage.attach_content`; the capture mode decides what stays."""

    prompt: str | None = None
    response: str | None = None

    @classmethod
    def from_chat(cls, request: ChatRequest, response_text: str | None = None) -> CapturedContent:
        """Render a chat request as compact JSON text: [{"role", "text"}...], system first."""
        turns: list[dict[str, str]] = [{"role": "system", "text": p.text} for p in request.system]
        turns.extend(_turn(m) for m in request.messages)
        return cls(prompt=orjson.dumps(turns).decode(), response=response_text)


def _turn(m: Message) -> dict[str, str]:
    text = m.text()
    images = sum(1 for p in m.content if isinstance(p, ImagePart))
    if images:
        text += f" [{images} image(s)]"
    if m.tool_calls:
        text += "".join(f" [tool_call {c.name}: {c.arguments}]" for c in m.tool_calls)
    return {"role": m.role, "text": text}


@dataclass(slots=True)
class AuditRecord:
    """One request's audit facts; treat as immutable once built. Not frozen and not rounded
    on purpose: it is built on the request path, where each µs counts; to_dict (in the writer
    task) does the formatting."""

    time: float  # unix seconds at request start
    request_id: str
    key_id: str | None
    team: str | None
    authenticated: bool
    client_addr: str | None
    ingress: str
    operation: str
    model: str | None
    # (provider, model, outcome, status, latency_ms)
    attempts: tuple[tuple[str, str, str, int | None, float], ...]
    status: int
    error_code: str | None
    latency_ms: float
    ttft_ms: float | None
    upstream_ms: float
    usage: tuple[int, int, int, int, int] | None  # input, output, cached input, cache write, reasoning
    cost_micros: int
    stream: bool
    finish_reason: str | None
    client_disconnected: bool
    policy: str | None
    # (scanner, type, action, score, direction)
    findings: tuple[tuple[str, str, str, float, str], ...]
    capture: CaptureMode = "none"
    content: dict[str, object] | None = None
    admin: dict[str, object] | None = None  # a key change through the admin API (audit/admin.py)

    def to_dict(self) -> dict[str, object]:
        """The record as a JSON-ready mapping (without chain fields)."""
        return self._mapping(None, None)

    def chain_body(self, writer_id: str, seq: int) -> bytes:
        """The canonical bytes the chain hashes: `canonical` of to_dict() with writer_id and seq."""
        return self.chained(writer_id, seq)[0]

    def chained(self, writer_id: str, seq: int) -> tuple[bytes, str, int]:
        """The chain body, the same as text (the store's column) and the time in microseconds.
        Written in C when built, for every record without content or admin mapping and with
        plain values (10.3k instructions, mapping + orjson 37.6k: callgrind); else the mapping is built in
        canonical (sorted) key order, nested ones too, so orjson need not sort it; content and
        admin mappings (keys not ours) are still sorted by orjson."""
        if _native_body is not None:
            done = _native_body(self, writer_id, seq, RECORD_VERSION)
            if done is not None:
                return done
        return self.chained_python(writer_id, seq)

    def chained_python(self, writer_id: str, seq: int) -> tuple[bytes, str, int]:
        """`chained` without the C path (for a record the C path handed back)."""
        data = self._mapping(writer_id, seq)
        body = orjson.dumps(data) if self.content is None and self.admin is None else canonical(data)
        return body, body.decode(), to_us(self.time)

    def _mapping(self, writer_id: str | None, seq: int | None) -> dict[str, object]:
        # Keys in sorted order (a test holds this to canonical's), chain fields only when given.
        usage: dict[str, int] | None = None
        if self.usage is not None:
            i, o, c, w, r = self.usage
            usage = {"cache_write_tokens": w, "cached_input_tokens": c, "input_tokens": i, "output_tokens": o,
                     "reasoning_tokens": r}
        data: dict[str, object] = {
            "attempts": [{"latency_ms": round3(lat), "model": m, "outcome": o, "provider": p, "status": s}
                         for p, m, o, s, lat in self.attempts],
            "authenticated": self.authenticated,
            "capture": self.capture,
            "client_addr": self.client_addr,
            "client_disconnected": self.client_disconnected,
            "content": _serialise_content(self.capture, self.content) if self.content is not None else None,
            "cost_micros": self.cost_micros,
            "error_code": self.error_code,
            "findings": [{"action": a, "direction": d, "scanner": s, "score": round(sc, 4), "type": t}
                         for s, t, a, sc, d in self.findings] if self.findings else [],
            "finish_reason": self.finish_reason,
            "ingress": self.ingress,
            "key_id": self.key_id,
            "latency_ms": round3(self.latency_ms),
            "model": self.model,
            "operation": self.operation,
            "policy": self.policy,
            "request_id": self.request_id,
        }
        if seq is not None:
            data["seq"] = seq
        data["status"] = self.status
        data["stream"] = self.stream
        data["team"] = self.team
        data["time"] = iso_time(to_us(self.time))
        data["ttft_ms"] = round3(self.ttft_ms) if self.ttft_ms is not None else None
        data["upstream_ms"] = round3(self.upstream_ms)
        data["usage"] = usage
        data["v"] = RECORD_VERSION
        if writer_id is not None:
            data["writer_id"] = writer_id
        if self.admin is not None:  # set in place: `|` would copy the whole mapping (sorted by canonical)
            data["admin"] = self.admin
        return data


def to_us(ts: float) -> int:
    """Unix seconds → integer microseconds (the store's time column)."""
    return round(ts * 1_000_000)


_second: list[object] = [None, ""]  # (whole second, its text): strftime once per second
_DIGITS3 = [f"{n:03d}" for n in range(1000)]


def iso_time(ts_us: int) -> str:
    """Integer microseconds → `YYYY-MM-DDTHH:MM:SS.ffffffZ`, exact both ways with `parse_iso`."""
    whole, frac = divmod(ts_us, 1_000_000)
    if _second[0] != whole:
        _second[:] = [whole, datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S")]
    return f"{_second[1]}.{_DIGITS3[frac // 1000]}{_DIGITS3[frac % 1000]}Z"  # look-ups, not a format spec


def parse_iso(text: str) -> int:
    """Inverse of `iso_time`; accepts any ISO-8601 form (naive means UTC). Raises ValueError."""
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    delta = dt - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def canonical(data: dict[str, object]) -> bytes:
    """Sorted-key compact JSON: the exact bytes the hash chain commits to."""
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS)


def _client_text(value: str | None) -> str | None:
    """Text a client chose (model alias, request id header, forwarded address): cut and scrubbed,
    so a key pasted into the wrong field does not land in the audit store."""
    return scrub_secrets(value[:_MAX_ID]) if value is not None else None


def _public_id(value: str | None) -> str | None:
    """A key id as presented by a client is untrusted text: cut it, and drop it entirely if it
    looks like it carries a secret (e.g. a whole key pasted where an id was expected)."""
    if value is None:
        return None
    value = value[:_MAX_ID]
    return REDACTED if scrub_secrets(value) != value else value


def build_record(ctx: RequestContext, *, capture: CaptureMode = "none",
                 content: CapturedContent | None = None, content_key: bytes | None = None,
                 max_content_chars: int = 65536) -> AuditRecord:
    """The record of a finished request. `content` is used only as `capture` allows."""
    if content is None and _native_record is not None:
        # The same record made in C (_native_audit.c: audit_record) from the context's slots: ~3k
        # instructions instead of ~15k (callgrind); None for a context it does not reproduce exactly.
        record = _native_record(AuditRecord, ctx, time.perf_counter(), scrub_secrets, CLEAN_TEXTS)
        if record is not None:
            return record
    p = ctx.principal
    usage = ctx.usage
    addr, model = ctx.client_addr, ctx.model
    # Positional, in the order of the fields (named in the comments): with 24 keywords the call
    # builds and unpacks a dict of them, ~12k instructions per request (callgrind). `_client_text`
    # written out for the address and the model: ~0.7k instructions a call.
    return AuditRecord(
        ctx.wall_time,  # time
        scrub_secrets(ctx.request_id[:_MAX_ID]),  # request_id
        p.key_id if p is not None else _public_id(ctx.presented_key_id),  # key_id
        p.team if p is not None else None,  # team
        p is not None,  # authenticated
        scrub_secrets(addr[:_MAX_ID]) if addr is not None else None,  # client_addr
        ctx.ingress,  # ingress
        ctx.operation,  # operation
        scrub_secrets(model[:_MAX_ID]) if model is not None else None,  # model
        tuple([(a.provider, a.model, a.outcome, a.status, a.latency_ms) for a in ctx.attempts]),  # attempts
        ctx.status,  # status
        ctx.error_code,  # error_code
        ctx.elapsed_ms,  # latency_ms
        (ctx.first_token_at - ctx.started) * 1000.0 if ctx.first_token_at is not None else None,  # ttft_ms
        ctx.upstream_ms,  # upstream_ms
        (usage.input_tokens, usage.output_tokens, usage.cached_input_tokens, usage.cache_write_tokens,
         usage.reasoning_tokens) if usage is not None else None,  # usage
        ctx.cost_micros,  # cost_micros
        ctx.stream,  # stream
        ctx.finish_reason,  # finish_reason
        ctx.client_disconnected,  # client_disconnected
        ctx.policy_name,  # policy
        tuple([(f.scanner, f.type, f.action, f.score, f.direction) for f in ctx.findings])
        if ctx.findings else (),  # findings
        capture if content is not None else "none",  # capture
        capture_content(content, capture, content_key, max_content_chars) if content is not None else None,  # content
    )


def capture_content(content: CapturedContent, mode: CaptureMode, key: bytes | None,
                    max_chars: int) -> dict[str, object] | None:
    """Apply a capture mode on the hot path: `hash` digests now (HMAC-SHA256 under `key` when
    given, so a reader of the store cannot confirm guesses of short prompts; plain SHA-256
    otherwise); `redacted` and `full` only cut to `max_chars` here, and `redacted` is scrubbed
    of secret shapes when the writer serialises the record (off the request path)."""
    if mode == "none":
        return None
    parts = {"prompt": content.prompt, "response": content.response}
    if mode == "hash":
        out: dict[str, object] = {"alg": "hmac-sha256" if key is not None else "sha256"}
        for name, text in parts.items():
            if text is None:
                out[name] = None
                continue
            raw = text.encode()
            out[name] = hmac.new(key, raw, hashlib.sha256).hexdigest() if key is not None \
                else hashlib.sha256(raw).hexdigest()
        return out
    result: dict[str, object] = {}
    for name, text in parts.items():
        if text is not None and len(text) > max_chars:
            result["truncated"] = True
        result[name] = text[:max_chars] if text is not None else None
    return result


def _serialise_content(capture: CaptureMode, content: dict[str, object] | None) -> dict[str, object] | None:
    if content is None or capture != "redacted":
        return content
    return {k: scrub_secrets(v) if isinstance(v, str) else v for k, v in content.items()}
