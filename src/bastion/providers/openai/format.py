"""The OpenAI wire format, in two dialects: OpenAI itself and OpenAI-compatible servers."""

from __future__ import annotations

from typing import Literal

from bastion.core.errors import BastionError
from bastion.core.types import ChatRequest, EmbeddingsRequest, EmbeddingsResponse, JSONObject
from bastion.providers.openai import embeddings, errors, request, response
from bastion.providers.openai.stream import ChunkDecoder, ChunkEncoder


class OpenAIFormat:
    """Implements WireFormat and EmbeddingsFormat (providers/base.py). Stateless and immutable:
    one instance per dialect serves every request."""

    __slots__ = ("compatible", "name")

    chat_path = "/chat/completions"
    embeddings_path = "/embeddings"

    def __init__(self, name: Literal["openai", "openai_compatible"]) -> None:
        self.name: str = name
        # Ollama, vLLM, llama.cpp: legacy max_tokens, top_k kept, text content as one string.
        self.compatible = name == "openai_compatible"

    def __repr__(self) -> str:
        return f"OpenAIFormat({self.name!r})"

    # ---- ingress ----
    # (the module functions themselves: a call less per request than a method that calls them)
    decode_request = staticmethod(request.decode_request)
    encode_response = staticmethod(response.encode_response)

    def stream_encoder(self, request_: ChatRequest, model: str) -> ChunkEncoder:
        return ChunkEncoder(model, request_.include_usage)

    def encode_error(self, err: BastionError) -> JSONObject:
        return errors.encode_error(err)

    # ---- egress ----
    def encode_request(self, request_: ChatRequest, model: str) -> JSONObject:
        return request.encode_request(request_, model, compatible=self.compatible)

    decode_response = staticmethod(response.decode_response)

    def stream_decoder(self) -> ChunkDecoder:
        return ChunkDecoder()

    def decode_error(self, status: int, body: bytes) -> BastionError:
        return errors.decode_error(status, body)

    def auth_headers(self, api_key: str) -> dict[str, str]:
        # Local servers usually run without a key; never send an empty bearer.
        return {"authorization": f"Bearer {api_key}"} if api_key else {}

    # ---- embeddings ----
    def decode_embeddings_request(self, body: JSONObject) -> EmbeddingsRequest:
        return embeddings.decode_embeddings_request(body)

    def encode_embeddings_request(self, request_: EmbeddingsRequest, model: str) -> JSONObject:
        return embeddings.encode_embeddings_request(request_, model)

    def decode_embeddings_response(self, body: JSONObject) -> EmbeddingsResponse:
        return embeddings.decode_embeddings_response(body)

    def encode_embeddings_response(self, response_: EmbeddingsResponse, model: str) -> JSONObject:
        return embeddings.encode_embeddings_response(response_, model)
