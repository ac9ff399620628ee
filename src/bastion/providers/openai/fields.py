"""Typed readers for fields of a client's JSON body; every failure is an InvalidRequest naming the path."""

from __future__ import annotations

import math
import re

from bastion.core.errors import InvalidRequest
from bastion.core.types import JSON, JSONObject

_IDENT = re.compile(r"[A-Za-z0-9_.\-]{1,64}")


def kind_of(value: object) -> str:
    """How an error message names a JSON value's type."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def shown(value: object) -> str:
    """A short, quoted rendering of a client-sent enum-like value for an error message."""
    text = value if isinstance(value, str) else repr(value)
    return repr(text[:40] + ("..." if len(text) > 40 else ""))


def invalid(path: str, message: str) -> InvalidRequest:
    return InvalidRequest(f"Invalid '{path}': {message}.", param=path)


def wrong_type(path: str, expected: str, value: object) -> InvalidRequest:
    return invalid(path, f"expected {expected}, got {kind_of(value)}")


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def reject_unknown(obj: JSONObject, allowed: frozenset[str], path: str, what: str) -> None:
    """400 for any key outside `allowed`; unscanned text must never ride along to a model."""
    for key in obj:
        if key not in allowed:
            raise invalid(join(path, key), f"unsupported field in {what}")


def as_object(value: JSON, path: str) -> JSONObject:
    if not isinstance(value, dict):
        raise wrong_type(path, "an object", value)
    return value


def as_list(value: JSON, path: str, *, non_empty: bool = False) -> list[JSON]:
    if not isinstance(value, list):
        raise wrong_type(path, "an array", value)
    if non_empty and not value:
        raise invalid(path, "expected a non-empty array")
    return value


def as_str(value: JSON, path: str, *, non_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise wrong_type(path, "a string", value)
    if non_empty and not value:
        raise invalid(path, "expected a non-empty string")
    return value


def as_bool(value: JSON, path: str) -> bool:
    if not isinstance(value, bool):
        raise wrong_type(path, "a boolean", value)
    return value


def as_int(value: JSON, path: str, *, lo: int | None = None, hi: int | None = None) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise wrong_type(path, "an integer", value)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise invalid(path, f"expected an integer {_range(lo, hi)}, got {value}")
    return value


def as_number(value: JSON, path: str, *, lo: float, hi: float) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise wrong_type(path, "a number", value)
    if math.isnan(value) or value < lo or value > hi:
        raise invalid(path, f"expected a number {_range(lo, hi)}, got {value}")
    return float(value)


def as_ident(value: JSON, path: str) -> str:
    """A short identifier-like string (enum values such as reasoning_effort): never free text."""
    text = as_str(value, path)
    if not _IDENT.fullmatch(text):
        raise invalid(path, "expected a short identifier (letters, digits, '_', '-', '.')")
    return text


def one_of(value: JSON, path: str, allowed: tuple[str, ...]) -> str:
    text = as_str(value, path)
    if text not in allowed:
        raise invalid(path, f"expected one of {', '.join(allowed)}, got {shown(text)}")
    return text


def _range(lo: float | None, hi: float | None) -> str:
    if lo is not None and hi is not None:
        return f"between {lo:g} and {hi:g}"
    if lo is not None:
        return f">= {lo:g}"
    return f"<= {hi:g}"
