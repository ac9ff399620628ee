"""The two exported dialects: protocol conformance, paths, credentials header, public API."""

from __future__ import annotations

import bastion.providers.openai as package
from bastion.providers.base import EmbeddingsFormat, WireFormat
from bastion.providers.openai import OPENAI, OPENAI_COMPATIBLE, OpenAIFormat


def test_public_api() -> None:
    assert sorted(package.__all__) == ["OPENAI", "OPENAI_COMPATIBLE", "OpenAIFormat", "sanitize"]


def test_both_dialects_implement_the_shared_protocols() -> None:
    formats: list[WireFormat] = [OPENAI, OPENAI_COMPATIBLE]
    embedders: list[EmbeddingsFormat] = [OPENAI, OPENAI_COMPATIBLE]
    assert [f.name for f in formats] == ["openai", "openai_compatible"]
    for f in formats:
        assert f.chat_path == "/chat/completions"
    for e in embedders:
        assert e.embeddings_path == "/embeddings"
    assert isinstance(OPENAI, OpenAIFormat) and not OPENAI.compatible and OPENAI_COMPATIBLE.compatible


def test_auth_headers() -> None:
    assert OPENAI.auth_headers("sk-test") == {"authorization": "Bearer sk-test"}
    assert OPENAI_COMPATIBLE.auth_headers("") == {}  # keyless local servers get no empty bearer


def test_decoders_are_independent_per_stream() -> None:
    a, b = OPENAI.stream_decoder(), OPENAI.stream_decoder()
    a.feed(None, b"[DONE]")
    assert a.done and not b.done


def test_repr_names_the_dialect() -> None:
    assert repr(OPENAI_COMPATIBLE) == "OpenAIFormat('openai_compatible')"
