"""Anthropic error envelopes both ways, and the provider-message sanitiser."""

from __future__ import annotations

import orjson
import pytest

from bastion.core.errors import (
    AuthenticationError,
    BastionError,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    RateLimited,
    ServiceUnavailable,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from bastion.providers.anthropic import ANTHROPIC
from bastion.providers.sanitize import sanitize_provider_message

KEY = "sk-ant-api03-R2D2C3POr2d2c3poR2D2C3POr2d2c3po-AAAA"


def envelope(etype: str, message: str) -> bytes:
    return orjson.dumps({"type": "error", "error": {"type": etype, "message": message},
                         "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy"})


@pytest.mark.parametrize(("status", "etype", "cls", "out_status", "retryable", "anthropic_type"), [
    (400, "invalid_request_error", UpstreamError, 400, False, "invalid_request_error"),
    (401, "authentication_error", UpstreamError, 502, False, "api_error"),
    (403, "permission_error", UpstreamError, 502, False, "api_error"),
    (404, "not_found_error", UpstreamError, 502, False, "api_error"),
    (413, "request_too_large", UpstreamError, 413, False, "request_too_large"),
    (429, "rate_limit_error", UpstreamError, 429, True, "rate_limit_error"),
    (500, "api_error", UpstreamError, 502, True, "api_error"),
    (502, "api_error", UpstreamError, 502, True, "api_error"),
    (503, "overloaded_error", UpstreamUnavailable, 503, True, "overloaded_error"),
    (529, "overloaded_error", UpstreamUnavailable, 503, True, "overloaded_error"),
    (504, "timeout_error", UpstreamTimeout, 504, True, "api_error"),
    (402, "billing_error", UpstreamError, 502, False, "api_error"),
    (409, "conflict_error", UpstreamError, 502, False, "api_error"),
])
def test_decode_error_table(status: int, etype: str, cls: type[UpstreamError], out_status: int, retryable: bool,
                            anthropic_type: str) -> None:
    err = ANTHROPIC.decode_error(status, envelope(etype, "details here"))
    assert type(err) is cls
    assert isinstance(err, UpstreamError)
    assert err.status == out_status and err.retryable is retryable and err.upstream_status == status
    assert err.anthropic_type == anthropic_type


def test_messages_kept_only_where_useful() -> None:
    assert ANTHROPIC.decode_error(400, envelope("invalid_request_error", "max_tokens: Field required")
                                  ).message == "upstream rejected the request: max_tokens: Field required"
    assert ANTHROPIC.decode_error(401, envelope("authentication_error", "invalid x-api-key")
                                  ).message == "upstream rejected Bastion's credentials"
    assert ANTHROPIC.decode_error(404, envelope("not_found_error", "model: claude-9")
                                  ).message == "upstream model not found"
    assert "Overloaded" in ANTHROPIC.decode_error(529, envelope("overloaded_error", "Overloaded")).message
    assert "billing" in ANTHROPIC.decode_error(402, envelope("billing_error", "Your card ending 4242 failed")).message
    assert "4242" not in ANTHROPIC.decode_error(402, envelope("billing_error", "Your card ending 4242")).message


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 429, 500, 503, 529, 402])
def test_provider_key_never_in_error(status: int) -> None:
    err = ANTHROPIC.decode_error(status, envelope("invalid_request_error", f"bad key {KEY} and Bearer {KEY}"))
    assert "R2D2" not in err.message and "sk-ant" not in err.message
    assert "R2D2" not in str(ANTHROPIC.encode_error(err))


@pytest.mark.parametrize("body", [b"", b"<html>502 Bad Gateway</html>", b"[]", b'{"error": "x"}',
                                  b'{"type":"error","error":{"type":5,"message":["x"]}}'])
def test_non_envelope_bodies(body: bytes) -> None:
    err = ANTHROPIC.decode_error(502, body)
    assert isinstance(err, UpstreamError) and err.retryable
    assert "html" not in err.message
    assert ANTHROPIC.decode_error(400, body).message == "upstream rejected the request"


def test_overloaded_type_with_other_status() -> None:
    assert isinstance(ANTHROPIC.decode_error(500, envelope("overloaded_error", "Overloaded")), UpstreamUnavailable)


@pytest.mark.parametrize(("err", "etype"), [
    (InvalidRequest("messages[0].role: bad", param="messages[0].role"), "invalid_request_error"),
    (AuthenticationError("invalid API key"), "authentication_error"),
    (PermissionDenied("model not allowed"), "permission_error"),
    (NotFound("unknown model"), "not_found_error"),
    (PayloadTooLarge("too big"), "request_too_large"),
    (RateLimited("slow down"), "rate_limit_error"),
    (UpstreamUnavailable("busy"), "overloaded_error"),
    (ServiceUnavailable("store down"), "overloaded_error"),
    (BastionError("boom"), "api_error"),
])
def test_encode_error(err: BastionError, etype: str) -> None:
    assert ANTHROPIC.encode_error(err) == {"type": "error", "error": {"type": etype, "message": err.message}}


def test_auth_headers_and_path() -> None:
    assert ANTHROPIC.auth_headers("sk-ant-x") == {"x-api-key": "sk-ant-x", "anthropic-version": "2023-06-01"}
    assert ANTHROPIC.chat_path == "/v1/messages"
    assert ANTHROPIC.name == "anthropic"


@pytest.mark.parametrize("secret", [
    KEY, "sk-proj-abcDEF123456ghiJKL789", "sk-abcdefghijklmnop1234", "bst_k1a2b3_s3cr3tV4lu3xyz",
    "AKIAIOSFODNN7EXAMPLE", "ghp_abcdefghijklmnopqrstuvwxyz0123456789", "xoxb-1234567890-abcdefghij",
    "AIzaSyA1234567890abcdefghijklmnopqrstu", "hf_abcdefghijklmnopqrstuvwxyz",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "Zx81kQpL0vN3mB7tR2yW5cE9",
])
def test_sanitiser_strips_credentials(secret: str) -> None:
    out = sanitize_provider_message(f"error for key {secret}: denied")
    assert secret not in out
    assert secret[6:18] not in out
    assert out.startswith("error for key [redacted]")


@pytest.mark.parametrize("text", [
    "model: claude-3-5-sonnet-20241022 does not support images",
    "messages.0.content.1.tool_use.id: String should match pattern '^[a-zA-Z0-9_-]+$'",
    "see https://docs.anthropic.com/en/api/rate-limits for details",
    "max_tokens: 200000 > 64000, which is the maximum allowed number of output tokens for claude-sonnet-4-5",
    "the task-management-system tool is invalid",
])
def test_sanitiser_keeps_ordinary_text(text: str) -> None:
    assert sanitize_provider_message(text) == text


def test_sanitiser_bounds_and_folds_control_characters() -> None:
    out = sanitize_provider_message("line1\nline2\x00" + "x " * 500)
    assert "\n" not in out and "\x00" not in out and len(out) <= 300
    assert sanitize_provider_message("a" * 280 + " " + KEY) == "a" * 280 + " [redacted]"
