"""Typed readers for client JSON: each failure is an InvalidRequest naming the field path."""

from __future__ import annotations

import re
from collections.abc import Collection

from bastion.core.errors import InvalidRequest
from bastion.core.types import JSON, JSONObject
from bastion.providers.sanitize import sanitize_provider_message

_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def kind(value: JSON) -> str:
    """The JSON type name of a value, for error messages (never the value itself)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def label(value: JSON) -> str:
    """A client-sent name (field, block type) fit for an error message: shown only when it looks
    like an identifier and not like a credential, since it is client text."""
    if isinstance(value, str) and _FIELD_NAME.fullmatch(value) and sanitize_provider_message(value) == value:
        return value
    return "<unknown>"


def obj(value: JSON, path: str) -> JSONObject:
    if not isinstance(value, dict):
        raise InvalidRequest(f"{path}: expected an object, got {kind(value)}", param=path)
    return value


def arr(value: JSON, path: str) -> list[JSON]:
    if not isinstance(value, list):
        raise InvalidRequest(f"{path}: expected an array, got {kind(value)}", param=path)
    return value


def string(value: JSON, path: str, *, non_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise InvalidRequest(f"{path}: expected a string, got {kind(value)}", param=path)
    if non_empty and not value:
        raise InvalidRequest(f"{path}: must not be empty", param=path)
    return value


def integer(value: JSON, path: str, *, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequest(f"{path}: expected an integer, got {kind(value)}", param=path)
    if minimum is not None and value < minimum:
        raise InvalidRequest(f"{path}: must be >= {minimum}", param=path)
    return value


def number(value: JSON, path: str, *, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRequest(f"{path}: expected a number, got {kind(value)}", param=path)
    if not low <= value <= high:
        raise InvalidRequest(f"{path}: must be between {low:g} and {high:g}", param=path)
    return float(value)


def boolean(value: JSON, path: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidRequest(f"{path}: expected a boolean, got {kind(value)}", param=path)
    return value


def only_keys(o: JSONObject, allowed: Collection[str], path: str, what: str) -> None:
    """Rejects any key outside `allowed`: an unknown field may carry text no scanner sees."""
    for key in o:
        if key not in allowed:
            shown = label(key)
            where = f"{path}.{shown}" if path else shown
            raise InvalidRequest(f"{where}: unsupported field in {what}", param=where)


def required(o: JSONObject, key: str, path: str) -> JSON:
    if key not in o:
        where = f"{path}.{key}" if path else key
        raise InvalidRequest(f"{where}: required field is missing", param=where)
    return o[key]
