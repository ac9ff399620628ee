"""Provider kind → wire format (the only place that knows every adapter)."""

from __future__ import annotations

from bastion.providers.base import WireFormat

_FORMATS: dict[str, WireFormat] = {}  # filled on first use (the adapters import late)


def wire_format(kind: str) -> WireFormat:
    fmt = _FORMATS.get(kind)
    if fmt is None:
        fmt = _FORMATS[kind] = _load(kind)
    return fmt


def _load(kind: str) -> WireFormat:
    if kind == "openai":
        from bastion.providers.openai import OPENAI

        return OPENAI
    if kind == "openai_compatible":
        from bastion.providers.openai import OPENAI_COMPATIBLE

        return OPENAI_COMPATIBLE
    if kind == "anthropic":
        from bastion.providers.anthropic import ANTHROPIC

        return ANTHROPIC
    raise ValueError(f"unknown provider kind {kind!r}")


def ingress_format(ingress: str) -> WireFormat:
    return wire_format("openai" if ingress == "openai" else "anthropic")
