"""Structured JSON logs: one line per request (`access_log`) plus errors, all scrubbed of secrets.

Every line is one JSON object carrying the request id (from `extra={"request_id": ...}` or the
`request_id_var` context variable). The formatter scrubs secret-shaped text from messages and
exception text and escapes control characters, so client-supplied text can neither leak a key
nor forge a log line. `SecretRedactingFilter` does the same for handlers that are not ours.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
import traceback
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO

import orjson

from bastion.config.audit import ObservabilityConfig
from bastion.core.context import RequestContext
from bastion.core.decimals import round3
from bastion.observability.scrub import scrub

request_id_var: ContextVar[str | None] = ContextVar("bastion_request_id", default=None)
ACCESS_LOGGER = "bastion.access"
_access = logging.getLogger(ACCESS_LOGGER)
_BASTION = logging.getLogger("bastion")  # between the access logger and the root
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
_MARK = "_bastion_handler"


def _safe(value: object) -> object:
    """Scrub strings from outside; numbers, bools and None pass as they are."""
    return scrub(value) if isinstance(value, str) else value


class JsonFormatter(logging.Formatter):
    """`{"ts", "level", "logger", "msg", "request_id", ...fields, "exc"}` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict) and record.name == ACCESS_LOGGER:
            out: dict[str, object] = {"ts": _ts(record.created), "level": "info", "logger": ACCESS_LOGGER,
                                      "msg": "request", **fields}
            return orjson.dumps(out).decode()
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = f"{record.msg!s} (bad log arguments)"
        out = {"ts": _ts(record.created), "level": record.levelname.lower(), "logger": record.name,
               "msg": scrub(message)}
        rid = getattr(record, "request_id", None) or request_id_var.get()
        if rid is not None:
            out["request_id"] = scrub(str(rid))
        if isinstance(fields, dict):
            for k, v in fields.items():
                out.setdefault(scrub(str(k)), _safe(v))
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            out["exc_type"] = type(exc).__name__
            out["exc"] = scrub("".join(traceback.format_exception(exc)))
        return orjson.dumps(out, default=str).decode()


# (whole second, its formatted text), replaced as one (lines are formatted on more than one thread)
_second: list[tuple[int | None, str]] = [(None, "")]
_MILLIS = [f".{ms:03d}Z" for ms in range(1000)]  # a look-up, not a format spec, per line


def _ts(created: float) -> str:
    whole = int(created)
    second = _second[0]
    if second[0] != whole:  # strftime once per second
        second = _second[0] = (whole, datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S"))
    ms = int((created - whole) * 1000)
    if 0 <= ms < 1000:
        return second[1] + _MILLIS[ms]
    return f"{second[1]}.{ms:03d}Z"  # before 1970


class SecretRedactingFilter(logging.Filter):
    """For handlers with other formatters (e.g. uvicorn's): rewrites the message, scrubbed and
    with control characters escaped, and drops the arguments it was formatted from."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == ACCESS_LOGGER:
            return True  # already built from scrubbed fields
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        record.msg, record.args = scrub(message), None
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            record.msg += " | " + scrub("".join(traceback.format_exception(exc)))
            record.exc_info, record.exc_text = None, None
        return True


def setup_logging(config: ObservabilityConfig, stream: IO[str] | None = None) -> logging.Handler:
    """Install one JSON handler on the root logger (replacing a previous one of ours), so every
    library's records go through the scrubbing formatter. Returns the handler."""
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, _MARK, False):
            root.removeHandler(h)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter())  # scrubs by itself; the filter is for foreign handlers
    setattr(handler, _MARK, True)
    root.addHandler(handler)
    root.setLevel(_LEVELS[config.log_level])
    _access.setLevel(logging.INFO if config.access_log else logging.CRITICAL + 1)
    # The audit writer's checkpoint lines (info) are the copy of the chain heads outside the store that
    # `bastion audit verify` is checked against: a quieter log_level must not silence them.
    logging.getLogger("bastion.audit").setLevel(min(logging.INFO, _LEVELS[config.log_level]))
    return handler


_HEAD = ("ts", "level", "logger", "msg")


