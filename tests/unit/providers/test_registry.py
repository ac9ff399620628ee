"""providers/registry.py: kind → wire format (looked up once, then from a table) and ingress → format."""

from __future__ import annotations

import pytest

from bastion.providers.anthropic import ANTHROPIC
from bastion.providers.openai import OPENAI, OPENAI_COMPATIBLE
from bastion.providers.registry import ingress_format, wire_format


def test_each_kind_has_its_format_every_time() -> None:
    for _ in range(2):  # the second round answers from the table
        assert wire_format("openai") is OPENAI
        assert wire_format("openai_compatible") is OPENAI_COMPATIBLE
        assert wire_format("anthropic") is ANTHROPIC


def test_an_unknown_kind_is_refused_every_time() -> None:
    for _ in range(2):
        with pytest.raises(ValueError, match="unknown provider kind"):
            wire_format("azure")


def test_ingress_formats() -> None:
    for _ in range(2):
        assert ingress_format("openai") is OPENAI
        assert ingress_format("anthropic") is ANTHROPIC
        # only the two ingress names exist; anything else reads as Anthropic, as before
        assert ingress_format("openai_compatible") is ANTHROPIC
