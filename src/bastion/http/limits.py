"""Limits on what a client may send: sizes, times, concurrency, and the shape of a JSON body.

`HttpLimits` is read by the ASGI app (bodies, headers, admission) and by the uvicorn protocol
(request head size and time). `LimitedRequest.json()` adds the checks orjson does not make
(nesting depth, NUL characters) to the parse every handler already does; orjson itself refuses
invalid UTF-8, lone surrogates, NaN/Infinity and numbers too large for a double, with a message
naming the problem.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import orjson

from bastion.config.schema import ServerConfig
from bastion.core.errors import InvalidRequest
from bastion.core.types import JSON, JSONObject
from bastion.http.types import HttpRequest

_json_may_break: Callable[[bytes, int], bool | None] | None
try:  # _may_break_rules in one C call (_native_http.c): one memchr per bracket, no bytes.find call each
    from bastion._native import json_may_break as _json_may_break
except ImportError:  # not built: the Python below
    _json_may_break = None

_DEFAULTS = ServerConfig.model_validate({})


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """The server section's client-facing limits (see ServerConfig for each field's meaning)."""

    max_body_bytes: int = _DEFAULTS.max_body_bytes
    max_json_depth: int = _DEFAULTS.max_json_depth
    max_header_bytes: int = _DEFAULTS.max_header_bytes
    max_headers: int = _DEFAULTS.max_headers
    header_timeout: float = _DEFAULTS.header_timeout_seconds
    body_timeout: float = _DEFAULTS.body_timeout_seconds
    max_in_flight: int = _DEFAULTS.max_in_flight
    overload_retry_after: float = _DEFAULTS.overload_retry_after_seconds
    trusted_proxies: tuple[str, ...] = ()  # CIDRs whose X-Forwarded-For and X-Request-Id are believed

    @classmethod
    def from_server(cls, s: ServerConfig) -> HttpLimits:
        return cls(max_body_bytes=s.max_body_bytes, max_json_depth=s.max_json_depth,
                   max_header_bytes=s.max_header_bytes, max_headers=s.max_headers,
                   header_timeout=s.header_timeout_seconds, body_timeout=s.body_timeout_seconds,
                   max_in_flight=s.max_in_flight, overload_retry_after=s.overload_retry_after_seconds,
                   trusted_proxies=tuple(s.trusted_proxies))


class LimitedRequest(HttpRequest):
    """An HttpRequest whose `json()` also enforces the depth limit and refuses NUL characters."""

    __slots__ = ("max_json_depth",)
    max_json_depth: int

    def json(self) -> JSONObject:
        body = self.body
        # HttpRequest.json, its usual case inlined (a call fewer); anything else takes it whole
        try:
            obj = orjson.loads(body) if body else None
        except orjson.JSONDecodeError:
            obj = None
        if obj.__class__ is not dict:
            obj = HttpRequest.json(self)  # raises InvalidRequest, as it says why
        # The walk is needed only if the text could break a rule: a string holds NUL only through the
        # escape \u0000 (JSON has no raw control characters), and a document of at most `max_json_depth`
        # brackets cannot nest deeper (brackets inside strings only make the bound looser).
        # (bytes.find, not `in`: on Python 3.11 `in` formats and discards a TypeError first)
        may = _json_may_break(body, self.max_json_depth) if _json_may_break is not None else None
        if may is None:
            may = _may_break_rules(body, self.max_json_depth)
        if may:
            check_json(obj, self.max_json_depth)
        return obj


def _may_break_rules(body: bytes, max_depth: int) -> bool:
    """Whether `body` holds the escape \\u0000 or more than `max_depth` brackets. By single-byte
    finds (memchr) rather than bytes.count, which reads a byte at a time: a body's brackets are few."""
    escape = body.find(b"\\")
    if escape >= 0 and body.find(b"\\u0000", escape) >= 0:
        return True
    n = 0
    for bracket in (b"[", b"{"):
        i = body.find(bracket)
        while i >= 0:
            n += 1
            if n > max_depth:
                return True
            i = body.find(bracket, i + 1)
    return False


def check_json(root: JSONObject, max_depth: int) -> None:
    """InvalidRequest (400, naming the place) if `root` nests deeper than `max_depth` or holds a
    NUL character in a string or key. One pass over the containers, strings scanned in C; the
    place is worked out only once something is wrong."""
    stack: list[tuple[JSON, int]] = [(root, 1)]
    pop, push = stack.pop, stack.append
    while stack:
        node, depth = pop()
        if depth > max_depth:
            _locate(root, max_depth)
        if type(node) is dict:
            for k, v in node.items():
                t = type(v)
                if t is str:
                    if "\x00" in v:  # type: ignore[operator]
                        _locate(root, max_depth)
                elif t is dict or t is list:
                    push((v, depth + 1))
                if "\x00" in k:
                    _locate(root, max_depth)
        else:
            for v in node:  # type: ignore[union-attr]
                t = type(v)
                if t is str:
                    if "\x00" in v:  # type: ignore[operator]
                        _locate(root, max_depth)
                elif t is dict or t is list:
                    push((v, depth + 1))


def _locate(root: JSONObject, max_depth: int) -> None:
    """The slow twin of check_json: walks again with paths, raises the error naming the place."""
    stack: list[tuple[JSON, int, tuple[str | int, ...]]] = [(root, 1, ())]
    while stack:
        node, depth, path = stack.pop()
        if depth > max_depth:
            raise InvalidRequest(f"request body nests JSON deeper than {max_depth} levels "
                                 f"(at {_where(path)}); see server.max_json_depth", param=_where(path))
        items = node.items() if isinstance(node, dict) else enumerate(node)  # type: ignore[arg-type]
        for k, v in items:
            if isinstance(k, str) and "\x00" in k:
                raise _nul(path)
            if isinstance(v, str):
                if "\x00" in v:
                    raise _nul((*path, k))
            elif isinstance(v, dict | list):
                stack.append((v, depth + 1, (*path, k)))
    raise AssertionError("check_json found a problem that _locate could not")


def _nul(path: tuple[str | int, ...]) -> InvalidRequest:
    where = _where(path)
    return InvalidRequest(f"request body contains a NUL character (\\u0000) at {where}", param=where)


def _where(path: tuple[str | int, ...]) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p[:64]}" if out else p[:64])
    return out[:200] or "the top level"
