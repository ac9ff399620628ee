"""The Anthropic Messages wire format: one object serving both ingress and egress."""

from __future__ import annotations

from bastion.core.errors import BastionError
from bastion.core.types import ChatRequest, ChatResponse, JSONObject
from bastion.providers.anthropic import (
    errors,
    request_decode,
    request_encode,
    response,
    stream_decode,
    stream_encode,
)

ANTHROPIC_VERSION = "2023-06-01"


class AnthropicFormat:
    """Implements providers.base.WireFormat for https://api.anthropic.com-style upstreams and for
    clients of Bastion's `/v1/messages`. Pure translation; the transport adds the credential."""

    name = "anthropic"
    chat_path = "/v1/messages"

    def decode_request(self, body: JSONObject) -> ChatRequest:
        return request_decode.decode_request(body)

    def encode_response(self, response_: ChatResponse, model: str) -> JSONObject:
        return response.encode_response(response_, model)

    def stream_encoder(self, request: ChatRequest, model: str) -> stream_encode.AnthropicStreamEncoder:
        return stream_encode.stream_encoder(request, model)

    def encode_error(self, err: BastionError) -> JSONObject:
        return errors.encode_error(err)

    def encode_request(self, request: ChatRequest, model: str) -> JSONObject:
        return request_encode.encode_request(request, model)

    def decode_response(self, body: JSONObject) -> ChatResponse:
        return response.decode_response(body)

    def stream_decoder(self) -> stream_decode.AnthropicStreamDecoder:
        return stream_decode.stream_decoder()

    def decode_error(self, status: int, body: bytes) -> BastionError:
        return errors.decode_error(status, body)

    def auth_headers(self, api_key: str) -> dict[str, str]:
        return {"x-api-key": api_key, "anthropic-version": ANTHROPIC_VERSION}


ANTHROPIC = AnthropicFormat()
