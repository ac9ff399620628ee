"""The OpenAI error envelope: rendering Bastion errors, and mapping provider errors to UpstreamError."""

from __future__ import annotations

import re

import orjson

from bastion.core.errors import BastionError, UpstreamError, UpstreamTimeout, UpstreamUnavailable
from bastion.core.types import JSON, JSONObject
from bastion.providers.openai.sanitizer import sanitize

_IDENT = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
_RETRY_IN = re.compile(r"(?i)try again in ((?:\d+(?:\.\d+)?(?:ms|h|m|s))+)")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def encode_error(err: BastionError) -> JSONObject:
    return {"error": {"message": err.message, "type": err.openai_type, "param": err.param, "code": err.code}}


class Envelope:
    """The parts of a provider's error body that Bastion may pass on, already sanitised."""

    __slots__ = ("code", "message", "param", "type")

    def __init__(self, message: str | None = None, type: str | None = None, param: str | None = None,
                 code: str | None = None) -> None:
        self.message = message
        self.type = type
        self.param = param
        self.code = code

    @classmethod
    def parse(cls, body: bytes | JSON) -> Envelope:
        """Reads OpenAI's {"error": {...}}, Ollama's {"error": "..."}, vLLM's flat
        {"object": "error", "message": ...} and FastAPI's {"detail": "..."}; else an empty envelope."""
        if isinstance(body, bytes):
            try:
                obj: JSON = orjson.loads(body)
            except orjson.JSONDecodeError:
                return cls()
        else:
            obj = body
        if not isinstance(obj, dict):
            return cls()
        err = obj.get("error")
        if isinstance(err, str):
            return cls(message=_text(err))
        src = err if isinstance(err, dict) else obj
        message = src.get("message")
        if message is None and isinstance(obj.get("detail"), str):
            message = obj["detail"]
        return cls(message=_text(message), type=_ident(src.get("type")), param=_text(src.get("param"), 100),
                   code=_ident(src.get("code")))


def _text(value: JSON, limit: int = 500) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return sanitize(value, limit) or None


def _ident(value: JSON) -> str | None:
    if isinstance(value, str) and _IDENT.fullmatch(value) and sanitize(value, 64) == value:
        return value
    return None


def retry_after(message: str | None) -> float | None:
    """Seconds from OpenAI's "Please try again in 1.5s / 350ms / 6m0s" wording, if present."""
    if not message:
        return None
    m = _RETRY_IN.search(message)
    if m is None:
        return None
    return round(sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(m.group(1))), 3)


def _with(prefix: str, env: Envelope) -> str:
    return f"{prefix}: {env.message}" if env.message else prefix


def decode_error(status: int, body: bytes) -> BastionError:
    """Maps a non-2xx answer of an OpenAI-format provider onto Bastion's taxonomy."""
    env = Envelope.parse(body)
    if status in (400, 413, 422):
        return UpstreamError(_with("the provider rejected the request", env), status=400, retryable=False,
                             upstream_status=status, param=env.param, code=env.code)
    if status in (401, 403):
        # Never blame or echo the credential: the client's key is Bastion's, not the provider's.
        return UpstreamError(f"upstream rejected Bastion's credentials (HTTP {status}); "
                             "check the provider's api_key in Bastion's config", retryable=False,
                             upstream_status=status)
    if status == 404:
        return UpstreamError("upstream model not found (HTTP 404); check the model's targets in Bastion's config",
                             retryable=False, upstream_status=status)
    if status == 408:
        return UpstreamTimeout(_with("the provider timed out (HTTP 408)", env), retryable=True,
                               upstream_status=status)
    if status == 429:
        err = UpstreamError(_with("the provider is rate limiting Bastion (HTTP 429)", env), status=429,
                            retryable=True, upstream_status=status, retry_after=retry_after(env.message))
        err.openai_type = "rate_limit_error"
        err.anthropic_type = "rate_limit_error"
        return err
    if status == 503:
        return UpstreamUnavailable(_with("the provider is unavailable (HTTP 503)", env), retryable=True,
                                   upstream_status=status)
    if status >= 500:
        return UpstreamError(_with(f"the provider failed (HTTP {status})", env), retryable=True,
                             upstream_status=status)
    return UpstreamError(_with(f"unexpected answer from the provider (HTTP {status})", env), retryable=False,
                         upstream_status=status)


def embedded_error(payload: JSON, where: str) -> UpstreamError:
    """An error object inside a 200 answer: a stream chunk or a body with an "error" key."""
    env = Envelope.parse(payload)
    retryable = env.type in ("server_error", "rate_limit_error", "overloaded_error", "service_unavailable")
    return UpstreamError(_with(f"the provider reported an error {where}", env), retryable=retryable)


def malformed(what: str, detail: str) -> UpstreamError:
    """The provider's answer does not have the documented shape (never retried: it would recur)."""
    return UpstreamError(f"the provider returned a malformed {what}: {detail}", retryable=False)