def access_log(ctx: RequestContext) -> None:
    """One line per finished request: ids, route, model, provider, status, timings, tokens, cost.
    Client-supplied strings (request id, model, key id) are scrubbed; content never appears."""
    if not _access.isEnabledFor(logging.INFO):
        return
    p = ctx.principal
    u = ctx.usage
    a = ctx.attempts
    # The line's head first, then the fields: the usual set-up writes this very mapping (no copy).
    fields: dict[str, object] = {
        "ts": _ts(time.time()), "level": "info", "logger": ACCESS_LOGGER, "msg": "request",
        "request_id": scrub(ctx.request_id),
        "key_id": p.key_id if p is not None else (scrub(ctx.presented_key_id) if ctx.presented_key_id else None),
        "team": p.team if p is not None else None,
        "client_addr": scrub(ctx.client_addr) if ctx.client_addr is not None else None,
        "ingress": ctx.ingress,
        "operation": ctx.operation,
        "model": scrub(ctx.model) if ctx.model is not None else None,
        "provider": a[-1].provider if a else None,
        "attempts": len(a),
        "status": ctx.status,
        "error_code": ctx.error_code,
        "latency_ms": round3(ctx.elapsed_ms),
        "upstream_ms": round3(ctx.upstream_ms),
        "ttft_ms": round3((ctx.first_token_at - ctx.started) * 1000.0) if ctx.first_token_at is not None else None,
        "stream": ctx.stream,
        "input_tokens": u.input_tokens if u is not None else None,
        "output_tokens": u.output_tokens if u is not None else None,
        "cost_micros": ctx.cost_micros,
        "finish_reason": ctx.finish_reason,
        "findings": len(ctx.findings),
        "client_disconnected": ctx.client_disconnected,
    }
    handler = _sole_handler()
    if handler is not None:
        # The usual set-up, our handler alone: the line JsonFormatter would write, written as
        # StreamHandler.emit would, without a LogRecord (~140k instructions per request with one).
        line = orjson.dumps(fields, option=orjson.OPT_APPEND_NEWLINE).decode()
        handler.acquire()
        try:
            handler.stream.write(line)
        except Exception:  # as StreamHandler.emit: reported by handleError (stderr), never raised
            _handle_error(handler)
        finally:
            handler.release()
        _flush_soon(handler)
        return
    # Built directly: Logger.info would walk the stack for the caller's file and line (~4 µs).
    record = logging.LogRecord(ACCESS_LOGGER, logging.INFO, __file__, 0, "request", None, None)
    for head in _HEAD:  # JsonFormatter (or whichever formatter) writes its own
        del fields[head]
    record.fields = fields
    _access.handle(record)


# An access line is flushed with the lines written after it within ACCESS_FLUSH_S on the event loop:
# one flush (a write system call on a file) per interval instead of one per request. Lines still
# buffered are flushed by the gateway's shutdown (flush_access_log) and by logging's at exit; a
# line-buffered stream (stderr) writes each line at once anyway.
ACCESS_FLUSH_S = 0.1
_flush_due: list[object] = [None, None]  # (loop, handler) of the flush scheduled, if any


def _flush_soon(handler: logging.Handler) -> None:
    due = _flush_due
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # no event loop (a command, a test): no later to wait for
        _flush(handler)
        return
    if due[0] is not loop or due[1] is not handler:  # (a loop that ended left its flag behind)
        due[0], due[1] = loop, handler
        loop.call_later(ACCESS_FLUSH_S, _flush, handler)


def _flush(handler: logging.Handler) -> None:
    _flush_due[0] = _flush_due[1] = None
    try:
        handler.flush()
    except Exception:
        _handle_error(handler)


def _handle_error(handler: logging.Handler) -> None:
    handler.handleError(logging.LogRecord(ACCESS_LOGGER, logging.INFO, __file__, 0, "request", None, None))


def flush_access_log() -> None:
    """Write out the access lines still buffered (at shutdown: none may be lost)."""
    for h in logging.root.handlers:
        if getattr(h, _MARK, False):
            _flush(h)


def _sole_handler() -> logging.StreamHandler[IO[str]] | None:
    """Our JSON handler when an access record would reach it and nothing else: no handler or filter
    on the way (the access logger, "bastion", the root), none beside it (a test's capture, say)."""
    root = logging.root
    handlers = root.handlers
    if len(handlers) != 1:
        return None
    h = handlers[0]
    if (not getattr(h, _MARK, False) or h.filters or h.level > logging.INFO or _access.handlers or _access.filters
            or _access.disabled or not _access.propagate or _BASTION.handlers or not _BASTION.propagate
            or not isinstance(h, logging.StreamHandler) or type(h.formatter) is not JsonFormatter):
        return None
    return h
