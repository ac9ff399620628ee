"""Renders the config schema as a Markdown reference (docs/config.md) from the field descriptions."""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from bastion.config.schema import BastionConfig


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        return " \\| ".join(repr(a).replace("'", "") for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join(_type_name(a) for a in typing.get_args(tp))
    if origin in (list, tuple):
        return f"list of {_type_name(typing.get_args(tp)[0])}"
    if origin is dict:
        k, v = typing.get_args(tp)
        return f"map {_type_name(k)} → {_type_name(v)}"
    if tp is type(None):
        return "null"
    return getattr(tp, "__name__", str(tp))


def _default(f: FieldInfo) -> str:
    if f.is_required():
        return "required"
    if f.default_factory is not None:
        try:
            v = f.default_factory()  # type: ignore[call-arg]
        except TypeError:
            return ""
        if isinstance(v, BaseModel):
            return "(section)"
        return f"`{v!r}`" if v not in ({}, []) else "empty"
    return f"`{f.default!r}`"


def _models_in(tp: Any) -> list[type[BaseModel]]:
    out: list[type[BaseModel]] = []
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        out.append(tp)
    for a in typing.get_args(tp):
        out.extend(_models_in(a))
    return out


def render(root: type[BaseModel] = BastionConfig) -> str:
    lines = ["# Configuration reference", "",
             "Generated from the schema by `bastion config docs`; every field, its type, default and why it",
             "exists. Unknown keys are errors naming their path. Secrets: `${env:NAME}` or `${file:/path}`.", ""]
    seen: set[type[BaseModel]] = set()

    def section(path: str, model: type[BaseModel]) -> None:
        if model in seen and path != "":
            lines.extend([f"## `{path}`", "", f"Same fields as `{model.__name__}` above.", ""])
            return
        seen.add(model)
        lines.extend([f"## `{path or '(top level)'}`", ""])
        doc = (model.__doc__ or "").strip().splitlines()
        if doc and not doc[0].startswith("Usage docs"):
            lines.extend([doc[0], ""])
        lines.extend(["| field | type | default | description |", "| --- | --- | --- | --- |"])
        nested: list[tuple[str, type[BaseModel]]] = []
        for name, f in model.model_fields.items():
            desc = (f.description or "").replace("|", "\\|").replace("\n", " ")
            lines.append(f"| `{name}` | {_type_name(f.annotation)} | {_default(f)} | {desc} |")
            for m in _models_in(f.annotation):
                origin = typing.get_origin(f.annotation)
                suffix = ".<name>" if origin is dict else "[]" if origin in (list, tuple) else ""
                nested.append((f"{path}.{name}{suffix}" if path else f"{name}{suffix}", m))
        lines.append("")
        for p, m in nested:
            section(p, m)

    section("", root)
    return "\n".join(lines).rstrip() + "\n"
