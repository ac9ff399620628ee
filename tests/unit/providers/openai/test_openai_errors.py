"""OpenAI error envelopes: Bastion errors rendered for clients, provider errors mapped, secrets scrubbed."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from bastion.core.errors import (
    AuthenticationError,
    BudgetExceeded,
    InvalidRequest,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from bastion.providers.openai import OPENAI, OPENAI_COMPATIBLE, sanitize
from bastion.providers.openai.errors import retry_after

OPENAI_401 = orjson.dumps({"error": {
    "message": "Incorrect API key provided: sk-abc***xyz. You can find your API key at "
               "https://platform.openai.com/account/api-keys.",
    "type": "invalid_request_error", "param": None, "code": "invalid_api_key"}})


def envelope(message: str, type_: str = "invalid_request_error", param: Any = None, code: Any = None) -> bytes:
    return orjson.dumps({"error": {"message": message, "type": type_, "param": param, "code": code}})


def test_encode_error_envelope() -> None:
    assert OPENAI.encode_error(InvalidRequest("Invalid 'temperature': too hot.", param="temperature")) == {
        "error": {"message": "Invalid 'temperature': too hot.", "type": "invalid_request_error",
                  "param": "temperature", "code": "invalid_request"}}
    assert OPENAI.encode_error(AuthenticationError("invalid key"))["error"] == {
        "message": "invalid key", "type": "invalid_request_error", "param": None, "code": "invalid_api_key"}
    assert OPENAI.encode_error(BudgetExceeded("monthly budget spent"))["error"]["type"] == "insufficient_quota"  # type: ignore[index,call-overload]


@pytest.mark.parametrize("status", [401, 403])
def test_credential_rejections_never_blame_or_echo_the_key(status: int) -> None:
    err = OPENAI.decode_error(status, OPENAI_401)
    assert type(err) is UpstreamError and err.status == 502
    assert err.retryable is False and err.upstream_status == status  # type: ignore[attr-defined]
    assert "Bastion's credentials" in err.message
    for leak in ("sk-", "abc", "xyz", "Incorrect API key", "invalid_api_key"):
        assert leak not in err.message and leak not in str(err.code)


def test_model_not_found_is_a_config_problem() -> None:
    err = OPENAI_COMPATIBLE.decode_error(404, b'{"error": "model \\"llama9\\" not found, try pulling it first"}')
    assert type(err) is UpstreamError and err.status == 502 and err.retryable is False  # type: ignore[attr-defined]
    assert "upstream model not found" in err.message and "llama9" not in err.message


@pytest.mark.parametrize("status", [400, 413, 422])
def test_bad_requests_pass_the_providers_words_as_400(status: int) -> None:
    body = envelope("This model's maximum context length is 128000 tokens. However, your messages resulted "
                    "in 130000 tokens.", param="messages", code="context_length_exceeded")
    err = OPENAI.decode_error(status, body)
    assert type(err) is UpstreamError and err.status == 400 and err.retryable is False  # type: ignore[attr-defined]
    assert "maximum context length is 128000 tokens" in err.message
    assert (err.param, err.code) == ("messages", "context_length_exceeded")


def test_bad_request_message_is_scrubbed() -> None:
    err = OPENAI.decode_error(400, envelope("Header Authorization: Bearer sk-proj-Zx9Q8w7E6r5T4y3U2i1O "
                                            "rejected; also key AKIAIOSFODNN7EXAMPLE",
                                            code="sk-proj-Zx9Q8w7E6r5T4y3U2i1O"))
    assert "Zx9Q8w7E6r5T4y3U2i1O" not in err.message and "AKIAIOSFODNN7EXAMPLE" not in err.message
    assert err.code == "upstream_error"  # a credential-shaped code is not passed on


def test_rate_limit_is_retryable_with_retry_after_from_the_message() -> None:
    err = OPENAI.decode_error(429, envelope(
        "Rate limit reached for gpt-4o in organization org-Ab12Cd34Ef56Gh78Ij90Kl12 on tokens per min (TPM): "
        "Limit 30000, Used 29000, Requested 1500. Please try again in 1.5s.", "tokens", code="rate_limit_exceeded"))
    assert type(err) is UpstreamError and err.status == 429 and err.retryable is True  # type: ignore[attr-defined]
    assert err.retry_after == 1.5
    assert err.openai_type == "rate_limit_error" and err.anthropic_type == "rate_limit_error"
    assert "org-Ab12Cd34Ef56Gh78Ij90Kl12" not in err.message and "Rate limit reached" in err.message


@pytest.mark.parametrize(("status", "cls", "client_status"), [
    (408, UpstreamTimeout, 504),
    (500, UpstreamError, 502),
    (502, UpstreamError, 502),
    (504, UpstreamError, 502),
    (520, UpstreamError, 502),
    (503, UpstreamUnavailable, 503),
])
def test_server_side_failures_are_retryable(status: int, cls: type, client_status: int) -> None:
    err = OPENAI.decode_error(status, envelope("The server had an error while processing your request.",
                                               "server_error"))
    assert type(err) is cls and err.status == client_status
    assert err.retryable is True and err.upstream_status == status  # type: ignore[attr-defined]
    assert "The server had an error" in err.message


@pytest.mark.parametrize("status", [302, 409, 415])
def test_other_statuses_are_not_retried(status: int) -> None:
    err = OPENAI.decode_error(status, b"")
    assert type(err) is UpstreamError and err.status == 502 and err.retryable is False  # type: ignore[attr-defined]
    assert f"HTTP {status}" in err.message


@pytest.mark.parametrize(("body", "message"), [
    (b'{"error": "llama runner process has terminated"}', "llama runner process has terminated"),  # Ollama
    (b'{"object": "error", "message": "max_tokens is too large", "type": "BadRequestError", "code": 400}',
     "max_tokens is too large"),  # vLLM
    (b'{"error": {"code": 400, "message": "the request exceeds the context size", "type": '
     b'"exceed_context_size_error"}}', "the request exceeds the context size"),  # llama.cpp
    (b'{"detail": "Not allowed"}', "Not allowed"),  # FastAPI-based servers
])
def test_envelopes_of_compatible_servers(body: bytes, message: str) -> None:
    assert OPENAI_COMPATIBLE.decode_error(400, body).message == f"the provider rejected the request: {message}"


@pytest.mark.parametrize("body", [b"<html><body>502 Bad Gateway</body></html>", b"", b"[]", b'{"error": 5}',
                                  b'{"error": {"message": "   "}}'])
def test_unparseable_bodies_give_a_plain_message(body: bytes) -> None:
    assert OPENAI.decode_error(502, body).message == "the provider failed (HTTP 502)"


@pytest.mark.parametrize(("message", "seconds"), [
    ("Please try again in 20s.", 20.0), ("Please try again in 350ms.", 0.35), ("try again in 6m0s", 360.0),
    ("Please try again in 1h2m3.5s", 3723.5), ("Slow down.", None), (None, None),
])
def test_retry_after_wording(message: str | None, seconds: float | None) -> None:
    assert retry_after(message) == seconds


# ---- the sanitiser -------------------------------------------------------------------------

SECRETS = [
    "sk-abc***xyz",
    "sk-proj-T3BlbkFJ4f9aWq0rX7sYz2Lm8NpQvR1uHk",
    "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
    "sk-abcdefghijklmnopqrstuvwxyz012345",
    "bst_k7f3a9_9sd8f7g6h5j4k3l2",
    "AKIAIOSFODNN7EXAMPLE",
    "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
    "github_pat_11ABCDEFG0123456789_abcdefghijklmnop",
    "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
    "AIzaSyA1234567890abcdefghijklmnopqrstu",
    "hf_AbCdEfGhIjKlMnOpQrStUvWxYz01234567",
    "glpat-AbCdEf0123456789xYz1",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dBjftJeZ4CVPmB92K27uhbUJU1p1r_wW1gFWFOEjXk",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "0123456789abcdef0123456789abcdef",
    "AbCdEfGhIjKlMnOpQrStUvWxYzAbCdEf",
    "my-key****************1234",
    "req_8f3a9b2c4d5e6f7a8b9c0d1e2f3a",
    "k3l2j4h5g6f7d8s9a0qwertyzx",
    "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "Zx81kQpL0vN3mB7tR2yW5cE9",
]


@pytest.mark.parametrize("secret", SECRETS)
def test_sanitiser_removes_credential_shaped_tokens(secret: str) -> None:
    for text in (f"Incorrect API key provided: {secret}.", f"key={secret}", f"'{secret}'", secret,
                 f"Bearer {secret}", f"(see {secret})"):
        out = sanitize(text)
        assert secret not in out, text
        assert secret[-6:] not in out, text


@pytest.mark.parametrize("text", [
    "Authorization: Bearer abc.def", "api_key=hunter2", 'password: "hunter2"', "token=abc123", "x-api-key: k1",
])
def test_sanitiser_removes_labelled_values(text: str) -> None:
    out = sanitize(text)
    assert "[redacted]" in out
    assert not any(v in out for v in ("abc.def", "hunter2", "abc123", "k1"))


@pytest.mark.parametrize("text", [
    "This model's maximum context length is 128000 tokens. However, you requested 130000 tokens.",
    "Invalid value for 'max_tokens': expected an integer.",
    "The model `gpt-4o-2024-08-06` does not exist or you do not have access to it.",
    "You can find your API key at https://platform.openai.com/account/api-keys.",
    "internationalization-of-error-messages",
    "model: claude-3-5-sonnet-20241022 does not support images",
    "text-embedding-3-large-2024 is not available",
])
def test_sanitiser_keeps_ordinary_error_text(text: str) -> None:
    assert sanitize(text) == text


def test_sanitiser_strips_control_characters_and_truncates() -> None:
    out = sanitize("line1\r\nline2\x1b[31m" + "word " * 400)
    assert "\n" not in out and "\x1b" not in out and len(out) <= 500 and out.endswith("...")


def test_sanitiser_bounds_its_work_on_huge_bodies() -> None:
    secret = "sk-proj-" + "Ab1" * 10
    out = sanitize("x" * 1999 + " " + secret + " " + "a" * 1_000_000)
    assert secret[:12] not in out and len(out) <= 500


def test_a_secret_cut_by_the_scan_bound_never_reaches_the_output() -> None:
    # Redactions shrink the text at most ~2.4x, so even after many of them the cut stays far past `limit`.
    shrinking = "Zx81kQpL0vN3mB7tR2yW5cE9 " * 80  # 2000 chars of redactable tokens
    for pad in range(0, 30):
        out = sanitize(shrinking[: 2000 - pad] + "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
        assert "wJalrX" not in out and len(out) <= 500
