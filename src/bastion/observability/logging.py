"""Structured JSON logs: one line per request (`access_log`) plus errors, all scrubbed of secrets.

Every line is one JSON object carrying the request id (from `extra={"request_id": ...}` or the
`request_id_var` context variable). The formatter scrubs secret-shaped text from messages and
exception text and escapes control characters, so client-supplied text can neither leak a key
nor forge a log line. `SecretRedactingFilter` does the same for handlers that are not ours.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
import traceback
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, TextIO, cast

import orjson

from bastion.config.audit import ObservabilityConfig
from bastion.core.context import RequestContext
from bastion.core.decimals import round3
from bastion.observability.scrub import CLEAN_TEXTS, scrub

_native_line: Callable[[list[bytes], dict[tuple[object, ...], bytes], RequestContext, float, float,
                        Callable[[str], str], set[str]], bool | None] | None
try:
    from bastion._native import access_line as _native_line
except ImportError:  # not built: `_line` below
    _native_line = None

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


class JsonStreamHandler(logging.StreamHandler[IO[str]]):
    """Our handler: every record written and flushed at once (`emit`), as StreamHandler does; access
    lines (`access_log`) wait in `pending` for the next flush (within ACCESS_FLUSH_S on the event loop,
    at shutdown, at exit). Whatever it writes writes the pending lines first, so they keep their order."""

    def __init__(self, stream: IO[str]) -> None:
        super().__init__(stream)
        # encoded access lines, each ending in a newline, oldest first (a list: a bytearray grown line by line
        # and emptied at each flush was reallocated, and copied, every few lines)
        self.pending: list[bytes] = []

    def emit(self, record: logging.LogRecord) -> None:  # StreamHandler.emit after the pending lines
        try:
            msg = self.format(record)
            if self.pending:
                self._write_pending()
            self.stream.write(msg + self.terminator)
            self.flush()
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]  # (StreamHandler.flush, with the pending lines first)
            if self.pending:
                self._write_pending()
            stream = self.stream
            if stream and hasattr(stream, "flush"):
                stream.flush()

    def _write_pending(self) -> None:
        """With the lock held. Lines go out in writes of at most PIPE_BUF bytes that end at a line's end:
        on a pipe each such write is atomic, so the lines of several workers sharing one stderr never
        interleave within a line (as with one write per line before). Appends may go on meanwhile
        (access_log does not take the lock): only the bytes taken here are removed."""
        pending = self.pending
        taken = len(pending)
        data = b"".join(pending[:taken])
        del pending[:taken]
        n = len(data)
        stream = self.stream
        binary: IO[bytes] | None = getattr(stream, "buffer", None)
        if binary is not None:
            stream.flush()  # text written before (a print without a newline, say) goes first
        start = 0
        while start < n:
            end = n
            if n - start > _PIPE_BUF:
                end = data.rfind(b"\n", start, start + _PIPE_BUF) + 1
                if end <= start:  # one line longer than PIPE_BUF: alone in its write
                    end = data.index(b"\n", start) + 1
            chunk = data[start:end]
            if binary is None:  # a text-only stream (a StringIO, a test's capture)
                stream.write(chunk.decode())
            else:
                binary.write(chunk)
                binary.flush()  # one write system call per chunk, never two chunks in one
            start = end


_PIPE_BUF = 4096  # POSIX's guarantee for an atomic write on a pipe (Linux: 4096)


class _StderrAfterAccessLines:
    """sys.stderr while our handler buffers access lines on the real stderr: whatever else writes there
    (a traceback, a print, logging's own error report, a warning) writes the pending lines first, so
    stderr keeps the order things happened in. Everything else is the real stream's."""

    def __init__(self, stream: TextIO, handler: JsonStreamHandler) -> None:
        self.stream = stream
        self.handler = handler

    def write(self, text: str) -> int:
        if self.handler.pending:
            _flush(self.handler)
        return self.stream.write(text)

    def writelines(self, lines: list[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        _flush(self.handler)
        self.stream.flush()

    def __getattr__(self, name: str) -> object:
        return getattr(self.stream, name)


def setup_logging(config: ObservabilityConfig, stream: IO[str] | None = None) -> logging.Handler:
    """Install one JSON handler on the root logger (replacing a previous one of ours), so every
    library's records go through the scrubbing formatter. Returns the handler. Without a stream it
    writes to stderr, and sys.stderr becomes `_StderrAfterAccessLines` over it (see there)."""
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, _MARK, False):
            root.removeHandler(h)
            _flush(h)  # its pending lines, if any
    if stream is None:
        real = sys.stderr
        if isinstance(real, _StderrAfterAccessLines):
            real = real.stream
        handler = JsonStreamHandler(real)
        sys.stderr = cast(TextIO, _StderrAfterAccessLines(real, handler))
    else:
        handler = JsonStreamHandler(stream)
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
    handler = _sole_handler()
    if handler is not None:
        # The usual set-up, our handler alone: the line JsonFormatter would write, without a LogRecord
        # (~140k instructions per request with one), held until the handler's next flush. Written by C
        # when its template is known (_native_audit.c, access_line: the bytes `_line` makes; ~37k
        # instructions a line by `_line` alone, ~12k this way (callgrind, access_log)), else by `_line`.
        if _native_line is None or _native_line(handler.pending, _TEMPLATES, ctx, time.time(), time.perf_counter(),
                                                scrub, CLEAN_TEXTS) is None:
            handler.pending.append(_line(ctx))
        due = _flush_due
        loop = due[0]
        if due[1] is not handler or loop is None or not loop.is_running():  # type: ignore[attr-defined]
            _flush_soon(handler)  # else a flush of it is due on a running loop: it writes this line too
        return
    fields = _fields(ctx)
    # Built directly: Logger.info would walk the stack for the caller's file and line (~4 µs).
    record = logging.LogRecord(ACCESS_LOGGER, logging.INFO, __file__, 0, "request", None, None)
    for head in _HEAD:  # JsonFormatter (or whichever formatter) writes its own
        del fields[head]
    record.fields = fields
    _access.handle(record)


def _fields(ctx: RequestContext) -> dict[str, object]:
    """The access line's mapping, its head first (JsonFormatter's order)."""
    p = ctx.principal
    u = ctx.usage
    a = ctx.attempts
    return {
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


# The access line as a bytes template per combination of the fields that repeat from request to request
# (key, team, client, route, model, provider, status, ...: the same few combinations on most requests), the
# fields that change every request (time, request id, timings, tokens, cost) put in by position: the bytes
# `orjson.dumps(_fields(ctx), option=OPT_APPEND_NEWLINE)` writes, without building and serialising a mapping
# of 25 fields per request (~45k instructions; this way ~15k). Bounded, emptied when full.
_TEMPLATES: dict[tuple[object, ...], bytes] = {}
_TEMPLATES_MAX = 1024


def _line(ctx: RequestContext) -> bytes:
    """The access line (`_fields` serialised, a newline at its end)."""
    p = ctx.principal
    a = ctx.attempts
    u = ctx.usage
    first = ctx.first_token_at
    addr = ctx.client_addr
    model = ctx.model
    # client text in the key scrubbed as in the line (scrub's known-clean look-up, mostly): a template's key
    # holds nothing secret-shaped either
    key = (p.key_id if p is not None else None, p.team if p is not None else None,
           scrub(ctx.presented_key_id) if p is None and ctx.presented_key_id else None,
           scrub(addr) if addr is not None else None, ctx.ingress, ctx.operation,
           scrub(model) if model is not None else None, a[-1].provider if a else None, len(a), ctx.status,
           ctx.error_code, ctx.stream, ctx.finish_reason, len(ctx.findings), ctx.client_disconnected)
    template = _TEMPLATES.get(key)
    if template is None:
        template = _template(ctx, key)
        if template is None:
            return orjson.dumps(_fields(ctx), option=orjson.OPT_APPEND_NEWLINE)
    # the varying values, serialised by orjson as in the mapping; none but the request id (second) can hold a
    # comma, and the time stamp (first) none
    ts, rest = orjson.dumps((_ts(time.time()), scrub(ctx.request_id), round3(ctx.elapsed_ms),
                             round3(ctx.upstream_ms),
                             round3((first - ctx.started) * 1000.0) if first is not None else None,
                             u.input_tokens if u is not None else None, u.output_tokens if u is not None else None,
                             ctx.cost_micros))[1:-1].split(b",", 1)
    return template % (ts, *rest.rsplit(b",", 6))


# where `_template` puts the varying values: a text no field of a template can hold (scrubbed text holds no
# control character; the rest is checked)
_SLOT = "\x00%s\x00"
_VARYING = {"ts": 1, "request_id": 1, "latency_ms": 2, "upstream_ms": 2, "ttft_ms": 2, "input_tokens": 2,
            "output_tokens": 2, "cost_micros": 2}  # the mark of each (1 the time, 1 the id, 2 a number)


def _template(ctx: RequestContext, key: tuple[object, ...]) -> bytes | None:
    """The bytes template of `ctx`'s line (`%s` for each varying value, in order), kept under `key`; None
    when a value of the key is of another type than a field of the line has (its JSON could differ from
    an equal value's) or a field holds a mark."""
    for v in key:
        if v is not None and v.__class__ not in (str, int, bool):
            return None
    fields = _fields(ctx)
    for name, mark in _VARYING.items():
        fields[name] = _SLOT % mark
    line = orjson.dumps(fields, option=orjson.OPT_APPEND_NEWLINE).replace(b"%", b"%%")
    marks = [orjson.dumps(_SLOT % mark) for mark in (1, 2)]
    if line.count(marks[0]) != 2 or line.count(marks[1]) != 6:
        return None
    template = line.replace(marks[0], b"%s").replace(marks[1], b"%s")
    if len(_TEMPLATES) >= _TEMPLATES_MAX:
        _TEMPLATES.clear()
    _TEMPLATES[key] = template
    return template


# An access line is written with the lines after it within ACCESS_FLUSH_S on the event loop: one
# write system call per interval (per 4 KiB of lines) instead of one per request, on a file and on
# stderr (line-buffered: a write per line) alike. Lines still pending are written by any other record
# of our handler or write to sys.stderr (first, so the order holds), by the gateway's shutdown
# (flush_access_log) and by logging's at exit. A forked child forgets its parent's (the parent writes
# them). A process killed outright (SIGKILL) loses at most the last interval's lines.
ACCESS_FLUSH_S = 0.1
_flush_due: list[object] = [None, None]  # (loop, handler) of the flush scheduled, if any


def _flush_soon(handler: logging.Handler) -> None:
    due = _flush_due
    loop = due[0]
    if due[1] is handler and loop is not None and loop.is_running():  # type: ignore[attr-defined]
        return  # a flush of this handler is due on a running loop: it writes this line too (no getpid()
        # system call of get_running_loop() on Python 3.11 per line)
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


def _forget_pending_in_child() -> None:
    for h in logging.root.handlers:
        if isinstance(h, JsonStreamHandler):
            h.pending.clear()


os.register_at_fork(after_in_child=_forget_pending_in_child)


def _handle_error(handler: logging.Handler) -> None:
    handler.handleError(logging.LogRecord(ACCESS_LOGGER, logging.INFO, __file__, 0, "request", None, None))


def flush_access_log() -> None:
    """Write out the access lines still buffered (at shutdown: none may be lost)."""
    for h in logging.root.handlers:
        if getattr(h, _MARK, False):
            _flush(h)


def _sole_handler() -> JsonStreamHandler | None:
    """Our JSON handler when an access record would reach it and nothing else: no handler or filter
    on the way (the access logger, "bastion", the root), none beside it (a test's capture, say)."""
    root = logging.root
    handlers = root.handlers
    if len(handlers) != 1:
        return None
    h = handlers[0]
    if (not getattr(h, _MARK, False) or h.filters or h.level > logging.INFO or _access.handlers or _access.filters
            or _access.disabled or not _access.propagate or _BASTION.handlers or not _BASTION.propagate
            or type(h) is not JsonStreamHandler or type(h.formatter) is not JsonFormatter):
        return None
    return h
