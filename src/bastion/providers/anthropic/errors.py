"""Anthropic's error envelope: upstream errors → UpstreamError subclasses, and BastionError → envelope."""

from __future__ import annotations

import orjson

from bastion.core.errors import BastionError, UpstreamError, UpstreamTimeout, UpstreamUnavailable
from bastion.core.types import JSON, JSONObject
from bastion.providers.sanitize import sanitize_provider_message


def encode_error(err: BastionError) -> JSONObject:
    return {"type": "error", "error": {"type": err.anthropic_type, "message": err.message}}


def _envelope(body: JSON) -> tuple[str, str]:
    """(error type, sanitised message) of an Anthropic envelope; empty strings when absent."""
    if not isinstance(body, dict):
        return "", ""
    inner = body.get("error")
    if not isinstance(inner, dict):
        return "", ""
    etype = inner.get("type")
    message = inner.get("message")
    return (etype if isinstance(etype, str) else "",
            sanitize_provider_message(message) if isinstance(message, str) else "")


def _with_types(err: UpstreamError, anthropic_type: str, openai_type: str) -> UpstreamError:
    # A 4xx passed on to the client must render with the wire types that match its status,
    # or SDKs show a server error for a client mistake.
    err.anthropic_type = anthropic_type
    err.openai_type = openai_type
    return err


def _etype_label(etype: str) -> str:
    # The type is the provider's vocabulary (e.g. "overloaded_error"); keep it only if it looks like one.
    return etype if etype.replace("_", "").isalpha() and len(etype) <= 40 else "unknown"


def decode_error(status: int, body: bytes) -> UpstreamError:
    """Maps a non-2xx Anthropic answer. The provider's message is kept only where it helps the
    client (400, 413, 429, 5xx) and always after credential-shaped tokens are stripped."""
    try:
        parsed: JSON = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        parsed = None
    etype, message = _envelope(parsed)
    detail = f": {message}" if message else ""
    if status == 400:
        return _with_types(UpstreamError(f"upstream rejected the request{detail}", status=400,
                                         upstream_status=status),
                           "invalid_request_error", "invalid_request_error")
    if status in (401, 403):
        return UpstreamError("upstream rejected Bastion's credentials", upstream_status=status)
    if status == 404:
        return UpstreamError("upstream model not found", upstream_status=status)
    if status == 413:
        return _with_types(UpstreamError(f"upstream says the request is too large{detail}", status=413,
                                         upstream_status=status),
                           "request_too_large", "invalid_request_error")
    if status == 429:
        return _with_types(UpstreamError(f"upstream rate limit reached{detail}", status=429,
                                         retryable=True, upstream_status=status),
                           "rate_limit_error", "rate_limit_error")
    if status in (503, 529) or etype == "overloaded_error":
        return UpstreamUnavailable(f"upstream is overloaded{detail}", retryable=True, upstream_status=status)
    if status == 504:
        return UpstreamTimeout(f"upstream timed out{detail}", retryable=True, upstream_status=status)
    if status >= 500:
        return UpstreamError(f"upstream server error ({status}){detail}", retryable=True,
                             upstream_status=status)
    # Other 4xx (402 billing, 409, ...) concern Bastion's account, not the client's request.
    return UpstreamError(f"upstream refused the request ({status} {_etype_label(etype)})",
                         upstream_status=status)


def error_event(data: JSON) -> UpstreamError:
    """The error carried by a stream `error` event (or an error body sent with status 200)."""
    etype, message = _envelope(data)
    detail = f": {message}" if message else ""
    if etype == "overloaded_error":
        return UpstreamUnavailable(f"upstream is overloaded{detail}", retryable=True)
    if etype == "api_error":
        return UpstreamError(f"upstream server error{detail}", retryable=True)
    if etype == "rate_limit_error":
        return UpstreamError(f"upstream rate limit reached{detail}")
    return UpstreamError(f"upstream stream failed ({_etype_label(etype)}){detail}")
