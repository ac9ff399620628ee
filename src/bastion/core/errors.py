"""The one error taxonomy: every error Bastion raises knows its HTTP status and wire types.

Foreign exceptions (sockets, TLS, sqlite, asyncpg) are mapped into these at the boundary
where they enter. The envelope itself is rendered in one place (http/errors.py).
Messages must never contain secrets or the sensitive values a policy found.
"""

from __future__ import annotations

import logging


class BastionError(Exception):
    status: int = 500
    code: str = "internal_error"
    openai_type: str = "server_error"
    anthropic_type: str = "api_error"
    log_level: int = logging.ERROR

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None,
                 retry_after: float | None = None, headers: dict[str, str] | None = None,
                 status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        self.param = param
        if code is not None:
            self.code = code
        self.retry_after = retry_after
        self.headers = headers or {}


class InvalidRequest(BastionError):
    status = 400
    code = "invalid_request"
    openai_type = "invalid_request_error"
    anthropic_type = "invalid_request_error"
    log_level = logging.INFO


class AuthenticationError(BastionError):
    status = 401
    code = "invalid_api_key"
    openai_type = "invalid_request_error"
    anthropic_type = "authentication_error"
    log_level = logging.INFO


class PermissionDenied(BastionError):
    status = 403
    code = "model_not_allowed"
    openai_type = "invalid_request_error"
    anthropic_type = "permission_error"
    log_level = logging.INFO


class NotFound(BastionError):
    status = 404
    code = "model_not_found"
    openai_type = "invalid_request_error"
    anthropic_type = "not_found_error"
    log_level = logging.INFO


class PayloadTooLarge(BastionError):
    status = 413
    code = "request_too_large"
    openai_type = "invalid_request_error"
    anthropic_type = "request_too_large"
    log_level = logging.INFO


class PolicyViolation(BastionError):
    """A policy blocked the request or response. The message names policy, scanner and
    finding type, never the value."""

    status = 400
    code = "policy_violation"
    openai_type = "invalid_request_error"
    anthropic_type = "invalid_request_error"
    log_level = logging.WARNING


class RateLimited(BastionError):
    status = 429
    code = "rate_limit_exceeded"
    openai_type = "rate_limit_error"
    anthropic_type = "rate_limit_error"
    log_level = logging.INFO


class BudgetExceeded(RateLimited):
    code = "budget_exceeded"
    openai_type = "insufficient_quota"


class UpstreamError(BastionError):
    """The provider failed (bad gateway). `retryable` says whether the router may retry or
    fall back to another target."""

    status = 502
    code = "upstream_error"
    openai_type = "server_error"
    anthropic_type = "api_error"
    log_level = logging.WARNING

    def __init__(self, message: str, *, retryable: bool = False, upstream_status: int | None = None,
                 **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.retryable = retryable
        self.upstream_status = upstream_status


class UpstreamUnavailable(UpstreamError):
    status = 503
    code = "upstream_unavailable"
    anthropic_type = "overloaded_error"


class UpstreamTimeout(UpstreamError):
    status = 504
    code = "upstream_timeout"
    anthropic_type = "api_error"


class ServiceUnavailable(BastionError):
    """Bastion itself cannot serve safely (a backend it must consult is down): fail closed."""

    status = 503
    code = "service_unavailable"
    openai_type = "server_error"
    anthropic_type = "overloaded_error"
    log_level = logging.ERROR


class InternalError(BastionError):
    pass
